/* One SIREN layer on a tile of samples, fused: out = sin(W @ src) (or W @ src).
 *
 * Optional accelerator for snf.decode.render (the numpy path stays the reference
 * and the fallback). Why it exists: BLAS reaches about 65% of peak on these thin
 * products and numpy's sin is a separate pass over memory; here each block of
 * 32 samples is multiplied with the weights in registers and its sines are taken
 * while it is still in L1.
 *
 * Layout (all float32, row-major): W is n x K, src is K rows of T samples with
 * T a multiple of 32 (row 0 is usually the constant 1 that carries the bias),
 * dst receives n rows of T samples starting at dst_row.
 * dst may be the same buffer as src: every unit of a 32-sample block is computed
 * before any of its outputs is written, so in-place updates are safe as long as
 * the written rows are not read by a later call that needs their old values.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define P 32  /* samples per register block: two 512-bit vectors */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* sin: x = k pi + r with a three-part Cody-Waite pi (r in [-pi/2, pi/2]), then
 * an odd degree-9 polynomial (least squares on Chebyshev nodes, 5e-9 in exact
 * arithmetic); the sign flips with k's parity. About 1e-7
 * absolute for |x| < 1e4, and branch-free so the sample loop vectorises. */
static inline float sin_f(float x)
{
    const float pa = 3.140625f, pb = 9.67502593994140625e-4f, pc = 1.509957990978376432e-7f;
    float k = nearbyintf(x * 0.318309886183790672f);
    float r = ((x - k * pa) - k * pb) - k * pc;
    float r2 = r * r;
    float s = r + r * r2 * (-0.16666656729531473f + r2 * (0.0083330102815365598f
              + r2 * (-0.00019806198804084096f + r2 * 2.5992711083946446e-06f)));
    return ((int)k & 1) ? -s : s;
}

/* acc[UU][P] stays in vector registers: UU units x 32 samples, one pass over K. */
#define DEFINE_BLOCK(UU)                                                                  \
    CLONES static void block_##UU(const float *w, int K, const float *src, long T, long p0, \
                                  float *out)                                             \
    {                                                                                     \
        float acc[UU][P];                                                                 \
        memset(acc, 0, sizeof acc);                                                       \
        for (int k = 0; k < K; k++) {                                                     \
            const float *s = src + (long)k * T + p0;                                      \
            for (int u = 0; u < UU; u++) {                                                \
                const float wu = w[(long)u * K + k];                                      \
                for (int p = 0; p < P; p++)                                               \
                    acc[u][p] += wu * s[p];                                               \
            }                                                                             \
        }                                                                                 \
        memcpy(out, acc, sizeof acc);                                                     \
    }

DEFINE_BLOCK(8)
DEFINE_BLOCK(4)
DEFINE_BLOCK(2)
DEFINE_BLOCK(1)

/* All n units of one 32-sample block into scratch (n x P), largest blocks first. */
static void layer_block(const float *W, int n, int K, const float *src, long T, long p0, float *scratch)
{
    int u = 0;
    for (; u + 8 <= n; u += 8)
        block_8(W + (long)u * K, K, src, T, p0, scratch + (long)u * P);
    if (u + 4 <= n) {
        block_4(W + (long)u * K, K, src, T, p0, scratch + (long)u * P);
        u += 4;
    }
    if (u + 2 <= n) {
        block_2(W + (long)u * K, K, src, T, p0, scratch + (long)u * P);
        u += 2;
    }
    if (u < n)
        block_1(W + (long)u * K, K, src, T, p0, scratch + (long)u * P);
}

CLONES
static void finish_block(const float *scratch, int n, float *dst, long T, long p0, int sine)
{
    for (int u = 0; u < n; u++) {
        const float *a = scratch + (long)u * P;
        float *d = dst + (long)u * T + p0;
        if (sine)
            for (int p = 0; p < P; p++)
                d[p] = sin_f(a[p]);
        else
            for (int p = 0; p < P; p++)
                d[p] = a[p];
    }
}

static PyObject *layer(PyObject *self, PyObject *args)
{
    Py_buffer wb, sb, db;
    int n, K, sine;
    Py_ssize_t T, dst_row;
    if (!PyArg_ParseTuple(args, "y*iiy*w*nnp", &wb, &n, &K, &sb, &db, &dst_row, &T, &sine))
        return NULL;
    PyObject *result = NULL;
    if (n < 1 || K < 1 || T < 0 || T % P || dst_row < 0
        || wb.len < (Py_ssize_t)sizeof(float) * n * K
        || sb.len < (Py_ssize_t)sizeof(float) * K * T
        || db.len < (Py_ssize_t)sizeof(float) * (dst_row + n) * T) {
        PyErr_SetString(PyExc_ValueError, "layer: inconsistent shapes");
        goto done;
    }
    float *scratch = malloc(sizeof(float) * (size_t)n * P);
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    const float *W = wb.buf, *src = sb.buf;
    float *dst = (float *)db.buf + dst_row * T;
    Py_BEGIN_ALLOW_THREADS
    for (long p0 = 0; p0 < T; p0 += P) {
        layer_block(W, n, K, src, T, p0, scratch);
        finish_block(scratch, n, dst, T, p0, sine);
    }
    Py_END_ALLOW_THREADS
    free(scratch);
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&wb);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&db);
    return result;
}

static PyMethodDef methods[] = {
    {"layer", layer, METH_VARARGS,
     "layer(W, n, K, src, dst, dst_row, T, sine): dst[dst_row:dst_row+n] = sin?(W @ src[:K])"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastfield", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastfield(void) { return PyModule_Create(&module); }
