/* Bilinear upsampling of one latent grid into a row of the synthesis' feature matrix, and
 * its backward pass, for training the latent field.
 *
 * Optional accelerator for snf.encode.bilinear (torch's F.interpolate(mode="bilinear",
 * align_corners=False) and a stack stay the reference and the fallback). Why it exists:
 * torch's upsampling backward is a scatter over every output pixel, and the stack of six
 * upsampled grids another full copy: together about a quarter of a 768x512 training step
 * (bench/RESULTS.md, latent field, "Round 3"). Here the interpolation is done separably
 * (along rows, then between two rows), the backward the same way in reverse, in the
 * source-index rule torch uses: src = max(0, (dst + 0.5) * in / out - 0.5), i0 = floor(src),
 * i1 = min(i0 + 1, in - 1), weight of i1 = src - i0. The caller runs one grid per thread
 * (the GIL is released in C).
 */
#include "../kernels.h"

static void taps(int in, int out, int *i0, int *i1, float *l1)
{
    const float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        float s = scale * ((float)d + 0.5f) - 0.5f;
        if (s < 0.f) s = 0.f;
        int a = (int)s;
        if (a > in - 1) a = in - 1;
        i0[d] = a;
        i1[d] = a < in - 1 ? a + 1 : a;
        l1[d] = s - (float)a;
    }
}

/* out (H, W) = the grid g (r, c) upsampled; hrow: r * W floats of scratch. */
CLONES static void up_fwd(const float *restrict g, int r, int c, float *restrict out, int H, int W,
                          const int *y0, const int *y1, const float *ly, const int *x0, const int *x1,
                          const float *lx, float *restrict hrow)
{
    for (int i = 0; i < r; i++) {
        const float *gi = g + (size_t)i * c;
        float *h = hrow + (size_t)i * W;
        for (int x = 0; x < W; x++) h[x] = (1.f - lx[x]) * gi[x0[x]] + lx[x] * gi[x1[x]];
    }
    for (int y = 0; y < H; y++) {
        const float *restrict a = hrow + (size_t)y0[y] * W, *restrict b = hrow + (size_t)y1[y] * W;
        const float wa = 1.f - ly[y], wb = ly[y];
        float *restrict o = out + (size_t)y * W;
        for (int x = 0; x < W; x++) o[x] = wa * a[x] + wb * b[x];
    }
}

/* dg (r, c) = the upsampling's transpose applied to gout (H, W); hrow: r * W floats of scratch. */
CLONES static void up_bwd(const float *restrict gout, int r, int c, float *restrict dg, int H, int W,
                          const int *y0, const int *y1, const float *ly, const int *x0, const int *x1,
                          const float *lx, float *restrict hrow)
{
    memset(hrow, 0, sizeof(float) * (size_t)r * W);
    for (int y = 0; y < H; y++) {
        const float *restrict src = gout + (size_t)y * W;
        float *restrict a = hrow + (size_t)y0[y] * W;
        const float wa = 1.f - ly[y], wb = ly[y];
        for (int x = 0; x < W; x++) a[x] += wa * src[x];
        float *restrict b = hrow + (size_t)y1[y] * W;
        for (int x = 0; x < W; x++) b[x] += wb * src[x];
    }
    memset(dg, 0, sizeof(float) * (size_t)r * c);
    for (int i = 0; i < r; i++) {
        const float *h = hrow + (size_t)i * W;
        float *d = dg + (size_t)i * c;
        for (int x = 0; x < W; x++) {
            d[x0[x]] += (1.f - lx[x]) * h[x];
            d[x1[x]] += lx[x] * h[x];
        }
    }
}

/* run(src, r, c, dst, H, W, backward): forward: src the grid (r, c), dst (H, W); backward:
 * src the gradient (H, W), dst the grid's gradient (r, c). */
static PyObject *py_run(PyObject *self, PyObject *args)
{
    PyObject *os, *od;
    int r, c, H, W, backward;
    if (!PyArg_ParseTuple(args, "OiiOiip", &os, &r, &c, &od, &H, &W, &backward)) return NULL;
    if (r < 1 || c < 1 || H < 1 || W < 1 || r > H || c > W || (Py_ssize_t)H * W > ((Py_ssize_t)1 << 28)) {
        PyErr_SetString(PyExc_ValueError, "bad upsampling sizes");
        return NULL;
    }
    Py_buffer bs, bd;
    Py_ssize_t ns = backward ? (Py_ssize_t)H * W : (Py_ssize_t)r * c;
    Py_ssize_t nd = backward ? (Py_ssize_t)r * c : (Py_ssize_t)H * W;
    if (snf_f32_buffer(os, &bs, 0, ns, "source") < 0) return NULL;
    if (snf_f32_buffer(od, &bd, 1, nd, "destination") < 0) { PyBuffer_Release(&bs); return NULL; }
    int *iy = malloc(sizeof(int) * 2 * ((size_t)H + W));
    float *l = malloc(sizeof(float) * ((size_t)H + W));
    float *hrow = malloc(sizeof(float) * (size_t)r * W);
    if (iy && l && hrow) {
        Py_BEGIN_ALLOW_THREADS
        int *y0 = iy, *y1 = iy + H, *x0 = iy + 2 * H, *x1 = iy + 2 * H + W;
        taps(r, H, y0, y1, l);
        taps(c, W, x0, x1, l + H);
        if (backward)
            up_bwd(bs.buf, r, c, bd.buf, H, W, y0, y1, l, x0, x1, l + H, hrow);
        else
            up_fwd(bs.buf, r, c, bd.buf, H, W, y0, y1, l, x0, x1, l + H, hrow);
        Py_END_ALLOW_THREADS
    }
    int ok = iy && l && hrow;
    free(iy); free(l); free(hrow);
    PyBuffer_Release(&bs); PyBuffer_Release(&bd);
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run", py_run, METH_VARARGS, "Bilinear upsampling of a grid (forward) or its transpose (backward)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bilinear", NULL, -1, methods};

PyMODINIT_FUNC PyInit__bilinear(void) { return PyModule_Create(&module); }
