"""Spatial growing, method by method and variant by variant: per-level PSNR over the revealed
stripes, from the real file (as `snf-bench paper`'s spatial table measures it).

    python bench/spatial_variants.py IMAGE [--steps 300] [--crop X,Y,W,H] [--resize W,H]
        [--widths-scale 1.0] [--batch N|0] [--quality Q] [--variants ours,none,reference,...]

--resize downscales (Pillow LANCZOS, after --crop) so that many steps a level fit a CPU;
--batch 0 trains on every pixel each step (the seed's full batch).

Variants (progressive, `Preset.unrevealed*`): ours (the default: unrevealed rows at weight
0.1 against the true signal, a quarter of each batch), none (revealed rows only),
reference (zero-filled target, every row alike; 0 on our [-1, 1] scale is mid grey),
reference-black (the seed's code exactly: its zero fill is on a [0, 1] scale, i.e. black),
signal-all (true target, every row alike).

Individual (one equal-width network per stripe; `Preset.individual_fill`): `individual` trains
network k on stripe k only (ours); `individual-reference` is the seed code's baseline: network
k fits the whole canvas with every other stripe black (earlier ones too) and renders its own
stripe; `individual-grey` the same with mid grey.
Steps are fixed, so the figures are deterministic on one machine; one thread.
"""
import argparse
import json
import sys

import dataclasses

import numpy as np
import torch
from PIL import Image

import snf.encode.encoder as encoder
from snf.bench.results import load_rgb
from snf.decode.decoder import render_image
from snf.encode.presets import with_overrides
from snf.field.arch import Arch
from snf.format.container import read
from snf.signals.image import psnr

VARIANTS = {
    "ours": {},
    "none": {"unrevealed": 0},
    "reference": {"unrevealed": "area", "unrevealed_fill": "zero"},
    "signal-all": {"unrevealed": "area", "unrevealed_fill": "signal"},
    "reference-black": {"unrevealed": "area", "unrevealed_fill": "black"},
    "individual-reference": {"individual_fill": "black"},
    "individual-grey": {"individual_fill": "zero"},
    # the progressive stage's rate: level k at min(level 1's rate, lr_width / width k); the
    # default lr_width 0.09 gives the new units of a wide level a small rate
    # (lr_width 1.0: the width cap off, every level at `lr`)
    "rate2x": {"lr": 6e-3, "lr_width": 1.0},
    "rate-half": {"lr": 1.5e-3, "lr_width": 1.0},
    "reference-rate2x": {"unrevealed": "area", "unrevealed_fill": "zero", "lr": 6e-3, "lr_width": 1.0},
    # new -> new weights of a growth step at SIREN init instead of zero (a bench-only patch of
    # Arch.grows_from_zero; the encoder's default stays zero)
    "ours-siren-new": {"_siren_new": True},
    "reference-siren-new": {"unrevealed": "area", "unrevealed_fill": "zero", "_siren_new": True},
    "individual-rate2x": {"lr": 6e-3, "lr_width": 1.0},
    "reference-rate-half": {"unrevealed": "area", "unrevealed_fill": "zero", "lr": 1.5e-3, "lr_width": 1.0},
}
GROWS_FROM_ZERO = Arch.grows_from_zero
SEED_WIDTHS = {"progressive": (59, 96, 126, 149), "individual": (59, 59, 59, 59)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--crop", default=None, help="X,Y,W,H: a crop of the image")
    ap.add_argument("--widths-scale", type=float, default=1.0, help="scale the seed's widths (for crops)")
    ap.add_argument("--resize", default=None, help="W,H: downscale (LANCZOS) after --crop")
    ap.add_argument("--batch", type=int, default=None, help="samples per step (0: every pixel)")
    ap.add_argument("--variants", default="ours,none,reference,individual")
    ap.add_argument("--quality", type=int, default=None, help="snf-encode --quality (default 75): RD points")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    img = load_rgb(a.image)
    if a.crop:
        x, y, w, h = (int(v) for v in a.crop.split(","))
        img = np.ascontiguousarray(img[y:y + h, x:x + w])
    if a.resize:
        w, h = (int(v) for v in a.resize.split(","))
        img = np.asarray(Image.fromarray(img).resize((w, h), Image.LANCZOS))
    base = encoder.PRESETS["fast"]
    if a.batch is not None:
        base = dataclasses.replace(base, batch=a.batch or None)
    out = {}
    for name in a.variants.split(","):
        mode = "individual" if name.startswith("individual") else "progressive"
        widths = tuple(max(1, round(v * a.widths_scale)) for v in SEED_WIDTHS[mode])
        over = dict(VARIANTS.get(name, {}))
        siren_new = over.pop("_siren_new", False)
        encoder.PRESETS["fast"] = with_overrides(base, **over)
        if siren_new:
            Arch.grows_from_zero = lambda self, k: False
        try:
            res = encoder.compress(img, mode=mode, grow="spatial", widths=widths, steps=a.steps,
                                   quality=a.quality)
        finally:
            encoder.PRESETS["fast"] = base
            Arch.grows_from_zero = GROWS_FROM_ZERO
        parsed = read(res["bytes"])
        levels = []
        for k in range(1, parsed.arch.levels + 1):
            rec = render_image(parsed, k, crop=True)
            levels.append(round(psnr(img[:, :rec.shape[1]].reshape(-1, 3), rec.reshape(-1, 3)), 2))
        # the last level, stripe by stripe: where the methods differ
        W = img.shape[1]
        cuts = [parsed.arch.cut(j, W) for j in range(parsed.arch.levels + 1)]
        stripes = [round(psnr(img[:, a:b].reshape(-1, 3), rec[:, a:b].reshape(-1, 3)), 2)
                   for a, b in zip(cuts, cuts[1:])]
        floats = [lv.get("psnr_float") for lv in res["levels"]]
        out[name] = {"mode": mode, "widths": widths, "psnr": levels, "psnr_float": floats, "stripes_last": stripes, "bytes": len(res["bytes"]),
                     "level_bytes": list(parsed.ends)}  # bytes of the prefix that decodes each level
        print(f"{name:11s} {mode:11s} widths {','.join(map(str, widths)):15s} PSNR "
              + " / ".join(f"{v:.2f}" for v in levels) + f" dB, {len(res['bytes']):,} bytes (float "
              + " / ".join("-" if v is None else f"{v:.2f}" for v in floats) + "; last level by stripe "
              + " / ".join(f"{v:.2f}" for v in stripes) + "; prefix bytes by level "
              + " / ".join(f"{v:,}" for v in parsed.ends) + ")", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"image": a.image, "crop": a.crop, "resize": a.resize, "batch": a.batch, "steps": a.steps,
                       "quality": a.quality, "results": out}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
