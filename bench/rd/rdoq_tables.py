"""Table from rdoq_study.py's JSON lines: per image, level and quality, the level's own bytes
and decoded PSNR with nearest-integer rounding and with each RDOQ variant (same floats), and what the
PSNR gain is worth in bytes at the level's slope (plain rounding at its lowest and highest
quality in this encode, else in all encodes of the image: log(bytes) per dB), i.e. the saving at equal PSNR.

python bench/rd/rdoq_tables.py STUDY.jsonl [VARIANT,...]   (default: every variant)
"""
import json
import math
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
    wanted = sys.argv[2].split(",") if len(sys.argv) > 2 else None
    pts = [r for r in rows if not r.get("final")]
    key = {}
    for r in pts:  # the last measurement of each (image, tag, level, quality, variant) wins
        key[(r["image"], r["tag"], r["level"], r["quality"], r["variant"])] = r
    print("| image (encode) | level | quality | plain: bytes / PSNR | variant | its bytes / PSNR | PSNR gain dB "
          "| bytes saved at equal PSNR |")
    print("|---|---|---|---|---|---|---|---|")
    for (im, tag, k, q, v), r in sorted(key.items()):
        if v == "plain" or (wanted and v not in wanted):
            continue
        o, r = r, key.get((im, tag, k, q, "plain"))
        if r is None:
            continue
        # local slope d log(bytes) / d PSNR from the plain points of this level at other qualities
        # (from this encode; else pooled over the image's encodes: level 1 is the same in all)
        others = sorted((x["psnr"], x["bytes"]) for (i2, t2, k2, q2, v2), x in key.items()
                        if (i2, t2, k2, v2) == (im, tag, k, "plain"))
        if len({round(p, 6) for p, _ in others}) < 2:
            others = sorted((x["psnr"], x["bytes"]) for (i2, t2, k2, q2, v2), x in key.items()
                            if (i2, k2, v2) == (im, k, "plain"))
        slope = None
        if len(others) >= 2:
            (p0, b0), (p1, b1) = others[0], others[-1]
            slope = (math.log(b1) - math.log(b0)) / (p1 - p0) if p1 > p0 else None
        gain = o["psnr"] - r["psnr"]
        saved = "-" if slope is None else \
            f"{100 * (1 - math.exp(math.log(o['bytes'] / r['bytes']) - slope * gain)):.1f} %"
        print(f"| {im} ({tag}) | {k} | q{q} | {r['bytes']:,} / {r['psnr']:.3f} | {v} | {o['bytes']:,} / {o['psnr']:.3f} "
              f"| {gain:+.3f} | {saved} |")


if __name__ == "__main__":
    main()
