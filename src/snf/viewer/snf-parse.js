// Incremental .snf reader, mirroring snf/format/container.py's Parser check for check:
// fed bytes as they arrive from the network, it reports each level the moment its
// chunk is whole (CRC checked, zstd inflated, dequantised to float32 blocks).
// Format: format_spec.md. tests/viewer/ runs the conformance vectors through it in Node.

import { crc32 } from "./crc32.js";
import { unpack } from "./msgpack.js";
import { blocks, blockBits, payloadSize, validateHeader } from "./snf-arch.js";
import { decodeCodedLevel } from "./snf-coded.js";
import { decodeGridCodedLevel, decodeGridLevel, gridPayloadSize, GRID_FEATURE, GRID_CTX } from "./snf-grid.js";
import { decodeLatentLevel } from "./snf-latent.js";
import { LIMITS, SIGNATURE, MAJORS, CHUNK_TYPES } from "./snf-constants.js";
import { decompress } from "./vendor/fzstd/fzstd.js";

const PREFIX_LEN = SIGNATURE.length + 2;
const CHUNK_HEAD = 10; // u32 length, 4-byte type, u16 level
const CRC_LEN = 4;
const { HEAD, LEVL, SEND } = CHUNK_TYPES;

/** A problem with the stream, in one line; `level` names the first level it stops;
 * `kind` as in format_spec.md section 6 (same values as Python's SnfError.kind). */
export class SnfError extends Error {
  constructor(message, level = null, kind = "format") {
    super(message);
    this.level = level;
    this.kind = kind;
  }
}
/** Bytes in arrival order, read from the front without re-copying the whole buffer each time. */
class ByteQueue {
  constructor() {
    this.buf = new Uint8Array(0);
    this.start = 0;
    this.end = 0;
  }

  get length() { return this.end - this.start; }

  push(data) {
    if (this.end + data.length > this.buf.length) {
      // Compact, and grow by doubling so a long stream costs linear time.
      const need = this.length + data.length;
      const next = need > this.buf.length ? new Uint8Array(Math.max(need, 2 * this.buf.length, 4096)) : this.buf;
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.end = this.length;
      this.start = 0;
    }
    this.buf.set(data, this.end);
    this.end += data.length;
  }

  /** A view of the first n bytes (valid until the next push). */
  peek(n) { return this.buf.subarray(this.start, this.start + n); }

  take(n) {
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    return out;
  }
}

export class Parser {
  constructor() {
    this.header = null;
    this.arch = null;
    this.levels = [];      // per complete level: [{block, values: Float32Array}] in payload order
    this.ends = [];        // stream offset just past each level's chunk
    this.complete = false; // the end chunk was read
    this.error = null;     // SnfError: why reading stopped early
    this.offset = 0;       // bytes consumed
    this.q = new ByteQueue();
    this.meta = null;      // the ancillary `meta` chunk's map (informative: per-level PSNR ...), if one was read
    // Optional: decodeAsync(level, body, parser) -> a Promise of the level's arrays, or null to decode
    // here (the viewer decodes latent levels on a worker: latent-decode.js). While one is pending the
    // parser reads no further chunk; onLevels(levels) is told of the levels it completes afterwards.
    this.decodeAsync = null;
    this.onLevels = null;
    this.pending = null;
  }

  get received() { return this.offset + this.q.length; }

  /** Feed bytes; returns the level numbers completed by them. Never throws for bad data. */
  feed(data) {
    if (this.error || this.complete) return [];
    this.q.push(data);
    const done = [];
    try {
      while (this.step(done));
    } catch (e) {
      this.error = e instanceof SnfError ? e : new SnfError(String(e.message || e));
    }
    return done;
  }

  /** Mark the end of input: a stream that stopped early gets its reason. Every level
   * complete but no end chunk is no error (a file cut after its last level). */
  finish() {
    if (this.pending) { // decided once the level being decoded is in
      this.finishing = true;
      return;
    }
    if (this.error || this.complete) return;
    if (!this.header) {
      this.error = new SnfError(this.received ? "truncated .snf file (header incomplete)" : "empty file", null, "truncated");
    } else if (this.levels.length < this.arch.levels) {
      const next = this.levels.length + 1;
      this.error = new SnfError(`truncated: level ${next} of ${this.arch.levels} incomplete`, next, "truncated");
    }
  }

