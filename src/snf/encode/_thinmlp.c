/* The latent field's per-pixel synthesis (a small ReLU MLP, channels first) for training:
 * forward, and backward with the weight gradients, each fused over blocks of pixels.
 *
 * Optional accelerator for snf.encode.latent_model (torch's layer-by-layer path stays the
 * reference and the fallback). Why it exists: with 7 -> 16 -> 16 -> 3 units the products
 * are too thin for BLAS, and torch streams every (16, H*W) activation, its ReLU mask and
 * its gradient through memory several times a step (bench/RESULTS.md: about half of a
 * 768x512 training step). Here a block of PB pixels runs through every layer with its
 * activations in L1; the backward pass recomputes them (cheaper than storing them).
 *
 * Layout: x is (d0, n) and y, dy are (d_out, n), row-major (a channel's pixels contiguous);
 * layer l's weight is (d_{l+1}, d_l) row-major, its bias (d_{l+1}). Hidden layers are ReLU,
 * the last is linear. The caller splits the pixels into ranges (one per thread, GIL
 * released) and sums the ranges' weight gradients in range order, so the result depends on
 * the number of ranges only, not on timing. A sum over pixels goes through 16 fixed lanes
 * (pixel p adds to lane p mod 16 across the whole range; the lanes are summed once, at the
 * end), so it vectorises without reordering and without a horizontal sum per block.
 * The same kernel runs the context model (ARM) over every latent in training: it is the
 * same shape of network (9 -> 12 -> 12 -> 2), over contexts instead of pixels.
 */
#include "../kernels.h"

#define PB 64        /* pixels per block */
#define LANES 16     /* lanes of a sum over pixels */
#define MAXW 64      /* widest layer (the format's MAX_SYN_WIDTH; inputs: MAX_GRIDS <= 64) */
#define MAXL 6       /* most layers (MAX_SYN_LAYERS hidden + the output) */

typedef struct {
    int L;                      /* layers (hidden + output) */
    int d[MAXL + 1];            /* widths: d[0] inputs .. d[L] outputs */
    const float *w[MAXL], *b[MAXL];
} Net;

/* out[o][p] = b[o] + sum_i w[o][i] * in[i][p], ReLU'd if relu; p < PB. */
CLONES static void layer_fwd(const float *restrict w, const float *restrict b, int fo, int fi,
                             const float *restrict in, float *restrict out, int relu)
{
    for (int o = 0; o < fo; o++) {
        float acc[PB];
        for (int p = 0; p < PB; p++) acc[p] = b[o];
        const float *wr = w + (size_t)o * fi;
        for (int i = 0; i < fi; i++) {
            const float wi = wr[i];
            const float *a = in + (size_t)i * PB;
            for (int p = 0; p < PB; p++) acc[p] += wi * a[p];
        }
        float *dst = out + (size_t)o * PB;
        if (relu)
            for (int p = 0; p < PB; p++) dst[p] = acc[p] > 0.f ? acc[p] : 0.f;
        else
            memcpy(dst, acc, sizeof acc);
    }
}

/* dw[o][i][l] += sum over the block's pixels p = l (mod LANES) of g[o][p] in[i][p]; db[o][l] likewise
 * of g[o][p] (the lanes are summed once, at the end of a range); gin[i][p] = sum_o w[o][i] g[o][p],
 * masked by in > 0 when the input is a ReLU output (mask). */
CLONES static void layer_bwd(const float *restrict w, int fo, int fi, const float *restrict in,
                             const float *restrict g, float *restrict dw, float *restrict db, float *restrict gin,
                             int mask)
{
    for (int o = 0; o < fo; o++) {
        const float *go = g + (size_t)o * PB;
        float *restrict s = db + (size_t)o * LANES;
        float v[LANES];
        for (int l = 0; l < LANES; l++) v[l] = s[l];
        for (int p = 0; p < PB; p += LANES)
            for (int l = 0; l < LANES; l++) v[l] += go[p + l];
        for (int l = 0; l < LANES; l++) s[l] = v[l];
        for (int i = 0; i < fi; i++) {
            const float *a = in + (size_t)i * PB;
            float *restrict u = dw + ((size_t)o * fi + i) * LANES;
            float v[LANES];
            for (int l = 0; l < LANES; l++) v[l] = u[l];
            for (int p = 0; p < PB; p += LANES)
                for (int l = 0; l < LANES; l++) v[l] += go[p + l] * a[p + l];
            for (int l = 0; l < LANES; l++) u[l] = v[l];
        }
    }
    if (!gin) return;
    for (int i = 0; i < fi; i++) {
        float acc[PB];
        for (int p = 0; p < PB; p++) acc[p] = 0.f;
        for (int o = 0; o < fo; o++) {
            const float wi = w[(size_t)o * fi + i];
            const float *go = g + (size_t)o * PB;
            for (int p = 0; p < PB; p++) acc[p] += wi * go[p];
        }
        float *dst = gin + (size_t)i * PB;
        if (mask) {
            const float *a = in + (size_t)i * PB;
            for (int p = 0; p < PB; p++) dst[p] = a[p] > 0.f ? acc[p] : 0.f;
        } else
            memcpy(dst, acc, sizeof acc);
    }
}

