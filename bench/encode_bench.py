"""Encode benchmark: the default `snf-encode` (SIREN, preset fast) level by level against a naive
dense SIREN trained for the same wall time.

For each image: per level PSNR of the file and before rounding, cumulative wall time, steps,
ms/step, GFLOP/s, bytes and bpp, the in-process decode time against a naive torch forward;
beside it a dense SIREN of that level's width trained naively (whole model every step, same
batch, Adam with cosine decay from 1e-3) for the same wall time as the progressive encode
took to reach that level. Prints a markdown table per image.

    python bench/encode_bench.py ../shared/data/kodak/kodim03.png ../shared/data/kodak/kodim08.png \
        [--out results.json] [--no-naive] [--steps 20]    # --steps: a quick run, fixed steps a level

Timings need a quiet machine: run nothing else meanwhile.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from snf.field.arch import Arch
from snf.format.container import read
from snf.decode.decoder import render_image
from snf.encode.encoder import compress
from snf.signals.image import load_image
from timing import median_time, naive_forward_seconds


def flops_progressive(arch: Arch, k: int, batch: int) -> float:
    """Multiply-adds x2 of one cached progressive step (new units only), forward + backward."""
    a, b = arch.span(k)
    n = b - a
    fwd = n * arch.d_in + (arch.layers - 1) * n * b + arch.d_out * n
    wgrad = fwd
    igrad = (arch.layers - 1) * n * n + arch.d_out * n
    return 2.0 * batch * (fwd + wgrad + igrad)


def flops_dense(arch: Arch, w: int, batch: int) -> float:
    fwd = w * arch.d_in + (arch.layers - 1) * w * w + arch.d_out * w
    igrad = (arch.layers - 1) * w * w + arch.d_out * w
    return 2.0 * batch * (2 * fwd + igrad)


def bench_image(path: str, args) -> dict:
    img = load_image(path)
    h, w, _ = img.shape
    kw = dict(widths=args.widths, seed=args.seed, init=args.init)
    for key in ("quality", "bits", "time_budget", "steps"):
        if getattr(args, key) is not None:
            kw[key] = getattr(args, key)
    if args.qat:
        kw["qat"] = True
    t0 = time.perf_counter()
    res = compress(img, quiet=not args.verbose, **kw)
    total = time.perf_counter() - t0
    arch, timing = res["arch"], res["timing"]
    parsed = read(res["bytes"])
    batch = 16384
    rows = []
    for k in range(1, arch.levels + 1):
        lv = res["levels"][k - 1]
        steps, secs = timing["stage_steps"][k - 1], timing["stage_seconds"][k - 1]
        row = {"level": k, "width": arch.widths[k - 1], "params": arch.params(k),
               "psnr": lv["psnr"], "psnr_float": lv["psnr_float"], "steps": steps,
               "seconds_cum": round(timing["stage_ends"][k - 1], 1),
               "ms_per_step": round(1000 * secs / max(steps, 1), 2),
               "gflops": round(flops_progressive(arch, k, batch) * steps / secs / 1e9, 1),
               "bytes_cum": parsed.ends[k - 1], "bpp": round(parsed.ends[k - 1] * 8 / (w * h), 4),
               "decode_s": round(median_time(lambda: render_image(parsed, k), 3), 3),
               "naive_forward_s": round(naive_forward_seconds(arch, arch.widths[k - 1], (w, h)), 3)}
        if not args.no_naive:
            nv = compress(img, widths=(arch.widths[k - 1],), mode="individual",
                          time_budget=timing["stage_ends"][k - 1], seed=args.seed, quiet=True, lr=args.naive_lr)
            ns, nsec = nv["timing"]["stage_steps"][0], nv["timing"]["stage_seconds"][0]
            dense = Arch((arch.widths[k - 1],))
            row.update({"naive_psnr": nv["levels"][0]["psnr"], "naive_steps": ns,
                        "naive_ms_per_step": round(1000 * nsec / max(ns, 1), 2),
                        "naive_gflops": round(flops_dense(dense, arch.widths[k - 1], batch) * ns / nsec / 1e9, 1)})
        rows.append(row)
        print(json.dumps({"image": path, **row}), file=sys.stderr, flush=True)
    return {"image": path, "size": [w, h], "seconds_total": round(total, 1), "bytes": len(res["bytes"]),
            "settings": {k: v for k, v in kw.items()}, "levels": rows}


def table(result: dict) -> str:
    out = [f"{result['image']} ({result['size'][0]}x{result['size'][1]}): {result['seconds_total']} s, "
           f"{result['bytes']} bytes, settings {result['settings']}",
           "| level | width | params | PSNR q | PSNR float | cum s | steps | ms/step | GFLOP/s | naive PSNR (same time) "
           "| naive ms/step | naive GFLOP/s | cum bytes | bpp | decode s | naive fwd s |",
           "|" + "---|" * 16]
    for r in result["levels"]:
        out.append("| " + " | ".join(str(r.get(c, "-")) for c in (
            "level", "width", "params", "psnr", "psnr_float", "seconds_cum", "steps", "ms_per_step", "gflops",
            "naive_psnr", "naive_ms_per_step", "naive_gflops", "bytes_cum", "bpp", "decode_s",
            "naive_forward_s")) + " |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--widths", type=lambda s: tuple(int(x) for x in s.split(",")), default=(30, 69, 110, 151))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default="siren")
    p.add_argument("--quality", type=int, help="as snf-encode -q (default: the encoder's)")
    p.add_argument("--bits", type=int, help="as snf-encode --bits (fixed bits instead of --quality)")
    p.add_argument("--qat", action="store_true")
    p.add_argument("--time-budget", type=float)
    p.add_argument("--steps", type=int, help="fixed training steps a level (a quick run; default: the preset's)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive dense baselines")
    p.add_argument("--naive-lr", type=float, default=1e-3,
                   help="peak lr of the naive dense SIREN (default 1e-3: the best single rate measured for it)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    results = [bench_image(path, args) for path in args.images]
    for r in results:
        print(table(r) + "\n")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
