// The latent field family (format_spec.md section 11), mirroring snf/field/latent.py
// (layout, hard limits, the integer ARM) and snf/format/latentcode.py (level payload):
// the header checks, and a level's payload decoded to the same integers as the Python
// and C decoders on every CPU. The ARM is exact integer arithmetic carried in doubles
// (every intermediate is below 2^48, so a double holds it exactly; floor(t / 256) is
// Math.floor of an exact quotient, never `>>`, which would cut to 32 bits).
// Rendering is in render-latent-js.js and render-latent-webgl.js; the viewer decodes
// levels off the main thread with latent-worker.js.

import { LATENT } from "./snf-constants.js";
import { laplaceTable, checkModel, EntropyError, decodeSegments, MAX_AMAX, PROB_BITS, PROB_SCALE, RANS_L } from "./snf-rans.js";
import { STEPS } from "./snf-steps.js";

const FLUSH_BYTES = 4;
const N_CONTEXT = LATENT.neighbours.length + 1;

/** A header or payload this reader refuses; `kind` as in format_spec.md section 6. */
export class LatentError extends Error {
  constructor(message, kind = "header") {
    super(message);
    this.kind = kind;
  }
}

const isInt = (v) => Number.isInteger(v);
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);
const prod = (shape) => shape.reduce((a, b) => a * b, 1);

/** Check a latent architecture map (header `arch`, section 11.2) against the rules and limits of
 *  11.1 and 11.6, in snf.field.latent.LatentArch.from_dict's order; returns a normalised copy. */
export function checkLatentArch(d) {
  const L = LATENT, D = L.defaults;
  if (!isMap(d)) throw new LatentError("header: arch must be a map");
  if (!("grids" in d)) throw new LatentError("header: latent arch lacks 'grids'");
  const lv = d.grids;
  if (!Array.isArray(lv) || !lv.every(Array.isArray)) throw new LatentError("header: grids must be a list of lists of integers");
  const syn = "syn" in d ? d.syn : D.syn, arm = "arm" in d ? d.arm : D.arm, conv = "conv" in d ? d.conv : D.conv;
  if (!("d_out" in d)) throw new LatentError("header: latent arch lacks 'd_out'");
  if (!Array.isArray(syn) || !Array.isArray(arm)) throw new LatentError("header: bad latent arch: syn and arm are lists");
  if (!lv.every((g) => g.every(isInt)) || !syn.every(isInt) || !arm.every(isInt) || !isInt(conv) || !isInt(d.d_out)) {
    throw new LatentError("header: latent arch values must be integers");
  }
  const factors = lv.flat();
  if (lv.length > L.levels || factors.length > L.grids) throw new LatentError(`header: at most ${L.levels} levels and ${L.grids} grids`);
  if (lv.length < 1) throw new LatentError(`header: need 1..${L.levels} levels, got 0`);
  if (lv.some((g) => g.length < 1)) throw new LatentError("header: each level adds at least one grid");
  if (factors.some((f) => f < 0 || f > L.factorLog2)) throw new LatentError(`header: grid factors are log2 0..${L.factorLog2}`);
  if (factors.some((f, i) => i > 0 && factors[i - 1] <= f)) throw new LatentError("header: grid factors must decrease strictly (coarse to fine)");
  if (syn.length > L.synLayers || syn.some((h) => h < 1 || h > L.synWidth)) {
    throw new LatentError(`header: synthesis: at most ${L.synLayers} hidden layers of width 1..${L.synWidth}`);
  }
  if (conv < 0 || conv > L.conv) throw new LatentError(`header: conv layers must be 0..${L.conv}`);
  if (arm.length !== 2 || arm[0] < 1 || arm[0] > L.armWidth || arm[1] < 1 || arm[1] > L.armLayers) {
    throw new LatentError(`header: arm is [width 1..${L.armWidth}, layers 1..${L.armLayers}]`);
  }
  if (d.d_out < 1 || d.d_out > L.dim) throw new LatentError(`header: outputs must be 1..${L.dim}`);
  return { family: "latent", grids: lv.map((g) => g.slice()), syn: syn.slice(), conv, arm: arm.slice(), d_out: d.d_out,
           levels: lv.length, factors };
}

/** [rows, cols] of every grid of a W x H picture, in grid order (section 11.1). */
export function gridShapes(arch, [w, h]) {
  return arch.factors.map((f) => [Math.ceil(h / 2 ** f), Math.ceil(w / 2 ** f)]);
}

