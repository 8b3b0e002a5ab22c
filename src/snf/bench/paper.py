"""`snf-bench paper`: the seed's four tables on real data, at a budget this machine can afford.

- Table 1, spectral growing: individual, slimmable, progressive at the seed's widths on the
  photos in `--images`;
- Table 2, SDF: individual and progressive on each mesh in `--meshes` (Chamfer distance per
  level; each level's marching-cubes surface written as a PLY);
- Table 3, spatial growing: individual, slimmable, progressive on the first 8 photos (the
  seed's count);
- Table 4, temporal growing: individual, slimmable, progressive on `--video` (a frame range
  and a downscale may cut it to a CPU's budget; each level decoded to an mp4).

Every method gets the same budget per input (seconds or steps a level), every level is
decoded from the real file and scored (PSNR on 8-bit samples, SSIM; LPIPS where it can run
offline). The seed's own figures (50,000 GPU steps per sub-network) are printed beside
ours, labelled reference: at a CPU budget the absolute values are far lower; the
comparison between methods is what carries over. Each encode is one cell
(`tableN/<input>/<method>.snf` with its scores in `<method>.json`): a rerun into the same
`--out` keeps every finished cell whose settings match and encodes only the rest.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from snf.bench import metrics
from snf.bench.budget import default_budget
from snf.bench.refdata import paper_table
from snf.bench.results import BenchError, finite, list_images, load_rgb, machine, write_json
from snf.format.container import write_atomic
from snf.progress import Bar

METHODS = ("individual", "slimmable", "progressive")
SPATIAL_IMAGES = 8        # the seed's Table 3 uses eight Kodak photos
SDF_RESOLUTION = 128      # marching cubes grid per side for the per-level meshes and Chamfer
CHAMFER_POINTS = 30_000


@dataclass(frozen=True)
class Table:
    """One of the seed's tables: what it grows, on which signal, at which widths."""
    number: int
    grow: str
    signal: str
    title: str
    widths: dict      # method -> the seed's widths (cumulative for progressive/slimmable)
    metrics: tuple    # per level, in print order
    slug: str         # paper-<slug>.json


TABLES = {
    1: Table(1, "spectral", "image", "Table 1: spectral growing",
             {"individual": (30, 60, 90, 120), "slimmable": (30, 60, 90, 120), "progressive": (30, 69, 110, 151)},
             ("psnr", "ssim", "lpips"), "spectral"),
    # seed Table 2 prints its progressive and dense params under swapped labels: these widths
    # give the counts by the block layout (tests/test_modalities.py::test_sdf_params_table2)
    2: Table(2, "spectral", "sdf", "Table 2: SDF (spectral growing)",
             {"individual": (148, 210, 256), "progressive": (148, 240, 309)}, ("chamfer",), "sdf"),
    # spatial: individual is one width-59 network per stripe, trained on its stripe only under preset
    # fast, on the whole canvas with the other stripes black (the seed's code) under preset paper
    # (Preset.individual_fill; bench/RESULTS.md)
    3: Table(3, "spatial", "image", "Table 3: spatial growing",
             {"individual": (59, 59, 59, 59), "slimmable": (59, 84, 104, 120), "progressive": (59, 96, 126, 149)},
             ("psnr", "ssim", "lpips"), "spatial"),
    # temporal: six sine layers; individual one width-296 network per window; widths solved from
    # the seed's parameter counts (441,635 / 882,836 / 1,316,867 slimmable)
    4: Table(4, "temporal", "video", "Table 4: temporal growing",
             {"individual": (296, 296, 296), "slimmable": (296, 419, 512), "progressive": (296, 479, 619)},
             ("psnr", "ssim", "lpips"), "temporal"),
}
REF_KEYS = {"psnr": "psnr-rgb", "ssim": "ssim", "lpips": "lpips"}


def scaled(widths: tuple, factor: float) -> tuple:
    return tuple(max(1, round(w * factor)) for w in widths)


