// Decoding a latent file's levels on a Web Worker (latent-worker.js), for the parser's
// decodeAsync hook (snf-parse.js): the page only copies the decoded arrays, so no
// main-thread task grows with the number of latents. Without module workers (or in
// Node) the hook answers null and the parser decodes in place.

let nextId = 1;

/** A decodeAsync for one Parser (one file): latent levels go to a worker of their own. */
export function latentDecoder() {
  let worker = null;
  const waiting = new Map();
  const start = () => {
    if (worker || typeof Worker === "undefined") return worker;
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
    worker.onerror = (e) => {
      for (const w of waiting.values()) w.reject(new Error(`latent decode worker failed: ${e.message || "error"}`));
      waiting.clear();
    };
    return worker;
  };
  const decode = (level, body, parser) => {
    if (!parser.arch || parser.arch.family !== "latent" || !start()) return null;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
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
