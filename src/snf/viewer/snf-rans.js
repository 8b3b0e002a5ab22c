// Entropy decoding of .snf 2.x levels (format_spec.md section 7), mirroring
// snf/format/entropy.py: a discretised Laplace model whose 15-bit table is built with
// integer arithmetic only, and a byte-wise rANS decoder. Same bytes, same integers
// as the Python and C decoders (tests/vectors/entropy/, tests/viewer/).

export const PROB_BITS = 15;
export const PROB_SCALE = 1 << PROB_BITS;
export const RANS_L = 1 << 23;
export const MAX_AMAX = 8191;
export const MAX_RATIO = 65535;

export class EntropyError extends Error {}

/** floor(a / b) for non-negative integers below 2^50 (a double quotient may round up). */
function idiv(a, b) {
  let q = Math.floor(a / b);
  if (q * b > a) q -= 1;
  else if ((q + 1) * b <= a) q += 1;
  return q;
}

export function checkModel(amax, ratio) {
  if (!Number.isInteger(amax) || amax < 0 || amax > MAX_AMAX) throw new EntropyError(`model amax ${amax} out of range 0..${MAX_AMAX}`);
  if (!Number.isInteger(ratio) || ratio < 0 || ratio > MAX_RATIO) throw new EntropyError(`model ratio ${ratio} out of range 0..${MAX_RATIO}`);
}

/** {freq, cum} over symbols -amax..amax (cum has n+1 entries, cum[n] = 2^15). */
export function laplaceTable(amax, ratio) {
  checkModel(amax, ratio);
  const w = new Array(amax + 1);
  w[0] = 1 << 24;
  let total = w[0];
  for (let m = 1; m <= amax; m++) {
    w[m] = Math.floor((w[m - 1] * ratio) / 65536); // < 2^40: exact in a double
    total += 2 * w[m];
  }
  const n = 2 * amax + 1, spare = PROB_SCALE - n;
  const freq = new Uint32Array(n);
  let sum = 0;
  for (let m = 0; m <= amax; m++) {
    const f = 1 + idiv(w[m] * spare, total);
    freq[amax + m] = f;
    freq[amax - m] = f;
    sum += m ? 2 * f : f;
  }
  freq[amax] += PROB_SCALE - sum;
  const cum = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) cum[i + 1] = cum[i] + freq[i];
  return { freq, cum };
}

// Latent grids coded by context (format_spec.md 9.3, snf/format/latentctx.py).
export const N_CTX = 4;
export const LATENT_MAX = 4095;

/** Decode one stream holding segments in order: one Int32Array per segment. A segment is
 *  {n, amax, ratio} (n integers under one model) or {rows, cols, models: [{amax, ratio} x N_CTX]}
 *  (a latent grid: each residual under the model of its context bucket, the latent being the
 *  residual plus trunc((L + U) / 2)). Throws EntropyError on a truncated or inconsistent stream
 *  (never loops: each integer reads at most 2 bytes). */
export function decodeSegments(data, segments) {
  const plan = segments.map((s) => {
    if (s.models) {
      if (!Number.isInteger(s.rows) || !Number.isInteger(s.cols) || s.rows < 0 || s.cols < 0) throw new EntropyError("bad grid shape");
      if (s.models.length !== N_CTX) throw new EntropyError(`a context-coded grid has ${N_CTX} models`);
      s.models.forEach((m) => checkModel(m.amax, m.ratio));
      return { n: s.rows * s.cols, cols: s.cols, models: s.models };
    }
    checkModel(s.amax, s.ratio);
    if (!Number.isInteger(s.n) || s.n < 0) throw new EntropyError("bad symbol count");
    return { n: s.n, cols: 0, models: [{ amax: s.amax, ratio: s.ratio }] };
  });
  if (data.length < 4) throw new EntropyError("entropy-coded stream shorter than its 4-byte state");
  let x = (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0;
  if (x < RANS_L || x >= RANS_L * 256) throw new EntropyError("entropy-coded stream starts with an invalid state");
  let pos = 4;
  const end = data.length, mask = PROB_SCALE - 1;
  const out = [];
  for (const { n, cols, models } of plan) {
    const res = new Int32Array(n);
    out.push(res);
    if (!n) continue;
    const tabs = models.map(({ amax, ratio }) => {
      const { freq, cum } = laplaceTable(amax, ratio);
      const lut = new Uint16Array(PROB_SCALE);
      for (let i = 0; i < freq.length; i++) lut.fill(i, cum[i], cum[i + 1]);
      return { amax, freq, cum, lut };
    });
    const ctx = models.length === N_CTX;
    for (let i = 0, r = 0, c = 0; i < n; i++) {
      let pred = 0, b = 0;
      if (ctx) {
        const L = c ? res[i - 1] : 0, U = r ? res[i - cols] : 0;
        const UL = r && c ? res[i - cols - 1] : 0, UR = r && c + 1 < cols ? res[i - cols + 1] : 0;
        pred = Math.trunc((L + U) / 2);
        const s = 2 * Math.abs(L) + 2 * Math.abs(U) + Math.abs(UL) + Math.abs(UR);
        b = s === 0 ? 0 : s <= 3 ? 1 : s <= 6 ? 2 : 3;
        if (++c === cols) { c = 0; r++; }
      }
      const t = tabs[b];
      const slot = x & mask, sym = t.lut[slot];
      const q = sym - t.amax + pred;
      if (ctx && (q > LATENT_MAX || q < -LATENT_MAX)) throw new EntropyError(`a latent beyond \u00b1${LATENT_MAX}`);
      res[i] = q;
      x = t.freq[sym] * (x >>> PROB_BITS) + slot - t.cum[sym]; // < 2^31
      while (x < RANS_L) {
        if (pos >= end) throw new EntropyError("entropy-coded stream is truncated");
        x = (x << 8) | data[pos++];
      }
    }
  }
  if (x !== RANS_L || pos !== end) throw new EntropyError("entropy-coded stream does not end where its symbols do");
  return out;
}