def settings_for(t: Table, method: str, args, budget: float | None):
    """EncodeSettings for one cell, or (None, why) when this build cannot encode it."""
    from snf.settings import EncodeSettings, SettingsError
    kw = {"mode": method, "widths": scaled(t.widths[method], args.widths_scale), "preset": args.preset,
          "time_budget": budget, "steps": args.steps, "seed": 0}
    if t.grow != "spectral":
        kw["grow"] = t.grow
    if t.signal == "sdf":
        kw["signal"] = "sdf"
    if t.signal in ("sdf", "video") and args.batch:
        kw["batch"] = args.batch
    try:
        return EncodeSettings(**kw), None
    except (SettingsError, TypeError, ValueError) as e:
        return None, str(e)


# -- inputs ------------------------------------------------------------------------------------

@dataclass
class Input:
    """One signal a table runs on: its stem, what it is (said in the table), and the data."""
    stem: str
    path: str
    what: str
    data: object
    samples: int
    fps: float | None = None
    cut: dict | None = None   # a video's frames [start, stop] and scale, as read


def inputs_for(t: Table, args) -> list:
    if t.signal == "image":
        paths = list_images(args.images)
        if t.number == 3:
            paths = paths[:SPATIAL_IMAGES]
        if args.max_images:
            paths = paths[:args.max_images]
        out = []
        for p in paths:
            img = load_rgb(p)
            h0, w0 = img.shape[:2]
            what = f"{w0}x{h0}"
            if args.scale != 1:
                from snf.signals.video import downscale
                img = downscale(img, args.scale)
                what += f" downscaled x{args.scale:g} to {img.shape[1]}x{img.shape[0]} (Lanczos)"
            h, w = img.shape[:2]
            out.append(Input(_stem(p), os.path.abspath(p), what, img, w * h, cut={"scale": args.scale}))
        return out
    if t.signal == "sdf":
        from snf.signals.sdf import load_shape
        out = []
        for p in args.meshes:
            pts, normals = load_shape(p, seed=0)
            out.append(Input(_stem(p), os.path.abspath(p), f"{len(pts):,} oriented surface samples",
                             (pts, normals), len(pts)))
        return out
    from snf.signals.video import load_video
    start, stop = args.frames or (0, None)
    video, fps = load_video(args.video, frames=(start, stop), scale=args.scale)
    n, h, w = video.shape[:3]
    what = (f"frames {start}:{start + n} ({n} frames{f' at {fps:g} fps' if fps else ''}), "
            + (f"downscaled x{args.scale:g} to {w}x{h}" if args.scale != 1 else f"{w}x{h}, full size"))
    return [Input(_stem(args.video), os.path.abspath(args.video), what, video, video.size // video.shape[3], fps,
                  {"frames": [start, start + n], "scale": args.scale})]


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path.rstrip(os.sep)))[0]


# -- one cell: encode (or reuse), decode each level from the file, score ----------------------

