"""Regenerate the latent family's conformance vectors (format_spec.md section 11) into
tests/vectors/latent/ (good/, bad/, manifest.json; same manifest shape as section 7's).

    python tests/vectors/make_latent_vectors.py

Run only when section 11 changes on purpose. The files are built from random weights
and latents (no training), small enough for the pure-Python reference decoder, with
an ARM of two hidden layers whose predictions and scale indices vary, a latent of
magnitude 300, and every channel count.
"""
from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "src"))

from snf.decode.decoder import render_image  # noqa: E402
from snf.field import latent as L  # noqa: E402
from snf.format import container as C, latentcode as lc  # noqa: E402
from make_vectors import assemble  # noqa: E402

OUT = os.path.join(HERE, "latent")
SIZE = (9, 7)  # sides that no grid factor divides
CHANNELS = (1, 2, 3, 4)


def latent_file(ch: int, seed: int, *, levels: list | None = None, end: bool = True, tail: int = 300,
                header: dict | None = None, meta: bool = True) -> tuple:
    """(bytes, header, payloads) of a latent file: grids [[2, 1], [0]], synthesis [5] + 1 conv,
    ARM 6 x 2."""
    arch = L.LatentArch(((2, 1), (0,)), syn=(5,), conv=1, arm=(6, 2), d_out=ch)
    rng = np.random.default_rng(seed)
    ws = []
    for t in arch.weight_tensors():
        a = rng.uniform(-0.6, 0.6, t.shape)
        if t.name == "arm.out.b":
            a = np.array([0.4, 26.0])
        if t.name == "arm.out.w":
            a[1] *= 8  # scale indices that vary with the context
        ws.append(a.astype(np.float32))
    wpart, deq = lc.encode_weights(arch, ws)
    arm = lc.arm_weights(deq, arch)
    grids = []
    for r, c in arch.grid_shapes(SIZE):
        g = np.rint(rng.laplace(0, 2.0, (r, c))).astype(np.int64)
        grids.append(g)
    grids[-1].flat[5] = tail * (1 if seed % 2 else -1)
    payloads, parent = [], None
    for k in (1, 2):
        a, b = arch.grid_range(k)
        payloads.append(lc.encode_level(arch, k, SIZE, grids[a:b], arm, parent, wpart if k == 1 else b""))
        parent = grids[b - 1]
    h = header or {"field": "latent", "signal": "image", "size": list(SIZE), "channels": ch,
                   "arch": arch.to_dict(), "values": {"range": [-1, 1]}}
    extra = {2: [C.chunk(C.T_META, 0, __import__("msgpack").packb({"levels": [{}, {}]}))]} if meta else None
    data = assemble(h, payloads if levels is None else levels, compress=lambda raw: raw,
                    end=b"" if end else None, major=2, extra=extra)
    return data, h, payloads


def expectations(data: bytes) -> dict:
    parsed = C.read(data)
    assert parsed.error is None, parsed.error
    values, samples = [], []
    for k in range(1, parsed.levels_complete + 1):
        values.append(b"".join(np.asarray(t, "<f4").tobytes() for t in parsed.levels[k - 1]).hex())
        samples.append(render_image(parsed, k).astype("u1").tobytes().hex())
    return {"levels": parsed.levels_complete, "complete": parsed.complete, "bit_depth": 8,
            "size": parsed.header["size"], "channels": parsed.header["channels"], "values": values,
            "samples": samples}


def good_vectors() -> dict:
    out = {f"latent-c{ch}": latent_file(ch, 7000 + ch)[0] for ch in CHANNELS}
    out["latent-no-meta-no-end"] = latent_file(3, 7100, meta=False, end=False)[0]
    return out


