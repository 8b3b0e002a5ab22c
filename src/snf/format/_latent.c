/* Latent field: decode a level's latent grids (format_spec.md section 11.4).
 *
 * Optional accelerator for snf.format.latentcode: the pure-Python decoder there is
 * the reference and the fallback. For every latent in raster order, grid after grid,
 * it gathers the causal context, runs the integer ARM (Q8 weights, int64 sums, floor
 * shifts, clamps: the same operations as snf.field.latent.arm_int), picks the model
 * (amax of the grid, RATIOS[s]) and rANS-decodes the residual with section 8's coder,
 * the one in rans_decode.h that _rans.c uses too (a table per scale, found by binary
 * search: at most 64 tables of 2*amax+1 symbols, no 2^15-entry lookup tables). Bad
 * data never crashes or loops: every read is bounds-checked.
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

#include "rans_decode.h"

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
    uint32_t *tabs[N_SCALES] = {0}; /* per scale: freq (2*amax+1), then cum (2*amax+2) */
    const uint8_t *d = (const uint8_t *)db.buf;
    rans_dec rd;
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
    if ((err = rans_dec_init(&rd, d, (size_t)db.len))) goto done;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t o = 0;
    const int32_t *par = prows ? par0 : NULL;
    uint32_t pr = prows, pc = pcols;
    for (Py_ssize_t g = 0; g < ngrid && !err; g++) {
        uint32_t rows = plan[3 * g], cols = plan[3 * g + 1], amax = plan[3 * g + 2];
        uint32_t nsym = 2 * amax + 1;
        for (int s = 0; s < N_SCALES; s++) { free(tabs[s]); tabs[s] = NULL; }
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
                if (!tabs[s]) {
                    tabs[s] = malloc(sizeof(uint32_t) * (2 * (size_t)nsym + 1));
                    if (!tabs[s]) { err = "out of memory"; break; }
                    rans_build_table(amax, RATIOS[s], tabs[s], tabs[s] + nsym, NULL);
                }
                const uint32_t *f = tabs[s], *cm = tabs[s] + nsym;
                uint32_t sym = rans_find(cm, nsym, rans_dec_slot(&rd));
                int64_t v = (int64_t)sym - (int64_t)amax + pred;
                if (v > LATENT_MAX || v < -LATENT_MAX) { err = "a latent beyond \xc2\xb1" "4095"; break; }
                q[(size_t)i * cols + j] = (int32_t)v;
                if ((err = rans_dec_advance(&rd, f[sym], cm[sym]))) break;
            }
        }
        par = q;
        pr = rows;
        pc = cols;
        o += (Py_ssize_t)rows * cols;
    }
    if (!err)
        err = rans_dec_finish(&rd);
    Py_END_ALLOW_THREADS
done:
    for (int s = 0; s < N_SCALES; s++) free(tabs[s]);
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
