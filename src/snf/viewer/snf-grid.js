// The latent-grid field family (format_spec.md section 9), mirroring
// snf/field/grid.py (layout, limits), snf/format/gridcode.py (payload) and
// snf/decode/grid_render.py (bilinear upsampling in float32, then each level's
// ReLU synthesis; residuals add up). Pure JS: both viewer renderers use it.

export const GRID_LIMITS = {
  levels: 16, gridsPerLevel: 8, grids: 32, factorLog2: 10, hidden: 128, layers: 4, dim: 4, latents: 2 ** 26,
};

import { decodeSegments } from "./snf-rans.js";
import { STEPS } from "./snf-coded.js";

export const GRID_FEATURE = "grid-rans"; // header `requires` entry: entropy-coded grid levels

class GridError extends Error {}

const isInt = (v) => Number.isInteger(v);

/** Check a grid architecture map (header `arch`) against the rules and limits. */
export function checkGridArch(d) {
  if (!d || typeof d !== "object" || d.family !== "grid") throw new GridError("header: not a grid architecture");
  const { grids, hidden } = d;
  const layers = d.layers ?? 2, dOut = d.d_out;
  const L = GRID_LIMITS;
  if (!Array.isArray(grids) || grids.length < 1 || grids.length > L.levels) throw new GridError(`header: need 1..${L.levels} levels`);
  if (!Array.isArray(hidden) || hidden.length !== grids.length) throw new GridError("header: one synthesis width per level is needed");
  let total = 0;
  for (const g of grids) {
    if (!Array.isArray(g) || g.length < 1 || g.length > L.gridsPerLevel) throw new GridError(`header: each level adds 1..${L.gridsPerLevel} grids`);
    if (!g.every((f) => isInt(f) && f >= 0 && f <= L.factorLog2)) throw new GridError(`header: grid factors are log2 0..${L.factorLog2}`);
    total += g.length;
  }
  if (total > L.grids) throw new GridError(`header: more than ${L.grids} grids in all`);
  if (!hidden.every((h) => isInt(h) && h >= 1 && h <= L.hidden)) throw new GridError(`header: synthesis width must be 1..${L.hidden}`);
  if (!isInt(layers) || layers < 1 || layers > L.layers) throw new GridError(`header: synthesis hidden layers must be 1..${L.layers}`);
  if (!isInt(dOut) || dOut < 1 || dOut > L.dim) throw new GridError(`header: outputs must be 1..${L.dim}`);
  return { family: "grid", grids, hidden, layers, d_out: dOut, levels: grids.length };
}

/** Features level k's synthesis reads: every grid of levels 1..k. */
export function inputs(arch, k) {
  let n = 0;
  for (let j = 0; j < k; j++) n += arch.grids[j].length;
  return n;
}

/** The arrays of level k's payload, in order: {name, shape, size, kind}. */
export function gridTensors(arch, k, [w, h]) {
  const out = [];
  arch.grids[k - 1].forEach((f, j) => {
    const shape = [Math.ceil(h / 2 ** f), Math.ceil(w / 2 ** f)];
    out.push({ name: `grid${k}.${j}`, shape, size: shape[0] * shape[1], kind: "latent" });
  });
  let fan = inputs(arch, k);
  const hk = arch.hidden[k - 1];
  const add = (name, shape) => out.push({ name, shape, size: shape.reduce((a, b) => a * b, 1), kind: "weight" });
  for (let i = 0; i < arch.layers; i++) {
    add(`syn${k}.l${i}.w`, [hk, fan]);
    add(`syn${k}.l${i}.b`, [hk]);
    fan = hk;
  }
  add(`syn${k}.out.w`, [arch.d_out, hk]);
  add(`syn${k}.out.b`, [arch.d_out]);
  return out;
}

export function gridPayloadSize(arch, k, size) {
  return gridTensors(arch, k, size).reduce((n, t) => n + t.size + (t.kind === "weight" ? 4 : 0), 0);
}

