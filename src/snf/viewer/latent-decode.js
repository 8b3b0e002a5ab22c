// Decoding a latent file's levels on a Web Worker (latent-worker.js), for the parser's
// decodeAsync hook (snf-parse.js): the page only copies the decoded arrays, so no
// main-thread task grows with the number of latents. Without module workers (or in
// Node) the hook answers null and the parser decodes in place; a worker that fails
// (not a file the decoder refuses: that is the level's error) hands its level back to
// the page, and the page decodes the rest itself.

import { decodeLatentLevel } from "./snf-latent.js";

let nextId = 1;

/** A decodeAsync for one Parser (one file): latent levels go to a worker of their own. */
export function latentDecoder() {
  let worker = null, broken = false;
  const waiting = new Map();
  const start = () => {
    if (worker || broken || typeof Worker === "undefined") return worker;
    try {
      worker = new Worker(new URL("./latent-worker.js", import.meta.url), { type: "module" });
    } catch {
      return null;
    }
    worker.onmessage = ({ data }) => {
      const w = waiting.get(data.id);
      if (!w) return;
      waiting.delete(data.id);
      if (data.error) w.reject(new Error(data.error));
      else w.resolve(data.arrays);
    };
    worker.onerror = () => {  // the worker itself failed (it would not load): decode here from now on
      broken = true;
      worker.terminate();
      worker = null;
      for (const w of waiting.values()) {
        try {
          w.resolve(decodeLatentLevel(w.parser.arch, w.level, w.parser.header.size, w.body, w.parser.levels));
        } catch (err) {
          w.reject(err);
        }
      }
      waiting.clear();
    };
    return worker;
  };
  const decode = (level, body, parser) => {
    if (!parser.arch || parser.arch.family !== "latent" || !start()) return null;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject, parser, level, body });
      worker.postMessage({ id, arch: parser.arch, size: parser.header.size, level, body });
    });
  };
  decode.warm = start;  // start loading the worker's modules before level 1 is whole
  decode.stop = () => {
    if (worker) worker.terminate();
    worker = null;
  };
  return decode;
}
