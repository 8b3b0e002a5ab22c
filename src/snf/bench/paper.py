"""`snf-bench paper`: the seed's Tables 1 and 3 at a budget this machine can afford.

Individual (one network per level), slimmable (one network trained at all widths)
and progressive (each level a delta on the frozen last) at the seed's widths, each
given the same wall-clock budget per image, each level decoded from the real file
and scored (PSNR on 8-bit, SSIM, LPIPS where it can run offline). The seed's own
numbers (24 Kodak images, 50,000 GPU steps per sub-network) are printed beside
them, labelled reference: at a CPU budget the absolute values are far lower; the
comparison between methods is what carries over.
"""
from __future__ import annotations

import os
import time

import numpy as np

from snf.bench import metrics
from snf.bench.budget import default_budget
from snf.bench.refdata import paper_table
from snf.bench.results import finite, list_images, load_rgb, write_json
from snf.progress import Bar

METHODS = ("individual", "slimmable", "progressive")
WIDTHS = {
    "spectral": {"individual": (30, 60, 90, 120), "slimmable": (30, 60, 90, 120),
                 "progressive": (30, 69, 110, 151)},
    # spatial: individual is one width-59 network per stripe, trained on its stripe only under
    # preset fast, on the whole canvas with the other stripes black (the seed's code) under
    # preset paper (Preset.individual_fill; bench/RESULTS.md)
    "spatial": {"individual": (59, 59, 59, 59), "slimmable": (59, 84, 104, 120),
                "progressive": (59, 96, 126, 149)},
}
TABLE = {"spectral": "Table 1: spectral growing", "spatial": "Table 3: spatial growing"}


def settings_for(grow: str, method: str, preset: str, budget: float | None, steps: int | None = None):
    """EncodeSettings for one cell, or (None, why) when this build cannot encode it."""
    from snf.settings import EncodeSettings, SettingsError
    kw = {"mode": method, "widths": WIDTHS[grow][method], "preset": preset, "time_budget": budget,
          "steps": steps}
    if grow != "spectral":
        kw["grow"] = grow
    try:
        return EncodeSettings(**kw), None
    except (SettingsError, TypeError, ValueError) as e:
        return None, str(e)


def grows_available() -> dict:
    """grow -> None if the encoder implements it, else why not."""
    out = {}
    for g in WIDTHS:
        _, why = settings_for(g, "progressive", "fast", None)
        out[g] = why
    return out


def measure(img, s, bar: Bar, label: str) -> dict:
    from snf import compress
    from snf.decode.decoder import render_image
    from snf.format.container import read

    def progress(d):
        bar.update(label, d["fraction"], 1.0, d["text"])
    t = time.monotonic()
    res = compress(img, s, quiet=True, progress=progress)
    seconds = time.monotonic() - t
    parsed = read(res["bytes"])
    arch = parsed.arch
    levels = []
    for k in range(1, arch.levels + 1):
        # a spatially grown level is measured over the stripes it reveals (as the seed's Table 3);
        # for every other growth the crop is the whole picture
        rec = render_image(parsed, k, crop=True)
        ref = np.ascontiguousarray(img[:, :rec.shape[1]])
        levels.append({"params": arch.params(k), "psnr": finite(metrics.psnr(ref, rec)),
                       "ssim": metrics.ssim(ref, rec), "lpips": metrics.lpips(ref, rec)})
    return {"levels": levels, "seconds": round(seconds, 1), "bytes": len(res["bytes"]),
            "steps": res["timing"]["stage_steps"]}


