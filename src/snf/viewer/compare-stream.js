// The compare page on the server: stream the snf file and decode each level in the page as its
// last byte arrives (Web Workers, as the viewer), handing the pictures to compare.js. A file
// whose architecture the workers do not draw here (a video, stripes of separate networks)
// takes the server's level PNGs instead. `?kbps=N` paces the stream, to watch levels land.
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

/** Level k at full size as a canvas: decoded in the page, or the server's PNG. */
async function render(parser, eng, k, table) {
  const arch = parser.arch, [w, h] = parser.header.size;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  if (arch.composite || parser.header.signal !== "image" || arch.grow === "spatial") {
    const blob = await (await fetch(table.snf.levels[k - 1].png)).blob();
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    return canvas;
  }
  const fmt = { dOut: arch.d_out, range: parser.header.values.range, bitDepth: parser.header.values.bit_depth ?? 8 };
  const opts = { rgba: fmt };
  let net;
  if (arch.family === "grid") {
    net = gridNet(arch, parser.levels, k, 0);
    opts.sums = new Float32Array(w * h * arch.d_out);
  } else {
    net = buildNetwork(arch, parser.levels, k);
  }
  const rgba = await eng.render(net, w, h, opts);
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, w * h * 4), w, h), 0, 0);
  return canvas;
}

async function main() {
  const table = await S.tableReady;
  if (!table) return;
  const eng = engine();
  const parser = new Parser();
  const kbps = new URLSearchParams(location.search).get("kbps");
  const url = table.snf.stream_url + (kbps ? `&kbps=${encodeURIComponent(kbps)}` : "");
  let queue = Promise.resolve();
  const onLevel = (k) => {
    S.levelsReceived.push({ level: k, t_ms: performance.now(), bytes: parser.received });
    queue = queue.then(() => render(parser, eng, k, table)).then((c) => S.addLevel(k, c))
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