/** Header checks of sections 9.2 and 9.5 (before anything is allocated); returns the arch. */
export function validateGridHeader(h, chunkLimit, sideLimit, sampleLimit) {
  const arch = checkGridArch(h.arch);
  if (h.signal !== "image") throw new GridError("header: a grid field holds an image");
  const size = h.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => isInt(s) && s >= 1 && s <= sideLimit)) throw new GridError("header: bad size");
  if (size[0] * size[1] > sampleLimit) throw new GridError("header: too many samples");
  if (h.channels !== arch.d_out) throw new GridError("header: channels differ from the architecture's outputs");
  let latents = 0;
  for (let k = 1; k <= arch.levels; k++) {
    for (const t of gridTensors(arch, k, size)) if (t.kind === "latent") latents += t.size;
    const bound = (h.requires || []).includes(GRID_FEATURE) ? gridMaxCodedSize : gridPayloadSize;
    if (bound(arch, k, size) > chunkLimit) throw new GridError(`header: level ${k} would exceed the chunk limit`);
  }
  if (latents > GRID_LIMITS.latents) throw new GridError(`header: ${latents} latents exceed the limit ${GRID_LIMITS.latents}`);
  return arch;
}

/** Head bytes of an entropy-coded (grid-rans) level: 4 per grid, 5 per synthesis tensor. */
export function gridHeadSize(arch, k, size) {
  return gridTensors(arch, k, size).reduce((n, t) => n + (t.kind === "latent" ? 4 : 5), 0);
}

/** Upper bound of a grid-rans level's bytes (the chunk-limit check of section 9.5). */
export function gridMaxCodedSize(arch, k, size) {
  return gridHeadSize(arch, k, size) + 2 * gridTensors(arch, k, size).reduce((n, t) => n + t.size, 0) + 4;
}

/** Entropy-coded (grid-rans) level, the chunk data itself (section 9.3): per tensor [step code]
 *  and model, then one rANS stream; latents are the integers, weights float32(q) * STEPS[e]. */
