"""Spatial growing, method by method and variant by variant: per-level PSNR over the revealed
stripes, from the real file (as `snf-bench paper`'s spatial table measures it).

    python bench/spatial_variants.py IMAGE [--steps 300] [--crop X,Y,W,H] [--widths-scale 1.0]
        [--variants ours,none,reference,...]

Variants (progressive, `Preset.unrevealed*`): ours (the default: unrevealed rows at weight
0.1 against the true signal, a quarter of each batch), none (revealed rows only),
reference (the seed's code: zero-filled target, every row alike), signal-all (true target,
every row alike). `individual` is the seed's baseline (one equal-width network per stripe).
Steps are fixed, so the figures are deterministic on one machine; one thread.
"""
import argparse
import json
import sys

import numpy as np
import torch

import snf.encode.encoder as encoder
from snf.bench.results import load_rgb
from snf.decode.decoder import render_image
from snf.encode.presets import with_overrides
from snf.format.container import read
from snf.signals.image import psnr

VARIANTS = {
    "ours": {},
    "none": {"unrevealed": 0},
    "reference": {"unrevealed": "area", "unrevealed_fill": "zero"},
    "signal-all": {"unrevealed": "area", "unrevealed_fill": "signal"},
}
SEED_WIDTHS = {"progressive": (59, 96, 126, 149), "individual": (59, 59, 59, 59)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--crop", default=None, help="X,Y,W,H: a crop of the image")
    ap.add_argument("--widths-scale", type=float, default=1.0, help="scale the seed's widths (for crops)")
    ap.add_argument("--variants", default="ours,none,reference,individual")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    img = load_rgb(a.image)
    if a.crop:
        x, y, w, h = (int(v) for v in a.crop.split(","))
        img = np.ascontiguousarray(img[y:y + h, x:x + w])
    base = encoder.PRESETS["fast"]
    out = {}
    for name in a.variants.split(","):
        mode = "individual" if name == "individual" else "progressive"
        widths = tuple(max(1, round(v * a.widths_scale)) for v in SEED_WIDTHS[mode])
        encoder.PRESETS["fast"] = with_overrides(base, **VARIANTS.get(name, {}))
        try:
            res = encoder.compress(img, mode=mode, grow="spatial", widths=widths, steps=a.steps)
        finally:
            encoder.PRESETS["fast"] = base
        parsed = read(res["bytes"])
        levels = []
        for k in range(1, parsed.arch.levels + 1):
            rec = render_image(parsed, k, crop=True)
            levels.append(round(psnr(img[:, :rec.shape[1]].reshape(-1, 3), rec.reshape(-1, 3)), 2))
        out[name] = {"mode": mode, "widths": widths, "psnr": levels, "bytes": len(res["bytes"])}
        print(f"{name:11s} {mode:11s} widths {','.join(map(str, widths)):15s} PSNR "
              + " / ".join(f"{v:.2f}" for v in levels) + f" dB, {len(res['bytes']):,} bytes", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"image": a.image, "crop": a.crop, "steps": a.steps, "results": out}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
