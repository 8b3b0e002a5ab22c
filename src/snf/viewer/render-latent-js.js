// The latent field (format_spec.md section 11.5) evaluated in JavaScript, any band
// of rows at a time, mirroring snf/decode/latent_render.py: each grid held is
// upsampled bilinearly to the pixel centres (section 9.4's taps, render-grid-js.js),
// a grid of a level not held is zero (the fill rule) and is simply left out; the
// per-pixel synthesis (ReLU layers) gives d_out values, then the 3x3 residual conv
// layers run on the picture, zero outside it. A band of rows needs `conv` rows more
// on each side (its halo), so the render workers (render-worker.js) split a picture
// into bands as for the other families, and nothing here touches the DOM.

import { axisTaps } from "./render-grid-js.js";
import { armTensors, compile, synTensors } from "./snf-latent.js";
import { Cancelled } from "./cancelled.js";

/**
 * Levels 1..k of a latent field as one plain object (Float32Arrays and numbers, so it crosses to a
 * Worker by structured clone): {family: "latent", k, dOut, nGrids (G, the synthesis' inputs), grids:
 * [{g, values, rows, cols}] the grids held, syn: hidden widths, conv: layers, ps: the synthesis'
 * arrays in payload order (layers, output, then per conv layer its weights and bias), macs: multiply-
 * adds per pixel, minBandRows}. `levels[j-1]` is the parser's output for level j.
 */
export function latentNet(arch, levels, k) {
  if (!(k >= 1 && k <= levels.length)) throw new Error(`level ${k} is not decoded (have ${levels.length})`);
  const nArm = armTensors(arch).length, nSyn = synTensors(arch).length;
  const held = [...levels[0].slice(nArm + nSyn)];
  for (let j = 2; j <= k; j++) held.push(...levels[j - 1]);
  const grids = held.map(({ tensor, values }, g) => ({ g, values, rows: tensor.shape[0], cols: tensor.shape[1] }));
  const ps = levels[0].slice(nArm, nArm + nSyn).map((a) => a.values);
  const G = arch.factors.length, d = arch.d_out;
  let macs = 0, fan = G;
  for (const h of arch.syn) { macs += fan * h; fan = h; }
  macs += fan * d + arch.conv * 9 * d * d + 4 * grids.length;
  return { family: "latent", k, dOut: d, nGrids: G, grids, syn: arch.syn.slice(), conv: arch.conv, ps, macs,
           minBandRows: 8 * Math.max(1, arch.conv) };
}

/** Per grid held, its column and row taps for a width x height render (reusable for every band). */
export function latentTaps(net, width, height) {
  return net.grids.map((g) => ({ x: axisTaps(width, g.cols), y: axisTaps(height, g.rows) }));
}

/**
 * Rows y0..y1-1 of a width x height render into `out` ((y1-y0)*width*dOut values, pixel-major).
 * The synthesis sums its products in double and rounds to float32 at each layer's output; the conv
 * layers add their nine taps in numpy's order, in float32 (section 11.5: within one 8-bit step).
 */
export function latentRows(net, width, height, y0, y1, out, taps = latentTaps(net, width, height)) {
  const f = Math.fround, C = net.conv, d = net.dOut, G = net.nGrids;
  const ya = Math.max(0, y0 - C), yb = Math.min(height, y1 + C), n = (yb - ya) * width;
  // features (G per pixel; zero for the grids not held)
  const feats = new Float32Array(n * G);
  net.grids.forEach((grid, gi) => {
    const { x: tx, y: ty } = taps[gi], c = grid.cols, v = grid.values, g = grid.g;
    const row = new Float32Array(c);
    for (let y = ya; y < yb; y++) {
      const a = ty.i0[y] * c, b = ty.i1[y] * c, t = ty.t[y], s = f(1 - t);
      for (let x = 0; x < c; x++) row[x] = f(f(v[a + x] * s) + f(v[b + x] * t));
      const base = (y - ya) * width;
      for (let x = 0; x < width; x++) {
        const u = tx.t[x];
        feats[(base + x) * G + g] = f(f(row[tx.i0[x]] * f(1 - u)) + f(row[tx.i1[x]] * u));
      }
    }
  });
  // the synthesis, per pixel, then the conv layers: each computes the rows the layers after it still need
  const kern = kernels(net);
  let Y = C ? new Float32Array(n * d) : out;
  kern.synth(feats, Y, n);
  let ra = ya;
  for (let j = 0; j < C; j++) {
    const last = j === C - 1;
    const na = last ? y0 : Math.max(0, y0 - (C - 1 - j)), nb = last ? y1 : Math.min(height, y1 + (C - 1 - j));
    const next = last ? out : new Float32Array((nb - na) * width * d);
    kern.convs[j](Y, ra, next, na, nb, width, height);
    Y = next;
    ra = na;
  }
  return out;
}