  take(n) {
    this.offset += n;
    return this.q.take(n);
  }

  /** The level a corrupt or misplaced chunk is charged to (null past the last). */
  nextLevel() {
    const n = this.levels.length + 1;
    return this.arch && n <= this.arch.levels ? n : null;
  }

  step(done) {
    if (this.pending) return false;
    const q = this.q;
    if (this.offset === 0) return this.readPrefix();
    if (q.length < CHUNK_HEAD) return false;
    const head = q.peek(CHUNK_HEAD);
    const length = new DataView(head.buffer, head.byteOffset, CHUNK_HEAD).getUint32(0);
    // The length is the one field the CRC cannot cover before the chunk is whole:
    // only compared with a limit here.
    if (!this.header && length > LIMITS.headerBytes) throw new SnfError("header chunk exceeds the size limit", null, "limit");
    if (length > LIMITS.chunkBytes) throw new SnfError(`chunk of ${length} bytes exceeds the limit`, this.nextLevel(), "limit");
    if (q.length < CHUNK_HEAD + length + CRC_LEN) return false;
    const raw = this.take(CHUNK_HEAD + length + CRC_LEN);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (crc32(raw.subarray(4, CHUNK_HEAD + length)) !== view.getUint32(CHUNK_HEAD + length)) {
      if (!this.header) throw new SnfError("header chunk is corrupt (CRC mismatch)", null, "corrupt");
      const n = this.nextLevel();
      throw new SnfError(`${n !== null ? `level ${n} chunk` : "chunk after the last level"} is corrupt (CRC mismatch)`, n, "corrupt");
    }
    const type = String.fromCharCode(raw[4], raw[5], raw[6], raw[7]);
    const level = view.getUint16(8);
    this.onChunk(type, level, raw.subarray(CHUNK_HEAD, CHUNK_HEAD + length), done);
    return !this.complete;
  }

  readPrefix() {
    const q = this.q;
    if (!q.length) return false;
    const have = q.peek(Math.min(q.length, SIGNATURE.length));
    if (!have.every((b, i) => b === SIGNATURE[i])) throw new SnfError("not an .snf file (bad signature)", null, "format");
    if (q.length < PREFIX_LEN) return false;
    const [major, minor] = q.peek(PREFIX_LEN).subarray(SIGNATURE.length);
    if (!MAJORS.includes(major)) {
      throw new SnfError(`unsupported .snf version ${major}.${minor} (this reader reads ${MAJORS.map((m) => `${m}.x`).join(" and ")})`, null, "unsupported");
    }
    this.major = major;
    this.take(PREFIX_LEN);
    return true;
  }

