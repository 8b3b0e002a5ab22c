/* rANS decoder for entropy-coded level payloads (format_spec.md section 8).
 *
 * Optional accelerator for snf.format.entropy: the pure-Python decoder there is
 * the reference and the fallback; this one decodes the same bytes to the same
 * integers about a hundred times faster. The table and the rANS loop are the
 * shared ones of rans_decode.h (also _latent.c's); this file adds the plan of
 * segments, the causal contexts and a slot -> symbol lookup table per model. Bad
 * data never crashes or loops (see rans_decode.h).
 *
 * decode_plan(data: bytes, plan: bytes (u32 quadruples rows, cols, first model, models;
 *        native order), models: bytes (u32 pairs amax, ratio), out: writable int32 buffer
 *        of sum(rows * cols) entries) -> None; ValueError on bad data. A segment of one
 *        model codes rows * cols integers; one of 4 models is a latent grid coded by
 *        context (format_spec.md 9.3,
 *        snf/format/latentctx.py): residual r under the model of the bucket of
 *        s = 2|L| + 2|U| + |UL| + |UR|, latent q = r + trunc((L + U) / 2), |q| <= 4095.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rans_decode.h"

#define MAX_RATIO 65535u

#define N_CTX 4
#define LATENT_MAX 4095

static PyObject *decode_plan(PyObject *self, PyObject *args)
{
    Py_buffer db, pb, mb, ob;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &db, &pb, &mb, &ob))
        return NULL;
    PyObject *result = NULL;
    const char *err = NULL;
    uint32_t *freq = NULL, *cum = NULL;
    uint16_t *lut = NULL;
    const uint8_t *d = (const uint8_t *)db.buf;
    rans_dec rd;
    Py_ssize_t nseg = pb.len / 16, nmod = mb.len / 8;
    const uint32_t *plan = (const uint32_t *)pb.buf, *mod = (const uint32_t *)mb.buf;
    int32_t *out = (int32_t *)ob.buf;
    Py_ssize_t cap = ob.len / 4, o = 0;
    uint32_t amaxs[N_CTX];
    if (pb.len % 16 || mb.len % 8) { err = "bad segment list"; goto done; }
    for (Py_ssize_t m = 0; m < nmod; m++)
        if (mod[2 * m] > MAX_AMAX || mod[2 * m + 1] > MAX_RATIO) { err = "model parameter out of range"; goto done; }
    for (Py_ssize_t s = 0; s < nseg; s++) {
        const uint32_t *p = plan + 4 * s;
        uint64_t n = (uint64_t)p[0] * p[1];
        if ((p[3] != 1 && p[3] != N_CTX) || (uint64_t)p[2] + p[3] > (uint64_t)nmod) { err = "bad segment list"; goto done; }
        if (n > (uint64_t)(cap - o)) { err = "output buffer too small"; goto done; }
        o += (Py_ssize_t)n;
    }
    if ((err = rans_dec_init(&rd, d, (size_t)db.len))) goto done;
    freq = malloc(sizeof(uint32_t) * (2 * MAX_AMAX + 1) * N_CTX);
    cum = malloc(sizeof(uint32_t) * (2 * MAX_AMAX + 2) * N_CTX);
    lut = malloc(sizeof(uint16_t) * PROB_SCALE * N_CTX);
    if (!freq || !cum || !lut) { PyErr_NoMemory(); goto fail; }
    o = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s < nseg && !err; s++) {
        const uint32_t *p = plan + 4 * s;
        uint32_t rows = p[0], cols = p[1], first = p[2], count = p[3];
        uint64_t n = (uint64_t)rows * cols;
        if (!n) continue;
        for (uint32_t m = 0; m < count; m++) {
            amaxs[m] = mod[2 * (first + m)];
            rans_build_table(amaxs[m], mod[2 * (first + m) + 1], freq + m * (2 * MAX_AMAX + 1),
                             cum + m * (2 * MAX_AMAX + 2), lut + (size_t)m * PROB_SCALE);
        }
        int32_t *q = out + o;
        for (uint64_t i = 0; i < n; i++) {
            int32_t pred = 0;
            uint32_t b = 0;
            if (count == N_CTX) {
                uint32_t r = (uint32_t)(i / cols), c = (uint32_t)(i % cols);
                int32_t L = c ? q[i - 1] : 0, U = r ? q[i - cols] : 0;
                int32_t UL = (r && c) ? q[i - cols - 1] : 0, UR = (r && c + 1 < cols) ? q[i - cols + 1] : 0;
                pred = (L + U) / 2; /* C division truncates toward zero */
                int32_t sum = 2 * abs(L) + 2 * abs(U) + abs(UL) + abs(UR);
                b = sum == 0 ? 0 : sum <= 3 ? 1 : sum <= 6 ? 2 : 3;
            }
            const uint32_t *f = freq + b * (2 * MAX_AMAX + 1), *cm = cum + b * (2 * MAX_AMAX + 2);
            uint32_t sym = lut[(size_t)b * PROB_SCALE + rans_dec_slot(&rd)];
            int32_t v = (int32_t)sym - (int32_t)amaxs[b] + pred;
            if (count == N_CTX && (v > LATENT_MAX || v < -LATENT_MAX)) { err = "a latent beyond \xc2\xb1" "4095"; break; }
            q[i] = v;
            if ((err = rans_dec_advance(&rd, f[sym], cm[sym]))) break;
        }
        o += (Py_ssize_t)n;
    }
    if (!err)
        err = rans_dec_finish(&rd);
    Py_END_ALLOW_THREADS
done:
    if (err)
        PyErr_SetString(PyExc_ValueError, err);
    else {
        Py_INCREF(Py_None);
        result = Py_None;
    }
fail:
    free(freq);
    free(cum);
    free(lut);
    PyBuffer_Release(&db);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&ob);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_plan", decode_plan, METH_VARARGS,
     "decode_plan(data, plan, models, out): rANS-decode plain and context-coded segments into an int32 buffer"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rans", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rans(void) { return PyModule_Create(&module); }
