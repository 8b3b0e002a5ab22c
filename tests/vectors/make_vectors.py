"""Regenerate the conformance vectors (only when format_spec.md changes on purpose):

    python tests/vectors/make_vectors.py

Good files: every mode x quantisation bits (4, 8, 12, 16) x channel count (1..4), a
tiny random SIREN each (no training: torch is not needed, and random weights reach
every quantised value's range), plus files that exercise a reader rule (no end
chunk, ancillary chunks, a newer minor version, 16-bit samples, ...). Each comes
with its dequantised values (float32, exact) and its decoded samples at the stored
size (the spec allows +-1). Bad files: each with the error kind, the level charged
and what still decodes. Everything goes to good.json / bad.json beside the files;
tests/test_vectors.py (Python) and tests/viewer/vectors.test.mjs (Node) read them.
"""
from __future__ import annotations

import json
import os
import struct
import sys

import msgpack
import numpy as np
import zstandard

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "src"))

from snf.field.arch import MODES, Arch  # noqa: E402
from snf.format import container as C  # noqa: E402
from snf.format.quant import default_quant, encode_level  # noqa: E402
from snf.decode.decoder import render_image  # noqa: E402
from snf.field.grid import GridArch  # noqa: E402
from snf.format import coded, entropy, gridcode, latentctx  # noqa: E402

SIZE = (4, 3)              # width, height of every good SIREN image vector (1.0 files; grid ones are 2.0)
WIDTHS = (2, 4, 6)         # three levels: the slimmable mode's lateral blocks appear from level 2
LAYERS = 2
BITS = (4, 8, 12, 16)
CHANNELS = (1, 2, 3, 4)