  onChunk(type, level, body, done) {
    const isLetter = (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (![0, 1, 2, 3].every((i) => isLetter(type.charCodeAt(i)))) {
      throw new SnfError(`chunk type ${JSON.stringify(type)} is not four ASCII letters`, this.nextLevel(), "structure");
    }
    if (!this.header) {
      if (type !== HEAD) throw new SnfError("not an .snf file (no header chunk)", null, "format");
      if (level !== 0) throw new SnfError(`header chunk has level field ${level} (must be 0)`, null, "structure");
      let header;
      try {
        header = unpack(body);
      } catch {
        throw new SnfError("header chunk is not valid msgpack", null, "header");
      }
      try {
        this.arch = validateHeader(header, this.major);
      } catch (e) {
        throw new SnfError(e.message, null, e.kind || "header");
      }
      this.header = header;
    } else if (type === LEVL) {
      const want = this.levels.length + 1;
      if (want > this.arch.levels) throw new SnfError(`level chunk ${level} beyond the ${this.arch.levels} levels in the header`, null, "structure");
      if (level !== want) throw new SnfError(`level chunk ${level} out of order (expected ${want})`, want, "structure");
      const later = this.decodeAsync && this.decodeAsync(level, body, this);
      if (later) return this.wait(level, later);
      this.levels.push(this.decodeLevel(level, body));
      this.ends.push(this.offset);
      done.push(level);
    } else if (type === SEND) {
      if (level !== 0) throw new SnfError(`end chunk has level field ${level} (must be 0)`, this.nextLevel(), "structure");
      if (body.length) throw new SnfError(`end chunk holds ${body.length} bytes (must be empty)`, this.nextLevel(), "structure");
      if (this.levels.length !== this.arch.levels) {
        throw new SnfError(`end chunk after ${this.levels.length} of ${this.arch.levels} levels`, this.nextLevel(), "structure");
      }
      this.complete = true;
    } else if (type === HEAD) {
      throw new SnfError("a second header chunk", this.nextLevel(), "structure");
    } else if (type[0] >= "A" && type[0] <= "Z") {
      throw new SnfError(`unknown critical chunk ${JSON.stringify(type)}: this file needs a newer reader`, this.nextLevel(), "unsupported");
    } else if (type === "meta" && this.meta === null) { // informative (format_spec.md 11.2): kept if it parses
      try {
        const m = unpack(body);
        if (m && typeof m === "object" && !Array.isArray(m)) this.meta = m;
      } catch { /* ignored, as Python's reader does */ }
    } // other ancillary chunks (lower-case first letter) are skipped, whatever their level field
  }

  /** A level decoding elsewhere: read on once it is in (or stop on its error), then tell onLevels. */
  wait(level, promise) {
    const end = this.offset;
    this.pending = Promise.resolve(promise).then((arrays) => {
      this.pending = null;
      this.levels.push(arrays);
      this.ends.push(end);
      const done = [level];
      try {
        while (this.step(done));
      } catch (e) {
        this.error = e instanceof SnfError ? e : new SnfError(String(e.message || e));
      }
      return done;
    }, (e) => {
      this.pending = null;
      this.error = new SnfError(`level ${level}: ${e.message || e}`, level, "payload");
      return [];
    }).then((done) => {
      if (this.finishing && !this.pending) this.finish();
      if (this.onLevels) this.onLevels(done);
    });
  }

  decodeLevel(level, body) {
    if (this.arch.family === "latent") { // latent family (format_spec.md section 11.3): needs the earlier levels
      try {
        return decodeLatentLevel(this.arch, level, this.header.size, body, this.levels);
      } catch (e) {
        throw new SnfError(`level ${level}: ${e.message}`, level, "payload");
      }
    }
    if (this.arch.family === "grid" && (this.header.requires || []).includes(GRID_FEATURE)) {
      try { // entropy-coded grid level, stored without a zstd frame (format_spec.md section 9.3)
        return decodeGridCodedLevel(this.arch, level, this.header.size, body, (this.header.requires || []).includes(GRID_CTX));
      } catch (e) {
        throw new SnfError(`level ${level}: ${e.message}`, level, "payload");
      }
    }
    if (this.arch.family === "grid") { // first revision: one zstd frame of the grid payload (section 9.3)
      const want = gridPayloadSize(this.arch, level, this.header.size);
      let raw;
      try {
        raw = inflate(body, want);
      } catch (e) {
        throw new SnfError(`level ${level} chunk does not decompress (${e.message})`, level, "payload");
      }
      try {
        return decodeGridLevel(this.arch, level, this.header.size, raw);
      } catch (e) {
        throw new SnfError(`level ${level}: ${e.message}`, level, "payload");
      }
    }
    const quant = this.header.quant;
    if (quant.coding === "rans-laplace") { // entropy-coded, stored without a zstd frame (format_spec.md 3.2)
      try {
        return decodeCodedLevel(this.arch, level, body);
      } catch (e) {
        throw new SnfError(`level ${level}: ${e.message}`, level, "payload");
      }
    }
    const want = payloadSize(this.arch, level, quant);
    let raw;
    try {
      raw = inflate(body, want);
    } catch (e) {
      throw new SnfError(`level ${level} chunk does not decompress (${e.message})`, level, "payload");
    }
    const coding = PAYLOAD_CODINGS[quant.coding ?? "raw"];
    return coding(this.arch, level, raw, quant);
  }
}

/** Inflate one zstd frame whose header declares exactly `want` bytes (bounded up front),
 * with nothing after it. */
function inflate(body, want) {
  const { size, length } = zstdFrame(body);
  if (size === null) throw new Error("no content size in the frame header");
  if (size !== want) throw new Error(`frame holds ${size} bytes, expected ${want}`);
  if (length !== body.length) throw new Error(`${body.length - length} bytes after the zstd frame`);
  const out = decompress(body, new Uint8Array(want));
  if (out.length !== want) throw new Error(`payload is ${out.length} bytes, expected ${want}`);
  return out;
}

/** {size (Frame_Content_Size or null), length (bytes of the frame)} of the zstd frame at the
 * start of `b` (RFC 8878 3.1.1), as snf/format/container.py's zstd_frame: header fields,
 * then a walk over the block headers. */
export function zstdFrame(b) {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) throw new Error("not a zstd frame");
  const fhd = b[4];
  const fcsFlag = fhd >> 6, single = (fhd >> 5) & 1, checksum = (fhd >> 2) & 1, dictFlag = fhd & 3;
  if (fhd & 0x08) throw new Error("reserved bit set in the zstd frame header");
  if (dictFlag) throw new Error("zstd frame names a dictionary");
  let pos = 5 + (single ? 0 : 1);
  const fcsBytes = [single, 2, 4, 8][fcsFlag];
  if (b.length < pos + fcsBytes) throw new Error("zstd frame header truncated");
  let size = null;
  if (fcsBytes) {
    size = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + b[pos + i];
    if (fcsBytes === 2) size += 256;
  }
  pos += fcsBytes;
  for (;;) {
    if (b.length < pos + 3) throw new Error("zstd frame truncated");
    const bh = b[pos] | (b[pos + 1] << 8) | (b[pos + 2] << 16);
    const last = bh & 1, btype = (bh >> 1) & 3, bsize = bh >>> 3;
    if (btype === 3) throw new Error("reserved zstd block type");
    pos += 3 + (btype === 1 ? 1 : bsize);
    if (last) break;
  }
  pos += 4 * checksum;
  if (pos > b.length) throw new Error("zstd frame truncated");
  return { size, length: pos };
}