/** Multiply-adds per pixel of a render (cost model, format_spec.md 5.1): synthesis and convs. */
export function latentMacs(arch) {
  let fan = arch.factors.length, n = 0;
  for (const h of arch.syn) { n += fan * h; fan = h; }
  return n + fan * arch.d_out + arch.conv * 9 * arch.d_out * arch.d_out;
}

/** Numbers stored in levels 1..k (cost model): level 1's weights and the latents of levels 1..k. */
export function latentParams(arch, k, size) {
  const w = weightTensors(arch).reduce((n, t) => n + t.size, 0);
  return w + gridShapes(arch, size).slice(0, gridRange(arch, k)[1]).reduce((n, [r, c]) => n + r * c, 0);
}

/** Global indices [a, b) of level k's grids. */
export function gridRange(arch, k) {
  let a = 0;
  for (let j = 0; j < k - 1; j++) a += arch.grids[j].length;
  return [a, a + arch.grids[k - 1].length];
}

/** The ARM's tensors, in payload order: {name, shape, size, kind: "arm"}. */
export function armTensors(arch) {
  const [width, layers] = arch.arm, out = [];
  const add = (name, shape, kind) => out.push({ name, shape, size: prod(shape), kind });
  let fan = N_CONTEXT;
  for (let i = 0; i < layers; i++) {
    add(`arm.l${i}.w`, [width, fan], "arm");
    add(`arm.l${i}.b`, [width], "arm");
    fan = width;
  }
  add("arm.out.w", [2, fan], "arm");
  add("arm.out.b", [2], "arm");
  return out;
}

/** The synthesis' tensors (its layers, then the conv layers), in payload order. */
export function synTensors(arch) {
  const out = [], d = arch.d_out;
  const add = (name, shape) => out.push({ name, shape, size: prod(shape), kind: "weight" });
  let fan = arch.factors.length;
  arch.syn.forEach((h, i) => {
    add(`syn.l${i}.w`, [h, fan]);
    add(`syn.l${i}.b`, [h]);
    fan = h;
  });
  add("syn.out.w", [d, fan]);
  add("syn.out.b", [d]);
  for (let j = 0; j < arch.conv; j++) {
    add(`conv${j}.w`, [d, d, 3, 3]);
    add(`conv${j}.b`, [d]);
  }
  return out;
}

export const weightTensors = (arch) => [...armTensors(arch), ...synTensors(arch)];

/** Bytes before level k's first stream (level 1: 5 per weight tensor and the u32 length). */
export const headSize = (arch, k) => (k === 1 ? 5 * weightTensors(arch).length + 4 : 0);

/** Level k's grids: {name, shape, size, kind: "latent"}. */
export function levelGrids(arch, k, size) {
  const shapes = gridShapes(arch, size), [a, b] = gridRange(arch, k), out = [];
  for (let g = a; g < b; g++) out.push({ name: `grid${g}`, shape: shapes[g], size: shapes[g][0] * shapes[g][1], kind: "latent" });
  return out;
}

/** Bound of level k's payload (section 11.6): heads, 2 bytes per grid and per integer, the states. */
export function maxCodedSize(arch, k, size) {
  const grids = levelGrids(arch, k, size);
  let n = grids.reduce((s, t) => s + t.size, 0);
  if (k === 1) n += weightTensors(arch).reduce((s, t) => s + t.size, 0);
  return headSize(arch, k) + 2 * grids.length + 2 * n + 2 * FLUSH_BYTES;
}

/** The latent header's checks of section 11.2 and 11.6 up to the coordinates (snf-arch.js then checks
 *  coords and values, then latentChunkLimits): as container.py's _validate_latent_header. */
export function checkLatentHeader(h, limits) {
  const arch = checkLatentArch(h.arch);
  if (h.signal !== "image") throw new LatentError(`header: a latent field holds an image, not ${JSON.stringify(h.signal)}`);
  const size = h.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => isInt(s) && s >= 1 && s <= limits.side)) {
    throw new LatentError("header: bad size");
  }
  if (size[0] * size[1] > limits.samples) throw new LatentError(`header: ${size[0] * size[1]} samples exceed the limit ${limits.samples}`);
  if (!isInt(h.channels) || h.channels !== arch.d_out) throw new LatentError("header: channels differ from the architecture's outputs");
  const total = gridShapes(arch, size).reduce((s, [r, c]) => s + r * c, 0);
  if (total > LATENT.latents) throw new LatentError(`header: ${total} latents exceed the limit ${LATENT.latents}`);
  return arch;
}

