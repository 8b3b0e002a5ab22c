// A small msgpack decoder: exactly the types an .snf header may hold (format_spec.md
// section 2: maps with string keys, arrays, str, ints, floats, bool, nil, nested at most
// LIMITS.headerDepth deep). Written here rather than vendored because it is short and the
// header is tiny; anything else (bin, ext, a non-string key, deeper nesting) is an error,
// as in the Python reader (container.check_tree).

import { LIMITS } from "./snf-constants.js";

const MAX_DEPTH = LIMITS.headerDepth;
const utf8 = new TextDecoder("utf-8", { fatal: true });

export class MsgpackError extends Error {}

/** Decode one msgpack value that fills `bytes` (a Uint8Array) exactly. */
export function unpack(bytes) {
  const r = new Reader(bytes);
  const value = r.value(0);
  if (r.pos !== bytes.length) throw new MsgpackError("trailing bytes after the msgpack value");
  return value;
}

class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.b.length) throw new MsgpackError("msgpack value runs past the end");
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8() { return this.b[this.need(1)]; }
  u16() { return this.v.getUint16(this.need(2)); }
  u32() { return this.v.getUint32(this.need(4)); }

  int64(signed) {
    const at = this.need(8);
    const big = signed ? this.v.getBigInt64(at) : this.v.getBigUint64(at);
    const n = Number(big);
    if (!Number.isSafeInteger(n)) throw new MsgpackError("64-bit integer beyond 2^53");
    return n;
  }

  str(n) {
    const at = this.need(n);
    return utf8.decode(this.b.subarray(at, at + n));
  }

  array(n, depth) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  map(n, depth) {
    // A plain object keyed by strings (header keys are strings); no prototype, so
    // a key like "__proto__" is only data.
    const out = Object.create(null);
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== "string") throw new MsgpackError("a map key that is not a string");
      out[key] = this.value(depth + 1);
    }
    return out;
  }

  value(depth) {
    if (depth > MAX_DEPTH) throw new MsgpackError("msgpack nesting too deep");
    const t = this.u8();
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return this.map(t & 0x0f, depth);
    if ((t & 0xf0) === 0x90) return this.array(t & 0x0f, depth);
    if ((t & 0xe0) === 0xa0) return this.str(t & 0x1f);
    return this.tagged(t, depth);
  }

  tagged(t, depth) {
    const v = this.v;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xca: return v.getFloat32(this.need(4));
      case 0xcb: return v.getFloat64(this.need(8));
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return this.int64(false);
      case 0xd0: return v.getInt8(this.need(1));
      case 0xd1: return v.getInt16(this.need(2));
      case 0xd2: return v.getInt32(this.need(4));
      case 0xd3: return this.int64(true);
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default: throw new MsgpackError(`unsupported msgpack type 0x${t.toString(16)}`);
    }
  }
}
