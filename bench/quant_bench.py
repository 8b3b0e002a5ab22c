"""Quantisation benchmark: per-row vs per-tensor scales, post-hoc vs in-loop, QAT or not.

1. Encode once at 16 bits (practically float) and re-quantise those weights after
   the fact at 8/6/4 bits, with one scale per row and with one per tensor.
2. Encode at 8/6/4 bits the codec's way (level k+1 trains on the dequantised
   levels), with and without quantisation-aware training (--qat: the last 15 % of
   each stage straight-through at the rounded values, then the output refit).

    python bench/quant_bench.py ../shared/data/kodak/kodim03.png --out bench/results-quant.json
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from snf.format.container import read
from snf.encode.encoder import compress
from snf.format.quant import block_bits, default_quant, dequantise, quantise
from snf.decode.render import Network, grid, to_samples
from snf.signals.image import VALUE_RANGE, load_image, psnr


def level_psnrs(arch, levels, img) -> list:
    h, w, c = img.shape
    xy = grid((w, h))
    out = []
    for k in range(1, arch.levels + 1):
        pic = to_samples(Network(arch, levels, k)(xy), VALUE_RANGE)
        out.append(round(psnr(img.reshape(-1, c), pic), 3))
    return out


def requantise(arch, levels, bits: int, per_row: bool) -> list:
    quant = default_quant(bits)
    out = []
    for k, tensors in enumerate(levels, 1):
        lv = []
        for blk, t in zip(arch.blocks(k), tensors):
            row = per_row and blk.cols is not None
            q, s = quantise(t, block_bits(blk, quant), row)
            lv.append(dequantise(q, s, row))
        out.append(lv)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image")
    p.add_argument("--bits", default="8,6,4")
    p.add_argument("--steps", type=int, help="steps per level (default: the fast preset's)")
    p.add_argument("--out")
    args = p.parse_args()
    img = load_image(args.image)
    bits = [int(b) for b in args.bits.split(",")]
    res = {"image": args.image, "post_hoc": [], "in_loop": []}
    ref = compress(img, bits=16, steps=args.steps)
    parsed = read(ref["bytes"])
    res["reference_16bit"] = {"psnr": level_psnrs(parsed.arch, parsed.levels, img), "bytes": len(ref["bytes"])}
    print(json.dumps(res["reference_16bit"]), file=sys.stderr, flush=True)
    for b in bits:
        for per_row in (True, False):
            levels = requantise(parsed.arch, parsed.levels, b, per_row)
            row = {"bits": b, "scales": "row" if per_row else "tensor",
                   "psnr": level_psnrs(parsed.arch, levels, img)}
            res["post_hoc"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    for b in bits:
        for qat in (False, True):
            r = compress(img, bits=b, qat=qat, steps=args.steps)
            row = {"bits": b, "qat": qat, "psnr": [lv["psnr"] for lv in r["levels"]],
                   "psnr_float": [lv["psnr_float"] for lv in r["levels"]], "bytes": len(r["bytes"])}
            res["in_loop"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