/** No level may exceed the chunk limit (kind "limit"), checked from the header alone. */
export function latentChunkLimits(arch, size, chunkBytes) {
  for (let k = 1; k <= arch.levels; k++) {
    if (maxCodedSize(arch, k, size) > chunkBytes) throw new LatentError(`header: level ${k} would exceed the chunk limit`, "limit");
  }
}

// ------------------------------------------------------------------ level payload (section 11.3)

/** Level 1's weight part -> {arrays: [{tensor, values}] (ARM tensors as their Q8 integers, synthesis
 *  as float32(q) * STEPS[e]), pos: bytes read}. */
export function decodeLatentWeights(arch, body) {
  const tensors = weightTensors(arch), hs = headSize(arch, 1);
  if (body.length < hs) throw new LatentError(`level 1 payload is ${body.length} bytes, shorter than its head (${hs})`, "payload");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  const codes = [], segs = [];
  for (const t of tensors) {
    const e = body[pos], amax = view.getUint16(pos + 1, true), ratio = view.getUint16(pos + 3, true);
    pos += 5;
    if (t.kind === "arm" && e > LATENT.armShiftMax) throw new LatentError(`${t.name}: shift ${e} beyond ${LATENT.armShiftMax}`, "payload");
    checkModel(amax, ratio);
    if (t.kind === "arm" && amax * 2 ** e > LATENT.weightMax) throw new LatentError(`${t.name}: weights beyond ±${LATENT.weightMax} (Q8)`, "payload");
    codes.push(e);
    segs.push({ n: t.size, amax, ratio });
  }
  const n = view.getUint32(pos, true);
  pos += 4;
  if (n > body.length - pos) throw new LatentError(`weight stream of ${n} bytes runs past the chunk`, "payload");
  const ints = decodeSegments(body.subarray(pos, pos + n), segs);
  const arrays = tensors.map((t, i) => {
    const q = ints[i], e = codes[i], values = new Float32Array(t.size);
    if (t.kind === "arm") for (let j = 0; j < t.size; j++) values[j] = q[j] * 2 ** e;
    else for (let j = 0; j < t.size; j++) values[j] = q[j] * STEPS[e]; // exact in a double, one rounding to float32
    return { tensor: t, values };
  });
  return { arrays, pos: pos + n };
}

/** The ARM tensors (Q8 integers) as Float64Arrays, from level 1's decoded arrays. */
export function armWeights(arch, level1) {
  return level1.slice(0, armTensors(arch).length).map(({ values }) => Float64Array.from(values));
}

/**
 * The integer ARM of section 11.4 on one context `ctx` (N_CONTEXT integers): writes pred and s into
 * `res` ([pred, s]). `w`: the ARM tensors as Float64Arrays; `ha`, `hb`: scratch of the hidden width.
 */
export function armPredict(w, width, layers, ctx, res, ha = new Float64Array(width), hb = new Float64Array(width)) {
  const HMAX = LATENT.hiddenMax;
  let a = ctx, fan = N_CONTEXT, out = ha;
  for (let l = 0; l < layers; l++) {
    const W = w[2 * l], B = w[2 * l + 1];
    for (let u = 0, row = 0; u < width; u++, row += fan) {
      let t = 0;
      for (let v = 0; v < fan; v++) t += W[row + v] * a[v];
      if (l) t = Math.floor(t / 256);
      t += B[u];
      out[u] = t < 0 ? 0 : t > HMAX ? HMAX : t;
    }
    a = out;
    out = out === ha ? hb : ha;
    fan = width;
  }
  const W = w[2 * layers], B = w[2 * layers + 1];
  let o0 = 0, o1 = 0;
  for (let v = 0; v < fan; v++) {
    o0 += W[v] * a[v];
    o1 += W[fan + v] * a[v];
  }
  o0 = Math.floor(o0 / 256) + B[0];
  o1 = Math.floor(o1 / 256) + B[1];
  const pred = Math.floor((o0 + 128) / 256), s = Math.floor((o1 + 128) / 256);
  const M = LATENT.latentMax;
  res[0] = pred < -M ? -M : pred > M ? M : pred;
  res[1] = s < 0 ? 0 : s > LATENT.scales - 1 ? LATENT.scales - 1 : s;
  return res;
}

const kernels = new Map();  // generated source -> function: a file's levels (and renders) reuse one, JIT-warm