def bad_vectors() -> dict:
    out = {}

    def put(name, data, kind, level=None, have=0, complete=False):
        out[name] = (data, {"kind": kind, "level": level, "levels_complete": have, "complete": complete})

    data, h, p = latent_file(3, 8000)
    parsed = C.read(data)
    put("latent-level2-stream-cut", latent_file(3, 8000, levels=[p[0], p[1][:-1]])[0], "payload", 2, 1)
    put("latent-level2-bytes-after-stream", latent_file(3, 8000, levels=[p[0], p[1] + b"\0"])[0], "payload", 2, 1)
    arch = L.LatentArch.from_dict(h["arch"])
    nw = len(arch.weight_tensors())
    b1 = bytearray(p[0])
    b1[0] = 9  # arm.l0.w's shift beyond 8
    put("latent-level1-arm-shift-9", latent_file(3, 8000, levels=[bytes(b1), p[1]])[0], "payload", 1, 0)
    b1 = bytearray(p[0])
    b1[5 * nw:5 * nw + 4] = struct.pack("<I", len(p[0]))  # the weight stream runs past the chunk
    put("latent-level1-weight-stream-too-long", latent_file(3, 8000, levels=[bytes(b1), p[1]])[0], "payload", 1, 0)
    b2 = bytearray(p[1])
    b2[0:2] = struct.pack("<H", 8192)  # grid amax beyond the coder's 8191
    put("latent-level2-amax-8192", latent_file(3, 8000, levels=[p[0], bytes(b2)])[0], "payload", 2, 1)
    put("latent-level1-shorter-than-head", latent_file(3, 8000, levels=[p[0][:7], p[1]])[0], "payload", 1, 0)
    put("latent-cut-inside-level-2", data[: parsed.ends[1] - 3], "truncated", 2, 1)
    crc = bytearray(data)
    crc[parsed.ends[0] + 12] ^= 0x40  # a byte of level 2's data
    put("latent-level2-crc", bytes(crc), "corrupt", 2, 1)
    for name, arch_edit in {
        "latent-header-arm-too-wide": {"arm": [33, 2]},
        "latent-header-arm-no-layers": {"arm": [6, 0]},
        "latent-header-factors-not-decreasing": {"grids": [[1, 2], [0]]},
        "latent-header-factor-11": {"grids": [[11, 1], [0]]},
        "latent-header-syn-too-wide": {"syn": [65]},
        "latent-header-conv-5": {"conv": 5},
        "latent-header-too-many-grids": {"grids": [[12, 11, 10, 9, 8, 7, 6, 5], [4, 3, 2, 1, 0]]},
    }.items():
        put(name, latent_file(3, 8000, header=dict(h, arch=dict(h["arch"], **arch_edit)))[0], "header")
    put("latent-header-video", latent_file(3, 8000, header=dict(h, signal="video"))[0], "header")
    put("latent-header-channels-mismatch", latent_file(3, 8000, header=dict(h, channels=2))[0], "header")
    keep = L.LATENT_MAX
    L.LATENT_MAX = 8000  # let the encoder write what a decoder must refuse
    try:
        over = latent_file(3, 8001, tail=4096)[2]
    finally:
        L.LATENT_MAX = keep
    put("latent-level2-latent-beyond-4095", latent_file(3, 8001, levels=over)[0], "payload", 2, 1)
    return out


def main() -> None:
    good, bad = good_vectors(), bad_vectors()
    for sub in ("good", "bad"):
        os.makedirs(os.path.join(OUT, sub), exist_ok=True)
        for name in os.listdir(os.path.join(OUT, sub)):
            if not name.startswith("sample-"):  # trained samples (snf-encode) are kept
                os.remove(os.path.join(OUT, sub, name))
    manifest = {"good": {}, "bad": {}}
    for name, data in good.items():
        with open(os.path.join(OUT, "good", name + ".snf"), "wb") as f:
            f.write(data)
        manifest["good"][name] = expectations(data)
    for name in sorted(os.listdir(os.path.join(OUT, "good"))):
        if name.startswith("sample-"):  # kodim03 at 64x48, `snf-encode --field latent --steps 300 -q 50`
            with open(os.path.join(OUT, "good", name), "rb") as f:
                manifest["good"][name[:-4]] = expectations(f.read())
    for name, (data, want) in bad.items():
        with open(os.path.join(OUT, "bad", name + ".snf"), "wb") as f:
            f.write(data)
        got = C.read(data)
        assert got.error is not None and (got.error.kind, got.error.level, got.levels_complete) == \
            (want["kind"], want["level"], want["levels_complete"]), (name, got.error, want)
        manifest["bad"][name] = want
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(good)} good, {len(bad)} bad latent vectors")


if __name__ == "__main__":
    main()
