/* The whole SIREN forward pass on blocks of 32 samples, products and sines fused.
 *
 * Optional accelerator for snf.decode.render (the numpy path stays the reference
 * and the fallback). Why it exists: BLAS reaches about 65% of peak on these thin
 * products and numpy's sin is a separate pass over memory; here each block of 32
 * samples runs through every layer with its activations in L1, the weights held in
 * registers a few units at a time, and each unit's sines taken while its products
 * are still in L1. Results are identical to a layer-by-layer evaluation that sums
 * each unit's products in the same order (k = 0, 1, ...).
 */
#include "../kernels.h"

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

/* Why blocks: a layer-at-a-time kernel streams a tile's activations (up to 152 rows of
 * hundreds of samples, ~0.5 MB, rows a page apart) through L2 once per unit block, and
 * DTLB and L2 traffic held it near 60% of the FMA peak. Here one block of PB samples runs
 * through every layer while its activations (rows x PB floats, < 20 KB) stay in L1; only
 * the packed weights (one sequential pass) come from L2. Units go in chunks of at most
 * MAXU, as even as possible (41 -> 11 10 10 10), so no chunk is a latency-bound 1- or
 * 2-unit remainder. This took the level-4 render of a 768x512 image from 0.52 to 0.32 s
 * of CPU on an AVX-512 Xeon.
 *
 * Layout: x is (n, d_in) and y is (n, d_out), row-major; a block gathers its samples'
 * coordinates into activation rows 1..d_in (row 0 all ones: it carries the first bias). A group (a, n, K, W, sine) computes rows a+1..a+n of h
 * from rows 0..K-1 of the previous layer's h; the groups of one layer come latest
 * level first, so no group overwrites rows that a later group of that layer reads;
 * within a group all units are computed into scratch before any row is written.
 */

#define PB 32  /* samples per block of forward(): two 512-bit vectors */
#define MAXU 12

#define DEFINE_CHUNK(UU)                                                                  \
    CLONES static void chunk_##UU(const float *w, int K, const float *h, float *out)      \
    {                                                                                     \
        float acc[UU][PB];                                                                 \
        memset(acc, 0, sizeof acc);                                                       \
        for (int k = 0; k < K; k++) {                                                     \
            const float *s = h + (long)k * PB;                                             \
            const float *wk = w + (long)k * UU;                                           \
            for (int u = 0; u < UU; u++) {                                                \
                const float wu = wk[u];                                                   \
                for (int p = 0; p < PB; p++)                                               \
                    acc[u][p] += wu * s[p];                                               \
            }                                                                             \
        }                                                                                 \
        memcpy(out, acc, sizeof acc);                                                     \
    }

DEFINE_CHUNK(1) DEFINE_CHUNK(2) DEFINE_CHUNK(3) DEFINE_CHUNK(4) DEFINE_CHUNK(5) DEFINE_CHUNK(6)
DEFINE_CHUNK(7) DEFINE_CHUNK(8) DEFINE_CHUNK(9) DEFINE_CHUNK(10) DEFINE_CHUNK(11) DEFINE_CHUNK(12) DEFINE_CHUNK(13) DEFINE_CHUNK(14)

typedef void (*chunk_fn)(const float *, int, const float *, float *);
static const chunk_fn CHUNKS[15] = {NULL, chunk_1, chunk_2, chunk_3, chunk_4, chunk_5, chunk_6,
                                          chunk_7, chunk_8, chunk_9, chunk_10, chunk_11, chunk_12, chunk_13, chunk_14};

typedef struct {
    int a, n, K, sine;  /* rows a+1..a+n written (a = -1: the output, rows 0..n-1 of y) */
    int nchunks;
    int *sizes;         /* units per chunk (nchunks of them) */
    const float *packed; /* chunk-major, then k, then unit: sequential broadcasts */
} group_t;

CLONES static void put_rows(const float *scratch, int n, float *dst, int sine)
{
    for (int u = 0; u < n; u++) {
        const float *a = scratch + (long)u * PB;
        float *d = dst + (long)u * PB;
        if (sine)
            for (int p = 0; p < PB; p++)
                d[p] = sin_f(a[p]);
        else
            for (int p = 0; p < PB; p++)
                d[p] = a[p];
    }
}

/* One block: samples base..base+cnt-1 (cnt <= PB; the rest of the block is zero padding).
 * x is (n, d_in) and y is (n, d_out), row-major, as numpy holds them: the block's
 * coordinates are gathered into activation rows here and its outputs scattered back,
 * so the caller needs no transposed copies. */
static void run_block(const group_t *g, int ng, int d_in, int d_out, const float *x, float *y,
                      Py_ssize_t base, int cnt, float *h, float *scratch)
{
    for (int p = 0; p < PB; p++)
        h[p] = 1.0f;  /* row 0: ones, which carry the first layer's bias */
    for (int i = 0; i < d_in; i++) {
        float *row = h + (long)(1 + i) * PB;
        for (int p = 0; p < cnt; p++)
            row[p] = x[(base + p) * d_in + i];
        for (int p = cnt; p < PB; p++)
            row[p] = 0.0f;
    }
    for (int i = 0; i < ng; i++) {
        const float *w = g[i].packed;
        float *s = scratch;
        for (int c = 0; c < g[i].nchunks; c++) {
            int uu = g[i].sizes[c];
            CHUNKS[uu](w, g[i].K, h, s);
            w += (long)uu * g[i].K;
            s += (long)uu * PB;
        }
        if (g[i].a < 0) {
            for (int u = 0; u < g[i].n; u++)
                for (int p = 0; p < cnt; p++)
                    y[(base + p) * d_out + u] = scratch[(long)u * PB + p];
        } else {
            put_rows(scratch, g[i].n, h + (long)(g[i].a + 1) * PB, g[i].sine);
        }
    }
}

