"""Tables from study.py's JSON lines: per level and quality, coded bytes and PSNR beside today's
8-bit zstd coding of the same floats; bytes at equal PSNR; cumulative bytes with the
progressive-JPEG prefix PSNR at the same byte counts (prefix_at.py's measure).

python bench/rd/tables.py STUDY.jsonl IMAGE [--jpeg]"""
import json
import subprocess
import sys

import numpy as np

from snf.encode.rd import eps_of_quality

QUALITIES = [35, 55, 65, 75, 85, 95]


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    image = sys.argv[2]
    header = 330  # signature, version and HEAD chunk of a default encode (measured: 317-340 bytes)
    levels = sorted({r["level"] for r in rows})
    qeps = {q: round(eps_of_quality(q), 12) for q in QUALITIES}
    out = []
    print(f"## {image}: per level (post-hoc on one encode's floats; earlier levels as trained)\n")
    print("| level | coding | bytes | PSNR dB | vs 8-bit zstd bytes | 8-bit zstd bytes | 8-bit PSNR | float PSNR |")
    print("|---|---|---|---|---|---|---|---|")
    for k in levels:
        for rdoq in (False, True):
            for q, e in qeps.items():
                r = [x for x in rows if x["level"] == k and x["rdoq"] == rdoq and abs(x["eps"] - e) < 1e-9]
                if not r:
                    continue
                r = r[0]
                print(f"| {k} | q{q}{' rdoq' if rdoq else ''} | {r['bytes']:,} | {r['psnr']:.2f} | "
                      f"{100 * (r['bytes'] / r['bytes_8bit'] - 1):+.1f} % | {r['bytes_8bit']:,} | "
                      f"{r['psnr_8bit']:.2f} | {r['psnr_float']:.2f} |")
    print("\n## bytes at equal PSNR: the cheapest quality within 0.05 dB of the 8-bit coding's PSNR\n")
    print("| level | 8-bit zstd bytes | PSNR | coded bytes, plain rounding | saving | with rdoq | saving |")
    print("|---|---|---|---|---|---|---|")
    for k in levels:
        cells = []
        for rdoq in (False, True):
            pts = sorted((x["psnr"], np.log(x["bytes"])) for x in rows if x["level"] == k and x["rdoq"] == rdoq)
            ref = [x for x in rows if x["level"] == k][0]
            if not pts:
                cells.append(None)
                continue
            # the goal's measure: the fewest bytes of a sweep point within 0.05 dB of the 8-bit PSNR (or above)
            ok = [np.exp(lb) for p, lb in pts if p >= ref["psnr_8bit"] - 0.05]
            cells.append(float(min(ok)) if ok else None)
        s = lambda b: f"{b:,.0f} | {100 * (b / ref['bytes_8bit'] - 1):+.1f} %" if b else "out of range | -"  # noqa
        print(f"| {k} | {ref['bytes_8bit']:,} | {ref['psnr_8bit']:.2f} | {s(cells[0])} | {s(cells[1])} |")
        out.append({"level": k, "bytes_8bit": ref["bytes_8bit"], "psnr_8bit": ref["psnr_8bit"],
                    "coded_bytes_at_equal_psnr": cells[0], "coded_rdoq_bytes_at_equal_psnr": cells[1]})
    print("\n## cumulative, per quality (plain rounding), with the progressive-JPEG prefix at the same bytes\n")
    cum = {}
    for q, e in qeps.items():
        tot, cells = header, []
        for k in levels:
            r = [x for x in rows if x["level"] == k and not x["rdoq"] and abs(x["eps"] - e) < 1e-9]
            if not r:
                break
            tot += r[0]["bytes"]
            cells.append((tot, r[0]["psnr"]))
        cum[q] = cells
    base, tot = [], header
    for k in levels:
        tot += [x for x in rows if x["level"] == k][0]["bytes_8bit"]
        base.append((tot, [x for x in rows if x["level"] == k][0]["psnr_8bit"]))
    jpeg = {}
    if "--jpeg" in sys.argv:
        counts = sorted({b for cells in list(cum.values()) + [base] for b, _ in cells})
        res = subprocess.run([sys.executable, "/work/shared/data/reference/prefix_at.py", image] + [str(c) for c in counts],
                             capture_output=True, text=True, check=True).stdout
        jpeg = dict(zip(counts, map(float, res.split())))  # one PSNR per count, in order
    print("| quality | " + " | ".join(f"level {k}: bytes / PSNR / JPEG prefix" for k in levels) + " |")
    print("|---|" + "---|" * len(levels))
    for name, cells in [("8-bit zstd (1.0)", base)] + [(f"q{q}", c) for q, c in cum.items() if c]:
        print(f"| {name} | " + " | ".join(f"{b:,} / {p:.2f} / {jpeg.get(b, float('nan')):.2f}" for b, p in cells) + " |")
    json.dump({"image": image, "equal_psnr": out, "cumulative": {str(q): c for q, c in cum.items()},
               "cumulative_8bit": base, "jpeg_prefix": jpeg}, open(sys.argv[1] + ".tables.json", "w"), indent=1)


if __name__ == "__main__":
    main()
