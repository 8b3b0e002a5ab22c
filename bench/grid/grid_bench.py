"""Grid field benchmark: per-level bytes and PSNR beside the progressive-JPEG prefix, WebP
and Cool-chic 5.0 at those bytes; encode time per level; decode time; an RD plot.

    python bench/grid/grid_bench.py ../shared/data/kodak/kodim03.png ../shared/data/kodak/kodim08.png \
        --out bench/grid/results-grid.json --plot bench/grid/rd-grid.png

References are computed here (JPEG prefix with ../shared/data/reference/prefix_at.py's
procedure, WebP with Pillow) or interpolated from ../shared/data/reference/coolchic5_kodak.json
in log-bpp (no extrapolation: '-' outside its points). The SIREN's levels, if a SIREN file is
given with --siren NAME=FILE, are plotted too.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageFile

from snf.encode.encoder import compress
from snf.format.container import read
from snf.settings import EncodeSettings
from snf.signals.image import load_image, psnr

REF = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "reference")  # --ref overrides
QUALITIES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95)


def jpeg_prefix(img: np.ndarray, ns: list) -> list:
    """The best PSNR the first N bytes of a progressive JPEG (Pillow quality 5..95) decode to."""
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    im = Image.fromarray(img)
    files = []
    for q in QUALITIES:
        b = io.BytesIO()
        im.save(b, format="JPEG", quality=q, progressive=True)
        files.append(b.getvalue())
    out = []
    for n in ns:
        best = None
        for f in files:
            try:
                p = psnr(np.asarray(Image.open(io.BytesIO(f[:n])).convert("RGB")), img)
            except Exception:
                continue
            best = p if best is None else max(best, p)
        out.append(best)
    return out


def webp_at(img: np.ndarray, n: int):
    """PSNR of the best Pillow WebP (default method) that fits in n bytes."""
    im = Image.fromarray(img)

    def enc(q):
        b = io.BytesIO()
        im.save(b, format="WEBP", quality=q)
        return b.getvalue()
    lo, hi = 0, 100  # size grows with quality: bisect for the largest quality that fits
    if len(enc(lo)) > n:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if len(enc(mid)) <= n else (lo, mid - 1)
    return psnr(np.asarray(Image.open(io.BytesIO(enc(lo))).convert("RGB")), img)


def coolchic_at(name: str, bpp: float):
    path = os.path.join(REF, "coolchic5_kodak.json")
    if not os.path.exists(path):
        return None
    r = json.load(open(path))["results"].get(name)
    if not r:
        return None
    xs, ys = [math.log(b) for b in r["bpp"]], r["psnr-rgb"]
    x = math.log(bpp)
    if not xs[0] <= x <= xs[-1]:
        return None
    return float(np.interp(x, xs, ys))


def decode_seconds(path: str, runs: int = 3) -> float:
    times = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(["snf-decode", path, "-o", os.path.join(d, "o.png"), "--quiet"], check=True)
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def bench(path: str, settings: EncodeSettings, keep: str | None) -> dict:
    img = load_image(path)
    name = os.path.splitext(os.path.basename(path))[0]
    t0, c0 = time.perf_counter(), time.process_time()
    r = compress(img, settings, quiet=False)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    data = r["bytes"]
    parsed = read(data)
    h, w = img.shape[:2]
    ends = parsed.ends
    jp = jpeg_prefix(img, ends)
    rows = []
    for k, end in enumerate(ends, 1):
        bpp = end * 8 / (w * h)
        rows.append({"level": k, "bytes": end, "bpp": round(bpp, 4), "psnr": r["levels"][k - 1]["psnr"],
                     "jpeg_prefix": jp[k - 1] and round(jp[k - 1], 2),
                     "webp": (lambda v: v and round(v, 2))(webp_at(img, end)),
                     "coolchic5": (lambda v: v and round(v, 2))(coolchic_at(name, bpp)),
                     "encode_s_cum": round(r["timing"]["stage_ends"][k - 1], 1),
                     "steps": r["timing"]["stage_steps"][k - 1]})
    fd, tmp = tempfile.mkstemp(suffix=".snf")
    os.write(fd, data)
    os.close(fd)
    dec = decode_seconds(tmp)
    if keep:
        os.replace(tmp, keep)
    else:
        os.unlink(tmp)
    return {"image": name, "size": [w, h], "settings": settings.to_dict(), "encode_s": round(total, 1),
            "encode_cpu_s": round(cpu, 1), "threads": __import__("torch").get_num_threads(),
            "decode_s_last_level": round(dec, 3), "file_bytes": len(data), "levels": rows}


def table(res: dict) -> str:
    out = [f"**{res['image']}** ({res['size'][0]}x{res['size'][1]}), grid {res['settings']['grid']}, "
           f"encode {res['encode_s']} s wall ({res.get('encode_cpu_s', '-')} s CPU, "
           f"{res.get('threads', '-')} thread(s)), snf-decode (last level) {res['decode_s_last_level']} s",
           "", "| level | bytes | bpp | PSNR | JPEG prefix | WebP | Cool-chic 5 (ref) | encode s (cum) |",
           "|---|---|---|---|---|---|---|---|"]
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for lv in res["levels"]:
        out.append(f"| {lv['level']} | {lv['bytes']:,} | {lv['bpp']} | {lv['psnr']:.2f} | {f(lv['jpeg_prefix'])} | "
                   f"{f(lv['webp'])} | {f(lv['coolchic5'])} | {lv['encode_s_cum']} |")
    return "\n".join(out)


def plot(results: list, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = json.load(open(os.path.join(REF, "prefix_curves_kodim03_kodim08.json"))) \
        if os.path.exists(os.path.join(REF, "prefix_curves_kodim03_kodim08.json")) else {}
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5))
    axes = np.atleast_1d(axes)
    for ax, res in zip(axes, results):
        lv = res["levels"]
        ax.plot([x["bytes"] / 1000 for x in lv], [x["psnr"] for x in lv], "o-", label="snf grid (levels of one file)")
        name = res["image"]
        img = load_image(res["path"])
        ns = np.geomspace(1000, max(x["bytes"] for x in lv) * 1.6, 14).astype(int)
        ax.plot(ns / 1000, jpeg_prefix(img, list(ns)), "--", label="progressive-JPEG prefix")
        wp = [(n, webp_at(img, int(n))) for n in ns]
        ax.plot([n / 1000 for n, v in wp if v], [v for n, v in wp if v], ":", label="WebP (whole file)")
        cc = json.load(open(os.path.join(REF, "coolchic5_kodak.json")))["results"].get(name)
        if cc:
            ax.plot([b * res["size"][0] * res["size"][1] / 8000 for b in cc["bpp"]], cc["psnr-rgb"], "s-",
                    alpha=0.5, label="Cool-chic 5.0 (reference, not progressive)")
        ax.set_xscale("log")
        ax.set_xlim(1, max(x["bytes"] for x in lv) * 1.8 / 1000)
        ax.set_xlabel("kB")
        ax.set_ylabel("PSNR dB (RGB)")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    del curves
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--plot")
    ap.add_argument("--grid", default=None, help="grid levels (default: the settings' default)")
    ap.add_argument("--keep", help="folder for the .snf files")
    ap.add_argument("--ref", help="the shared reference folder (default: ../shared/data/reference beside the repo)")
    ap.add_argument("--from-json", action="store_true",
                    help="IMAGES are result files of earlier runs: recompute the reference columns, print, plot")
    args = ap.parse_args()
    global REF
    if args.ref:
        REF = args.ref
    if args.from_json:
        results = [r for f in args.images for r in json.load(open(f))]
        for res in results:
            for lv in res["levels"]:
                v = coolchic_at(res["image"], lv["bytes"] * 8 / (res["size"][0] * res["size"][1]))
                lv["coolchic5"] = v and round(v, 2)
            print(table(res) + "\n")
        if args.out:
            json.dump(results, open(args.out, "w"), indent=1)
        if args.plot:
            plot(results, args.plot)
        return
    s = EncodeSettings(field="grid", **({"grid": args.grid} if args.grid else {}))
    results = []
    for p in args.images:
        keep = os.path.join(args.keep, os.path.basename(p) + ".snf") if args.keep else None
        res = bench(p, s, keep)
        res["path"] = p
        results.append(res)
        print(table(res), flush=True)
        json.dump(results, open(args.out, "w"), indent=1)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    sys.exit(main())