/* forward(groups, d_in, d_out, rows, x, y, n, b0, b1): groups is a list of
 * (a, n, K, sine, W bytes n*K float32 row-major); the first layer's group has K = 1 + d_in
 * and a = 0; the output's a = -1. rows = activation rows (1 + width). */
static PyObject *forward(PyObject *self, PyObject *args)
{
    PyObject *groups;
    int d_in, d_out, rows;
    Py_buffer xb, yb;
    Py_ssize_t n_samples, b0, b1;
    if (!PyArg_ParseTuple(args, "O!iiiy*w*nnn", &PyList_Type, &groups, &d_in, &d_out, &rows, &xb, &yb,
                          &n_samples, &b0, &b1))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t ng = PyList_GET_SIZE(groups);
    group_t *g = calloc(ng ? ng : 1, sizeof(group_t));
    float *pool = NULL, *work = NULL;
    Py_buffer *wbs = calloc(ng ? ng : 1, sizeof(Py_buffer));
    int *sizes = NULL;
    Py_ssize_t nw = 0, total = 0, nsizes = 0;
    int maxn = 1;
    if (!g || !wbs) {
        PyErr_NoMemory();
        goto done;
    }
    /* every argument is checked here: the kernel is reachable with any values from Python */
    if (d_in < 1 || d_out < 1 || d_in > 64 || d_out > 64 || rows < 1 + d_in || rows > (1 << 20)
        || n_samples < 0 || n_samples > PY_SSIZE_T_MAX / 256 || b0 < 0 || b1 < b0
        || b1 > n_samples / PB + 1 || (b1 > b0 && (b1 - 1) * PB >= n_samples)
        || xb.len / (Py_ssize_t)sizeof(float) / d_in < n_samples
        || yb.len / (Py_ssize_t)sizeof(float) / d_out < n_samples) {
        PyErr_SetString(PyExc_ValueError, "forward: inconsistent shapes");
        goto done;
    }
    for (Py_ssize_t i = 0; i < ng; i++) {
        PyObject *t = PyList_GET_ITEM(groups, i);
        if (!PyArg_ParseTuple(t, "iiipy*", &g[i].a, &g[i].n, &g[i].K, &g[i].sine, &wbs[i]))
            goto done;
        nw++;
        int a = g[i].a, n = g[i].n, K = g[i].K;
        /* rows written: a+1..a+n of h (at most rows), or outputs 0..n-1 of y (at most d_out) */
        if (a < -1 || n < 1 || K < 1 || K > rows || (a < 0 ? n > d_out : a >= rows || n > rows - 1 - a)
            || wbs[i].len / (Py_ssize_t)sizeof(float) / K < n) {
            PyErr_SetString(PyExc_ValueError, "forward: inconsistent group");
            goto done;
        }
        g[i].nchunks = (n + MAXU - 1) / MAXU;
        nsizes += g[i].nchunks;
        total += (Py_ssize_t)n * K;
        if (n > maxn)
            maxn = n;
    }
    sizes = malloc(sizeof(int) * (size_t)(nsizes ? nsizes : 1));
    if (!sizes) {
        PyErr_NoMemory();
        goto done;
    }
    {   /* any width: chunks of at most MAXU units, as even as possible (41 -> 11 10 10 10) */
        int *at = sizes;
        for (Py_ssize_t i = 0; i < ng; i++) {
            int n = g[i].n, nc = g[i].nchunks;
            g[i].sizes = at;
            for (int c = 0; c < nc; c++)
                at[c] = n / nc + (c < n % nc);
            at += nc;
        }
    }
    pool = malloc(sizeof(float) * (size_t)(total ? total : 1));
    work = aligned_alloc(64, sizeof(float) * (size_t)(rows + maxn) * PB);
    if (!pool || !work) {
        PyErr_NoMemory();
        goto done;
    }
    {   /* pack each group chunk-major, k, unit */
        float *dst = pool;
        for (Py_ssize_t i = 0; i < ng; i++) {
            const float *W = wbs[i].buf;
            int u0 = 0, K = g[i].K;
            g[i].packed = dst;
            for (int c = 0; c < g[i].nchunks; c++) {
                int uu = g[i].sizes[c];
                for (int k = 0; k < K; k++)
                    for (int u = 0; u < uu; u++)
                        *dst++ = W[(long)(u0 + u) * K + k];
                u0 += uu;
            }
        }
    }
    const float *x = xb.buf;
    float *y = yb.buf, *h = work, *scratch = work + (long)rows * PB;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t b = b0; b < b1; b++) {
        Py_ssize_t base = b * PB;
        int cnt = n_samples - base < PB ? (int)(n_samples - base) : PB;
        run_block(g, (int)ng, d_in, d_out, x, y, base, cnt, h, scratch);
    }
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    result = Py_None;
done:
    for (Py_ssize_t i = 0; i < nw; i++)
        PyBuffer_Release(&wbs[i]);
    free(wbs);
    free(sizes);
    free(g);
    free(pool);
    free(work);
    PyBuffer_Release(&xb);
    PyBuffer_Release(&yb);
    return result;
}

static PyMethodDef methods[] = {
    {"forward", forward, METH_VARARGS,
     "forward(groups, d_in, d_out, rows, x, y, n, b0, b1): the whole network on blocks b0..b1 of BLOCK "
     "samples of x (n, d_in) into y (n, d_out), both float32 row-major"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastfield", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastfield(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "BLOCK", PB) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
