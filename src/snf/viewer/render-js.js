// Pure-JS renderer: the fallback where WebGL2 or float render targets are
// missing (and `?renderer=js`). Rows are evaluated in bands and the loop yields
// to the event loop every few milliseconds, so the page keeps streaming and
// stays responsive while a large level renders.

import { gridAxis } from "./snf-image.js";
import { gridRows, gridTaps } from "./render-grid-js.js";
import { renderLatentBands } from "./render-latent-js.js";
import { Cancelled } from "./cancelled.js";

const SLICE_MS = 12;

export class JsRenderer {
  constructor() {
    this.name = "js";
  }

  /**
   * Evaluate `net` (snf-model.js, or a grid field from render-grid-js.js) on a width x height grid.
   * Returns Float32Array of width*height*dOut values, pixel-major, rows top to bottom.
   * `opts` (optional): `onRows(y0, y1, values)`, told as bands finish, or
   * {onRows, onProgress(fraction), cancelled()} (checked between bands; rejects with Cancelled).
   */
  async render(net, width, height, opts) {
    const { onRows, onProgress, cancelled } = typeof opts === "function" ? { onRows: opts } : opts || {};
    if (net.family === "grid") return renderGridBands(net, width, height, { onRows, onProgress, cancelled, ...opts });
    if (net.family === "latent") return renderLatentBands(net, width, height, { onRows, onProgress, cancelled });
    const xs = gridAxis(width), ys = gridAxis(height);
    const values = new Float32Array(width * height * net.dOut);
    const scratch = makeScratch(net);
    let sliceStart = performance.now(), bandStart = 0;
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        evalPixel(net, xs[c], ys[r], scratch, values, (r * width + c) * net.dOut);
      }
      if (performance.now() - sliceStart > SLICE_MS) {
        if (onRows) onRows(bandStart, r + 1, values);
        bandStart = r + 1;
        if (onProgress) onProgress((r + 1) / height);
        await yieldToPage();
        if (cancelled && cancelled()) throw new Cancelled();
        sliceStart = performance.now();
      }
    }
    return values;
  }
}

/** A grid field on the page, a few rows at a time with the event loop let in between; `base` and
 * `sums` as for the render workers (render-pool.js). */
async function renderGridBands(net, width, height, { onRows, onProgress, cancelled, base, sums }) {
  const values = new Float32Array(width * height * net.dOut), d = net.dOut;
  const taps = gridTaps(net, width, height);
  const rows = Math.max(1, Math.floor(4096 / width));
  let sliceStart = performance.now(), bandStart = 0;
  for (let y0 = 0; y0 < height; y0 += rows) {
    const y1 = Math.min(height, y0 + rows);
    gridRows(net, width, height, y0, y1, values.subarray(y0 * width * d, y1 * width * d), taps,
      base ? base.subarray(y0 * width * d, y1 * width * d) : null);
    if (performance.now() - sliceStart > SLICE_MS) {
      if (onRows) onRows(bandStart, y1, values);
      bandStart = y1;
      if (onProgress) onProgress(y1 / height);
      await yieldToPage();
      if (cancelled && cancelled()) throw new Cancelled();
      sliceStart = performance.now();
    }
  }
  if (sums) sums.set(values);
  return values;
}

/**
 * Rows y0..y1-1 of a width x height grid into `out` ((y1-y0)*width*dOut values), synchronously.
 * The render workers call this on bands; it touches no DOM, so it runs in a Worker.
 */
export function evalRows(net, width, height, y0, y1, out, xs = gridAxis(width), ys = gridAxis(height)) {
  const scratch = makeScratch(net);
  for (let r = y0; r < y1; r++) {
    for (let c = 0; c < width; c++) evalPixel(net, xs[c], ys[r], scratch, out, ((r - y0) * width + c) * net.dOut);
  }
  return out;
}

function makeScratch(net) {
  // Activations stored as float32 (as numpy holds them); sums run in double.
  return { h: new Float32Array(net.width), z: new Float32Array(net.width), x: new Float32Array(net.dIn) };
}

/** One pixel through every layer: h = sin(w0 W h + w0 b) (w0 folded in), y = Wout h + bout. */
function evalPixel(net, x, y, s, out, at) {
  s.x[0] = x;
  if (net.dIn > 1) s.x[1] = y;
  let input = s.x, h = s.h, z = s.z;
  for (const layer of net.sine) {
    const { rows, cols, W, b, rowLen } = layer;
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      const base = r * cols, n = rowLen[r];
      for (let c = 0; c < n; c++) acc += W[base + c] * input[c];
      z[r] = acc + b[r];
      z[r] = Math.sin(z[r]);
    }
    input = z;
    [h, z] = [z, h];
  }
  const { rows, cols, W, b } = net.out;
  for (let o = 0; o < rows; o++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += W[o * cols + c] * input[c];
    out[at + o] = acc + b[o];
  }
}

/** Let the event loop run (network reads, paint) between bands. */
function yieldToPage() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