/** new Function(source)(), once per distinct source (the last few kept). */
export function compile(source) {
  let fn = kernels.get(source);
  if (!fn) {
    fn = new Function(source)();
    if (kernels.size >= 16) kernels.delete(kernels.keys().next().value);
    kernels.set(source, fn);
  }
  return fn;
}

/**
 * armPredict specialised to one ARM: its integer weights become constants in generated straight-line
 * code (new Function), several times quicker per latent than the loops; the same integer operations
 * (exact in doubles, zero weights left out: adding 0 changes no integer sum). Returns
 * (c0, ..., c8, res) -> res = [pred, s]; the plain armPredict where code cannot be generated.
 */
export function armKernel(w, width, layers) {
  const n = N_CONTEXT, HMAX = LATENT.hiddenMax;
  const dot = (W, row, fan, xs) => {
    const terms = [];
    for (let v = 0; v < fan; v++) if (W[row + v] !== 0) terms.push(`${W[row + v]} * ${xs[v]}`);
    return terms.length ? terms.join(" + ") : "0";
  };
  const lines = [];
  let xs = Array.from({ length: n }, (_, v) => `c${v}`), fan = n;
  for (let l = 0; l < layers; l++) {
    const W = w[2 * l], B = w[2 * l + 1], ys = [];
    for (let u = 0; u < width; u++) {
      const sum = l ? `Math.floor((${dot(W, u * fan, fan, xs)}) / 256)` : `(${dot(W, u * fan, fan, xs)})`;
      lines.push(`t = ${sum} + ${B[u]}; const h${l}_${u} = t < 0 ? 0 : t > ${HMAX} ? ${HMAX} : t;`);
      ys.push(`h${l}_${u}`);
    }
    xs = ys;
    fan = width;
  }
  const W = w[2 * layers], B = w[2 * layers + 1], M = LATENT.latentMax, S = LATENT.scales - 1;
  lines.push(`const o0 = Math.floor((${dot(W, 0, fan, xs)}) / 256) + ${B[0]};`);
  lines.push(`const o1 = Math.floor((${dot(W, fan, fan, xs)}) / 256) + ${B[1]};`);
  lines.push("const pred = Math.floor((o0 + 128) / 256), s = Math.floor((o1 + 128) / 256);");
  lines.push(`res[0] = pred < -${M} ? -${M} : pred > ${M} ? ${M} : pred;`);
  lines.push(`res[1] = s < 0 ? 0 : s > ${S} ? ${S} : s;`);
  try {
    return compile(`"use strict";
return function arm(${Array.from({ length: n }, (_, v) => `c${v}`).join(", ")}, res) {
  let t = 0;
  ${lines.join("\n  ")}
  return res;
};`)();
  } catch {  // no code generation here (a content security policy): the loops
    const ctx = new Float64Array(n), ha = new Float64Array(width), hb = new Float64Array(width);
    return (...args) => {
      for (let v = 0; v < n; v++) ctx[v] = args[v];
      return armPredict(w, width, layers, ctx, args[n], ha, hb);
    };
  }
}

/**
 * Level k's grid part (`data`: per grid a u16 amax, then one rANS stream) -> one Int32Array per grid
 * of the level, in raster order, the ARM giving each latent's prediction and model. `w`: armWeights;
 * `parent`: {values, rows, cols} of the last grid of level k-1 (null for level 1).
 */
