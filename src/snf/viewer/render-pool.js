// Renders on Web Workers: several where the machine has cores, so the main
// thread only posts messages and copies finished bands. A render is split into
// bands of rows sized to take a few tens of milliseconds; each worker gets its
// next band when it returns one, so cancelling (a newer level, a user's pick)
// takes effect within one band per worker.

import { Cancelled } from "./cancelled.js";

export { Cancelled };

const BAND_PIXELS = 1 << 13;    // pixels per band before scaling by the network's cost
const REF_WIDTH = 32;           // network width at which a band is BAND_PIXELS pixels
const REF_MACS = 3 * REF_WIDTH * REF_WIDTH;  // about that SIREN's multiply-adds per pixel

let nextId = 1;

export const MAX_WORKERS = 8;

/** Workers a pool starts for a request of `asked` (null, NaN, 0: the default) on `cores` cores. */
export function poolSize(asked, cores) {
  const cap = Math.max(1, Math.min(MAX_WORKERS, Math.floor(cores) || 1));
  const n = Number.isFinite(asked) && asked >= 1 ? Math.floor(asked) : Math.min(4, cap - 1);
  return Math.max(1, Math.min(cap, n));
}

export class WorkerPool {
  /** `size` workers (default: one per core but one, 1..4: the page keeps a core to stay responsive),
   * never more than the cores or MAX_WORKERS, whatever a page's `?workers=` asks (each worker costs
   * the visitor a few MB: `?workers=400` once started 400). Throws where module workers are missing. */
  constructor(size = null) {
    this.size = poolSize(size, navigator.hardwareConcurrency || 2);
    this.name = "workers";
    this.workers = Array.from({ length: this.size }, () => new Worker(new URL("./render-worker.js", import.meta.url), { type: "module" }));
    this.last = Promise.resolve();
  }

  /**
   * Same contract as JsRenderer.render, plus `opts`: {onProgress(fraction), cancelled(), rgba,
   * base, sums}. With `rgba` ({dOut, range, bitDepth}) the workers also convert to 8-bit samples
   * and the answer is RGBA bytes (Uint8ClampedArray), so the page does no per-pixel work at all.
   * A grid field drawn on kept levels (gridNet's `from`) takes their sums in `base` (width*height
   * *dOut values) and, given a Float32Array `sums` of that size, fills it with the new sums.
   * Rejects with Cancelled once `cancelled()` is true.
   */
  render(net, width, height, opts = {}) {
    // One render at a time: a new one waits for the previous (a cancelled one ends within a band).
    const run = this.last.catch(() => {}).then(() => this.run(net, width, height, opts));
    this.last = run;
    return run;
  }

  run(net, width, height, opts) {
    const id = nextId++;
    const fmt = opts.rgba || null;
    const dOut = fmt ? 4 : net.dOut;
    const values = fmt ? new Uint8ClampedArray(width * height * 4) : new Float32Array(width * height * dOut);
    // A grid field (render-grid-js.js) says its multiply-adds per pixel; a SIREN, its width.
    const cost = Math.max(1, net.family === "grid" || net.family === "latent" ? net.macs / REF_MACS : (net.width / REF_WIDTH) ** 2);
    // (a latent field's bands carry a halo of rows for its conv layers: it asks for bands tall enough)
    const bandRows = Math.max(net.minBandRows || 1, Math.floor(BAND_PIXELS / cost / width));
    let nextRow = 0, rowsDone = 0, inFlight = 0, finished = false;
    return new Promise((resolve, reject) => {
      const end = (err) => {
        if (finished) return;
        finished = true;
        for (const w of this.workers) w.onmessage = w.onerror = null;
        if (err) reject(err); else resolve(values);
      };
      const feed = (w) => {
        if (opts.cancelled && opts.cancelled()) {
          if (inFlight === 0) end(new Cancelled());
          return;
        }
        if (nextRow >= height) {
          if (inFlight === 0) end(null);
          return;
        }
        const y0 = nextRow, y1 = Math.min(height, y0 + bandRows);
        nextRow = y1;
        inFlight++;
        const d = net.dOut, base = opts.base ? opts.base.slice(y0 * width * d, y1 * width * d) : null;
        w.postMessage({ type: "band", id, width, height, y0, y1, base }, base ? [base.buffer] : []);
      };
      for (const w of this.workers) {
        w.onmessage = ({ data }) => {
          if (data.id !== id || finished) return;
          inFlight--;
          if (data.error) return end(new Error(`render worker: ${data.error}`));
          values.set(data.values, data.y0 * width * dOut);
          if (opts.sums) opts.sums.set(data.sums || data.values, data.y0 * width * net.dOut);
          rowsDone += data.y1 - data.y0;
          if (opts.onProgress) opts.onProgress(rowsDone / height);
          feed(w);
        };
        w.onerror = (e) => end(new Error(`render worker failed: ${e.message || "error"}`));
        w.postMessage({ type: "net", id, net, rgba: fmt, sums: !!opts.sums });
        feed(w);
      }
    });
  }
}
