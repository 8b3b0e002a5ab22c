// Level blocks -> the dense sub-network that renders level k, mirroring
// snf/decode/render.py (assemble + Network): entries no level stored stay zero, and
// w0 is folded into the sine layers as float32(w0 * W), float32(w0 * b), as numpy does.

import { span, netOf, firstLevel } from "./snf-arch.js";

/**
 * The network of level k from decoded levels (parser.levels).
 * Returns {width, dIn, dOut, sine: [{rows, cols, W, b, rowLen}], out: {rows, cols, W, b}}:
 * W row-major float32 (rows = outputs); rowLen[r] = how many leading inputs row r may read
 * (in the progressive mode a unit never reads later units, so the JS renderer skips them).
 */
export function buildNetwork(arch, levels, k) {
  if (k < 1 || k > levels.length) throw new Error(`level ${k} is not decoded (have ${levels.length})`);
  const w = arch.widths[k - 1];
  const net = netOf(arch, k);
  const dense = emptyTensors(arch, w);
  const first = firstLevel(arch, k);
  for (let j = first; j <= k; j++) {
    for (const { block, values } of levels[j - 1]) {
      if (block.net === net) place(dense[block.tensor], block, values);
    }
  }
  const rowLen = rowLengths(arch, k, w);
  const sine = [];
  for (let i = 0; i < arch.layers; i++) {
    const W = dense[`l${i}.w`], b = dense[`l${i}.b`];
    sine.push({ rows: w, cols: W.cols, W: scaled(W.data, arch.w0), b: scaled(b.data, arch.w0),
                rowLen: i === 0 ? new Int32Array(w).fill(arch.d_in) : rowLen });
  }
  const out = { rows: arch.d_out, cols: w, W: dense["out.w"].data, b: dense["out.b"].data };
  return { width: w, dIn: arch.d_in, dOut: arch.d_out, sine, out };
}

function emptyTensors(arch, w) {
  const t = (rows, cols) => ({ rows, cols, data: new Float32Array(rows * cols) });
  const dense = { "l0.w": t(w, arch.d_in), "l0.b": t(w, 1) };
  for (let i = 1; i < arch.layers; i++) {
    dense[`l${i}.w`] = t(w, w);
    dense[`l${i}.b`] = t(w, 1);
  }
  dense["out.w"] = t(arch.d_out, w);
  dense["out.b"] = t(arch.d_out, 1);
  return dense;
}

function place(tensor, block, values) {
  const [r0] = block.rows;
  const c0 = block.cols ? block.cols[0] : 0;
  for (let r = 0; r < block.nRows; r++) {
    const src = values.subarray(r * block.nCols, (r + 1) * block.nCols);
    tensor.data.set(src, (r0 + r) * tensor.cols + c0);
  }
}

/** float32(w0) * float32(v), rounded once to float32 (exact in a double first). */
function scaled(data, w0) {
  const f = Math.fround(w0);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f * data[i];
  return out;
}

function rowLengths(arch, k, w) {
  const lens = new Int32Array(w).fill(w);
  if (!arch.rule.causal) return lens;
  for (let j = 1; j <= k; j++) {
    const [a, c] = span(arch, j);
    lens.fill(c, a, c);
  }
  return lens;
}
