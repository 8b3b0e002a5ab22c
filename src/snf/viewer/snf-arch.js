// The growing-SIREN layout and the header checks, mirroring snf/field/arch.py,
// snf/format/quant.py (payload size) and snf/format/container.py (validate_header),
// check for check in the same order. Limits, modes and kinds come from the generated
// snf-constants.js; a mode's behaviour is read from its rule (MODE_RULES), never
// from its name. The block order of `blocks(arch, k)` is the payload order: part of the format.

import {
  LIMITS, MODE_RULES, GROWS, GROW_AXIS, INITS, FAMILIES, ARCH_DEFAULTS, SIGNAL_DIMS, DEFAULT_COORDS, CODINGS, FEATURES,
} from "./snf-constants.js";
import { gridTensors, validateGridHeader } from "./snf-grid.js";
import { checkLatentHeader, latentChunkLimits, latentMacs, latentParams } from "./snf-latent.js";

export { LIMITS };

/** A header this reader refuses; `kind` as in format_spec.md section 6 ("header", "unsupported", "limit"). */
export class HeaderError extends Error {
  constructor(message, kind = "header") {
    super(message);
    this.kind = kind;
  }
}

const isInt = (v) => Number.isInteger(v);
const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Units [a, b) that level k (1-based) adds to every hidden layer. */
export function span(arch, k) {
  return [k > 1 ? arch.widths[k - 2] : 0, arch.widths[k - 1]];
}

/** Samples along the growth axis (n in all) in regions 1..j: floor(j n / K) (Arch.cut). */
export function cut(arch, j, n) { return Math.floor((j * n) / arch.widths.length); }

/** Level k's renderers, as Arch.renderers: [level whose network renders, first region, stop region]. */
export function renderers(arch, k) {
  if (arch.composite) return Array.from({ length: k }, (_, i) => [i + 1, i, i + 1]);
  return [[k, 0, arch.regional ? k : arch.widths.length]];
}

/** Which dense network renders level k, and the first level whose blocks build it. */
export function netOf(arch, k) { return arch.rule.separate ? k - 1 : 0; }
export function firstLevel(arch, k) { return arch.rule.separate ? k : 1; }

