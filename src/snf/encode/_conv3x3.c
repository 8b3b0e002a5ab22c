/* A 3x3 convolution of a few channels (zero padding, stride 1), forward and backward, for
 * training the latent field's residual conv layers.
 *
 * Optional accelerator for snf.encode.conv3x3 (torch's nine shifted channel mixes stay the
 * reference and the fallback). Why it exists: at 3 channels a conv layer is 81 multiply-adds
 * a pixel, so torch's batched products and copies are all overhead and memory traffic
 * (bench/RESULTS.md, latent field, "Round 3"); here each output row is made from three
 * padded input rows in one pass. Layout: x and y are (c, h, w) row-major, the weight
 * (c, c, 3, 3) as torch's, the bias (c). The caller splits the rows into ranges (one per
 * thread, GIL released) and sums the ranges' weight gradients in range order. A sum over
 * pixels goes through 16 fixed lanes (column x adds to lane x mod 16), summed at the end.
 */
#include "../kernels.h"

#define MAXC 4
#define LANES 16

/* row r of channel c of a (c, h, w) picture, zero-padded by one column each side into
 * dst (w + 2 floats); all zeros outside rows 0..h-1. */
static void padded_row(const float *x, int h, int w, int c, int r, float *dst)
{
    dst[0] = dst[w + 1] = 0.f;
    if (r < 0 || r >= h)
        memset(dst + 1, 0, sizeof(float) * w);
    else
        memcpy(dst + 1, x + ((size_t)c * h + r) * w, sizeof(float) * w);
}

/* out[j] += k in[j], j < w: the row-long multiply-add (restrict parameters: no overlap check). */
static inline __attribute__((always_inline)) void axpy(float *restrict out, const float *restrict in, float k, int w)
{
    float *restrict o = __builtin_assume_aligned(out, 64);  /* so no scalar loop peels to align it */
    for (int j = 0; j < w; j++) o[j] += k * in[j];
}

/* y[o][r][j] = b[o] + sum_c sum_dy sum_dx k[o][c][dy][dx] x[c][r+dy-1][j+dx-1], rows r0..r1-1.
 * With flip set it is the backward pass for the input instead: the kernel is applied
 * transposed (k[c][o][2-dy][2-dx]) and there is no bias. rows: C * 3 * (w + 2) + w + 96 floats
 * (three padded input rows a channel, then an output row aligned to 64 bytes inside the rest). */
CLONES static void conv_rows(const float *restrict x, int C, int h, int w, const float *restrict k,
                             const float *restrict b, float *restrict y, int r0, int r1, int flip, float *restrict rows)
{
    for (int r = r0; r < r1; r++) {
        for (int c = 0; c < C; c++)
            for (int d = 0; d < 3; d++) padded_row(x, h, w, c, r + d - 1, rows + (size_t)(c * 3 + d) * (w + 2));
        for (int o = 0; o < C; o++) {
            float *restrict out = rows + (size_t)C * 3 * (w + 2) + 64;  /* a 64-byte aligned row (see the caller) */
            out -= ((uintptr_t)out & 63) / sizeof(float);
            const float bo = b ? b[o] : 0.f;
            for (int j = 0; j < w; j++) out[j] = bo;
            float kk[MAXC * 9];
            const float *src[MAXC * 9];
            for (int c = 0, t = 0; c < C; c++)
                for (int d = 0; d < 3; d++)
                    for (int e = 0; e < 3; e++, t++) {
                        kk[t] = flip ? k[((c * C + o) * 3 + (2 - d)) * 3 + (2 - e)] : k[((o * C + c) * 3 + d) * 3 + e];
                        src[t] = rows + (size_t)(c * 3 + d) * (w + 2) + e;
                    }
            /* one tap at a time, a row-long multiply-add (the loop the compiler should vectorise) */
#pragma GCC unroll 1
            for (int t = 0; t < C * 9; t++) axpy(out, src[t], kk[t], w);
            memcpy(y + ((size_t)o * h + r) * w, out, sizeof(float) * w);
        }
    }
}

/* lanes[((o * C + c) * 9 + d * 3 + e) * LANES + l] += sum over columns j = l (mod LANES) of
 * g[o][r][j] x[c][r+d-1][j+e-1], rows r0..r1-1; lanes[C*C*9*LANES + o*LANES + l]: of g alone. */
CLONES static void grad_rows(const float *restrict x, const float *restrict g, int C, int h, int w, int r0, int r1,
                             float *restrict lanes, float *restrict rows)
{
    const int wl = w - w % LANES;
    for (int r = r0; r < r1; r++) {
        for (int c = 0; c < C; c++)
            for (int d = 0; d < 3; d++) padded_row(x, h, w, c, r + d - 1, rows + (size_t)(c * 3 + d) * (w + 2));
        for (int o = 0; o < C; o++) {
            const float *restrict go = g + ((size_t)o * h + r) * w;
            float *restrict lb = lanes + ((size_t)C * C * 9 + o) * LANES;
            float v[LANES];
            for (int l = 0; l < LANES; l++) v[l] = lb[l];
            for (int j = 0; j < wl; j += LANES)
                for (int l = 0; l < LANES; l++) v[l] += go[j + l];
            for (int j = wl; j < w; j++) v[j - wl] += go[j];
            for (int l = 0; l < LANES; l++) lb[l] = v[l];
#pragma GCC unroll 1
            for (int t = 0; t < C * 9; t++) {
                const int c = t / 9, d = (t / 3) % 3, e = t % 3;
                const float *restrict in = rows + (size_t)(c * 3 + d) * (w + 2) + e;
                float *restrict u = lanes + ((size_t)o * C * 9 + t) * LANES;
                for (int l = 0; l < LANES; l++) v[l] = u[l];
                for (int j = 0; j < wl; j += LANES)
                    for (int l = 0; l < LANES; l++) v[l] += go[j + l] * in[j + l];
                for (int j = wl; j < w; j++) v[j - wl] += go[j] * in[j];
                for (int l = 0; l < LANES; l++) u[l] = v[l];
            }
        }
    }
}

