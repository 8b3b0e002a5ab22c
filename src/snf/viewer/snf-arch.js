// The growing-SIREN layout and the header checks, mirroring snf/field/arch.py,
// snf/format/quant.py (payload size) and snf/format/container.py (validate_header).
// The block order of `blocks(arch, k)` is the payload order: part of the format.

export const LIMITS = {
  levels: 16, layers: 16, width: 4096, dim: 4, side: 65536,
  samples: 2 ** 28, headerBytes: 1 << 20, chunkBytes: 64 << 20, minBits: 4, maxBits: 16, frames: 4096,
};
const MODES = ["progressive", "slimmable", "individual"];
const GROWS = ["spectral", "spatial", "temporal"];
const INITS = ["siren", "zero-out"];
const SIGNALS = ["image", "signal1d", "video", "sdf"];

export class HeaderError extends Error {}

const isInt = (v) => Number.isInteger(v);

/** Units [a, b) that level k (1-based) adds to every hidden layer. */
export function span(arch, k) {
  return [k > 1 ? arch.widths[k - 2] : 0, arch.widths[k - 1]];
}

/** Blocks of level k in payload order: {net, tensor, rows: [a,b], cols: [a,b] | null}. */
export function blocks(arch, k) {
  const [a, b] = span(arch, k);
  if (arch.mode === "individual") return denseBlocks(k - 1, b, arch);
  const out = [blk(0, "l0.w", [a, b], [0, arch.d_in]), blk(0, "l0.b", [a, b], null)];
  for (let i = 1; i < arch.layers; i++) {
    out.push(blk(0, `l${i}.w`, [a, b], [0, b]));
    if (arch.mode === "slimmable" && a > 0) out.push(blk(0, `l${i}.w`, [0, a], [a, b]));
    out.push(blk(0, `l${i}.b`, [a, b], null));
  }
  out.push(blk(0, "out.w", [0, arch.d_out], [a, b]));
  if (k === 1) out.push(blk(0, "out.b", [0, arch.d_out], null));
  return out;
}

function denseBlocks(net, w, arch) {
  const out = [blk(net, "l0.w", [0, w], [0, arch.d_in]), blk(net, "l0.b", [0, w], null)];
  for (let i = 1; i < arch.layers; i++) {
    out.push(blk(net, `l${i}.w`, [0, w], [0, w]), blk(net, `l${i}.b`, [0, w], null));
  }
  out.push(blk(net, "out.w", [0, arch.d_out], [0, w]), blk(net, "out.b", [0, arch.d_out], null));
  return out;
}

function blk(net, tensor, rows, cols) {
  const nRows = rows[1] - rows[0];
  const nCols = cols ? cols[1] - cols[0] : 1;
  // Biases and first-layer rows are "small": kept at bits_small (w0 amplifies their errors).
  const small = cols === null || tensor === "l0.w";
  return { net, tensor, rows, cols, nRows, nCols, size: nRows * nCols, scales: cols ? nRows : 1, small };
}

/** Bit depth of one block. */
export function blockBits(block, quant) {
  return block.small ? quant.bits_small : quant.bits;
}

/** Exact byte length of level k's uncompressed payload. */
export function payloadSize(arch, k, quant) {
  let total = 0;
  for (const b of blocks(arch, k)) total += 4 * b.scales + b.size * (blockBits(b, quant) <= 8 ? 1 : 2);
  return total;
}

/** Check an architecture map against the rules and limits; return a normalised copy. */
export function checkArch(d) {
  if (!d || typeof d !== "object" || Array.isArray(d)) throw new HeaderError("header: architecture must be a map");
  const arch = {
    widths: d.widths, layers: d.layers ?? 5, d_in: d.d_in ?? 2, d_out: d.d_out ?? 3, w0: d.w0 ?? 30.0,
    mode: d.mode ?? "progressive", grow: d.grow ?? "spectral", init: d.init ?? "siren",
  };
  const w = arch.widths;
  if (!Array.isArray(w) || !w.every(isInt)) throw new HeaderError("header: widths must be integers");
  if (w.length < 1 || w.length > LIMITS.levels) throw new HeaderError(`header: need 1..${LIMITS.levels} levels, got ${w.length}`);
  if (w.some((v, i) => v <= (i ? w[i - 1] : 0))) throw new HeaderError("header: widths must be positive and strictly increasing");
  if (w[w.length - 1] > LIMITS.width) throw new HeaderError(`header: width ${w[w.length - 1]} exceeds the limit ${LIMITS.width}`);
  if (!isInt(arch.layers) || arch.layers < 1 || arch.layers > LIMITS.layers) throw new HeaderError(`header: need 1..${LIMITS.layers} sine layers`);
  for (const key of ["d_in", "d_out"]) {
    if (!isInt(arch[key]) || arch[key] < 1 || arch[key] > LIMITS.dim) throw new HeaderError(`header: ${key} must be 1..${LIMITS.dim}`);
  }
  if (!MODES.includes(arch.mode)) throw new HeaderError(`header: unknown mode ${arch.mode}`);
  if (!GROWS.includes(arch.grow)) throw new HeaderError(`header: unknown growth ${arch.grow}`);
  if (!INITS.includes(arch.init)) throw new HeaderError(`header: unknown init ${arch.init}`);
  if (typeof arch.w0 !== "number" || !(arch.w0 > 0 && arch.w0 <= 1000)) throw new HeaderError("header: w0 out of range");
  arch.levels = w.length;
  return arch;
}

/** Check a header map against the hard limits (before anything is allocated); return its arch. */
export function validateHeader(h, major = 1) {
  if (!h || typeof h !== "object" || Array.isArray(h)) throw new HeaderError("header is not a map");
  const arch = checkArch(h.arch);
  if (!SIGNALS.includes(h.signal)) throw new HeaderError(`header: unknown signal kind ${h.signal}`);
  const size = h.size;
  if (!Array.isArray(size) || size.length < 1 || size.length > 3 || !size.every((s) => isInt(s) && s >= 1 && s <= LIMITS.side)) {
    throw new HeaderError("header: bad size");
  }
  if (size.reduce((p, s) => p * s, 1) > LIMITS.samples) throw new HeaderError("header: too many samples");
  if (h.signal === "video" && size[2] > LIMITS.frames) throw new HeaderError("header: too many frames");
  if (h.channels !== arch.d_out) throw new HeaderError("header: channels differ from the architecture's outputs");
  const q = h.quant;
  if (major >= 2) { // entropy-coded levels: the coding is all a reader needs from quant
    if (!q || typeof q !== "object" || q.coding !== "rans-laplace") throw new HeaderError(`header: quant.coding must be "rans-laplace" in a ${major}.x file`);
    return arch;
  }
  if (!q || typeof q !== "object" || q.scale !== "row") throw new HeaderError("header: quantisation must be a map with scale 'row'");
  for (const key of ["bits", "bits_small"]) {
    if (!isInt(q[key]) || q[key] < LIMITS.minBits || q[key] > LIMITS.maxBits) throw new HeaderError(`header: ${key} must be 4..16`);
  }
  for (let k = 1; k <= arch.levels; k++) {
    if (payloadSize(arch, k, q) > LIMITS.chunkBytes) throw new HeaderError(`header: level ${k} would exceed the chunk limit`);
  }
  return arch;
}