/* Pixels [n0, n1) of an n-pixel picture. Forward: y (d_out, n). Backward (dy given): dx (d0, n)
 * and the weight gradients added to dw[l], db[l] (through the zeroed lane sums lw[l], lb[l]:
 * LANES floats per weight). act: (L + 1) * MAXW * PB floats; g: 2 * MAXW * PB. */
static void run(const Net *net, const float *x, Py_ssize_t n, Py_ssize_t n0, Py_ssize_t n1, float *y,
                const float *dy, float *dx, float **dw, float **db, float **lw, float **lb, float *act, float *g)
{
    const int L = net->L;
    for (Py_ssize_t p0 = n0; p0 < n1; p0 += PB) {
        const int pb = (int)(n1 - p0 < PB ? n1 - p0 : PB);
        float *a0 = act;
        for (int i = 0; i < net->d[0]; i++) {
            memcpy(a0 + (size_t)i * PB, x + (size_t)i * n + p0, sizeof(float) * pb);
            memset(a0 + (size_t)i * PB + pb, 0, sizeof(float) * (PB - pb));
        }
        for (int l = 0; l < L; l++)
            layer_fwd(net->w[l], net->b[l], net->d[l + 1], net->d[l], act + (size_t)l * MAXW * PB,
                      act + (size_t)(l + 1) * MAXW * PB, l < L - 1);
        const int dout = net->d[L];
        if (!dy) {
            const float *top = act + (size_t)L * MAXW * PB;
            for (int o = 0; o < dout; o++) memcpy(y + (size_t)o * n + p0, top + (size_t)o * PB, sizeof(float) * pb);
            continue;
        }
        float *gc = g, *gn = g + (size_t)MAXW * PB;
        for (int o = 0; o < dout; o++) {
            memcpy(gc + (size_t)o * PB, dy + (size_t)o * n + p0, sizeof(float) * pb);
            memset(gc + (size_t)o * PB + pb, 0, sizeof(float) * (PB - pb));
        }
        for (int l = L - 1; l >= 0; l--) {
            layer_bwd(net->w[l], net->d[l + 1], net->d[l], act + (size_t)l * MAXW * PB, gc, lw[l], lb[l],
                      (l > 0 || dx) ? gn : NULL, l > 0);
            float *t = gc; gc = gn; gn = t;
        }
        if (dx)
            for (int i = 0; i < net->d[0]; i++) memcpy(dx + (size_t)i * n + p0, gc + (size_t)i * PB, sizeof(float) * pb);
    }
    if (!dy) return;
    for (int l = 0; l < L; l++) {  /* the lanes, summed in lane order */
        for (int k = 0; k < net->d[l + 1] * net->d[l]; k++) {
            float t = 0.f;
            for (int j = 0; j < LANES; j++) t += lw[l][(size_t)k * LANES + j];
            dw[l][k] += t;
        }
        for (int k = 0; k < net->d[l + 1]; k++) {
            float t = 0.f;
            for (int j = 0; j < LANES; j++) t += lb[l][(size_t)k * LANES + j];
            db[l][k] += t;
        }
    }
}

/* ---------------------------------------------------------------- Python glue */

/* run(x, n, n0, n1, dims, weights, biases, y, dy, dx, dweights, dbiases): every array a
 * contiguous float32 buffer; y None in a backward call, dy/dx/dweights/dbiases None in a
 * forward call (dx may be None in a backward call). */