/** Frame_Content_Size from a zstd frame header, or null if absent. */
export function frameContentSize(b) {
  return zstdFrame(b).size;
}

/** Payload -> float32 blocks: w = float32(q) * scale, one single-precision multiply. */
export function dequantiseLevel(arch, level, raw, quant) {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = [];
  let pos = 0;
  for (const block of blocks(arch, level)) {
    const scales = new Float32Array(block.scales);
    for (let r = 0; r < block.scales; r++, pos += 4) scales[r] = view.getFloat32(pos, true);
    if (!scales.every(Number.isFinite)) throw new SnfError(`level ${level}: level ${level} ${block.tensor}: scale is not finite`, level, "payload");
    const bits = blockBits(block, quant), wide = bits > 8, qmax = 2 ** (bits - 1) - 1;
    const values = new Float32Array(block.size);
    const perRow = block.cols ? block.nCols : block.size;
    for (let i = 0; i < block.size; i++) {
      const q = wide ? view.getInt16(pos + 2 * i, true) : view.getInt8(pos + i);
      if (q < -qmax || q > qmax) throw new SnfError(`level ${level}: level ${level} ${block.tensor}: a value is outside +-${qmax} (${bits} bits)`, level, "payload");
      // q (16 bits) times a float32 is exact in a double; storing rounds once, as float32 multiply does.
      values[i] = q * scales[Math.floor(i / perRow)];
    }
    pos += block.size * (wide ? 2 : 1);
    out.push({ block, values });
  }
  return out;
}

/** quant.coding -> payload decoder (format_spec.md section 2.1): the dispatch point where a
 * new payload coding slots in; an unknown coding is refused by validateHeader first. */
export const PAYLOAD_CODINGS = { raw: dequantiseLevel };
