"""Latent field bench (bench/RESULTS.md, "Latent field"): per level bytes / PSNR against the
progressive-JPEG prefix and whole WebP at the same bytes, encode time.

    OMP_NUM_THREADS=1 nice -n 10 python bench/latent_bench.py kodim03 kodim08 -q 75 \
        [--effort fast] [--steps N] [--single] [--out latent-runs.jsonl]

Photos are names in /work/shared/data/kodak (or paths). `--single` also trains the same
field as one level (`--levels 1`: every grid in level 1) at the same -q: the cost of progressiveness.
WebP: Pillow, default method, qualities 0..100; its PSNR at our bytes is interpolated
linearly in log(bytes) between the two qualities around them (no extrapolation: None).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

DATA = "/work/shared/data"


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255 ** 2 / mse)


def webp_curve(img: np.ndarray) -> list:
    pts = []
    for q in range(0, 101, 5):
        b = io.BytesIO()
        Image.fromarray(img).save(b, format="WEBP", quality=q)
        dec = np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))
        pts.append((len(b.getvalue()), psnr(img, dec)))
    return sorted(pts)


def at_bytes(curve: list, n: int):
    for (b0, p0), (b1, p1) in zip(curve, curve[1:]):
        if b0 <= n <= b1 and b1 > b0:
            t = (math.log(n) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return p0 + t * (p1 - p0)
    return None


def bytes_at(curve: list, p: float):
    """WebP bytes for a PSNR (log-linear), None outside its range."""
    for (b0, p0), (b1, p1) in zip(curve, curve[1:]):
        if min(p0, p1) <= p <= max(p0, p1) and p1 != p0:
            t = (p - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def jpeg_prefix(path: str, ns: list) -> list:
    out = subprocess.run([sys.executable, f"{DATA}/reference/prefix_at.py", path] + [str(n) for n in ns],
                         capture_output=True, text=True, check=True).stdout.split()
    return [None if v == "nan" else float(v) for v in out]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", nargs="+")
    ap.add_argument("-q", type=int, nargs="+", default=[75])
    ap.add_argument("--effort", default="fast")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--single", action="store_true")
    ap.add_argument("--only-single", action="store_true", help="the single-level field alone")
    ap.add_argument("--out", default="latent-runs.jsonl")
    ap.add_argument("--keep", help="folder for the .snf files")
    a = ap.parse_args()
    from snf.encode import latent_encoder as le
    from snf.format.container import read
    from snf.settings import EncodeSettings
    for name in a.photos:
        path = name if os.path.exists(name) else f"{DATA}/kodak/{name}.png"
        img = np.asarray(Image.open(path).convert("RGB"))
        curve = webp_curve(img)
        for q in a.q:
            variants = [("progressive", False)] + ([("single", True)] if a.single else [])
            if a.only_single:
                variants = [("single", True)]
            for label, one_level in variants:
                s = EncodeSettings(field="latent", quality=q, effort=a.effort, steps=a.steps,
                                   levels=1 if one_level else None)
                t = time.monotonic()
                details = {}
                res = le.compress_latent(img, s, details=details)
                secs = time.monotonic() - t
                p = read(res["bytes"])
                ends = list(p.ends)
                jp = jpeg_prefix(path, ends)
                rows = [{"level": k + 1, "bytes": n, "bpp": round(n * 8 / img.shape[0] / img.shape[1], 4),
                         "psnr": lv["psnr"], "jpeg_prefix": jp[k], "webp": at_bytes(curve, n),
                         "webp_bytes_for_psnr": bytes_at(curve, lv["psnr"])}
                        for k, (n, lv) in enumerate(zip(ends, res["levels"]))]
                rec = {"photo": os.path.basename(path), "q": q, "lambda": le.lambda_of_quality(q), "effort": a.effort, "variant": label,
                       "file_bytes": len(res["bytes"]), "header_bytes": p.header_end, "seconds": round(secs, 1),
                       "timing": details, "levels": rows,
                       "threads": os.environ.get("OMP_NUM_THREADS"), "load": os.getloadavg()[0]}
                print(json.dumps(rec), flush=True)
                with open(a.out, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                if a.keep:
                    os.makedirs(a.keep, exist_ok=True)
                    with open(os.path.join(a.keep, f"{rec['photo'][:-4]}-q{q}-{label}.snf"), "wb") as f:
                        f.write(res["bytes"])


if __name__ == "__main__":
    main()
