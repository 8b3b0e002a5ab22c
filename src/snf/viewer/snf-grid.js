// The latent-grid field family (format_spec.md section 9), mirroring
// snf/field/grid.py (layout, limits) and snf/format/gridcode.py (payload);
// rendering is in render-grid-js.js (JS, any band of rows) and render-grid-webgl.js.

export const GRID_LIMITS = {
  levels: 16, gridsPerLevel: 8, grids: 32, factorLog2: 10, hidden: 128, layers: 4, dim: 4, latents: 2 ** 26,
};

import { decodeSegments, N_CTX } from "./snf-rans.js";
import { STEPS } from "./snf-steps.js";

export const GRID_FEATURE = "grid-rans"; // header `requires` entry: entropy-coded grid levels
export const GRID_CTX = "grid-ctx"; // ... and latent grids coded by context (with grid-rans)

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
  const coded = (h.requires || []).includes(GRID_FEATURE), ctx = (h.requires || []).includes(GRID_CTX);
  if (ctx && !coded) throw new GridError(`header: requires ${GRID_CTX} without ${GRID_FEATURE}`);
  for (let k = 1; k <= arch.levels; k++) {
    for (const t of gridTensors(arch, k, size)) if (t.kind === "latent") latents += t.size;
    const bound = coded ? gridMaxCodedSize(arch, k, size, ctx) : gridPayloadSize(arch, k, size);
    if (bound > chunkLimit) throw new GridError(`header: level ${k} would exceed the chunk limit`);
  }
  if (latents > GRID_LIMITS.latents) throw new GridError(`header: ${latents} latents exceed the limit ${GRID_LIMITS.latents}`);
  return arch;
}

/** Head bytes of an entropy-coded (grid-rans) level: 4 per grid (16 with grid-ctx), 5 per synthesis tensor. */
export function gridHeadSize(arch, k, size, ctx = false) {
  return gridTensors(arch, k, size).reduce((n, t) => n + (t.kind === "latent" ? (ctx ? 4 * N_CTX : 4) : 5), 0);
}

/** Upper bound of a grid-rans level's bytes (the chunk-limit check of section 9.5). */
export function gridMaxCodedSize(arch, k, size, ctx = false) {
  return gridHeadSize(arch, k, size, ctx) + 2 * gridTensors(arch, k, size).reduce((n, t) => n + t.size, 0) + 4;
}

/** Entropy-coded (grid-rans) level, the chunk data itself (section 9.3): per tensor [step code]
 *  and model (N_CTX models per latent grid with grid-ctx: `ctx`), then one rANS stream;
 *  latents are the integers, weights float32(q) * STEPS[e]. */
export function decodeGridCodedLevel(arch, k, size, body, ctx = false) {
  const tensors = gridTensors(arch, k, size);
  const hs = gridHeadSize(arch, k, size, ctx);
  if (body.length < hs + 4) throw new GridError(`level ${k} payload is ${body.length} bytes, shorter than its head and state (${hs + 4})`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  const codes = [], segs = [];
  for (const t of tensors) {
    let e = -1;
    if (t.kind === "weight") e = body[pos++];
    if (ctx && t.kind === "latent") {
      const models = [];
      for (let m = 0; m < N_CTX; m++, pos += 4) models.push({ amax: view.getUint16(pos, true), ratio: view.getUint16(pos + 2, true) });
      segs.push({ rows: t.shape[0], cols: t.shape[1], models });
    } else {
      segs.push({ n: t.size, amax: view.getUint16(pos, true), ratio: view.getUint16(pos + 2, true) });
      pos += 4;
    }
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