def cell(t: Table, inp: Input, method: str, s, args, folder: str, bar: Bar, label: str) -> dict:
    """The scores of one encode, from `folder/<method>.json` when a finished cell with the same
    settings and input is there (resume), else encoded and scored now."""
    key = {"settings": s.header_record(), "time_budget": s.time_budget, "input": inp.path, "what": inp.what,
           "device": args.device or "cpu"}
    if t.signal == "sdf":
        key["resolution"] = args.mc_resolution
    meta_path, snf_path = (os.path.join(folder, f"{method}.{x}") for x in ("json", "snf"))
    if os.path.isfile(meta_path) and os.path.isfile(snf_path):
        try:
            with open(meta_path) as f:
                old = json.load(f)
            if old.get("key") == key:
                return {**old, "resumed": True}
        except (OSError, ValueError):
            pass
    os.makedirs(folder, exist_ok=True)
    from snf.encode import encoder

    def progress(d):
        bar.update(label, d["fraction"], 1.0, d["text"])
    run = {"quiet": True, "progress": progress, "device": args.device}
    t0 = time.monotonic()
    if t.signal == "image":
        res = encoder.compress(inp.data, s, **run)
    elif t.signal == "video":
        res = encoder.compress_video(inp.data, s, fps=inp.fps, **run)
    else:
        res = encoder.compress_sdf(*inp.data, s, **run)
    seconds = time.monotonic() - t0
    write_atomic(snf_path, res["bytes"], durable=False)
    levels, files = score(t, inp, res["bytes"], folder, method, args)
    doc = {"key": key, "levels": levels, "files": files, "seconds": round(seconds, 1), "bytes": len(res["bytes"]),
           "steps": res["timing"]["stage_steps"], "stage_seconds": [round(x, 1) for x in res["timing"]["stage_seconds"]],
           "threads": _threads(), "encoded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(meta_path, doc)
    return {**doc, "resumed": False}


def score(t: Table, inp: Input, data: bytes, folder: str, method: str, args) -> tuple:
    """Per level: params and the table's metrics, decoded from the file; the files written."""
    from snf.format.container import read
    parsed = read(data)
    arch = parsed.arch
    levels, files = [], []
    for k in range(1, arch.levels + 1):
        row = {"params": arch.params(k)}
        if t.signal == "image":
            from snf.decode.decoder import render_image
            # a spatially grown level is measured over the stripes it reveals (as the seed's Table 3)
            rec = render_image(parsed, k, crop=True)
            ref = np.ascontiguousarray(inp.data[:, :rec.shape[1]])
            row.update(psnr=finite(metrics.psnr(ref, rec)), ssim=metrics.ssim(ref, rec), lpips=metrics.lpips(ref, rec))
        elif t.signal == "video":
            from snf.decode.video import encode_mp4, render_frames
            frames = render_frames(parsed, k)  # the frames level k covers
            ref = inp.data[:len(frames)]
            row.update(frames=len(frames), psnr=finite(metrics.psnr(ref, frames)),
                       ssim=float(np.mean([metrics.ssim(a, b) for a, b in zip(ref, frames)])),
                       lpips=None if metrics.lpips_status()[0] is None else
                       float(np.mean([metrics.lpips(a, b) for a, b in zip(ref, frames)])))
            mp4 = encode_mp4(frames, inp.fps or 25.0)
            if mp4 is not None:
                name = f"{method}-level{k}.mp4"
                write_atomic(os.path.join(folder, name), mp4, durable=False)
                files.append(name)
        else:
            from snf.decode.sdf import extract_mesh, mesh_bytes, sdf_grid, surface_points
            from snf.signals.sdf import chamfer, to_field
            pts, _ = inp.data
            transform = parsed.header["transform"]
            rng = np.random.default_rng(0)
            ref = to_field(pts[rng.choice(len(pts), min(len(pts), CHAMFER_POINTS), replace=False)], transform)
            verts, faces = extract_mesh(sdf_grid(parsed, k, args.mc_resolution))  # field units
            row.update(chamfer=round(chamfer(surface_points(verts, faces, CHAMFER_POINTS, 0), ref), 5),
                       faces=int(len(faces)))
            if len(faces):
                world = np.asarray(transform["center"]) + transform["scale"] * verts
                name = f"{method}-level{k}.ply"
                write_atomic(os.path.join(folder, name), mesh_bytes(world, faces), durable=False)
                files.append(name)
        levels.append(row)
    return levels, files


def chamfer_floor(path: str) -> float:
    """The Chamfer distance of the input against itself, sampled twice independently (30,000 points
    each, field units): no decoded surface can score below about this, so levels at the floor are
    indistinguishable by this metric."""
    from snf.signals.sdf import chamfer, load_shape, normalisation, to_field
    a, _ = load_shape(path, seed=0)
    b, _ = load_shape(path, seed=1)
    transform = normalisation(a)
    rng = np.random.default_rng(0)
    pick = lambda p: to_field(p[rng.choice(len(p), min(len(p), CHAMFER_POINTS), replace=False)], transform)  # noqa: E731
    return round(chamfer(pick(a), pick(b)), 5)


def _threads() -> int:
    import torch
    return torch.get_num_threads()


# -- the run -----------------------------------------------------------------------------------

def tables_to_run(args) -> list:
    """--table N (repeatable), or every table whose input was given."""
    given = {1: args.images is not None, 3: args.images is not None, 2: bool(args.meshes), 4: args.video is not None}
    need = {1: "--images", 3: "--images", 2: "--meshes", 4: "--video"}
    if args.table:
        for n in args.table:
            if not given[n]:
                raise BenchError(f"--table {n} needs {need[n]}")
        return sorted(set(args.table))
    chosen = [n for n in sorted(TABLES) if given[n]]
    if not chosen:
        raise BenchError("give --images (Tables 1 and 3), --meshes (Table 2) or --video (Table 4)")
    return chosen


def budget_for(t: Table, inp: Input, args, gpu: bool) -> float | None:
    """Seconds per method per input, or None when the steps decide (--steps, or the paper
    preset's own steps on a GPU)."""
    if args.steps or (args.preset == "paper" and gpu and args.budget is None):
        return None
    return args.budget or default_budget(inp.samples, "paper")


def run(args, out: str, bar: Bar, say) -> dict:
    import torch
    gpu = (args.device or "").startswith("cuda") and torch.cuda.is_available()
    if args.preset == "paper":
        how = (f"{args.steps} steps a level" if args.steps else "the seed's 50,000 steps a level" if gpu and
               args.budget is None else "cut to the wall-clock budget")
        say(f"--preset paper: the seed's recipe (full batch, Adam 2e-4), {how}"
            + (f" on {torch.cuda.get_device_name(0)}" if gpu else " (on the CPU)"))
    _, lp_why = metrics.lpips_status()
    results = {}
    for n in tables_to_run(args):
        t = TABLES[n]
        if lp_why and "lpips" in t.metrics:
            say(f"{t.title}: LPIPS not measured: {lp_why}")
        if t.signal == "sdf":
            say(f"{t.title}: PSNR and SSIM do not apply to a distance field; Chamfer distance instead "
                f"(field units: the shape scaled into [-0.9, 0.9]^3; marching cubes on {args.mc_resolution}^3)")
        per_input, skipped = {}, {}
        inputs = inputs_for(t, args)
        for i, inp in enumerate(inputs, 1):
            budget = budget_for(t, inp, args, gpu)
            cells = {}
            folder = os.path.join(out, f"table{n}", inp.stem)
            for m in METHODS:
                if m not in t.widths:
                    continue
                if args.methods and m not in args.methods:
                    skipped[m] = "not run: left out by --methods"
                    continue
                s, why = settings_for(t, m, args, budget)
                if s is None:
                    skipped[m] = why
                    continue
                r = cell(t, inp, m, s, args, folder, bar, f"[{i}/{len(inputs)}] table {n} {inp.stem} {m}")
                cells[m] = r
                figs = " / ".join(_f(l.get("psnr", l.get("chamfer")), 2 if "psnr" in l else 4) for l in r["levels"])
                bar.line(f"table {n} {inp.stem} {m}: {'PSNR' if t.signal != 'sdf' else 'Chamfer'} {figs}, "
                         f"{r['bytes']:,} bytes, {r['seconds']} s, steps {r['steps']}"
                         + (" (kept from an earlier run)" if r["resumed"] else ""))
            per_input[inp.stem] = {"what": inp.what, "path": inp.path, "cut": inp.cut, "budget_s": budget,
                                   "steps_per_level": args.steps, "methods": cells}
            if t.signal == "sdf":
                per_input[inp.stem]["chamfer_floor"] = chamfer_floor(inp.path)
        for m, why in skipped.items():
            say(f"{t.title}: {m} " + (why if why.startswith("not run") else f"not measured: the encoder cannot "
                                      f"do it ({why})"))
        doc = {"name": f"snf-bench paper, {t.title}", "table": n, "file": f"paper-{t.slug}.json", "grow": t.grow, "signal": t.signal,
               "preset": args.preset, "widths_scale": args.widths_scale,
               "widths": {m: list(scaled(v, args.widths_scale)) for m, v in t.widths.items()},
               "seed_widths": {m: list(v) for m, v in t.widths.items()},
               "budget": budget_text(args, per_input, t), "machine": machine_text(),
               "skipped": skipped, "lpips_skipped": lp_why,
               "mean": mean_table(per_input, t.metrics), "per_input": per_input,
               "reference": reference(t)}
        if t.signal == "image":  # the name earlier results and tests read
            doc["per_image"] = per_input
        write_json(os.path.join(out, doc["file"]), doc)
        results[n] = doc
    return results


def reference(t: Table) -> dict:
    name = f"seed {t.title} (reference: Streamable Neural Fields, supplementary)"
    if t.number == 1:
        return {"name": name, **paper_table("spectral")}
    from snf.bench.refdata import load
    d = load("snf_paper_tables.json")
    if t.number == 3:
        return {"name": name, **d["table3_spatial"]}
    if t.number == 4:
        return {"name": name + ", 7 UVG videos", **d["table4_temporal"]}
    sdf = d["table2_sdf_chamfer"]
    # the parameter rows by the block layout (the printed table swaps their labels)
    return {"name": name + ", Stanford armadillo, dragon, happy buddha",
            "params": {"individual": [66897, 133981, 198657], "progressive": [66897, 133873, 198388]},
            "chamfer": sdf["chamfer"]}


def budget_text(args, per_input: dict, t: Table) -> str:
    b = sorted({v["budget_s"] for v in per_input.values()} - {None})
    if args.steps:
        what = f"{args.steps} steps a level"
    elif b:
        what = (f"{b[0]:g} s" if len(b) == 1 else f"{b[0]:g}-{b[-1]:g} s") + " of training per method per input"
    else:
        what = "the preset's steps"
    steps = [c["steps"] for v in per_input.values() for c in v["methods"].values()]
    if steps and not args.steps:
        what += " (steps reached, by level: " + "; ".join("/".join(str(x) for x in s) for s in steps[:6]) + \
            ("; ..." if len(steps) > 6 else "") + ")"
    return (f"{what}, preset {args.preset}, {_threads()} thread(s)"
            + (f", batch {args.batch}" if args.batch and t.signal in ("sdf", "video") else "")
            + (f", seed widths x{args.widths_scale:g}" if args.widths_scale != 1 else ", the seed's widths"))


def machine_text() -> str:
    m = machine()
    return f"{m.get('cpu', m.get('processor'))}, {m.get('cpus')} cores" + (f", {m['cuda']}" if m.get("cuda") else "")


def mean_table(per_input: dict, keys: tuple) -> dict:
    """{method: [{params, metric...} per level]} averaged over inputs."""
    out = {}
    for m in METHODS:
        runs = [v["methods"][m] for v in per_input.values() if m in v["methods"]]
        if not runs:
            continue
        rows = []
        for k in range(len(runs[0]["levels"])):
            cell_ = {"params": runs[0]["levels"][k]["params"]}
            for key in keys:
                vals = [r["levels"][k].get(key) for r in runs]
                cell_[key] = None if any(v is None for v in vals) else round(float(np.mean(vals)), 5)
            rows.append(cell_)
        out[m] = rows
    return out


def table(doc: dict) -> str:
    """The seed-shaped table: per method and sub-network, ours beside the seed's (reference)."""
    t = TABLES[doc["table"]]
    ref, mean = doc["reference"], doc["mean"]
    inputs = doc["per_input"]
    sizes = sorted({v["what"] for v in inputs.values()})
    what = "; ".join(f"{k} ({v['what']})" for k, v in inputs.items()) if t.signal != "image" else \
        f"{len(inputs)} image(s): {', '.join(inputs)} ({'; '.join(sizes)})"
    lines = [f"**{t.title}** (measured: {what}; budget: {doc['budget']}; machine: {doc['machine']}, shared; "
             f"reference: {ref['name']})", ""]
    if t.signal == "sdf":
        stems = list(inputs)
        shapes = list(next(iter(ref["chamfer"].values())))
        lines += ["| method | sub-network | width | params | " + " | ".join(f"Chamfer {s}" for s in stems)
                  + " | reference params | " + " | ".join(f"reference Chamfer {s}" for s in shapes) + " |",
                  "| --- " * (4 + len(stems) + 1 + len(shapes)) + "|"]
        for m in METHODS:
            if m not in mean:
                continue
            for k in range(len(mean[m])):
                ours = [inputs[s]["methods"][m]["levels"][k]["chamfer"] if m in inputs[s]["methods"] else None
                        for s in stems]
                lines.append(f"| {m} | {k + 1} | {doc['widths'][m][k]} | {mean[m][k]['params']:,} | "
                             + " | ".join(_f(c, 5) for c in ours) + f" | {_f(ref['params'][m][k], 0, True)} | "
                             + " | ".join(_f(ref["chamfer"][m][s][k], 3) for s in shapes) + " |")
            notes = untrained(doc) + [
            f"{s}: the metric's floor (the input against itself, sampled twice) is {inputs[s]['chamfer_floor']:.5f}"
            for s in stems if inputs[s].get("chamfer_floor") is not None]
        return "\n".join(lines) + "\n" + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")
    lines += ["| method | sub-network | width | params | PSNR | SSIM | LPIPS | reference params | reference PSNR "
              "| reference SSIM | reference LPIPS |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in METHODS:
        if m not in mean:
            continue
        for k, c in enumerate(mean[m]):
            r = [ref[key][m][k] if m in ref.get(key, {}) else None for key in ("params", "psnr-rgb", "ssim", "lpips")]
            lines.append(f"| {m} | {k + 1} | {doc['widths'][m][k]} | {c['params']:,} | {_f(c['psnr'])} | "
                         f"{_f(c['ssim'], 3)} | {_f(c['lpips'], 3, skipped=True)} | {_f(r[0], 0, True)} | {_f(r[1])} | "
                         f"{_f(r[2], 3)} | {_f(r[3], 3)} |")
    notes = [f"{m}: " + (why if why.startswith("not run") else f"not measured ({why})")
             for m, why in doc.get("skipped", {}).items()] + untrained(doc)
    if doc.get("lpips_skipped"):
        notes.append(f"LPIPS skipped: {doc['lpips_skipped']}")
    if t.signal == "video":
        notes.append("PSNR and SSIM of level k over the frames it covers (the first k of 3 windows); "
                     "an mp4 of each level beside each cell")
    return "\n".join(lines) + "\n" + "".join(f"\n- {n}" for n in notes) + ("\n" if notes else "")


def untrained(doc: dict) -> list:
    """A level that trained 0 steps (a time budget spent before it began) is no result: say so."""
    out = []
    for m in METHODS:
        counts = {}
        for v in doc["per_input"].values():
            steps = v["methods"].get(m, {}).get("steps") or []
            for k, n in enumerate(steps if len(steps) > 1 else []):
                if n == 0:
                    counts[k + 1] = counts.get(k + 1, 0) + 1
        out += [f"{m} level {k}: 0 training steps on {n} input(s) (the time budget was spent before it began): "
                "an untrained level, not a result" for k, n in sorted(counts.items())]
    return out


def _f(x, nd: int = 2, thousands: bool = False, skipped: bool = False) -> str:
    if x is None:
        return "skipped" if skipped else "-"
    return f"{x:,.0f}" if thousands else f"{x:.{nd}f}"
