// The latent decode worker: decodes a latent file's levels (format_spec.md section 11.3) off the
// main thread, since each latent's model comes from the integer ARM run on the latents before it
// (a few hundred thousand ARM runs for a full-size level: far longer than a page may block).
// Messages in: {id, arch, size, level, body} in level order (level 1 starts a file); out:
// {id, arrays: [{tensor, values}]} or {id, error}. It keeps the levels it decoded, which later
// levels need (the ARM's weights, the parent grid).

import { decodeLatentLevel } from "./snf-latent.js";

let levels = [];

self.onmessage = ({ data }) => {
  const { id, arch, size, level, body } = data;
  try {
    if (level === 1) levels = [];
    if (levels.length !== level - 1) throw new Error(`level ${level} arrived before level ${levels.length + 1}`);
    const arrays = decodeLatentLevel(arch, level, size, body, levels);
    levels.push(arrays);
    self.postMessage({ id, arrays });
  } catch (e) {
    self.postMessage({ id, error: String((e && e.message) || e) });
  }
};
