"""Markdown tables from the benchmark JSON files, for bench/RESULTS.md.

    python bench/tables.py bench/results-encode.json [more.json ...]

Encode results give one table per image; quantisation results one table per
experiment. Nothing is measured here: it only formats.
"""
from __future__ import annotations

import json
import sys


def row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def encode_table(r: dict) -> list:
    naive = r["levels"][0].get("naive_psnr") is not None
    head = ["level", "width", "params", "steps", "s (cum)", "ms/step", "GFLOP/s", "bytes (cum)", "bpp",
            "PSNR float", "PSNR 8-bit file", "decode s"]
    if naive:
        head += ["naive dense PSNR", "naive ms/step", "naive GFLOP/s", "naive fwd s"]
    out = [f"**{r['image'].split('/')[-1]}** ({r['size'][0]}x{r['size'][1]}), settings {json.dumps(r['settings'])}, "
           f"{r['seconds_total']} s, {r['bytes']:,} bytes", "", row(head), row(["---"] * len(head))]
    for l in r["levels"]:
        cells = [l["level"], l["width"], f"{l['params']:,}", l["steps"], l["seconds_cum"], l["ms_per_step"],
                 l["gflops"], f"{l['bytes_cum']:,}", l["bpp"], l["psnr_float"], l["psnr"], l["decode_s"]]
        if naive:
            cells += [l["naive_psnr"], l["naive_ms_per_step"], l["naive_gflops"], l["naive_forward_s"]]
        out.append(row(cells))
    return out + [""]


def quant_tables(d: dict) -> list:
    ref = d["reference_16bit"]
    out = [f"16-bit reference: PSNR {ref['psnr']}, {ref['bytes']:,} bytes", "",
           "Post-hoc (16-bit-trained levels quantised afterwards), PSNR per level:", "",
           row(["bits", "scales", "L1", "L2", "L3", "L4"]), row(["---"] * 6)]
    out += [row([e["bits"], e["scales"], *e["psnr"]]) for e in d["post_hoc"]]
    out += ["", "In the loop (each level trained on the dequantised earlier ones), PSNR per level:", "",
            row(["bits", "QAT", "L1", "L2", "L3", "L4", "L4 before quantisation", "bytes"]), row(["---"] * 8)]
    out += [row([e["bits"], "yes" if e["qat"] else "no", *e["psnr"], e["psnr_float"][-1], f"{e['bytes']:,}"])
            for e in d["in_loop"]]
    return out + [""]


def main() -> None:
    for path in sys.argv[1:]:
        data = json.load(open(path))
        lines = quant_tables(data) if isinstance(data, dict) and "post_hoc" in data else \
            [x for r in data for x in encode_table(r)]
        print(f"<!-- {path} -->")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
