/* What every optional C kernel of snf shares: the headers, the CPU dispatch (CLONES) and the
 * check of a float32 buffer argument.
 *
 * CLONES compiles a hot function for x86-64-v4 (AVX-512), v3 (AVX2) and the baseline, and the
 * loader picks one for the CPU (GCC's function multiversioning), so a kernel built once runs
 * vectorised on every machine the project meets without -march=native.
 */
#ifndef SNF_KERNELS_H
#define SNF_KERNELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* A C-contiguous float32 buffer of `count` values (count < 0: any length), writable if asked;
 * -1 with a Python error set otherwise. */
static inline int snf_f32_buffer(PyObject *o, Py_buffer *v, int writable, Py_ssize_t count, const char *what)
{
    if (PyObject_GetBuffer(o, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (v->itemsize != 4 || !v->format || strcmp(v->format, "f") != 0 || (count >= 0 && v->len != count * 4)) {
        if (count >= 0)
            PyErr_Format(PyExc_ValueError, "%s must be contiguous float32 of %zd values", what, count);
        else
            PyErr_Format(PyExc_ValueError, "%s must be contiguous float32", what);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

#endif
