// Entropy-coded level payloads of .snf 2.x (format_spec.md section 3.2), mirroring
// snf/format/coded.py: per block its step codes and model, then one rANS stream.

import { blocks, nCodes } from "./snf-arch.js";
import { decodeSegments, EntropyError } from "./snf-rans.js";
import { STEPS } from "./snf-steps.js";

export { STEPS };

/** Integers of level k's blocks (for conformance tests) and their step codes. */
export function decodeCodedInts(arch, level, body) {
  const list = blocks(arch, level);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let pos = 0;
  const codes = [], segs = [];
  for (const block of list) {
    const n = nCodes(block);
    if (pos + n + 4 > body.length) throw new EntropyError(`level ${level} payload is shorter than its step codes and models`);
    codes.push(body.subarray(pos, pos + n));
    pos += n;
    const amax = view.getUint16(pos, true), ratio = view.getUint16(pos + 2, true);
    pos += 4;
    segs.push({ n: block.size, amax, ratio });
  }
  const ints = decodeSegments(body.subarray(pos), segs);
  return { blocks: list, codes, ints };
}

/** Level payload -> [{block, values: Float32Array}]: w = float32(q) * STEPS[e], one single-precision multiply. */
export function decodeCodedLevel(arch, level, body) {
  const { blocks: list, codes, ints } = decodeCodedInts(arch, level, body);
  return list.map((block, b) => {
    const q = ints[b], c = codes[b];
    const values = new Float32Array(block.size);
    const perCode = block.size / c.length;
    for (let i = 0; i < block.size; i++) values[i] = q[i] * STEPS[c[Math.floor(i / perCode)]];
    return { block, values };
  });
}