export function decodeGridCodedLevel(arch, k, size, body) {
  const tensors = gridTensors(arch, k, size);
  const hs = gridHeadSize(arch, k, size);
  if (body.length < hs + 4) throw new GridError(`level ${k} payload is ${body.length} bytes, shorter than its head and state (${hs + 4})`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  const codes = [], segs = [];
  for (const t of tensors) {
    let e = -1;
    if (t.kind === "weight") e = body[pos++];
    segs.push({ n: t.size, amax: view.getUint16(pos, true), ratio: view.getUint16(pos + 2, true) });
    pos += 4;
    codes.push(e);
  }
  const ints = decodeSegments(body.subarray(hs), segs);
  return tensors.map((t, i) => {
    const q = ints[i], e = codes[i];
    const values = new Float32Array(t.size);
    if (e < 0) for (let j = 0; j < t.size; j++) values[j] = q[j];
    else for (let j = 0; j < t.size; j++) values[j] = q[j] * STEPS[e]; // exact in a double, one rounding to float32
    return { tensor: t, values };
  });
}

/** First-revision payload (decompressed) -> Float32Arrays in payload order (latents as integers, weights float32(q) * step). */
export function decodeGridLevel(arch, k, size, raw) {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = [];
  let pos = 0;
  for (const t of gridTensors(arch, k, size)) {
    let step = 1;
    if (t.kind === "weight") {
      step = view.getFloat32(pos, true);
      pos += 4;
      if (!Number.isFinite(step)) throw new GridError(`level ${k} ${t.name}: step is not finite`);
    }
    const values = new Float32Array(t.size);
    for (let i = 0; i < t.size; i++) {
      const q = view.getInt8(pos + i);
      if (t.kind === "latent" && q === -128) throw new GridError(`level ${k} ${t.name}: latent -128 is outside [-127, 127]`);
      values[i] = q * step; // exact in a double, one rounding to float32: as numpy's float32 multiply
    }
    pos += t.size;
    out.push({ tensor: t, values });
  }
  return out;
}

/** Bilinear taps along one axis (section 9.4), in float32. */
export function axisTaps(nOut, nIn) {
  const i0 = new Int32Array(nOut), i1 = new Int32Array(nOut), t = new Float32Array(nOut);
  const ratio = Math.fround(nIn / nOut), f = Math.fround;
  for (let i = 0; i < nOut; i++) {
    let src = f(f(f(i + 0.5) * ratio) - 0.5);
    src = Math.min(Math.max(src, 0), nIn - 1);
    const a = Math.floor(src);
    i0[i] = a;
    i1[i] = Math.min(a + 1, nIn - 1);
    t[i] = f(src - a);
  }
  return { i0, i1, t };
}

/** One grid (rows r, cols c) upsampled to w x h: rows first, then columns, in float32. */
function upsample(g, r, c, w, h, out, stride, offset) {
  const f = Math.fround;
  const ty = axisTaps(h, r), tx = axisTaps(w, c);
  const row = new Float32Array(c);
  for (let y = 0; y < h; y++) {
    const a = ty.i0[y] * c, b = ty.i1[y] * c, t = ty.t[y], s = f(1 - t);
    for (let x = 0; x < c; x++) row[x] = f(f(g[a + x] * s) + f(g[b + x] * t));
    for (let x = 0; x < w; x++) {
      const u = tx.t[x];
      out[(y * w + x) * stride + offset] = f(f(row[tx.i0[x]] * f(1 - u)) + f(row[tx.i1[x]] * u));
    }
  }
}

/**
 * Render levels 1..k at w x h: Float32Array of w*h*d_out values, pixel-major.
 * `levels[j-1]` is decodeGridLevel's output for level j.
 */
export function renderGrid(arch, levels, k, w, h) {
  const nGrids = inputs(arch, k);
  const feats = new Float32Array(w * h * nGrids);
  let gi = 0;
  for (let j = 1; j <= k; j++) {
    const arrays = levels[j - 1];
    for (let n = 0; n < arch.grids[j - 1].length; n++, gi++) {
      const { tensor, values } = arrays[n];
      upsample(values, tensor.shape[0], tensor.shape[1], w, h, feats, nGrids, gi);
    }
  }
  const dOut = arch.d_out, L = arch.layers;
  const out = new Float32Array(w * h * dOut);
  const maxH = Math.max(...arch.hidden.slice(0, k));
  let a = new Float32Array(Math.max(maxH, nGrids)), b = new Float32Array(Math.max(maxH, nGrids));
  for (let p = 0; p < w * h; p++) {
    for (let j = 1; j <= k; j++) {
      const arrays = levels[j - 1], ng = arch.grids[j - 1].length, fan0 = inputs(arch, j), hk = arch.hidden[j - 1];
      for (let i = 0; i < fan0; i++) a[i] = feats[p * nGrids + i];
      let fan = fan0;
      for (let l = 0; l < L; l++) {
        const W = arrays[ng + 2 * l].values, B = arrays[ng + 2 * l + 1].values;
        for (let r = 0; r < hk; r++) {
          let acc = 0;
          for (let c = 0; c < fan; c++) acc += W[r * fan + c] * a[c];
          const z = Math.fround(acc + B[r]);
          b[r] = z > 0 ? z : 0;
        }
        [a, b] = [b, a];
        fan = hk;
      }
      const W = arrays[ng + 2 * L].values, B = arrays[ng + 2 * L + 1].values;
      for (let o = 0; o < dOut; o++) {
        let acc = 0;
        for (let c = 0; c < hk; c++) acc += W[o * hk + c] * a[c];
        out[p * dOut + o] = Math.fround(out[p * dOut + o] + Math.fround(acc + B[o]));
      }
    }
  }
  return out;
}