def run(args, out: str, bar: Bar, say) -> dict:
    import torch
    paths = list_images(args.images)
    gpu = torch.cuda.is_available()
    preset = args.preset
    if preset == "paper" and gpu and args.budget is None and args.steps is None:
        paths = paths[:1]
        say(f"--preset paper on {torch.cuda.get_device_name(0)}: the seed's recipe (50,000 full-batch steps "
            f"per level) on one image, {os.path.basename(paths[0])}")
    elif preset == "paper":
        how = f"{args.steps} steps a level" if args.steps else "cut to the wall-clock budget"
        say(f"--preset paper: the seed's recipe, {how}" + ("" if gpu else " (no GPU here)"))
    _, lp_why = metrics.lpips_status()
    if lp_why:
        say(f"LPIPS skipped: {lp_why}")
    grows = grows_available()
    for g, why in grows.items():
        if why:
            say(f"{TABLE[g]} skipped: the encoder cannot do it ({why})")
    results = {}
    for grow in [g for g, why in grows.items() if why is None]:
        per_image = {}
        for i, path in enumerate(paths, 1):
            img = load_rgb(path)
            stem = os.path.splitext(os.path.basename(path))[0]
            h, w = img.shape[:2]
            budget = None if (args.steps or preset == "paper" and gpu and args.budget is None) else \
                (args.budget or default_budget(w * h, "paper"))
            cells = {}
            for m in METHODS:
                s, why = settings_for(grow, m, preset, budget, args.steps)
                if s is None:
                    say(f"{grow} {m} skipped: {why}")
                    continue
                r = measure(img, s, bar, f"[{i}/{len(paths)}] {stem} {grow} {m}")
                cells[m] = r
                bar.line(f"{stem} {grow} {m}: PSNR " + " / ".join(_f(l['psnr']) for l in r["levels"])
                         + f" dB, {r['bytes']:,} bytes, {r['seconds']} s, steps {r['steps']}")
            per_image[stem] = {"budget_s": budget, "steps_per_level": args.steps, "size": [w, h], "methods": cells}
        doc = {"name": f"snf-bench paper, {grow} growing", "grow": grow, "preset": preset,
               "widths": {m: list(v) for m, v in WIDTHS[grow].items()},
               "mean": mean_table(per_image), "per_image": per_image,
               "reference": {"name": f"seed {TABLE[grow]} (reference: Streamable Neural Fields, supplementary)",
                             **paper_table(grow)}}
        write_json(os.path.join(out, f"paper-{grow}.json"), doc)
        results[grow] = doc
    return results


def mean_table(per_image: dict) -> dict:
    """{method: [{params, psnr, ssim, lpips} per level]} averaged over images."""
    out = {}
    for m in METHODS:
        runs = [v["methods"][m] for v in per_image.values() if m in v["methods"]]
        if not runs:
            continue
        rows = []
        for k in range(len(runs[0]["levels"])):
            cell = {"params": runs[0]["levels"][k]["params"]}
            for key in ("psnr", "ssim", "lpips"):
                vals = [r["levels"][k][key] for r in runs]
                cell[key] = None if any(v is None for v in vals) else round(float(np.mean(vals)), 4)
            rows.append(cell)
        out[m] = rows
    return out


def table(doc: dict, n_images: int, budgets: list) -> str:
    """The seed-shaped table: per method and sub-network, ours beside the seed's (reference)."""
    grow, ref, mean = doc["grow"], doc["reference"], doc["mean"]
    b = sorted({x for x in budgets if x is not None})
    steps = {v.get("steps_per_level") for v in doc["per_image"].values()} - {None}
    budget = (f"{steps.pop()} steps a level" if steps else "the preset's steps" if not b else
              f"{b[0]:g} s" if len(b) == 1 else f"{b[0]:g}-{b[-1]:g} s") + " per method per image"
    lines = [f"**{TABLE[grow]}** (measured: {n_images} image(s), preset {doc['preset']}, {budget}; "
             f"reference: {ref['name']})", "",
             "| method | sub-network | width | params | PSNR | SSIM | LPIPS | reference params | reference PSNR "
             "| reference SSIM | reference LPIPS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in METHODS:
        if m not in mean:
            continue
        for k, cell in enumerate(mean[m]):
            r = [ref[key][m][k] if m in ref.get(key, {}) else None for key in ("params", "psnr-rgb", "ssim", "lpips")]
            lines.append(f"| {m} | {k + 1} | {doc['widths'][m][k]} | {cell['params']:,} | {_f(cell['psnr'])} | "
                         f"{_f(cell['ssim'], 3)} | {_f(cell['lpips'], 3)} | {_f(r[0], 0, True)} | {_f(r[1])} | "
                         f"{_f(r[2], 3)} | {_f(r[3], 3)} |")
    return "\n".join(lines) + "\n"


def _f(x, nd: int = 2, thousands: bool = False) -> str:
    if x is None:
        return "skipped" if nd == 3 else "-"
    return f"{x:,.0f}" if thousands else f"{x:.{nd}f}"
