// Incremental .snf reader, mirroring snf/format/container.py's Parser: fed bytes as
// they arrive from the network, it reports each level the moment its chunk is
// whole (CRC checked, zstd inflated, dequantised to float32 blocks).
// Format: format_spec.md.

import { crc32 } from "./crc32.js";
import { unpack } from "./msgpack.js";
import { LIMITS, blocks, blockBits, payloadSize, validateHeader } from "./snf-arch.js";
import { decompress } from "./vendor/fzstd/fzstd.js";
import { decodeCodedLevel } from "./snf-coded.js";
import { decodeGridLevel, gridPayloadSize, validateGridHeader } from "./snf-grid.js";

const SIGNATURE = [0x89, 0x53, 0x4e, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const MAJORS = [1, 2, 3]; // 1.x: zstd-framed fixed-bit levels; 2.x: entropy-coded levels; 3.x: grid family
const FIELDS = ["siren", "grid"]; // field families this reader understands (must-understand `field` key)
const PREFIX_LEN = 10;
const CHUNK_HEAD = 10; // u32 length, 4-byte type, u16 level
const CRC_LEN = 4;

/** A problem with the stream, in one line; `level` names a bad level chunk. */
export class SnfError extends Error {
  constructor(message, level = null) {
    super(message);
    this.level = level;
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

  /** Mark the end of input: a stream that stopped early gets its reason. */
  finish() {
    if (this.error || this.complete) return;
    if (!this.header) {
      this.error = new SnfError(this.received ? "truncated .snf file (header incomplete)" : "empty file");
    } else {
      const next = this.levels.length + 1;
      this.error = next <= this.arch.levels
        ? new SnfError(`truncated: level ${next} of ${this.arch.levels} incomplete`, next)
        : new SnfError("truncated: every level is complete but the end chunk is missing");
    }
  }

  take(n) {
    this.offset += n;
    return this.q.take(n);
  }

  step(done) {
    const q = this.q;
    if (this.offset === 0) return this.readPrefix();
    if (q.length < CHUNK_HEAD) return false;
    const head = q.peek(CHUNK_HEAD);
    const view = new DataView(head.buffer, head.byteOffset, CHUNK_HEAD);
    const length = view.getUint32(0);
    const type = String.fromCharCode(head[4], head[5], head[6], head[7]);
    const level = view.getUint16(8);
    this.checkChunkHead(length, type, level);
    if (q.length < CHUNK_HEAD + length + CRC_LEN) return false;
    const raw = this.take(CHUNK_HEAD + length + CRC_LEN);
    const crc = new DataView(raw.buffer).getUint32(CHUNK_HEAD + length);
    if (crc32(raw.subarray(4, CHUNK_HEAD + length)) !== crc) {
      if (type === "LEVL") throw new SnfError(`level ${level} chunk is corrupt (CRC mismatch)`, level);
      throw new SnfError(`${type} chunk is corrupt (CRC mismatch)`);
    }
    this.onChunk(type, level, raw.subarray(CHUNK_HEAD, CHUNK_HEAD + length), done);
    return !this.complete;
  }

  readPrefix() {
    const q = this.q;
    if (!q.length) return false;
    const have = q.peek(Math.min(q.length, SIGNATURE.length));
    if (!have.every((b, i) => b === SIGNATURE[i])) throw new SnfError("not an .snf file (bad signature)");
    if (q.length < PREFIX_LEN) return false;
    const [major, minor] = q.peek(PREFIX_LEN).subarray(8);
    if (!MAJORS.includes(major)) {
      throw new SnfError(`unsupported .snf version ${major}.${minor} (this reader reads ${MAJORS.map((m) => `${m}.x`).join(" and ")})`);
    }
    this.major = major;
    this.take(PREFIX_LEN);
    return true;
  }

  checkChunkHead(length, type, level) {
    if (!this.header) {
      if (type !== "HEAD") throw new SnfError("not an .snf file (no header chunk)");
      if (length > LIMITS.headerBytes) throw new SnfError("header chunk exceeds the size limit");
      return;
    }
    const lv = type === "LEVL" ? level : null;
    if (length > LIMITS.chunkBytes) throw new SnfError(`chunk of ${length} bytes exceeds the limit`, lv);
    if (type === "LEVL" && level !== this.levels.length + 1) {
      throw new SnfError(`level chunk ${level} out of order (expected ${this.levels.length + 1})`, level);
    }
  }

  onChunk(type, level, body, done) {
    if (type === "HEAD") {
      let header;
      try {
        header = unpack(body);
      } catch {
        throw new SnfError("header chunk is not valid msgpack");
      }
      const field = header && typeof header === "object" && "field" in header ? header.field : "siren";
      if (this.major >= 3 && !(header && typeof header === "object" && "field" in header)) {
        throw new SnfError("header: a 3.x file must name its field family (key 'field')");
      }
      if (!FIELDS.includes(field)) {
        throw new SnfError(`field family ${JSON.stringify(String(field).slice(0, 40)).replaceAll('"', "'")} is not supported by this reader (it reads ${FIELDS.join(", ")})`);
      }
      if (field === "grid" && this.major < 3) throw new SnfError("header: a grid field needs container version 3");
      try {
        this.arch = field === "grid"
          ? validateGridHeader(header, LIMITS.chunkBytes, LIMITS.side, LIMITS.samples)
          : validateHeader(header, this.major);
      } catch (e) {
        throw new SnfError(e.message);
      }
      this.header = header;
    } else if (type === "LEVL") {
      if (level > this.arch.levels) throw new SnfError(`level chunk ${level} beyond the ${this.arch.levels} levels in the header`, level);
      this.levels.push(this.decodeLevel(level, body));
      this.ends.push(this.offset);
      done.push(level);
    } else if (type === "SEND") {
      if (this.levels.length !== this.arch.levels) {
        throw new SnfError(`end chunk after ${this.levels.length} of ${this.arch.levels} levels`);
      }
      this.complete = true;
    } else if (type[0] >= "A" && type[0] <= "Z") {
      throw new SnfError(`unknown critical chunk ${JSON.stringify(type)}`);
    } // ancillary chunks (lower-case first letter) are skipped
  }

  decodeLevel(level, body) {
    if (this.arch.family === "grid") {
      const want = gridPayloadSize(this.arch, level, this.header.size);
      let raw;
      try {
        raw = inflate(body, want);
      } catch (e) {
        throw new SnfError(`level ${level} chunk does not decompress (${e.message})`, level);
      }
      try {
        return decodeGridLevel(this.arch, level, this.header.size, raw);
      } catch (e) {
        throw new SnfError(`level ${level}: ${e.message}`, level);
      }
    }
    if (this.major >= 2) {
      try {
        return decodeCodedLevel(this.arch, level, body);
      } catch (e) {
        throw new SnfError(`level ${level}: ${e.message}`, level);
      }
    }
    const want = payloadSize(this.arch, level, this.header.quant);
    let raw;
    try {
      raw = inflate(body, want);
    } catch (e) {
      throw new SnfError(`level ${level} chunk does not decompress (${e.message})`, level);
    }
    return dequantiseLevel(this.arch, level, raw, this.header.quant);
  }
}

/** Inflate one zstd frame whose header declares exactly `want` bytes (bounded up front). */
function inflate(body, want) {
  const size = frameContentSize(body);
  if (size !== want) throw new Error(size === null ? "no content size in the frame header" : `frame holds ${size} bytes, expected ${want}`);
  const out = decompress(body, new Uint8Array(want));
  if (out.length !== want) throw new Error(`payload is ${out.length} bytes, expected ${want}`);
  return out;
}

/** Frame_Content_Size from a zstd frame header (RFC 8878 3.1.1.1), or null if absent. */
export function frameContentSize(b) {
  if (b.length < 6 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd) throw new Error("not a zstd frame");
  const fhd = b[4];
  const fcsFlag = fhd >> 6, single = (fhd >> 5) & 1, dictFlag = fhd & 3;
  const fcsBytes = [single, 2, 4, 8][fcsFlag];
  if (!fcsBytes) return null;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag];
  if (b.length < at + fcsBytes) throw new Error("zstd frame header truncated");
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + b[at + i];
  return fcsBytes === 2 ? size + 256 : size;
}

/** Payload -> float32 blocks: w = float32(q) * scale, one single-precision multiply. */
export function dequantiseLevel(arch, level, raw, quant) {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = [];
  let pos = 0;
  for (const block of blocks(arch, level)) {
    const scales = new Float32Array(block.scales);
    for (let r = 0; r < block.scales; r++, pos += 4) scales[r] = view.getFloat32(pos, true);
    if (!scales.every(Number.isFinite)) throw new SnfError(`level ${level} ${block.tensor}: scale is not finite`, level);
    const wide = blockBits(block, quant) > 8;
    const values = new Float32Array(block.size);
    const perRow = block.cols ? block.nCols : block.size;
    for (let i = 0; i < block.size; i++) {
      const q = wide ? view.getInt16(pos + 2 * i, true) : view.getInt8(pos + i);
      // q (16 bits) times a float32 is exact in a double; storing rounds once, as float32 multiply does.
      values[i] = q * scales[Math.floor(i / perRow)];
    }
    pos += block.size * (wide ? 2 : 1);
    out.push({ block, values });
  }
  return out;
}
