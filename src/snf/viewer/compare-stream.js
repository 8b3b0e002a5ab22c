// The compare page on the server: stream the snf file and decode each level in the page as its
// last byte arrives (Web Workers, as the viewer), handing the pictures to compare.js. A file
// level comes from the page's decoder or the server's level PNG, whichever is sooner. `?kbps=N` paces the stream, to watch levels land.
// Timing for the tests: snfCompare.levelsReceived (last byte parsed) and levelsShown (drawn).

import { Parser } from "./snf-parse.js";
import { buildNetwork } from "./snf-model.js";
import { gridNet } from "./render-grid-js.js";
import { WorkerPool } from "./render-pool.js";
import { JsRenderer } from "./render-js.js";

const S = window.snfCompare;


function engine() {
  try {
    return new WorkerPool();
  } catch {
    return new JsRenderer();
  }
}

/** Level k at full size from the server's PNG (numpy decoder, cached on the server). */
async function fromServer(table, k, w, h) {
  const blob = await (await fetch(table.snf.levels[k - 1].png)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  return { canvas, source: "server PNG" };
}

/** Level k at full size decoded in the page (Web Workers); rejects with Cancelled once `stop()` holds. */
async function inPage(parser, eng, k, stop) {
  const arch = parser.arch, [w, h] = parser.header.size;
  const fmt = { dOut: arch.d_out, range: parser.header.values.range, bitDepth: parser.header.values.bit_depth ?? 8 };
  const opts = { rgba: fmt, cancelled: stop };
  let net;
  if (arch.family === "grid") {
    net = gridNet(arch, parser.levels, k, 0);
    opts.sums = new Float32Array(w * h * arch.d_out);
  } else {
    net = buildNetwork(arch, parser.levels, k);
  }
  const rgba = await eng.render(net, w, h, opts);
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, w * h * 4), w, h), 0, 0);
  return { canvas, source: eng.name };
}

/** Level k as {canvas, source}: decoded in the page or the server's PNG, whichever is sooner
 * (without a GPU a wide level takes the page's workers seconds; the server's C decoder far less).
 * `?decode=page` or `?decode=server` forces one. Files the workers do not draw here (stripes of
 * separate networks) always come from the server. */
async function render(parser, eng, k, table, how) {
  const arch = parser.arch, [w, h] = parser.header.size;
  if (how === "server" || arch.composite || arch.grow === "spatial") return fromServer(table, k, w, h);
  if (how === "page") return inPage(parser, eng, k, () => false);
  let serverWon = false;
  const server = fromServer(table, k, w, h).then((r) => { serverWon = true; return r; }, () => new Promise(() => {}));
  const page = inPage(parser, eng, k, () => serverWon).catch((e) => {
    if (serverWon) return new Promise(() => {});   // stopped because the server's PNG won
    throw e;
  });
  return Promise.race([server, page]);
}

async function main() {
  const table = await S.tableReady;
  if (!table) return;
  const eng = engine();
  const parser = new Parser();
  const query = new URLSearchParams(location.search);
  const kbps = query.get("kbps"), how = query.get("decode");
  const url = table.snf.stream_url + (kbps ? `&kbps=${encodeURIComponent(kbps)}` : "");
  let queue = Promise.resolve();
  const onLevel = (k) => {
    S.levelsReceived.push({ level: k, t_ms: performance.now(), bytes: parser.received });
    queue = queue.then(() => render(parser, eng, k, table, how)).then((r) => S.addLevel(k, r.canvas, r.source))
      .catch((e) => { S.error = `level ${k}: ${e.message}`; document.getElementById("problem").textContent = S.error; });
  };
  try {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`the stream answered ${resp.status}`);
    const reader = resp.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const k of parser.feed(value)) onLevel(k);
      if (parser.error) throw parser.error;
    }
    await queue;
    S.streamDone = true;
  } catch (e) {
    S.error = `streaming the snf file: ${e.message}`;
    document.getElementById("problem").textContent = S.error;
  }
}

main();
