"""Per-level table of an `snf-bench rd` run: our bytes and PSNR beside every codec's PSNR at
those bytes (bench/RESULTS.md, "Latent field").

    python bench/latent_table.py RD_FOLDER [RD_FOLDER ...] [--reference coolchic5_kodak.json]
        [--family snf-fieldlatent-quality75] [--single SINGLE.jsonl]

For each photo and each snf level: cumulative bytes, PSNR, the progressive-JPEG prefix of the
same bytes (the run's own prefix file), and whole WebP / JPEG XL / AVIF at those bytes from the
run's codec curves; with --reference, Cool-chic 5.0's published per-image curve (reference, not
measured here). Codec curves are interpolated linearly in PSNR against log(bpp) between the two
points around our bytes; outside a curve's range the cell is "-" (no extrapolation). With
--single (latent_bench.py --only-single output over several -q), the BD-rate of the run's whole
files (last levels over its -q values) against the single-level field on the same photos.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os

CODECS = (("webp", "WebP"), ("jpegxl", "JPEG XL"), ("avif", "AVIF"))


def at_bpp(bpp: list, psnr: list, x: float):
    pts = sorted(zip(bpp, psnr))
    for (b0, p0), (b1, p1) in zip(pts, pts[1:]):
        if b0 <= x <= b1 and b1 > b0:
            t = (math.log(x) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return p0 + t * (p1 - p0)
    return None


def fmt(v, plus=False) -> str:
    if v is None:
        return "-"
    return f"{v:+.2f}" if plus else f"{v:.2f}"


def load(folder: str, name: str):
    path = os.path.join(folder, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--family", default="snf-fieldlatent-quality75")
    ap.add_argument("--reference", help="coolchic5_kodak.json (CompressAI format, per image)")
    ap.add_argument("--single", help="latent_bench.py --only-single JSONL: BD-rate against the single-level field")
    ap.add_argument("--runs", help="latent_bench.py JSONL (e.g. the slow effort): tabled instead of the rd run's "
                                   "files, against the first folder's codec curves")
    a = ap.parse_args()
    ref = json.load(open(a.reference))["results"] if a.reference else {}
    rows, sums = [], {"jpeg": [], "webp": [], "jpegxl": [], "avif": [], "cc": []}
    head = ("| photo | level | bytes | bpp | PSNR | JPEG prefix | WebP | JPEG XL | AVIF | Cool-chic 5.0 (reference) |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    for folder in (a.folders[:1] if a.runs else a.folders):
        snf = load(folder, a.family) if not a.runs else True
        prefix_name = "jpeg-progressive-prefix-at-" + a.family
        prefix = load(folder, prefix_name)
        if a.runs:  # latent_bench.py records: their own prefix figures, one row group per run
            snf, prefix = {"per_image": {}}, {"per_image": {}}
            for line in open(a.runs):
                rec = json.loads(line)
                key = f"{rec['photo'][:-4]} -q {rec['q']}"
                lv = rec["levels"]
                snf["per_image"][key] = {"bytes": [x["bytes"] for x in lv], "bpp": [x["bpp"] for x in lv],
                                         "psnr-rgb": [x["psnr"] for x in lv], "photo": rec["photo"][:-4]}
                prefix["per_image"][key] = {"psnr-rgb": [x["jpeg_prefix"] for x in lv]}
        codecs = {k: load(folder, k) for k, _ in CODECS}
        if snf is None:
            continue
        for label, r in sorted(snf["per_image"].items()):
            photo = r.get("photo", label)
            pre = prefix["per_image"].get(label, {}) if prefix else {}
            for k, (n, bpp, p) in enumerate(zip(r["bytes"], r["bpp"], r["psnr-rgb"])):
                jp = pre.get("psnr-rgb", [None] * len(r["bytes"]))[k] if pre else None
                cells = []
                for key, _ in CODECS:
                    c = (codecs[key] or {}).get("per_image", {}).get(photo)
                    v = at_bpp(c["bpp"], c["psnr-rgb"], bpp) if c else None
                    cells.append(v)
                    if v is not None:
                        sums[key].append(p - v)
                cc = ref.get(photo)
                ccv = at_bpp(cc["bpp"], cc["psnr-rgb"], bpp) if cc else None
                if jp is not None:
                    sums["jpeg"].append(p - jp)
                if ccv is not None:
                    sums["cc"].append(p - ccv)
                rows.append(f"| {label} | {k + 1} | {n:,} | {bpp:.3f} | {p:.2f} | {fmt(jp)} ({fmt(None if jp is None else p - jp, True)}) | "
                            + " | ".join(fmt(v) for v in cells) + f" | {fmt(ccv)} |")
    print(head)
    print("\n".join(rows))
    print()
    for key, label in (("jpeg", "JPEG prefix"), ("webp", "WebP"), ("jpegxl", "JPEG XL"), ("avif", "AVIF"),
                       ("cc", "Cool-chic 5.0 (reference)")):
        v = sums[key]
        if v:
            print(f"- mean difference to {label} at the same bytes: {sum(v) / len(v):+.2f} dB over {len(v)} levels "
                  f"({sum(1 for x in v if x >= 0)} at or above)")
    if a.single:
        from bjontegaard import bd_rate
        single = {}
        for line in open(a.single):
            rec = json.loads(line)
            lv = rec["levels"][-1]
            single.setdefault(rec["photo"][:-4], []).append((lv["bytes"], lv["psnr"]))
        whole = json.load(open(glob.glob(os.path.join(a.folders[0], "snf-*-last-levels.json"))[0]))
        for photo, pts in sorted(single.items()):
            w = whole["per_image"].get(photo)
            if not w or len(pts) < 4:
                continue
            s = sorted(pts)
            r = bd_rate([x[0] for x in s], [x[1] for x in s], w["bytes"], w["psnr-rgb"], method="pchip",
                        require_matching_points=False)
            print(f"- {photo}: BD-rate of the progressive whole files against the single-level field: {r:+.1f} %")


if __name__ == "__main__":
    main()
