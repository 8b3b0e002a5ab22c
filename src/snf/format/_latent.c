/* Latent field: decode a level's latent grids (format_spec.md section 11.4).
 *
 * Optional accelerator for snf.format.latentcode: the pure-Python decoder there is
 * the reference and the fallback. For every latent in raster order, grid after grid,
 * it gathers the causal context, runs the integer ARM (Q8 weights, int64 sums, floor
 * shifts, clamps: the same operations as snf.field.latent.arm_int), picks the model
 * (amax of the grid, RATIOS[s]) and rANS-decodes the residual (section 8's coder).
 * Bad data never crashes or loops: every read is bounds-checked.
 *
 * decode_grids(data: bytes, plan: bytes (u32 triples rows, cols, amax), parent: bytes (int32
 *   rows*cols of the parent of the first grid, or empty), prows, pcols, arm: bytes (int64
 *   weights, ARM tensors in order, row-major), width, layers, out: writable int32 buffer)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROB_BITS 15
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_L (1u << 23)
#define MAX_AMAX 8191u
#define N_NEIGH 8
#define N_CTX 9
#define N_SCALES 64
#define LATENT_MAX 4095
#define HIDDEN_MAX ((1LL << 24) - 1)
#define MAX_WIDTH 32
#define MAX_LAYERS 4

static const int NX[N_NEIGH] = {-1, 0, -1, 1, -2, 0, -2, 2};
static const int NY[N_NEIGH] = {0, -1, -1, -1, 0, -2, -1, -1};
static const uint32_t RATIOS[N_SCALES] = {
    22, 53, 115, 229, 424, 735, 1200, 1857, 2740, 3874, 5274, 6943, 8869, 11032, 13399, 15933,
    18591, 21330, 24109, 26889, 29633, 32314, 34905, 37389, 39750, 41978, 44069, 46019, 47828, 49501,
    51039, 52451, 53741, 54917, 55986, 56957, 57835, 58629, 59346, 59992, 60573, 61096, 61565, 61987,
    62364, 62703, 63006, 63277, 63520, 63737, 63930, 64104, 64258, 64397, 64520, 64630, 64728, 64816,
    64894, 64964, 65026, 65081, 65131, 65175};

/* cum over symbol index 0..2*amax+1 (cum[n] = 2^15); frequencies are differences. */
static void build_cum(uint32_t amax, uint32_t ratio, uint32_t *cum)
{
    uint64_t *w = malloc(sizeof(uint64_t) * (amax + 1));
    w[0] = 1ull << 24;
    uint64_t total = w[0];
    for (uint32_t m = 1; m <= amax; m++) {
        w[m] = (w[m - 1] * ratio) >> 16;
        total += 2 * w[m];
    }
    uint32_t n = 2 * amax + 1, spare = PROB_SCALE - n, sum = 0;
    uint32_t *freq = malloc(sizeof(uint32_t) * n);
    for (uint32_t m = 0; m <= amax; m++) {
        uint32_t f = 1 + (uint32_t)((w[m] * spare) / total);
        freq[amax + m] = f;
        freq[amax - m] = f;
        sum += m ? 2 * f : f;
    }
    freq[amax] += PROB_SCALE - sum;
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++) {
        cum[i] = c;
        c += freq[i];
    }
    cum[n] = c;
    free(freq);
    free(w);
}

static inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* floor(v / 256) for any int64 (an arithmetic shift, spelled without relying on it) */
static inline int64_t fdiv256(int64_t v) { return v >= 0 ? v / 256 : -((-v + 255) / 256); }

