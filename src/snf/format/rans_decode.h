/* The one rANS decoder of the C extensions (format_spec.md section 8).
 *
 * Why this header exists: both families' C decoders, _rans.c (entropy-coded levels
 * and grid-ctx grids, section 8 / 9.3) and _latent.c (the latent field's ARM-coded
 * grids, section 11.3), read the same coder: the discretised-Laplace integer table
 * and the 32-bit-state, byte-renormalised rANS stream. They used to carry a copy
 * each; this is the only one now, so a fix or a spec change lands in both. What
 * differs stays with its caller: how a symbol is modelled (a plan of segments and
 * causal buckets, or the ARM's prediction and scale) and how a slot finds its
 * symbol (a 2^15-entry lookup table, or a binary search over cum).
 *
 * Everything is static inline and needs only <stdint.h>/<stddef.h> (no Python),
 * so each extension includes it and compiles standalone (tests/test_asan.py builds
 * _rans.c on its own). Bad data never crashes or loops: every byte read is
 * bounds-checked, the state stays in [2^23, 2^31), and a symbol reads at most two
 * bytes. Errors are returned as constant strings (NULL: none) that the callers
 * raise as ValueError. Same integers as the Python reference, snf.format.entropy.
 */
#ifndef SNF_RANS_DECODE_H
#define SNF_RANS_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define PROB_BITS 15
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_L (1u << 23)
#define MAX_AMAX 8191u

/* A model's table (section 8, "Model"): freq[i] and cum[i] over the symbol indices
 * i = 0..2*amax (symbol i - amax), cum[2*amax+1] = 2^15; freq needs 2*amax+1
 * entries, cum 2*amax+2. With lut non-NULL it also fills lut[slot] = the symbol
 * index whose range holds slot (2^15 entries). The weights w[m] are recomputed in a
 * second pass rather than stored: the same integer recurrence, so the same values,
 * with no allocation or 64 KiB stack array. */
static inline void rans_build_table(uint32_t amax, uint32_t ratio, uint32_t *freq, uint32_t *cum, uint16_t *lut)
{
    uint64_t w = 1ull << 24, total = w;
    for (uint32_t m = 1; m <= amax; m++) {
        w = (w * ratio) >> 16;
        total += 2 * w;
    }
    uint32_t n = 2 * amax + 1, spare = PROB_SCALE - n, sum = 0;
    w = 1ull << 24;
    for (uint32_t m = 0; m <= amax; m++) {
        if (m)
            w = (w * ratio) >> 16;
        uint32_t f = 1 + (uint32_t)((w * spare) / total);
        freq[amax + m] = f;
        freq[amax - m] = f;
        sum += m ? 2 * f : f;
    }
    freq[amax] += PROB_SCALE - sum;
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++) {
        cum[i] = c;
        if (lut)
            for (uint32_t j = 0; j < freq[i]; j++)
                lut[c + j] = (uint16_t)i;
        c += freq[i];
    }
    cum[n] = c;
}

/* The symbol index i with cum[i] <= slot < cum[i+1], by binary search over a table
 * of n = 2*amax+1 symbols (for callers that build many tables and keep no lut). */
static inline uint32_t rans_find(const uint32_t *cum, uint32_t n, uint32_t slot)
{
    uint32_t lo = 0, hi = n;
    while (hi - lo > 1) {
        uint32_t mid = (lo + hi) / 2;
        if (cum[mid] <= slot) lo = mid; else hi = mid;
    }
    return lo;
}

/* The decoder (section 8, "Coder"): the stream, the read position and the state. */
typedef struct {
    const uint8_t *data;
    size_t len, pos;
    uint32_t x;
} rans_dec;

/* Reads the 4-byte initial state; NULL, or why the stream is bad. */
static inline const char *rans_dec_init(rans_dec *r, const uint8_t *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 4;
    r->x = 0;
    if (len < 4)
        return "entropy-coded stream shorter than its 4-byte state";
    r->x = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    if (r->x < RANS_L || r->x >= (RANS_L << 8))
        return "entropy-coded stream starts with an invalid state";
    return NULL;
}

/* The slot of the next symbol: the state's low 15 bits. */
static inline uint32_t rans_dec_slot(const rans_dec *r) { return r->x & (PROB_SCALE - 1); }

/* Consumes the symbol whose range [start, start + freq) holds the current slot, then
 * renormalises; NULL, or why the stream is bad. */
static inline const char *rans_dec_advance(rans_dec *r, uint32_t freq, uint32_t start)
{
    r->x = freq * (r->x >> PROB_BITS) + (r->x & (PROB_SCALE - 1)) - start;
    while (r->x < RANS_L) {
        if (r->pos >= r->len)
            return "entropy-coded stream is truncated";
        r->x = (r->x << 8) | r->data[r->pos++];
    }
    return NULL;
}

/* After the last symbol: the state must be exactly L and every byte consumed. */
static inline const char *rans_dec_finish(const rans_dec *r)
{
    return (r->x != RANS_L || r->pos != r->len) ? "entropy-coded stream does not end where its symbols do" : NULL;
}

#endif
