"""Tables from sweep.py's JSON lines (end-to-end encodes).

1. Bytes at equal PSNR per level: for each image and level, the cumulative bytes of the
   quality sweep interpolated at the old (1.0, 8-bit zstd) file's PSNR of that level:
   linear in log(bytes) against PSNR between the two sweep points that bracket it (no
   extrapolation: "out of range" when no pair brackets it).
2. The --quality table: per level, cumulative bytes, PSNR, bits/param, and the
   progressive-JPEG prefix PSNR at exactly those bytes (prefix_at.py).

python bench/rd/sweep_tables.py SWEEP.jsonl OLD_TAG[,IMAGE=FILE.png...] [--jpeg] [--tag T]
"""
import json
import math
import os
import subprocess
import sys

PREFIX_AT = "/work/shared/data/reference/prefix_at.py"
KODAK = "/work/shared/data/kodak"


def at_psnr(points: list, target: float):
    """log-linear interpolation of bytes at `target` PSNR between bracketing (psnr, bytes) points."""
    pts = sorted(points)
    exact = [b for p, b in pts if p == target]
    if exact:
        return min(exact)
    for (p0, b0), (p1, b1) in zip(pts, pts[1:]):
        if p0 <= target <= p1:
            if p1 == p0:
                return min(b0, b1)
            t = (target - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
    old_tag = sys.argv[2]
    tag = sys.argv[sys.argv.index("--tag") + 1] if "--tag" in sys.argv else None
    olds = {os.path.basename(r["file"]).replace("old-", "").replace("stored-", "").replace(".snf", ""): r
            for r in rows if r["tag"] == old_tag}
    sweep = [r for r in rows if "quality" in r and (tag is None or r["tag"] == tag)]
    images = sorted({r["image"] for r in sweep})
    print("### Bytes at equal PSNR per level (cumulative, interpolated at the 1.0 file's PSNR)\n")
    print("| image | level | 1.0 file: bytes | PSNR dB | 2.x: bytes at that PSNR | saving | qualities bracketing "
          "| fewest bytes within 0.05 dB (quality, PSNR) | saving |")
    print("|---|---|---|---|---|---|---|---|---|")
    for im in images:
        stem = im.replace(".png", "")
        old = olds.get(stem)
        if old is None:
            continue
        runs = sorted((r for r in sweep if r["image"] == im), key=lambda r: r["quality"])
        for k, ol in enumerate(old["levels"], 1):
            pts = [(r["levels"][k - 1]["psnr"], r["levels"][k - 1]["cum_bytes"]) for r in runs]
            b = at_psnr(pts, ol["psnr"])
            qs = [r["quality"] for r in runs]
            br = [f"q{q}" for q, (p, _) in zip(qs, pts) if p == ol["psnr"]] + \
                [f"q{qs[i]}-q{qs[i + 1]}" for i in range(len(runs) - 1)
                 if min(pts[i][0], pts[i + 1][0]) <= ol["psnr"] <= max(pts[i][0], pts[i + 1][0])]
            cell = f"{b:,.0f} | {100 * (1 - b / ol['cum_bytes']):.1f} %" if b else "out of range | -"
            near = [(pb, q, pp) for q, (pp, pb) in zip(qs, pts) if pp >= ol["psnr"] - 0.05 + 1e-9]
            tol = "none | -"
            if near:
                pb, q, pp = min(near)
                tol = f"{pb:,} (q{q}, {pp:.2f}) | {100 * (1 - pb / ol['cum_bytes']):.1f} %"
            print(f"| {stem} | {k} | {ol['cum_bytes']:,} | {ol['psnr']:.2f} | {cell} | {', '.join(br[:1])} | {tol} |")
    print("\n### --quality table (cumulative bytes / PSNR dB / bits per parameter; JPEG = progressive-JPEG "
          "prefix PSNR at the same bytes)\n")
    for im in images:
        runs = sorted((r for r in sweep if r["image"] == im), key=lambda r: r["quality"])
        stem = im.replace(".png", "")
        old = olds.get(stem)
        jpeg = {}
        if "--jpeg" in sys.argv:
            counts = sorted({lv["cum_bytes"] for r in runs + ([old] if old else []) for lv in r["levels"]})
            out = subprocess.run([sys.executable, PREFIX_AT, f"{KODAK}/{im}"] + [str(c) for c in counts],
                                 capture_output=True, text=True, check=True).stdout.split()
            jpeg = dict(zip(counts, map(float, out)))
        n = len(runs[0]["levels"])
        print(f"**{stem}**\n")
        print("| quality | " + " | ".join(f"level {k}" for k in range(1, n + 1)) + " | encode s (loaded) |")
        print("|---|" + "---|" * (n + 1))
        lines = ([("1.0 8-bit zstd", old)] if old else []) + [(f"q{r['quality']}", r) for r in runs]
        for name, r in lines:
            cells = []
            for lv in r["levels"]:
                j = jpeg.get(lv["cum_bytes"])
                cells.append(f"{lv['cum_bytes']:,} B / {lv['psnr']:.2f}" + (f" / JPEG {j:.2f}" if j is not None else ""))
            print(f"| {name} | " + " | ".join(cells) + f" | {r.get('seconds_loaded', '-')} |")
        print()
        print("| quality | " + " | ".join(f"level {k}: first / hidden / bias / out bits/param"
                                          for k in range(1, n + 1)) + " |")
        print("|---|" + "---|" * n)
        for r in runs:
            cells = []
            for lv in r["levels"]:
                b = lv["bits_per_param"]
                cells.append(" / ".join(f"{b.get(x, float('nan')):.2f}" for x in ("first", "hidden", "bias", "out")))
            print(f"| q{r['quality']} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
