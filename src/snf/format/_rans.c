/* rANS decoder for entropy-coded level payloads (format_spec.md section 7).
 *
 * Optional accelerator for snf.format.entropy: the pure-Python decoder there is
 * the reference and the fallback; this one decodes the same bytes to the same
 * integers about a hundred times faster. Builds each segment's table with the
 * same integer arithmetic (discretised Laplace, 15-bit frequencies), then runs
 * the byte-wise rANS loop. Bad data never crashes or loops: every read is
 * bounds-checked, the state stays in [2^23, 2^31), and each symbol reads at most
 * two bytes.
 *
 * decode(data: bytes, segments: bytes (u32 triples n, amax, ratio, native order),
 *        out: writable int32 buffer of sum(n) entries) -> None; ValueError on bad data.
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
#define MAX_RATIO 65535u

/* freq/cum over symbol index 0..2*amax, lut: slot -> symbol index. */
static void build_table(uint32_t amax, uint32_t ratio, uint32_t *freq, uint32_t *cum, uint16_t *lut)
{
    uint64_t w[MAX_AMAX + 1];
    w[0] = 1ull << 24;
    uint64_t total = w[0];
    for (uint32_t m = 1; m <= amax; m++) {
        w[m] = (w[m - 1] * ratio) >> 16;
        total += 2 * w[m];
    }
    uint32_t n = 2 * amax + 1, spare = PROB_SCALE - n, sum = 0;
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
        for (uint32_t j = 0; j < freq[i]; j++)
            lut[c + j] = (uint16_t)i;
        c += freq[i];
    }
    cum[n] = c;
}

static PyObject *decode(PyObject *self, PyObject *args)
{
    Py_buffer db, sb, ob;
    if (!PyArg_ParseTuple(args, "y*y*w*", &db, &sb, &ob))
        return NULL;
    PyObject *result = NULL;
    const char *err = NULL;
    uint32_t *freq = NULL, *cum = NULL;
    uint16_t *lut = NULL;
    const uint8_t *d = (const uint8_t *)db.buf;
    Py_ssize_t len = db.len, pos = 4;
    Py_ssize_t nseg = sb.len / 12;
    const uint32_t *seg = (const uint32_t *)sb.buf;
    int32_t *out = (int32_t *)ob.buf;
    Py_ssize_t cap = ob.len / 4, o = 0;
    if (sb.len % 12) { err = "bad segment list"; goto done; }
    for (Py_ssize_t s = 0; s < nseg; s++) {
        if (seg[3 * s + 1] > MAX_AMAX || seg[3 * s + 2] > MAX_RATIO) { err = "model parameter out of range"; goto done; }
        if ((Py_ssize_t)seg[3 * s] > cap - o) { err = "output buffer too small"; goto done; }
        o += seg[3 * s];
    }
    if (len < 4) { err = "entropy-coded stream shorter than its 4-byte state"; goto done; }
    uint32_t x = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
    if (x < RANS_L || x >= (RANS_L << 8)) { err = "entropy-coded stream starts with an invalid state"; goto done; }
    freq = malloc(sizeof(uint32_t) * (2 * MAX_AMAX + 1));
    cum = malloc(sizeof(uint32_t) * (2 * MAX_AMAX + 2));
    lut = malloc(sizeof(uint16_t) * PROB_SCALE);
    if (!freq || !cum || !lut) { PyErr_NoMemory(); goto fail; }
    o = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s < nseg && !err; s++) {
        uint32_t n = seg[3 * s], amax = seg[3 * s + 1];
        if (!n) continue;
        build_table(amax, seg[3 * s + 2], freq, cum, lut);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t slot = x & (PROB_SCALE - 1), sym = lut[slot];
            out[o++] = (int32_t)sym - (int32_t)amax;
            x = freq[sym] * (x >> PROB_BITS) + slot - cum[sym];
            while (x < RANS_L) {
                if (pos >= len) { err = "entropy-coded stream is truncated"; break; }
                x = (x << 8) | d[pos++];
            }
            if (err) break;
        }
    }
    if (!err && (x != RANS_L || pos != len))
        err = "entropy-coded stream does not end where its symbols do";
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
    PyBuffer_Release(&sb);
    PyBuffer_Release(&ob);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS, "decode(data, segments, out): rANS-decode into an int32 buffer"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rans", NULL, -1, methods};

PyMODINIT_FUNC PyInit__rans(void) { return PyModule_Create(&module); }
