// A render worker: evaluates bands of rows of one network off the main thread:
// a SIREN (snf-model.js) or a latent-grid field (render-grid-js.js's gridNet,
// `family: "grid"`). The pool (render-pool.js) sends {type: "net", id, net} once per render, then
// {type: "band", id, width, height, y0, y1} messages one at a time; each answer
// {id, y0, y1, values} transfers its Float32Array (or, when the net message
// carried a sample format, its RGBA bytes) back; a band message may carry `base`, the
// band's sums of the grid levels already drawn, and then with `sums` in the net message
// the band's new sums come back too. Bands are small, so a
// cancelled render stops within one band: the pool just sends no more.

import { evalRows } from "./render-js.js";
import { gridRows, gridTaps } from "./render-grid-js.js";
import { latentRows, latentTaps } from "./render-latent-js.js";
import { gridAxis, toRGBA } from "./snf-image.js";

let current = { id: null, net: null, rgba: null, axes: new Map() };

self.onmessage = ({ data }) => {
  if (data.type === "net") {
    current = { id: data.id, net: data.net, rgba: data.rgba || null, sums: !!data.sums, axes: new Map() };
    return;
  }
  const { id, width, height, y0, y1 } = data;
  if (id !== current.id) {
    self.postMessage({ id, y0, y1, error: "network not loaded" });
    return;
  }
  const net = current.net, grid = net.family === "grid", latent = net.family === "latent";
  const key = `${width}x${height}`;
  // Per render size: a SIREN's coordinates, or a grid field's bilinear taps.
  if (!current.axes.has(key)) {
    current.axes.set(key, grid ? gridTaps(net, width, height) : latent ? latentTaps(net, width, height) : [gridAxis(width), gridAxis(height)]);
  }
  const axes = current.axes.get(key);
  try {
    const out = new Float32Array((y1 - y0) * width * net.dOut);
    let values = grid ? gridRows(net, width, height, y0, y1, out, axes, data.base)
      : latent ? latentRows(net, width, height, y0, y1, out, axes) : evalRows(net, width, height, y0, y1, out, ...axes);
    const f = current.rgba;
    if (f) values = toRGBA(values, f.dOut, f.range, f.bitDepth);
    if (current.sums && values !== out) {  // the field values too: a grid field's next level adds to them
      self.postMessage({ id, y0, y1, values, sums: out }, [values.buffer, out.buffer]);
      return;
    }
    self.postMessage({ id, y0, y1, values }, [values.buffer]);
  } catch (e) {
    self.postMessage({ id, y0, y1, error: String(e && e.message || e) });
  }
};