static PyObject *decode_grids(PyObject *self, PyObject *args)
{
    Py_buffer db, pb, parb, ab, ob;
    unsigned int prows, pcols, width, layers;
    if (!PyArg_ParseTuple(args, "y*y*y*IIy*IIw*", &db, &pb, &parb, &prows, &pcols, &ab, &width, &layers, &ob))
        return NULL;
    PyObject *result = NULL;
    const char *err = NULL;
    uint32_t *cums[N_SCALES] = {0};
    const uint8_t *d = (const uint8_t *)db.buf;
    Py_ssize_t len = db.len, pos = 4;
    Py_ssize_t ngrid = pb.len / 12;
    const uint32_t *plan = (const uint32_t *)pb.buf;
    const int32_t *par0 = (const int32_t *)parb.buf;
    const int64_t *arm = (const int64_t *)ab.buf;
    int32_t *out = (int32_t *)ob.buf;
    Py_ssize_t cap = ob.len / 4, total = 0;
    if (pb.len % 12 || width < 1 || width > MAX_WIDTH || layers < 1 || layers > MAX_LAYERS) { err = "bad plan"; goto done; }
    Py_ssize_t narm = (Py_ssize_t)width * N_CTX + width + (Py_ssize_t)(layers - 1) * (width * width + width) + 2 * width + 2;
    if (ab.len != narm * 8) { err = "ARM weights of the wrong size"; goto done; }
    if (parb.len != (Py_ssize_t)prows * pcols * 4) { err = "parent of the wrong size"; goto done; }
    for (Py_ssize_t g = 0; g < ngrid; g++) {
        if (plan[3 * g + 2] > MAX_AMAX) { err = "model parameter out of range"; goto done; }
        total += (Py_ssize_t)plan[3 * g] * plan[3 * g + 1];
    }
    if (total > cap) { err = "output buffer too small"; goto done; }
    if (len < 4) { err = "entropy-coded stream shorter than its 4-byte state"; goto done; }
    uint32_t x = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
    if (x < RANS_L || x >= (RANS_L << 8)) { err = "entropy-coded stream starts with an invalid state"; goto done; }
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t o = 0;
    const int32_t *par = prows ? par0 : NULL;
    uint32_t pr = prows, pc = pcols;
    for (Py_ssize_t g = 0; g < ngrid && !err; g++) {
        uint32_t rows = plan[3 * g], cols = plan[3 * g + 1], amax = plan[3 * g + 2];
        for (int s = 0; s < N_SCALES; s++) { free(cums[s]); cums[s] = NULL; }
        int32_t *q = out + o;
        for (uint32_t i = 0; i < rows && !err; i++) {
            uint32_t prow = par ? (uint32_t)(((uint64_t)i * pr) / rows) : 0;
            for (uint32_t j = 0; j < cols; j++) {
                int64_t a[MAX_WIDTH > N_CTX ? MAX_WIDTH : N_CTX], b[MAX_WIDTH];
                for (int n = 0; n < N_NEIGH; n++) {
                    int64_t ii = (int64_t)i + NY[n], jj = (int64_t)j + NX[n];
                    a[n] = (ii >= 0 && jj >= 0 && jj < cols) ? q[ii * cols + jj] : 0;
                }
                a[N_NEIGH] = par ? par[(size_t)prow * pc + (uint32_t)(((uint64_t)j * pc) / cols)] : 0;
                const int64_t *w = arm;
                uint32_t fan = N_CTX;
                for (uint32_t l = 0; l < layers; l++) {
                    const int64_t *bias = w + (size_t)width * fan;
                    for (uint32_t u = 0; u < width; u++) {
                        int64_t acc = 0;
                        for (uint32_t v = 0; v < fan; v++) acc += w[(size_t)u * fan + v] * a[v];
                        if (l) acc = fdiv256(acc);
                        b[u] = clamp64(acc + bias[u], 0, HIDDEN_MAX);
                    }
                    memcpy(a, b, sizeof(int64_t) * width);
                    w = bias + width;
                    fan = width;
                }
                int64_t o0 = 0, o1 = 0;
                for (uint32_t v = 0; v < fan; v++) { o0 += w[v] * a[v]; o1 += w[fan + v] * a[v]; }
                o0 = fdiv256(o0) + w[2 * fan];
                o1 = fdiv256(o1) + w[2 * fan + 1];
                int64_t pred = clamp64(fdiv256(o0 + 128), -LATENT_MAX, LATENT_MAX);
                int s = (int)clamp64(fdiv256(o1 + 128), 0, N_SCALES - 1);
                if (!cums[s]) {
                    cums[s] = malloc(sizeof(uint32_t) * (2 * amax + 2));
                    if (!cums[s]) { err = "out of memory"; break; }
                    build_cum(amax, RATIOS[s], cums[s]);
                }
                const uint32_t *cm = cums[s];
                uint32_t slot = x & (PROB_SCALE - 1);
                uint32_t lo = 0, hi = 2 * amax + 1; /* largest i with cm[i] <= slot */
                while (hi - lo > 1) {
                    uint32_t mid = (lo + hi) / 2;
                    if (cm[mid] <= slot) lo = mid; else hi = mid;
                }
                int64_t v = (int64_t)lo - (int64_t)amax + pred;
                if (v > LATENT_MAX || v < -LATENT_MAX) { err = "a latent beyond \xc2\xb1" "4095"; break; }
                q[(size_t)i * cols + j] = (int32_t)v;
                x = (cm[lo + 1] - cm[lo]) * (x >> PROB_BITS) + slot - cm[lo];
                while (x < RANS_L) {
                    if (pos >= len) { err = "entropy-coded stream is truncated"; break; }
                    x = (x << 8) | d[pos++];
                }
                if (err) break;
            }
        }
        par = q;
        pr = rows;
        pc = cols;
        o += (Py_ssize_t)rows * cols;
    }
    if (!err && (x != RANS_L || pos != len))
        err = "entropy-coded stream does not end where its symbols do";
    Py_END_ALLOW_THREADS
done:
    for (int s = 0; s < N_SCALES; s++) free(cums[s]);
    if (err)
        PyErr_SetString(PyExc_ValueError, err);
    else {
        Py_INCREF(Py_None);
        result = Py_None;
    }
    PyBuffer_Release(&db);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&parb);
    PyBuffer_Release(&ab);
    PyBuffer_Release(&ob);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_grids", decode_grids, METH_VARARGS,
     "decode_grids(data, plan, parent, prows, pcols, arm, width, layers, out): a latent level's grids"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_latent", NULL, -1, methods};

PyMODINIT_FUNC PyInit__latent(void) { return PyModule_Create(&module); }