/** Blocks of level k in payload order: {net, tensor, rows: [a,b], cols: [a,b] | null}. */
export function blocks(arch, k) {
  const [a, b] = span(arch, k);
  if (arch.rule.separate) return denseBlocks(k - 1, b, arch);
  const out = [blk(0, "l0.w", [a, b], [0, arch.d_in]), blk(0, "l0.b", [a, b], null)];
  for (let i = 1; i < arch.layers; i++) {
    out.push(blk(0, `l${i}.w`, [a, b], [0, b]));
    if (arch.rule.lateral && a > 0) out.push(blk(0, `l${i}.w`, [0, a], [a, b]));
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

const PER_ROW_MIN_COLS = 9; // snf/format/coded.py: matrix blocks this wide get a step code per row

/** Step codes of a block in a "rans-laplace" level (format_spec.md 3.2). */
export function nCodes(block) {
  return block.cols && block.nCols >= PER_ROW_MIN_COLS ? block.nRows : 1;
}

/** The header's size of a "rans-laplace" level (format_spec.md section 5): its head (step
 * codes and a 4-byte model per block) plus one byte per integer. */
export function codedSize(arch, k) {
  let total = 0;
  for (const b of blocks(arch, k)) total += nCodes(b) + 4 + b.size;
  return total;
}

/** Check an architecture map against the rules and limits; return a normalised copy. */
export function checkArch(d) {
  if (!isMap(d)) throw new HeaderError("header: architecture must be a map");
  const w = d.widths;
  if (!Array.isArray(w) || !w.every(isInt)) throw new HeaderError("header: widths must be a list of integers");
  for (const key of ["layers", "d_in", "d_out"]) {
    if (has(d, key) && !isInt(d[key])) throw new HeaderError(`header: ${key} must be an integer`);
  }
  if (has(d, "w0") && !isNumber(d.w0)) throw new HeaderError("header: w0 must be a number");
  for (const key of ["mode", "grow", "init"]) {
    if (has(d, key) && typeof d[key] !== "string") throw new HeaderError(`header: ${key} must be a string`);
  }
  const get = (key) => (has(d, key) ? d[key] : ARCH_DEFAULTS[key]);
  const arch = {
    widths: w, layers: get("layers"), d_in: get("d_in"), d_out: get("d_out"), w0: get("w0"),
    mode: get("mode"), grow: get("grow"), init: get("init"),
  };
  if (w.length < 1 || w.length > LIMITS.levels) throw new HeaderError(`header: need 1..${LIMITS.levels} levels, got ${w.length}`);
  // spatial/temporal growth with separate networks: one network per region, any positive widths
  const regional = has(GROW_AXIS, arch.grow);
  const composite = regional && has(MODE_RULES, arch.mode) && MODE_RULES[arch.mode].separate;
  if (composite) {
    if (w.some((v) => v < 1)) throw new HeaderError("header: widths must be positive");
  } else if (w.some((v, i) => v <= (i ? w[i - 1] : 0))) {
    throw new HeaderError("header: widths must be positive and strictly increasing");
  }
  if (w[w.length - 1] > LIMITS.width) throw new HeaderError(`header: width ${w[w.length - 1]} exceeds the limit ${LIMITS.width}`);
  if (arch.layers < 1 || arch.layers > LIMITS.layers) throw new HeaderError(`header: need 1..${LIMITS.layers} sine layers`);
  for (const key of ["d_in", "d_out"]) {
    if (arch[key] < 1 || arch[key] > LIMITS.dim) throw new HeaderError(`header: ${key} must be 1..${LIMITS.dim}`);
  }
  if (!has(MODE_RULES, arch.mode)) throw new HeaderError(`header: unknown mode ${arch.mode}`);
  if (!GROWS.includes(arch.grow)) throw new HeaderError(`header: unknown growth ${arch.grow}`);
  if (!INITS.includes(arch.init)) throw new HeaderError(`header: unknown init ${arch.init}`);
  if (!(arch.w0 > 0 && arch.w0 <= LIMITS.w0)) throw new HeaderError("header: w0 out of range");
  if (regional && MODE_RULES[arch.mode].joint) throw new HeaderError(`header: grow ${arch.grow} supports modes progressive and individual, not ${arch.mode}`);
  if (regional && arch.d_in <= GROW_AXIS[arch.grow]) throw new HeaderError(`header: grow ${arch.grow} needs at least ${GROW_AXIS[arch.grow] + 1} inputs`);
  arch.levels = w.length;
  arch.rule = MODE_RULES[arch.mode];
  arch.regional = regional;
  arch.composite = composite;
  return arch;
}

/** Check a header map (format_spec.md section 2) before anything is allocated; return its arch. */
export function validateHeader(h, major = 2) {
  if (!isMap(h)) throw new HeaderError("header is not a map");
  const requires = has(h, "requires") ? h.requires : [];
  if (!Array.isArray(requires) || !requires.every((r) => typeof r === "string")) {
    throw new HeaderError("header: requires must be a list of strings");
  }
  const missing = requires.filter((r) => !FEATURES.includes(r));
  if (missing.length) throw new HeaderError(`this file needs ${missing.join(", ")}, which this reader does not implement`, "unsupported");
  const family = has(h, "field") ? h.field : FAMILIES[0];
  if (!FAMILIES.includes(family)) throw new HeaderError(`unknown field family ${JSON.stringify(family)}`, "unsupported");
  if (family === "grid") { // the latent-grid family (format_spec.md section 9): its own arch, no quant
    if (major < 2) throw new HeaderError('header: field family "grid" needs format version 2');
    checkCoords(has(h, "coords") ? h.coords : DEFAULT_COORDS);
    checkValues(h.values);
    const grid = validateGridHeader(h, LIMITS.chunkBytes, LIMITS.side, LIMITS.samples);
    checkCost(h, grid);
    return grid;
  }
  if (family === "latent") { // the latent family (format_spec.md section 11): its own arch, no quant
    if (major < 2) throw new HeaderError('header: field family "latent" needs format version 2');
    const latent = checkLatentHeader(h, LIMITS);
    checkCoords(has(h, "coords") ? h.coords : DEFAULT_COORDS);
    checkValues(h.values);
    latentChunkLimits(latent, h.size, LIMITS.chunkBytes);
    checkCost(h, latent);
    return latent;
  }
  const arch = checkArch(h.arch);
  if (!has(SIGNAL_DIMS, h.signal)) throw new HeaderError(`header: unknown signal kind ${h.signal}`);
  const size = h.size, dims = SIGNAL_DIMS[h.signal];
  if (!Array.isArray(size) || !size.every((s) => isInt(s) && s >= 1 && s <= LIMITS.side)) {
    throw new HeaderError("header: bad size");
  }
  if (size.length !== dims || arch.d_in !== dims) throw new HeaderError(`header: a ${h.signal} has ${dims} axes: size and d_in must match`);
  if (size.reduce((p, s) => p * s, 1) > LIMITS.samples) throw new HeaderError("header: too many samples");
  if (h.signal === "sdf" && size[0] ** 3 > LIMITS.samples) throw new HeaderError("header: an SDF renders size[0]^3 samples, too many");
  if (h.signal === "video" && size[2] > LIMITS.frames) throw new HeaderError("header: too many frames");
  if (has(h, "transform")) checkTransform(h.transform);
  if (!isInt(h.channels) || h.channels !== arch.d_out) throw new HeaderError("header: channels differ from the architecture's outputs");
  checkCoords(has(h, "coords") ? h.coords : DEFAULT_COORDS);
  checkValues(h.values);
  checkQuant(h.quant, major);
  const coded = h.quant.coding === "rans-laplace";
  for (let k = 1; k <= arch.levels; k++) {
    const size = coded ? codedSize(arch, k) : payloadSize(arch, k, h.quant);
    if (size > LIMITS.chunkBytes) throw new HeaderError(`header: level ${k} would exceed the chunk limit`, "limit");
  }
  checkCost(h, arch);
  return arch;
}

function checkTransform(t) {
  if (!(isMap(t) && Array.isArray(t.center) && t.center.length === 3 && t.center.every(isNumber)
        && isNumber(t.scale) && t.scale > 0)) {
    throw new HeaderError("header: transform must be {center: [x, y, z], scale: s} with finite numbers, s > 0");
  }
}

/** Step codes and models of an entropy-coded level (format_spec.md 3.2): per block its codes, 4 bytes of model. */
export function codedHeadSize(arch, k) {
  return blocks(arch, k).reduce((n, b) => n + (b.cols && b.nCols >= 9 ? b.nRows : 1) + 4, 0);
}

/** Parameters stored in level k's chunk. */
export function levelParams(arch, k) {
  return blocks(arch, k).reduce((n, b) => n + b.size, 0);
}

// ---- the cost model (format_spec.md 5.1), as snf/format/cost.py: from the header alone

/** Samples a render at the stored size evaluates (an SDF: size[0]^3). */
export function renderSamples(h) {
  return h.signal === "sdf" ? h.size[0] ** 3 : h.size.reduce((p, s) => p * s, 1);
}

const denseMacs = (arch, w) => w * (arch.d_in + (arch.layers - 1) * w + arch.d_out);

/** Multiply-adds per sample of level k (composite growth: the widest network of 1..k). */
export function macsPerSample(arch, k) {
  if (arch.family === "latent") return latentMacs(arch);
  if (arch.family === "grid") {
    let total = 0, fan = 0;
    for (let j = 1; j <= k; j++) {
      fan += arch.grids[j - 1].length;
      const hk = arch.hidden[j - 1];
      total += fan * hk + (arch.layers - 1) * hk * hk + hk * arch.d_out;
    }
    return total;
  }
  if (arch.composite) return Math.max(...arch.widths.slice(0, k).map((w) => denseMacs(arch, w)));
  return denseMacs(arch, arch.widths[k - 1]);
}

/** Numbers stored in levels 1..k (what a decoder of level k holds). */
export function paramsUpTo(arch, k, size) {
  let n = 0;
  for (let j = 1; j <= k; j++) {
    if (arch.family === "latent") return latentParams(arch, k, size);
    n += arch.family === "grid" ? gridTensors(arch, j, size).reduce((m, t) => m + t.size, 0) : levelParams(arch, j);
  }
  return n;
}

/** The hard limits of the cost model for the full render of the last level (kind "limit"). */
export function checkCost(h, arch) {
  const k = arch.levels;
  const params = paramsUpTo(arch, k, h.size);
  if (params > LIMITS.params) throw new HeaderError(`header: level ${k} needs ${params} parameters, above the limit of ${LIMITS.params}`, "limit");
  const samples = renderSamples(h);
  if (samples > LIMITS.samples) throw new HeaderError(`header: a render of ${samples} samples is above the limit of ${LIMITS.samples}`, "limit");
  const macs = macsPerSample(arch, k) * samples;
  if (macs > LIMITS.renderMacs) throw new HeaderError(`header: a render of level ${k} needs ${macs} multiply-adds, above the limit of ${LIMITS.renderMacs}`, "limit");
}

function checkCoords(c) {
  if (!isMap(c)) throw new HeaderError("header: coords must be a map");
  for (const [key, want] of Object.entries(DEFAULT_COORDS)) {
    if (has(c, key) && !same(c[key], want)) throw new HeaderError(`coords ${key} is not supported`, "unsupported");
  }
}

function checkValues(v) {
  if (!isMap(v)) throw new HeaderError("header: values must be a map with a range");
  const r = v.range;
  if (!Array.isArray(r) || r.length !== 2 || !r.every(isNumber)) throw new HeaderError("header: values range must be [lo, hi]");
  if (!(r[0] < r[1])) throw new HeaderError("header: values range needs lo < hi");
  const depth = has(v, "bit_depth") ? v.bit_depth : 8;
  if (!isInt(depth) || depth < 1 || depth > LIMITS.sampleBits) throw new HeaderError(`header: values bit_depth must be 1..${LIMITS.sampleBits}`);
}

function checkQuant(q, major) {
  if (!isMap(q)) throw new HeaderError("header: quant must be a map");
  const coding = has(q, "coding") ? q.coding : "raw";
  if (!CODINGS.includes(coding)) throw new HeaderError(`unknown payload coding ${JSON.stringify(coding)}`, "unsupported");
  if (coding === "rans-laplace") { // steps and models travel in each level's payload (format_spec.md 3.2)
    if (major < 2) throw new HeaderError(`header: payload coding "rans-laplace" needs format version 2`);
    return;
  }
  if (q.scale !== "row") throw new HeaderError("header: quant scale must be 'row'");
  for (const key of ["bits", "bits_small"]) {
    if (!isInt(q[key]) || q[key] < LIMITS.minBits || q[key] > LIMITS.maxBits) {
      throw new HeaderError(`header: quant ${key} must be ${LIMITS.minBits}..${LIMITS.maxBits}`);
    }
  }
}