// Kernels specialised to one network: its weights become constants in straight-line code
// (new Function, snf-latent.js's compile), which V8 compiles to register arithmetic, several times quicker than loops
// over weight arrays. Same operations in the same order as the plain loops they replace:
// products summed in double, rounded to float32 at each layer's output; the conv taps added
// in float32 in numpy's order. Kept per network object (a Worker gets its own copy).
const compiled = new WeakMap();

function kernels(net) {
  let k = compiled.get(net);
  if (!k) {
    const L = net.syn.length, ps = net.ps;
    k = { synth: synthKernel(net), convs: [] };
    for (let j = 0; j < net.conv; j++) k.convs.push(convKernel(ps[2 * L + 2 + 2 * j], ps[2 * L + 3 + 2 * j], net.dOut));
    compiled.set(net, k);
  }
  return k;
}

const lit = (v) => (Object.is(v, -0) ? "0" : String(v));  // a float32 value, exact as a double literal

/** sum_c W[row + c] * x[c] in order, zero weights left out (adding 0 * x changes no finite sum). */
function dotSource(W, row, fan, xs) {
  const terms = [];
  for (let c = 0; c < fan; c++) if (W[row + c] !== 0) terms.push(`(${lit(W[row + c])}) * ${xs[c]}`);
  return terms.length ? terms.join(" + ") : "0";
}

/** (feats: n*G float32, Y: n*dOut, n) -> Y: the synthesis on every pixel. */
function synthKernel(net) {
  const G = net.nGrids, d = net.dOut, ps = net.ps, widths = net.syn;
  const lines = [];
  let xs = Array.from({ length: G }, (_, i) => `x${i}`);
  lines.push(`const ${xs.map((x, i) => `${x} = feats[fi + ${i}]`).join(", ")};`);
  widths.forEach((h, l) => {
    const W = ps[2 * l], B = ps[2 * l + 1], fan = xs.length, ys = [];
    for (let r = 0; r < h; r++) {
      ys.push(`h${l}_${r}`);
      lines.push(`t = f((${dotSource(W, r * fan, fan, xs)}) + (${lit(B[r])})); const h${l}_${r} = t > 0 ? t : 0;`);
    }
    xs = ys;
  });
  const W = ps[2 * widths.length], B = ps[2 * widths.length + 1];
  for (let o = 0; o < d; o++) lines.push(`Y[yi + ${o}] = f((${dotSource(W, o * xs.length, xs.length, xs)}) + (${lit(B[o])}));`);
  const body = `"use strict";
const f = Math.fround;
return function synth(feats, Y, n) {
  let t = 0;
  for (let p = 0, fi = 0, yi = 0; p < n; p++, fi += ${G}, yi += ${d}) {
    ${lines.join("\n    ")}
  }
};`;
  return compile(body);
}

/**
 * One 3x3 residual conv layer (section 11.5) -> (Y: rows from `ra` of the layer's input, next: rows
 * na..nb-1 of its output, width, height): next = Y + (sum over the taps, in numpy's order, of W_tap Y)
 * + b, zero outside the picture. Inner pixels run straight-line code; the border the plain loop.
 */
