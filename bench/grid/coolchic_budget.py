"""Measure Cool-chic bitstreams against WebP and the progressive-JPEG prefix at their bytes.

Round 5 asked what the public Cool-chic encoder (Orange-OpenSource/Cool-Chic 5.0.1, run
from its own repository, nothing of it copied here) reaches when its training is cut to
snf's encode budget. This script only measures what such a run left behind: for each
run directory holding `out.cool` (the bitstream) and `dec.png` (Cool-chic's decode of
it), the real file size, the PSNR (8-bit RGB, numpy), the best Pillow WebP that fits in
as many bytes, and the bytes WebP needs for the same PSNR (log-bytes interpolation
between integer qualities). How the runs were made: bench/grid/RESULTS.md, round 5.

    python bench/grid/coolchic_budget.py KODAK_DIR RUN_DIR...   (run dirs named IMAGE_...)
"""
import io
import math
import os
import sys

import numpy as np
from PIL import Image

from snf.signals.image import psnr


def webp_curve(img: Image.Image) -> list:
    """(bytes, PSNR) of Pillow WebP (default method) at qualities 0..100."""
    a, out = np.asarray(img), []
    for q in range(101):
        b = io.BytesIO()
        img.save(b, format="WEBP", quality=q)
        out.append((b.tell(), psnr(a, np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB")))))
    return out


def webp_at(curve: list, n: int):
    """PSNR of the highest quality whose file fits in n bytes (None: no file is that small)."""
    fits = [p for b, p in curve if b <= n]
    return fits[-1] if fits else None


def webp_bytes_for(curve: list, target: float):
    """Bytes WebP needs for `target` dB: interpolated in log-bytes between neighbouring qualities;
    its smallest file if even quality 0 is better."""
    prev = None
    for b, p in curve:
        if p >= target:
            if prev is None:
                return b
            (b0, p0) = prev
            t = (target - p0) / (p - p0)
            return round(math.exp(math.log(b0) + t * (math.log(b) - math.log(b0))))
        prev = (b, p)
    return None


def main(argv: list) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    kodak, runs = argv[0], argv[1:]
    curves = {}
    print("| run | bytes | PSNR | WebP at those bytes | WebP bytes for that PSNR |")
    print("|---|---|---|---|---|")
    for d in runs:
        name = os.path.basename(os.path.normpath(d)).split("_")[0]
        img = Image.open(os.path.join(kodak, name + ".png")).convert("RGB")
        if name not in curves:
            curves[name] = webp_curve(img)
        n = os.path.getsize(os.path.join(d, "out.cool"))
        p = psnr(np.asarray(img), np.asarray(Image.open(os.path.join(d, "dec.png")).convert("RGB")))
        w = webp_at(curves[name], n)
        print(f"| {os.path.basename(os.path.normpath(d))} | {n:,} | {p:.2f} | "
              f"{'-' if w is None else f'{w:.2f}'} | {webp_bytes_for(curves[name], p):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