export function decodeLatentGrids(arch, k, size, data, w, parent) {
  const grids = levelGrids(arch, k, size), n = grids.length;
  if (data.length < 2 * n + FLUSH_BYTES) throw new LatentError(`level ${k}: grid part of ${data.length} bytes, shorter than its head and state`, "payload");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const amaxes = grids.map((_, i) => view.getUint16(2 * i, true));
  for (const m of amaxes) if (m > MAX_AMAX) throw new LatentError(`level ${k}: model amax ${m} out of range 0..${MAX_AMAX}`, "payload");
  const s = data.subarray(2 * n), end = s.length;
  let x = (s[0] | (s[1] << 8) | (s[2] << 16) | (s[3] << 24)) >>> 0;
  if (x < RANS_L || x >= RANS_L * 256) throw new EntropyError("entropy-coded stream starts with an invalid state");
  let pos = FLUSH_BYTES;
  const [width, layers] = arch.arm, MAXV = LATENT.latentMax, mask = PROB_SCALE - 1;
  const res = [0, 0], arm = armKernel(w, width, layers);
  arm(0, 0, 0, 0, 0, 0, 0, 0, 0, res);
  const zeroPred = res[0], zeroS = res[1];  // the ARM on an all-zero context (most latents of a fine grid)
  let par = parent ? parent.values : null, pr = parent ? parent.rows : 0, pc = parent ? parent.cols : 0;
  const out = [];
  grids.forEach((t, gi) => {
    const [rows, cols] = t.shape, amax = amaxes[gi];
    const q = new Int32Array(rows * cols);
    const tabs = new Array(LATENT.scales);
    const pj = new Int32Array(cols);
    for (let j = 0; j < cols; j++) pj[j] = Math.floor((j * pc) / cols);
    for (let i = 0; i < rows; i++) {
      const prow = par ? Math.floor((i * pr) / rows) * pc : 0;
      const r0 = i * cols, r1 = r0 - cols, r2 = r1 - cols;
      for (let j = 0; j < cols; j++) {
        // the context (section 11.4): NEIGHBOURS in order, then the parent latent
        const c0 = j >= 1 ? q[r0 + j - 1] : 0;
        const c1 = i >= 1 ? q[r1 + j] : 0;
        const c2 = i >= 1 && j >= 1 ? q[r1 + j - 1] : 0;
        const c3 = i >= 1 && j + 1 < cols ? q[r1 + j + 1] : 0;
        const c4 = j >= 2 ? q[r0 + j - 2] : 0;
        const c5 = i >= 2 ? q[r2 + j] : 0;
        const c6 = i >= 1 && j >= 2 ? q[r1 + j - 2] : 0;
        const c7 = i >= 1 && j + 2 < cols ? q[r1 + j + 2] : 0;
        const c8 = par ? par[prow + pj[j]] : 0;
        let pred = zeroPred, sc = zeroS;
        if (c0 || c1 || c2 || c3 || c4 || c5 || c6 || c7 || c8) {
          arm(c0, c1, c2, c3, c4, c5, c6, c7, c8, res);
          pred = res[0];
          sc = res[1];
        }
        if (amax === 0) {  // one symbol of frequency 2^15: the latent is the prediction, the state unchanged
          q[r0 + j] = pred;
          continue;
        }
        const tab = tabs[sc] || (tabs[sc] = laplaceTable(amax, LATENT.ratios[sc]));
        const cum = tab.cum, slot = x & mask;
        let lo = 0, hi = 2 * amax + 1;  // the largest lo with cum[lo] <= slot
        while (hi - lo > 1) {
          const mid = (lo + hi) >>> 1;
          if (cum[mid] <= slot) lo = mid; else hi = mid;
        }
        const v = lo - amax + pred;
        if (v > MAXV || v < -MAXV) throw new EntropyError(`a latent beyond \u00b1${MAXV}`);
        q[r0 + j] = v;
        x = tab.freq[lo] * (x >>> PROB_BITS) + slot - cum[lo];
        while (x < RANS_L) {
          if (pos >= end) throw new EntropyError("entropy-coded stream is truncated");
          x = (x << 8) | s[pos++];
        }
      }
    }
    out.push(q);
    par = q;
    pr = rows;
    pc = cols;
  });
  if (x !== RANS_L || pos !== end) throw new EntropyError("entropy-coded stream does not end where its symbols do");
  return out;
}

/**
 * Level k's payload -> [{tensor, values: Float32Array}] in payload order (level 1: the weight tensors,
 * then its grids; later levels: their grids), the same values snf.format.latentcode.decode_level gives.
 * `earlier`: the decoded levels 1..k-1 in this form. Throws LatentError or EntropyError.
 */
export function decodeLatentLevel(arch, k, size, body, earlier) {
  let weights = [], pos = 0, w, parent = null;
  if (k === 1) {
    ({ arrays: weights, pos } = decodeLatentWeights(arch, body));
    w = armWeights(arch, weights);
  } else {
    if (earlier.length < k - 1) throw new LatentError(`level ${k} needs levels 1..${k - 1} first`, "payload");
    w = armWeights(arch, earlier[0]);
    const last = earlier[k - 2][earlier[k - 2].length - 1];
    parent = { values: last.values, rows: last.tensor.shape[0], cols: last.tensor.shape[1] };
  }
  const ints = decodeLatentGrids(arch, k, size, body.subarray(pos), w, parent);
  const grids = levelGrids(arch, k, size).map((tensor, i) => ({ tensor, values: Float32Array.from(ints[i]) }));
  return [...weights, ...grids];
}