function convKernel(W, B, d) {
  const at = (o, i, dy, dx) => W[((o * d + i) * 3 + dy) * 3 + dx];
  const lines = [];
  for (let o = 0; o < d; o++) lines.push(`let a${o} = 0;`);
  for (let dy = 0; dy < 3; dy++) {
    for (let dx = 0; dx < 3; dx++) {
      const off = `${dy - 1} * wd + ${(dx - 1) * d}`;
      const ys = Array.from({ length: d }, (_, i) => `Y[c + ${off} + ${i}]`);
      lines.push(`{ ${ys.map((y, i) => `const y${i} = ${y};`).join(" ")}`);
      for (let o = 0; o < d; o++) {
        const terms = [];
        for (let i = 0; i < d; i++) terms.push(`(${lit(at(o, i, dy, dx))}) * y${i}`);
        lines.push(`  a${o} = f(a${o} + f(${terms.join(" + ")}));`);
      }
      lines.push("}");
    }
  }
  for (let o = 0; o < d; o++) lines.push(`next[to + ${o}] = f(Y[c + ${o}] + f(a${o} + (${lit(B[o])})));`);
  const body = `"use strict";
const f = Math.fround;
return function conv(Y, ra, next, na, nb, width, height, border) {
  const wd = width * ${d};
  for (let y = na; y < nb; y++) {
    const inner = y >= 1 && y + 1 < height;
    for (let x = 0; x < width; x++) {
      const c = ((y - ra) * width + x) * ${d}, to = ((y - na) * width + x) * ${d};
      if (!inner || x === 0 || x + 1 === width) { border(Y, ra, next, na, y, x, width, height); continue; }
      ${lines.join("\n      ")}
    }
  }
};`;
  const kernel = compile(body);
  const border = (Y, ra, next, na, y, x, width, height) => convPixel(W, B, d, Y, ra, next, na, y, x, width, height);
  return (Y, ra, next, na, nb, width, height) => kernel(Y, ra, next, na, nb, width, height, border);
}

/** One output pixel of a conv layer by the plain loop (the picture's border: taps outside are zero). */
function convPixel(W, B, d, Y, ra, next, na, y, x, width, height) {
  const f = Math.fround, acc = [0, 0, 0, 0];
  for (let dy = 0; dy < 3; dy++) {
    const yy = y + dy - 1;
    if (yy < 0 || yy >= height) continue;
    for (let dx = 0; dx < 3; dx++) {
      const xx = x + dx - 1;
      if (xx < 0 || xx >= width) continue;
      const a = ((yy - ra) * width + xx) * d;
      for (let o = 0; o < d; o++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += W[((o * d + i) * 3 + dy) * 3 + dx] * Y[a + i];
        acc[o] = f(acc[o] + f(s));
      }
    }
  }
  const c = ((y - ra) * width + x) * d, to = ((y - na) * width + x) * d;
  for (let o = 0; o < d; o++) next[to + o] = f(Y[c + o] + f(acc[o] + B[o]));
}

/** Levels 1..k at w x h in one go: Float32Array of w*h*d_out values, pixel-major. */
export function renderLatent(arch, levels, k, w, h) {
  const net = latentNet(arch, levels, k);
  return latentRows(net, w, h, 0, h, new Float32Array(w * h * net.dOut));
}

/** On the page, a band at a time with the event loop let in between (JsRenderer, no workers). */
export async function renderLatentBands(net, width, height, { onRows, onProgress, cancelled } = {}) {
  const d = net.dOut, values = new Float32Array(width * height * d), taps = latentTaps(net, width, height);
  const rows = Math.max(net.minBandRows, Math.floor(16384 / width));
  for (let y0 = 0; y0 < height; y0 += rows) {
    const y1 = Math.min(height, y0 + rows);
    latentRows(net, width, height, y0, y1, values.subarray(y0 * width * d, y1 * width * d), taps);
    if (onRows) onRows(y0, y1, values);
    if (onProgress) onProgress(y1 / height);
    await new Promise((r) => setTimeout(r, 0));
    if (cancelled && cancelled()) throw new Cancelled();
  }
  return values;
}
