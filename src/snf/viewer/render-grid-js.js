// The latent-grid field (format_spec.md section 9.4) evaluated in JavaScript,
// any band of rows at a time, mirroring snf/decode/grid_render.py: each grid
// upsampled bilinearly at the pixel centres (rows first, then columns, float32),
// then each level's ReLU synthesis network, whose residuals add up in level
// order. A band needs only its own rows' features, so the render workers
// (render-worker.js) split a picture into bands like a SIREN's, and nothing of
// it touches the DOM.

import { inputs } from "./snf-grid.js";

/** Bilinear taps along one axis (section 9.4), in float32: source rows i0, i1 and weight t of i1. */
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

/**
 * Levels 1..k of a grid field as one plain object (Float32Arrays and numbers, so it crosses
 * to a Worker by structured clone): {family: "grid", k, dOut, layers, grids: [{values, rows,
 * cols}] in grid order, syn: per level {fan, hidden, ps: its weight arrays in payload order},
 * macs: multiply-adds per pixel}. `levels[j-1]` is the parser's output for level j. With `from`
 * > 0 only levels from+1..k's networks are in `syn` (all grids they read are): their residuals
 * go on a sum of levels 1..from that the caller kept (gridRows's `base`), as numpy adds them.
 */
export function gridNet(arch, levels, k, from = 0) {
  const grids = [], syn = [];
  let macs = 0;
  for (let j = 1; j <= k; j++) {
    const arrays = levels[j - 1], n = arch.grids[j - 1].length;
    for (let i = 0; i < n; i++) {
      const { tensor, values } = arrays[i];
      grids.push({ values, rows: tensor.shape[0], cols: tensor.shape[1] });
    }
    if (j <= from) continue;
    const fan = inputs(arch, j), hidden = arch.hidden[j - 1];
    syn.push({ fan, hidden, ps: arrays.slice(n).map((a) => a.values) });
    macs += fan * hidden + (arch.layers - 1) * hidden * hidden + hidden * arch.d_out;
  }
  return { family: "grid", k, from, dOut: arch.d_out, layers: arch.layers, grids, syn, macs: macs + 4 * grids.length };
}

/** Per grid, the column and row taps of a width x height render (reusable for every band). */
export function gridTaps(net, width, height) {
  return net.grids.map((g) => ({ x: axisTaps(width, g.cols), y: axisTaps(height, g.rows) }));
}

/**
 * Rows y0..y1-1 of a width x height render into `out` ((y1-y0)*width*dOut values, pixel-major);
 * `base`: those rows of the sum of levels 1..net.from (needed when net.from > 0).
 * Products sum in double and are rounded to float32 at each layer's output, as numpy keeps its
 * activations (the orders differ, hence "within one 8-bit step", section 9.4).
 */
export function gridRows(net, width, height, y0, y1, out, taps = gridTaps(net, width, height), base = null) {
  if (net.from && !base) throw new Error("a render from a kept level needs that level's sums");
  const f = Math.fround, n = (y1 - y0) * width, nG = net.grids.length;
  const feats = new Float32Array(n * nG);
  if (net.syn.length) net.grids.forEach((g, gi) => {  // no network to run: just the base
    const { x: tx, y: ty } = taps[gi], c = g.cols, v = g.values;
    const row = new Float32Array(c);
    for (let y = y0; y < y1; y++) {
      const a = ty.i0[y] * c, b = ty.i1[y] * c, t = ty.t[y], s = f(1 - t);
      for (let x = 0; x < c; x++) row[x] = f(f(v[a + x] * s) + f(v[b + x] * t));
      const base = (y - y0) * width;
      for (let x = 0; x < width; x++) {
        const u = tx.t[x];
        feats[(base + x) * nG + gi] = f(f(row[tx.i0[x]] * f(1 - u)) + f(row[tx.i1[x]] * u));
      }
    }
  });
  const dOut = net.dOut, L = net.layers, syn = net.syn, nLevels = syn.length;
  const widest = Math.max(nG, ...syn.map((s) => s.hidden));
  const bufs = [new Float32Array(widest), new Float32Array(widest)];
  for (let p = 0; p < n; p++) {
    for (let o = 0; o < dOut; o++) out[p * dOut + o] = base ? base[p * dOut + o] : 0;
    for (let j = 0; j < nLevels; j++) {
      const { fan: fan0, hidden, ps } = syn[j];
      let a = bufs[0], b = bufs[1];
      for (let i = 0; i < fan0; i++) a[i] = feats[p * nG + i];
      let fan = fan0;
      for (let l = 0; l < L; l++) {
        const W = ps[2 * l], B = ps[2 * l + 1];
        for (let r = 0, row = 0; r < hidden; r++, row += fan) {
          let acc = 0;
          for (let c = 0; c < fan; c++) acc += W[row + c] * a[c];
          const z = f(acc + B[r]);
          b[r] = z > 0 ? z : 0;
        }
        const t = a; a = b; b = t;
        fan = hidden;
      }
      const W = ps[2 * L], B = ps[2 * L + 1];
      for (let o = 0; o < dOut; o++) {
        let acc = 0;
        for (let c = 0; c < hidden; c++) acc += W[o * hidden + c] * a[c];
        out[p * dOut + o] = f(out[p * dOut + o] + f(acc + B[o]));
      }
    }
  }
  return out;
}

/** Levels 1..k at w x h in one go: Float32Array of w*h*d_out values, pixel-major. */
export function renderGrid(arch, levels, k, w, h) {
  const net = gridNet(arch, levels, k);
  return gridRows(net, w, h, 0, h, new Float32Array(w * h * net.dOut));
}
