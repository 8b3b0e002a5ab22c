"""Crafted .snf files with valid CRCs, for the hostile-input tests (issue 26) and their
before/after measurements (scripts/hostile_table.py).

Each file is what an attacker can write within the framing: a header of their
choosing (validated or not: `build` skips `validate_header`) and level payloads that
decode. The entropy-coded payload of a level whose every integer is 0 is a few bytes
per block (a step code, a model with amax 0, and the 4-byte rANS state): a billion
parameters fit in half a megabyte.
"""
from __future__ import annotations

import struct

import msgpack
import numpy as np

from snf.field.arch import Arch
from snf.format import coded, container as C, entropy
from snf.format.entropy import MODEL


def zero_level(arch: Arch, k: int) -> bytes:
    """Level k's rans-laplace payload with every value 0."""
    head = b"".join(bytes(coded.n_codes(b)) + MODEL.pack(0, 0) for b in arch.blocks(k))
    return head + struct.pack("<I", 1 << 23)


def random_level(arch: Arch, k: int, seed: int = 0) -> bytes:
    """Level k's rans-laplace payload of random integers -7..7 at a step of 2^-4 (weights of
    magnitude up to 0.44: a picture, not noise), under one fixed model per block (fitting
    models to millions of integers would take the encoder's time)."""
    rng = np.random.default_rng(seed + k)
    model = entropy.Laplace(7, 50000)
    head, segs = [], []
    for b in arch.blocks(k):
        head.append(bytes([8 * 20]) * coded.n_codes(b) + MODEL.pack(model.amax, model.ratio))  # STEP = 2^-4
        segs.append((rng.integers(-7, 8, b.size), model))
    return b"".join(head) + entropy.encode_segments(segs)


def header(signal: str, size, arch: dict, channels: int | None = None, **extra) -> dict:
    h = {"signal": signal, "size": list(size), "channels": channels if channels is not None else arch.get("d_out", 3),
         "arch": arch, "values": {"range": [-1.0, 1.0], "bit_depth": 8}, "quant": {"coding": "rans-laplace"}}
    h.update(extra)
    return h


def build(h: dict, payloads: list, end: bool = True, raw_header: bytes | None = None, trailer: bytes = b"") -> bytes:
    """A file from any header map (not validated) and stored payloads, CRCs valid."""
    head = raw_header if raw_header is not None else msgpack.packb(h, use_bin_type=True)
    parts = [C.SIGNATURE, bytes(C.VERSION), C.chunk(C.T_HEAD, 0, head)]
    parts += [C.chunk(C.T_LEVEL, k, p) for k, p in enumerate(payloads, 1)]
    if end:
        parts.append(C.chunk(C.T_END, 0, b""))
    return b"".join(parts) + trailer


def siren(signal: str, size, widths, layers: int, d_in: int = 2, d_out: int = 3, payloads: str = "zero",
          arch_extra: dict | None = None, **extra) -> bytes:
    """A SIREN file of any shape the framing allows; `payloads` 'zero' or 'random'."""
    a = {"widths": list(widths), "layers": layers, "d_in": d_in, "d_out": d_out, **(arch_extra or {})}
    arch = Arch(tuple(widths), layers=layers, d_in=d_in, d_out=d_out,
                **{k: v for k, v in (arch_extra or {}).items() if k in ("mode", "grow", "w0")})
    make = zero_level if payloads == "zero" else random_level
    return build(header(signal, size, a, d_out, **extra), [make(arch, k) for k in range(1, arch.levels + 1)])


# ---- the cases of issue 26, each as (name, bytes, what it attacks)

def cases(skip: tuple = ()) -> dict:
    """The issue's hostile files (sizes as the issue gives them where it gives one); `skip`
    leaves the named ones out (they take a second or two to build)."""
    out = {}
    # 16 spatial stripes, mode individual, each a 2048-wide 16-layer network: about 1G parameters
    out["billion-params"] = siren("image", (512, 512), [2048] * 16, 16,
                                  arch_extra={"mode": "individual", "grow": "spatial"})
    # 4000x4000, one 768-wide 16-layer level: ~1.4e14 multiply-adds per render
    out["hour-render"] = siren("image", (4000, 4000), [768], 16)
    # SDF whose size product is small but whose render is size[0]^3
    out["sdf-512x1x1"] = siren("sdf", (512, 1, 1), [16], 2, d_in=3, d_out=1)
    out["sdf-side-4"] = siren("sdf", (4, 4, 4), [8], 2, d_in=3, d_out=1)
    out["sdf-transform-abc"] = siren("sdf", (16, 16, 16), [8], 2, d_in=3, d_out=1, transform="abc")
    # the C kernel's old limits: width > 768, width < d_in
    if "width-800" not in skip:
        out["width-800"] = siren("image", (16, 12), [800], 2, payloads="random")
    out["width-1-video"] = siren("video", (8, 6, 3), [1], 2, d_in=3, payloads="random")
    # integral floats the spec allows
    out["integral-floats"] = siren("image", (64.0, 48.0), [8], 2, payloads="random",
                                   values={"range": [-1.0, 1.0], "bit_depth": 8.0})
    # bad informative and malformed header values
    out["levels-wrong-type"] = siren("image", (16, 16), [8], 2, payloads="random", **{"levels": "abc"})
    out["psnr-nan"] = siren("image", (16, 16), [8], 2, payloads="random", **{"levels": [{"psnr": float("nan")}]})
    h = header("image", (16, 16), {"widths": [8], "layers": 2})
    h["encoder"] = {"name": b"\x00bin", "x": msgpack.ExtType(5, b"ext")}
    out["encoder-bin-ext"] = build(h, [zero_level(Arch((8,), layers=2), 1)])
    deep = {}
    for _ in range(1000):
        deep = {"a": deep}
    h = header("image", (16, 16), {"widths": [8], "layers": 2}, encoder=deep)
    out["nesting-1000"] = build(h, [zero_level(Arch((8,), layers=2), 1)])
    h = header("image", (16, 16), {"family": "grid", "grids": [[2]], "hidden": [float("inf")], "d_out": 3},
               field="grid", requires=["grid-rans"])
    out["grid-hidden-inf"] = build(h, [])
    h = header("image", (16, 16), {"family": "grid", "grids": [[2]], "hidden": [4], "layers": 1.5, "d_out": 3},
               field="grid", requires=["grid-rans"])
    out["grid-layers-1.5"] = build(h, [])
    h = header("image", (16, 16), {"widths": [8], "layers": 2}, requires=["\x1b[31mred\x1b[0m"])
    out["requires-escape"] = build(h, [])
    # 2M empty ancillary chunks after the header (the stream route walks every chunk head)
    if "ancillary-2m" not in skip:
        small = siren("image", (16, 16), [8], 2, payloads="random")
        cut = small.index(b"SEND") - 4
        out["ancillary-2m"] = small[:cut] + C.chunk(b"anci", 0, b"") * 2_000_000 + small[cut:]
    return out


BIG = ("width-800", "ancillary-2m")  # megabytes each: measured, not fuzzed


def small_cases() -> dict:
    """The cases small enough to seed the fuzz corpus (and to write in a test)."""
    return {name: data for name, data in cases(skip=BIG).items()}