static PyObject *py_run(PyObject *self, PyObject *args)
{
    PyObject *ox, *odims, *ow, *ob, *oy, *ody, *odx, *odw, *odb;
    Py_ssize_t n, n0, n1;
    if (!PyArg_ParseTuple(args, "OnnnOOOOOOOO", &ox, &n, &n0, &n1, &odims, &ow, &ob, &oy, &ody, &odx, &odw, &odb))
        return NULL;
    Net net;
    Py_ssize_t nd = PySequence_Size(odims);
    if (nd < 2 || nd > MAXL + 1 || PySequence_Size(ow) != nd - 1 || PySequence_Size(ob) != nd - 1) {
        PyErr_SetString(PyExc_ValueError, "bad layer count");
        return NULL;
    }
    net.L = (int)nd - 1;
    for (int i = 0; i < nd; i++) {
        PyObject *it = PySequence_GetItem(odims, i);
        long v = it ? PyLong_AsLong(it) : -1;
        Py_XDECREF(it);
        if (v < 1 || v > MAXW) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "layer widths must be 1..64");
            return NULL;
        }
        net.d[i] = (int)v;
    }
    if (n < 0 || n0 < 0 || n1 > n || n0 > n1) {
        PyErr_SetString(PyExc_ValueError, "bad pixel range");
        return NULL;
    }
    const int backward = ody != Py_None;
    Py_buffer bufs[4 * MAXL + 8];
    int nb = 0, ok = 1;
    float *dw[MAXL], *db[MAXL];
#define TAKE(obj, wr, what, count, dst) do { \
        if (ok && snf_f32_buffer(obj, &bufs[nb], wr, -1, what) == 0) { \
            if (bufs[nb].len != (Py_ssize_t)(count) * 4) { PyErr_Format(PyExc_ValueError, "%s has the wrong size", what); ok = 0; } \
            dst = (float *)bufs[nb].buf; nb++; \
        } else ok = 0; } while (0)
    const float *x = NULL, *dy = NULL;
    float *y = NULL, *dx = NULL, *tmp;
    TAKE(ox, 0, "x", (Py_ssize_t)net.d[0] * n, tmp); x = tmp;
    for (int l = 0; l < net.L && ok; l++) {
        PyObject *w = PySequence_GetItem(ow, l), *b = PySequence_GetItem(ob, l);
        TAKE(w, 0, "weight", net.d[l + 1] * net.d[l], tmp); net.w[l] = tmp;
        TAKE(b, 0, "bias", net.d[l + 1], tmp); net.b[l] = tmp;
        Py_XDECREF(w); Py_XDECREF(b);
        if (backward && ok) {
            PyObject *gw = PySequence_GetItem(odw, l), *gb = PySequence_GetItem(odb, l);
            TAKE(gw, 1, "weight gradient", net.d[l + 1] * net.d[l], dw[l]);
            TAKE(gb, 1, "bias gradient", net.d[l + 1], db[l]);
            Py_XDECREF(gw); Py_XDECREF(gb);
        }
    }
    if (backward) {
        TAKE(ody, 0, "dy", (Py_ssize_t)net.d[net.L] * n, tmp); dy = tmp;
        if (odx != Py_None) { TAKE(odx, 1, "dx", (Py_ssize_t)net.d[0] * n, dx); }
    } else {
        TAKE(oy, 1, "y", (Py_ssize_t)net.d[net.L] * n, y);
    }
#undef TAKE
    float *act = NULL, *g = NULL, *lanes = NULL, *lw[MAXL], *lb[MAXL];
    if (ok) {
        size_t nl = 0;
        for (int l = 0; l < net.L; l++) nl += (size_t)(net.d[l + 1] * net.d[l] + net.d[l + 1]) * LANES;
        act = malloc(sizeof(float) * (size_t)(net.L + 1) * MAXW * PB);
        g = malloc(sizeof(float) * 2 * MAXW * PB);
        lanes = backward ? calloc(nl, sizeof(float)) : NULL;
        if (!act || !g || (backward && !lanes)) { PyErr_NoMemory(); ok = 0; }
        for (int l = 0, off = 0; ok && backward && l < net.L; l++) {
            lw[l] = lanes + off; off += net.d[l + 1] * net.d[l] * LANES;
            lb[l] = lanes + off; off += net.d[l + 1] * LANES;
        }
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        run(&net, x, n, n0, n1, y, dy, dx, dw, db, lw, lb, act, g);
        Py_END_ALLOW_THREADS
    }
    free(act);
    free(g);
    free(lanes);
    for (int i = 0; i < nb; i++) PyBuffer_Release(&bufs[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run", py_run, METH_VARARGS, "Fused synthesis MLP over a pixel range: forward or backward."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_thinmlp", NULL, -1, methods};

PyMODINIT_FUNC PyInit__thinmlp(void) { return PyModule_Create(&module); }