/* forward(x, c, h, w, k, b, y, r0, r1): y rows r0..r1-1.
 * backward(x, g, c, h, w, k, dx, dk, db, r0, r1): dx rows r0..r1-1 (dx may be None); the
 * range's weight and bias gradients added to dk, db. */
static PyObject *py_forward(PyObject *self, PyObject *args)
{
    PyObject *ox, *ok_, *ob, *oy;
    int C, h, w, r0, r1;
    if (!PyArg_ParseTuple(args, "OiiiOOOii", &ox, &C, &h, &w, &ok_, &ob, &oy, &r0, &r1)) return NULL;
    if (C < 1 || C > MAXC || h < 1 || w < 1 || r0 < 0 || r1 > h || r0 > r1) {
        PyErr_SetString(PyExc_ValueError, "bad conv shape or row range");
        return NULL;
    }
    Py_buffer bx, bk, bb, by;
    Py_ssize_t n = (Py_ssize_t)C * h * w;
    if (snf_f32_buffer(ox, &bx, 0, n, "x") < 0) return NULL;
    if (snf_f32_buffer(ok_, &bk, 0, C * C * 9, "weight") < 0) { PyBuffer_Release(&bx); return NULL; }
    if (snf_f32_buffer(ob, &bb, 0, C, "bias") < 0) { PyBuffer_Release(&bx); PyBuffer_Release(&bk); return NULL; }
    if (snf_f32_buffer(oy, &by, 1, n, "y") < 0) {
        PyBuffer_Release(&bx); PyBuffer_Release(&bk); PyBuffer_Release(&bb);
        return NULL;
    }
    float *rows = malloc(sizeof(float) * ((size_t)C * 3 * (w + 2) + w + 96));
    if (rows) {
        Py_BEGIN_ALLOW_THREADS
        conv_rows(bx.buf, C, h, w, bk.buf, bb.buf, by.buf, r0, r1, 0, rows);
        Py_END_ALLOW_THREADS
    }
    free(rows);
    PyBuffer_Release(&bx); PyBuffer_Release(&bk); PyBuffer_Release(&bb); PyBuffer_Release(&by);
    if (!rows) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *py_backward(PyObject *self, PyObject *args)
{
    PyObject *ox, *og, *ok_, *odx, *odk, *odb;
    int C, h, w, r0, r1;
    if (!PyArg_ParseTuple(args, "OOiiiOOOOii", &ox, &og, &C, &h, &w, &ok_, &odx, &odk, &odb, &r0, &r1)) return NULL;
    if (C < 1 || C > MAXC || h < 1 || w < 1 || r0 < 0 || r1 > h || r0 > r1) {
        PyErr_SetString(PyExc_ValueError, "bad conv shape or row range");
        return NULL;
    }
    Py_buffer b[6];
    int nb = 0, ok = 1;
    Py_ssize_t n = (Py_ssize_t)C * h * w;
    PyObject *objs[6] = {ox, og, ok_, odk, odb, odx};
    const Py_ssize_t counts[6] = {n, n, C * C * 9, C * C * 9, C, n};
    const char *names[6] = {"x", "dy", "weight", "weight gradient", "bias gradient", "dx"};
    for (int i = 0; i < 6 && ok; i++) {
        if (i == 5 && odx == Py_None) break;
        if (snf_f32_buffer(objs[i], &b[nb], i >= 3, counts[i], names[i]) < 0) ok = 0; else nb++;
    }
    float *rows = NULL, *lanes = NULL;
    if (ok) {
        rows = malloc(sizeof(float) * ((size_t)C * 3 * (w + 2) + w + 96));
        lanes = calloc((size_t)(C * C * 9 + C) * LANES, sizeof(float));
        if (!rows || !lanes) { PyErr_NoMemory(); ok = 0; }
    }
    if (ok) {
        float *dk = b[3].buf, *db = b[4].buf;
        Py_BEGIN_ALLOW_THREADS
        if (nb == 6) conv_rows(b[1].buf, C, h, w, b[2].buf, NULL, b[5].buf, r0, r1, 1, rows);
        grad_rows(b[0].buf, b[1].buf, C, h, w, r0, r1, lanes, rows);
        for (int i = 0; i < C * C * 9 + C; i++) {
            float t = 0.f;
            for (int l = 0; l < LANES; l++) t += lanes[(size_t)i * LANES + l];
            if (i < C * C * 9) dk[i] += t; else db[i - C * C * 9] += t;
        }
        Py_END_ALLOW_THREADS
    }
    free(rows);
    free(lanes);
    for (int i = 0; i < nb; i++) PyBuffer_Release(&b[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"forward", py_forward, METH_VARARGS, "3x3 convolution of rows r0..r1-1."},
    {"backward", py_backward, METH_VARARGS, "Its input gradient for rows r0..r1-1; weight gradients added."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_conv3x3", NULL, -1, methods};

PyMODINIT_FUNC PyInit__conv3x3(void) { return PyModule_Create(&module); }
