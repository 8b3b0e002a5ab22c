// The latent field (format_spec.md section 11.5) evaluated in JavaScript, any band
// of rows at a time, mirroring snf/decode/latent_render.py: each grid held is
// upsampled bilinearly to the pixel centres (section 9.4's taps, render-grid-js.js),
// a grid of a level not held is zero (the fill rule) and is simply left out; the
// per-pixel synthesis (ReLU layers) gives d_out values, then the 3x3 residual conv
// layers run on the picture, zero outside it. A band of rows needs `conv` rows more
// on each side (its halo), so the render workers (render-worker.js) split a picture
// into bands as for the other families, and nothing here touches the DOM.

import { axisTaps } from "./render-grid-js.js";
import { armTensors, synTensors } from "./snf-latent.js";
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
  // the synthesis, per pixel
  const ps = net.ps, widths = net.syn, L = widths.length;
  const widest = Math.max(G, ...widths);
  const bufs = [new Float32Array(widest), new Float32Array(widest)];
  let Y = C ? new Float32Array(n * d) : out;
  for (let p = 0; p < n; p++) {
    let a = bufs[0], b = bufs[1];
    for (let i = 0; i < G; i++) a[i] = feats[p * G + i];
    let fan = G;
    for (let l = 0; l < L; l++) {
      const W = ps[2 * l], B = ps[2 * l + 1], h = widths[l];
      for (let r = 0, row = 0; r < h; r++, row += fan) {
        let acc = 0;
        for (let c = 0; c < fan; c++) acc += W[row + c] * a[c];
        const z = f(acc + B[r]);
        b[r] = z > 0 ? z : 0;
      }
      const t = a; a = b; b = t;
      fan = h;
    }
    const W = ps[2 * L], B = ps[2 * L + 1];
    for (let o = 0; o < d; o++) {
      let acc = 0;
      for (let c = 0; c < fan; c++) acc += W[o * fan + c] * a[c];
      Y[p * d + o] = f(acc + B[o]);
    }
  }
  // the conv layers: layer j computes the rows the layers after it still need
  let ra = ya, rb = yb;
  for (let j = 0; j < C; j++) {
    const W = ps[2 * L + 2 + 2 * j], B = ps[2 * L + 3 + 2 * j];
    const last = j === C - 1;
    const na = last ? y0 : Math.max(0, y0 - (C - 1 - j)), nb = last ? y1 : Math.min(height, y1 + (C - 1 - j));
    const next = last ? out : new Float32Array((nb - na) * width * d);
    const acc = new Float32Array(d);
    for (let y = na; y < nb; y++) {
      for (let x = 0; x < width; x++) {
        acc.fill(0);
        for (let dy = 0; dy < 3; dy++) {
          const yy = y + dy - 1;
          if (yy < 0 || yy >= height) continue;  // outside the picture: zero (a position always in [ra, rb))
          for (let dx = 0; dx < 3; dx++) {
            const xx = x + dx - 1;
            if (xx < 0 || xx >= width) continue;
            const at = ((yy - ra) * width + xx) * d;
            for (let o = 0; o < d; o++) {
              let s = 0;
              for (let i = 0; i < d; i++) s += W[((o * d + i) * 3 + dy) * 3 + dx] * Y[at + i];
              acc[o] = f(acc[o] + f(s));
            }
          }
        }
        const at = ((y - ra) * width + x) * d, to = ((y - na) * width + x) * d;
        for (let o = 0; o < d; o++) next[to + o] = f(Y[at + o] + f(acc[o] + B[o]));
      }
    }
    Y = next;
    ra = na;
    rb = nb;
  }
  return out;
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