def random_levels(arch: Arch, seed: int) -> list:
    """SIREN-scaled random tensors for every level, in block order."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(1, arch.levels + 1):
        tensors = []
        for blk in arch.blocks(k):
            if blk.tensor == "l0.w":
                bound = 1.0 / arch.d_in
            elif blk.tensor.startswith("out"):
                bound = 0.5
            elif blk.cols is None:
                bound = 0.3
            else:
                bound = (6.0 / arch.widths[-1]) ** 0.5 / arch.w0
            tensors.append(rng.uniform(-bound, bound, blk.shape).astype(np.float32))
        out.append(tensors)
    return out


def header_for(arch: Arch, quant: dict, channels: int, bit_depth: int = 8) -> dict:
    return {
        "signal": "image", "size": list(SIZE), "channels": channels, "arch": arch.to_dict(),
        "coords": dict(C.DEFAULT_COORDS), "values": {"range": [0.0, 1.0], "bit_depth": bit_depth},
        "quant": quant, "levels": [{} for _ in arch.widths],
        "encoder": {"name": "make_vectors", "version": "1"},
    }


def assemble(header: dict, payloads: list, *, minor: int = 0, end: bytes | None = b"", extra=None,
             compress=None, major: int = 1) -> bytes:
    """A file from parts; `extra` maps a position (after level k) to chunks to insert."""
    compress = compress or zstandard.ZstdCompressor(level=19, write_content_size=True).compress
    parts = [C.SIGNATURE, bytes([major, minor]), C.chunk(C.T_HEAD, 0, msgpack.packb(header))]
    for k, raw in enumerate(payloads, 1):
        parts.append(C.chunk(C.T_LEVEL, k, compress(raw)))
        parts += (extra or {}).get(k, [])
    if end is not None:
        parts.append(C.chunk(C.T_END, 0, end))
    return b"".join(parts)


def encode(arch: Arch, quant: dict, seed: int) -> tuple:
    payloads, deq = [], []
    for k, tensors in enumerate(random_levels(arch, seed), 1):
        raw, d = encode_level(arch, k, tensors, quant)
        payloads.append(raw)
        deq.append(d)
    return payloads, deq


def expectations(data: bytes) -> dict:
    """What a conforming reader gets: exact dequantised values, samples per level."""
    parsed = C.read(data)
    assert parsed.error is None, parsed.error
    depth = parsed.header["values"].get("bit_depth", 8)
    values, samples = [], []
    for k in range(1, parsed.levels_complete + 1):
        values.append(b"".join(np.asarray(t, "<f4").tobytes() for t in parsed.levels[k - 1]).hex())
        pic = render_image(parsed, k)
        samples.append(pic.astype("<u2" if depth > 8 else "u1").tobytes().hex())
    return {"levels": parsed.levels_complete, "complete": parsed.complete, "bit_depth": depth,
            "size": parsed.header["size"], "channels": parsed.header["channels"], "values": values,
            "samples": samples}


GRID_SIZE = (9, 7)         # grid vectors: sides that no grid factor divides


def grid_file(ch: int, seed: int, *, levels: list | None = None, end: bool = True, ctx: bool = False,
              tail: int = 300) -> tuple:
    """An entropy-coded grid file (format_spec.md section 9): random latents (Laplace-like
    integers, some large) and synthesis weights; returns (bytes, header, payloads). `ctx`:
    latent grids coded by context (requires grid-ctx as well)."""
    arch = GridArch(((2, 1), (0,)), (4, 3), layers=2, d_out=ch)
    rng = np.random.default_rng(seed)
    payloads = []
    for k in (1, 2):
        arrays = []
        for t in arch.tensors(k, GRID_SIZE):
            if t.kind == "latent":
                a = np.rint(rng.laplace(0, 2.0, t.shape))
                a.flat[0] = tail * (1 if seed % 2 else -1)  # a tail symbol
            else:
                a = rng.uniform(-0.8, 0.8, t.shape)
            arrays.append(a.astype(np.float32))
        payloads.append(gridcode.encode_level(arch, k, GRID_SIZE, arrays, ctx=ctx)[0])
    req = [gridcode.FEATURE, gridcode.FEATURE_CTX] if ctx else [gridcode.FEATURE]
    h = {"field": "grid", "requires": req, "signal": "image", "size": list(GRID_SIZE),
         "channels": ch, "arch": arch.to_dict(), "values": {"range": [-1.0, 1.0], "bit_depth": 8},
         "levels": [{}, {}], "encoder": {"name": "make_vectors", "version": "1"}}
    data = assemble(h, payloads if levels is None else levels, compress=lambda raw: raw,
                    end=b"" if end else None, major=2)
    return data, h, payloads


def rans_file(ch: int, seed: int, *, levels: list | None = None, header: dict | None = None,
              end: bool = True) -> tuple:
    """A 2.0 SIREN file with entropy-coded levels (quant.coding "rans-laplace", section 3.2),
    as the encoder writes them; returns (bytes, header, payloads)."""
    arch = Arch(WIDTHS, layers=LAYERS, d_in=2, d_out=ch)
    payloads = []
    for k, tensors in enumerate(random_levels(arch, seed), 1):
        codes = [coded.min_codes(t, blk) + 40 for blk, t in zip(arch.blocks(k), tensors)]  # coarser than needed
        payloads.append(coded.encode_level(arch, k, tensors, codes)[0])
    h = header or header_for(arch, {"coding": coded.CODING, "quality": 75}, ch)
    data = assemble(h, payloads if levels is None else levels, compress=lambda raw: raw, major=2,
                    end=b"" if end else None)
    return data, h, payloads


def with_dictionary_id_0(frame: bytes) -> bytes:
    """The same zstd frame with a Dictionary_ID field (1 byte) present and 0 (RFC 8878 3.1.1.1.1)."""
    fhd = frame[4]
    assert fhd & 3 == 0, "frame already has a Dictionary_ID field"
    at = 5 + (0 if fhd & 0x20 else 1)  # after the Window_Descriptor, absent in a single-segment frame
    return frame[:4] + bytes([fhd | 1]) + frame[5:at] + b"\0" + frame[at:]


def good_vectors() -> dict:
    out = {}
    seed = 0
    for mode in MODES:
        for bits in BITS:
            for ch in CHANNELS:
                seed += 1
                arch = Arch(WIDTHS, layers=LAYERS, d_in=2, d_out=ch, mode=mode)
                quant = default_quant(bits)
                payloads, _ = encode(arch, quant, seed)
                out[f"{mode}-b{bits}-c{ch}"] = assemble(header_for(arch, quant, ch), payloads)
    arch = Arch(WIDTHS, layers=LAYERS, d_in=2, d_out=3)
    quant = default_quant(8)
    payloads, _ = encode(arch, quant, 1000)
    h = header_for(arch, quant, 3)
    out["rule-no-end-chunk"] = assemble(h, payloads, end=None)
    out["rule-ancillary-chunks"] = assemble(h, payloads, extra={1: [C.chunk(b"tEXt", 7, b"note")],
                                                                3: [C.chunk(b"zzzz", 0, b"")]})
    out["rule-newer-minor"] = assemble(h, payloads, minor=9)
    out["rule-bytes-after-end"] = assemble(h, payloads) + b"anything after SEND is ignored"
    out["rule-unknown-keys"] = assemble(dict(h, future={"x": 1}, arch=dict(h["arch"], note="x")), payloads)
    out["rule-field-siren"] = assemble(dict(h, field="siren"), payloads)
    out["rule-integral-floats"] = assemble(dict(h, arch=dict(h["arch"], layers=float(LAYERS))), payloads)
    out["rule-defaults"] = assemble({k: v for k, v in h.items() if k not in ("coords", "levels", "encoder")}
                                    | {"arch": {"widths": list(WIDTHS), "layers": LAYERS}}, payloads)
    out["rule-samples-16bit"] = assemble(header_for(arch, quant, 3, bit_depth=16), payloads)
    full = assemble(h, payloads)
    out["rule-cut-inside-end-chunk"] = full[:-3]  # after level K: no error, not complete (section 6)
    tail = assemble(h, payloads, end=None, extra={3: [C.chunk(b"tEXt", 0, b"a note cut short")]})
    out["rule-cut-inside-chunk-after-last-level"] = tail[:-6]
    for ch in (1, 3):  # SIREN levels entropy-coded (2.0, section 3.2), as the encoder writes them
        out[f"rans-c{ch}"] = rans_file(ch, 7000 + ch)[0]
    out["grid-latent-5000"] = grid_file(3, 3100, tail=5000)[0]  # grid-rans alone: no 4,095 limit (9.3)
    # section 2.2: integral floats wherever an int is read; informative values of the wrong type
    # ignored; nesting of exactly 64 (the bound) reads
    out["rule-integral-floats-everywhere"] = assemble(dict(
        h, size=[float(s) for s in SIZE], channels=3.0, values={"range": [0.0, 1.0], "bit_depth": 8.0},
        quant=dict(quant, bits=float(quant["bits"]), bits_small=float(quant["bits_small"]))), payloads)
    out["rule-informative-wrong-types"] = assemble(dict(h, levels="not a list", fps="fast",
                                                        encoder=[{"psnr": float("nan")}, None, 1.5]), payloads)
    deep = 0
    for _ in range(C.MAX_HEADER_DEPTH - 1):  # the header map is depth 0; this value's innermost 0 is at 64
        deep = [deep]
    out["rule-nesting-64"] = assemble(dict(h, encoder=deep), payloads)
    for ch in CHANNELS:  # the grid family, entropy-coded levels (section 9)
        out[f"grid-c{ch}"] = grid_file(ch, 3000 + ch)[0]
    for ch in CHANNELS:  # ... with latent grids coded by context (grid-ctx, section 9.3)
        out[f"grid-ctx-c{ch}"] = grid_file(ch, 5000 + ch, ctx=True)[0]
    return out


def _first_q_offset(arch: Arch, quant: dict) -> tuple:
    blk = arch.blocks(1)[0]
    bits = quant["bits_small"] if blk.small else quant["bits"]
    return 4 * blk.shape[0], bits


def bad_vectors() -> dict:
    """name -> (bytes, expected {kind, level, levels_complete, complete})."""
    arch = Arch(WIDTHS, layers=LAYERS, d_in=2, d_out=3)
    quant = default_quant(8)
    payloads, _ = encode(arch, quant, 2000)
    h = header_for(arch, quant, 3)
    good = assemble(h, payloads)
    parsed = C.read(good)
    ends = parsed.ends
    head_end0 = parsed.header_end
    out = {}

    def put(name, data, kind, level=None, have=0, complete=False):
        out[name] = (data, {"kind": kind, "level": level, "levels_complete": have, "complete": complete})

    def with_header(header, **kw):
        return assemble(header, payloads, **kw)

    def edit_chunk(data, at, ctype=None, level=None, body=None, fix_crc=True):
        length, t, lv = C.CHUNK_HEAD.unpack_from(data, at)
        old = data[at + 10: at + 10 + length]
        crc = data[at + 10 + length: at + 14 + length]
        t, lv, body = ctype or t, lv if level is None else level, old if body is None else body
        new = C.chunk(t, lv, body) if fix_crc else C.CHUNK_HEAD.pack(len(body), t, lv) + body + crc
        return data[:at] + new + data[at + 14 + length:]

    pfx = C.PREFIX_LEN
    put("bad-signature", b"GIF89a" + bytes(40), "format")
    put("unknown-major-version", C.SIGNATURE + bytes([255, 0]) + good[pfx:], "unsupported")
    put("empty", b"", "truncated")
    put("header-cut", good[: pfx + 20], "truncated")
    put("first-chunk-not-head", C.SIGNATURE + bytes([1, 0]) + good[parsed.header_end:], "format")
    head = bytearray(good)
    head[pfx + 12] ^= 0x01
    put("header-crc", bytes(head), "corrupt")
    put("header-level-field", edit_chunk(good, pfx, level=1), "structure")
    put("header-not-msgpack", edit_chunk(good, pfx, body=b"\xc1\xc1"), "header")
    cases = {
        "header-layers-5.5": dict(h, arch=dict(h["arch"], layers=5.5)),
        "header-layers-bool": dict(h, arch=dict(h["arch"], layers=True)),
        "header-size-one-axis": dict(h, size=[24]),
        "header-size-float": dict(h, size=[4.5, 3]),
        "header-values-lo-eq-hi": dict(h, values={"range": [0.5, 0.5], "bit_depth": 8}),
        "header-values-missing": {k: v for k, v in h.items() if k != "values"},
        "header-bit-depth-32": dict(h, values={"range": [0.0, 1.0], "bit_depth": 32}),
        "header-bits-40": dict(h, quant=dict(quant, bits=40)),
        "header-bits-missing": dict(h, quant={"bits_small": 8, "scale": "row"}),
        "header-unknown-mode": dict(h, arch=dict(h["arch"], mode="sideways")),
        "header-widths-decreasing": dict(h, arch=dict(h["arch"], widths=[4, 2, 6])),
        "header-channels-mismatch": dict(h, channels=4),
        "header-side-too-big": dict(h, size=[70000, 3]),
        "header-unknown-signal": dict(h, signal="sound"),
        "header-not-a-map": [1, 2, 3],
    }
    deep = 0
    for _ in range(C.MAX_HEADER_DEPTH):  # one deeper than rule-nesting-64
        deep = [deep]
    cases.update({  # section 2.2: msgpack types and nesting, the same rule in both readers
        "header-bin-value": dict(h, encoder={"name": b"bytes"}),
        "header-non-string-key": dict(h, encoder={1: "one"}),
        "header-int-beyond-2-53": dict(h, encoder={"seed": 2 ** 53}),
        "header-nesting-65": dict(h, encoder=deep),
        "header-transform-not-a-map": dict(h, transform="abc"),
        "header-sdf-cube-over-limit": dict(h, signal="sdf", size=[1024, 1, 1], channels=1,
                                           arch=dict(h["arch"], d_in=3, d_out=1)),
    })
    for name, hh in cases.items():
        put(name, with_header(hh), "header")
    ext = msgpack.packb(dict(h, encoder={"x": msgpack.ExtType(5, b"ext")}))
    put("header-ext-value", C.SIGNATURE + bytes([1, 0]) + C.chunk(C.T_HEAD, 0, ext) + good[head_end0:], "header")
    # section 5.1: the cost model's hard limits, from the header alone (payloads never read)
    coded_q = {"coding": "rans-laplace"}
    put("limit-parameters", assemble(dict(h, quant=coded_q, arch=dict(
        h["arch"], widths=[2048] * 16, layers=16, mode="individual", grow="spatial")), [], major=2), "limit")
    put("limit-render-multiply-adds", assemble(dict(h, quant=coded_q, size=[4000, 4000], arch=dict(
        h["arch"], widths=[768], layers=16)), [], major=2), "limit")
    put("limit-coded-chunk", assemble(dict(h, quant=coded_q, arch=dict(
        h["arch"], widths=[2100, 4096], layers=16)), [], major=2), "limit")
    unsupported = {
        "requires-unknown-feature": dict(h, requires=["entropy-coding-v9"]),
        "quant-unknown-coding": dict(h, quant=dict(quant, coding="future")),
        "field-unknown-family": dict(h, field="future"),
        "coords-unknown-grid": dict(h, coords=dict(C.DEFAULT_COORDS, grid="random")),
    }
    for name, hh in unsupported.items():
        put(name, with_header(hh), "unsupported")
    put("header-payload-over-limit", with_header(dict(h, arch=dict(h["arch"], widths=[4096], layers=16))), "limit")
    # must-understand values of the wrong type are unknown values (2.1); `requires` itself must be a list
    put("field-not-a-string", with_header(dict(h, field=3)), "unsupported")
    put("quant-coding-not-a-string", with_header(dict(h, quant=dict(quant, coding=3))), "unsupported")
    put("coords-order-not-a-string", with_header(dict(h, coords=dict(C.DEFAULT_COORDS, order=3))), "unsupported")
    put("requires-not-a-list", with_header(dict(h, requires="grid-rans")), "header")
    put("zstd-dictionary-id-0", assemble(h, payloads, compress=lambda raw: with_dictionary_id_0(
        zstandard.ZstdCompressor(level=19, write_content_size=True).compress(raw))), "payload", 1)
    # SIREN entropy-coded levels (section 3.2)
    rfile, rh, rp = rans_file(3, 7100)
    put("rans-laplace-in-1x", assemble(rh, rp, compress=lambda raw: raw, major=1), "header")
    put("rans-level2-stream-cut", rans_file(3, 7100, levels=[rp[0], rp[1][:-1]])[0], "payload", 2, 1)
    put("rans-level2-bytes-after-stream", rans_file(3, 7100, levels=[rp[0], rp[1] + b"\0"])[0], "payload", 2, 1)
    # the header's size check of a rans-laplace level: its head plus one byte per integer (section 5)
    wide = dict(rh, arch=dict(rh["arch"], widths=[1600], layers=16), levels=[{}])
    put("rans-1600-wide-cut-after-header", rans_file(3, 7100, header=wide, levels=[], end=False)[0], "truncated", 1, 0)
    wider = dict(wide, arch=dict(wide["arch"], widths=[2200]))
    put("rans-header-over-limit", rans_file(3, 7100, header=wider, levels=[], end=False)[0], "limit")
    put("header-length-over-limit", C.SIGNATURE + bytes([1, 0]) + struct.pack(">I4sH", C.MAX_HEADER_BYTES + 1,
                                                                                    b"HEAD", 0), "limit")
    head_end = parsed.header_end
    put("chunk-length-over-limit", good[:head_end] + struct.pack(">I4sH", C.MAX_CHUNK_BYTES + 1, b"LEVL", 1),
        "limit", 1)
    bad = bytearray(good)
    bad[(ends[0] + ends[1]) // 2] ^= 0x5A
    put("level2-crc", bytes(bad), "corrupt", 2, 1)
    put("level2-level-field-flipped", edit_chunk(good, ends[0], level=2 | 0x8000, fix_crc=False), "corrupt", 2, 1)
    put("level2-out-of-order", edit_chunk(good, ends[0], level=3), "structure", 2, 1)
    put("level1-repeated", good[:ends[0]] + good[head_end:ends[0]] + good[ends[0]:], "structure", 2, 1)
    put("level-beyond-last", good[:ends[2]] + C.chunk(C.T_LEVEL, 4, good[ends[0] + 10:ends[1] - 4])
        + good[ends[2]:], "structure", None, 3)
    put("end-chunk-early", good[:ends[0]] + C.chunk(C.T_END, 0, b""), "structure", 2, 1)
    put("end-chunk-not-empty", good[:ends[2]] + C.chunk(C.T_END, 0, b"x"), "structure", None, 3)
    put("end-chunk-level-field", good[:ends[2]] + C.chunk(C.T_END, 3, b""), "structure", None, 3)
    put("second-header", good[:ends[0]] + good[pfx:head_end] + good[ends[0]:], "structure", 2, 1)
    put("unknown-critical-chunk", good[:ends[0]] + C.chunk(b"WHAT", 0, b"") + good[ends[0]:], "unsupported", 2, 1)
    put("chunk-type-not-letters", good[:ends[0]] + C.chunk(b"l3v!", 0, b"") + good[ends[0]:], "structure", 2, 1)
    plain = zstandard.ZstdCompressor(level=19, write_content_size=True).compress
    put("zstd-no-content-size", assemble(h, payloads, compress=zstandard.ZstdCompressor(
        write_content_size=False).compress), "payload", 1)
    put("zstd-trailing-bytes", assemble(h, payloads, compress=lambda raw: plain(raw) + b"\0\0\0"), "payload", 1)
    put("zstd-skippable-frame-after", assemble(h, payloads, compress=lambda raw: plain(raw)
                                               + struct.pack("<II", 0x184D2A50, 0)), "payload", 1)
    put("zstd-size-mismatch", assemble(h, [payloads[0] + b"\0"] + payloads[1:]), "payload", 1)
    put("zstd-not-a-frame", assemble(h, payloads, compress=lambda raw: b"not zstd at all"), "payload", 1)
    at, bits = _first_q_offset(arch, quant)
    p1 = bytearray(payloads[0])
    qmax = (1 << (bits - 1)) - 1
    if bits <= 8:
        p1[at] = (-(qmax + 1)) & 0xFF
    else:
        p1[at:at + 2] = struct.pack("<h", -(qmax + 1))
    put("quantised-value-out-of-range", assemble(h, [bytes(p1)] + payloads[1:]), "payload", 1)
    p1 = bytearray(payloads[0])
    p1[0:4] = struct.pack("<f", float("nan"))
    put("scale-not-finite", assemble(h, [bytes(p1)] + payloads[1:]), "payload", 1)
    put("cut-inside-level-2", good[: ends[1] - 3], "truncated", 2, 1)
    put("cut-inside-chunk-head", good[: ends[0] + 5], "truncated", 2, 1)
    put("cut-after-level-2", good[: ends[1]], "truncated", 3, 2)
    put("cut-after-header", good[: head_end], "truncated", 1, 0)
    # the grid family: a level's entropy-coded payload that is wrong is charged to that level
    gfile, gh, gp = grid_file(3, 4000)
    gparsed = C.read(gfile)
    gcut = gp[1][:-1]
    put("grid-level2-stream-cut", grid_file(3, 4000, levels=[gp[0], gcut])[0], "payload", 2, 1)
    put("grid-level2-bytes-after-stream", grid_file(3, 4000, levels=[gp[0], gp[1] + b"\0"])[0], "payload", 2, 1)
    bad_model = bytearray(gp[0])
    bad_model[0:2] = struct.pack("<H", 8192)  # grid 1's amax beyond the coder's 8191
    put("grid-level1-model-out-of-range", grid_file(3, 4000, levels=[bytes(bad_model), gp[1]])[0], "payload", 1, 0)
    put("grid-level1-shorter-than-head", grid_file(3, 4000, levels=[gp[0][:5], gp[1]])[0], "payload", 1, 0)
    put("grid-header-hidden-too-wide", assemble(dict(gh, arch=dict(gh["arch"], hidden=[4, 129])), gp,
                                                compress=lambda raw: raw, major=2), "header")
    put("grid-header-layers-1.5", assemble(dict(gh, arch=dict(gh["arch"], layers=1.5)), gp,
                                           compress=lambda raw: raw, major=2), "header")
    put("grid-header-hidden-inf", assemble(dict(gh, arch=dict(gh["arch"], hidden=[4, float("inf")])), gp,
                                           compress=lambda raw: raw, major=2), "header")
    put("grid-header-factor-11", assemble(dict(gh, arch=dict(gh["arch"], grids=[[2, 11], [0]])), gp,
                                          compress=lambda raw: raw, major=2), "header")
    put("grid-cut-inside-level-2", gfile[: gparsed.ends[1] - 3], "truncated", 2, 1)
    # grid-ctx: the same, and a latent that the context rule takes beyond ±4095
    cfile, ch_, cp = grid_file(3, 6000, ctx=True)
    put("grid-ctx-level2-stream-cut", grid_file(3, 6000, ctx=True, levels=[cp[0], cp[1][:-1]])[0], "payload", 2, 1)
    put("grid-ctx-without-grid-rans", assemble(dict(ch_, requires=[gridcode.FEATURE_CTX]), cp,
                                               compress=lambda raw: raw, major=2), "header")
    limit = latentctx.LATENT_MAX
    latentctx.LATENT_MAX = entropy.MAX_AMAX  # let the encoder write what a decoder must refuse
    try:
        over = grid_file(3, 6001, ctx=True, tail=limit + 1)[2]
    finally:
        latentctx.LATENT_MAX = limit
    put("grid-ctx-level1-latent-beyond-4095", grid_file(3, 6001, ctx=True, levels=over)[0], "payload", 1, 0)
    return out


def main() -> None:
    good, bad = good_vectors(), bad_vectors()
    for sub in ("good", "bad"):
        os.makedirs(os.path.join(HERE, sub), exist_ok=True)
        for name in os.listdir(os.path.join(HERE, sub)):
            os.remove(os.path.join(HERE, sub, name))
    manifest = {"good": {}, "bad": {}}
    for name, data in good.items():
        with open(os.path.join(HERE, "good", name + ".snf"), "wb") as f:
            f.write(data)
        manifest["good"][name] = expectations(data)
    for name, (data, want) in bad.items():
        with open(os.path.join(HERE, "bad", name + ".snf"), "wb") as f:
            f.write(data)
        got = C.read(data)
        assert got.error is not None and got.error.kind == want["kind"], (name, got.error, want)
        manifest["bad"][name] = want
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(good)} good, {len(bad)} bad vectors")


if __name__ == "__main__":
    main()
