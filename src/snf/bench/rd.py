"""`snf-bench rd`: rate and distortion of snf against the codecs a user would pick instead.

Per image and level, snf's point is the real byte count a viewer needs for that
level (the file's prefix up to the level's chunk end, header included; the
whole file at the last level) and the PSNR / MS-SSIM of what that prefix
decodes to. Against: the progressive-JPEG prefix of exactly those bytes, whole
JPEG / WebP / JPEG 2000 / JPEG XL files over their quality ranges, and the
JPEG 2000 quality-layer prefixes. Each method and setting becomes one
CompressAI-format JSON file; BD-rates and the plot are computed from those.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import numpy as np

from snf.bench import bdrate, codecs, metrics
from snf.bench.budget import default_budget
from snf.bench.refdata import reference_curves
from snf.bench.results import BenchError, compressai, finite, list_images, load_rgb, write_json
from snf.progress import Bar

QUALITIES = (25, 50, 75)   # snf --quality values tried, for the field families that take it
BITS = (8, 6, 4)           # --bits, for the families that take bits but not a quality


def snf_variants(values: str | None = None, fields: str | None = None) -> tuple:
    """The snf settings to measure, and a note for each field family measured differently or
    left out: every family this build's EncodeSettings accepts, at each --quality value
    (else each --bits value) if it takes that knob, else once at its own recipe. `values`
    (--values) applies to the families that take the knob; a value refused by every family
    is an error (one outside the knob's range), never a silently smaller run. `fields`
    (--fields, comma-separated) measures only those families; the others are said to be left out."""
    from snf.settings import FIELDS, EncodeSettings, SettingsError
    chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields else list(FIELDS)
    unknown = [f for f in chosen if f not in FIELDS]
    if unknown:
        raise BenchError(f"--fields: no field family {unknown[0]!r} (known: {', '.join(FIELDS)})")
    try:
        asked = [int(v) for v in values.split(",")] if values else None
    except ValueError:
        raise BenchError(f"--values must be comma-separated integers, got {values!r}") from None

    def why_not(**kw):
        try:
            EncodeSettings(**kw)
            return None
        except (SettingsError, TypeError, ValueError) as e:
            return str(e)
    out, notes = [], []
    for field in FIELDS:
        if field not in chosen:
            notes.append(f"field {field} left out: not in --fields")
            continue
        fam = {} if field == "siren" else {"field": field}  # the default family keeps its old labels
        why = why_not(**fam)
        if why:
            notes.append(f"field {field} left out: {why}")
            continue
        for knob, default in (("quality", QUALITIES), ("bits", BITS)):
            vals = asked or default
            takes = [v for v in vals if why_not(**fam, **{knob: v}) is None]
            if takes:
                out += [{**fam, knob: v} for v in takes]
                if len(takes) < len(vals):
                    refused = [v for v in vals if v not in takes]
                    raise BenchError(f"--values: {knob} {refused[0]} is outside what field {field} takes "
                                     f"({why_not(**fam, **{knob: refused[0]})})")
                break
        else:
            out.append(dict(fam))
            notes.append(f"field {field} measured once, at its own recipe: it takes neither --quality nor "
                         f"--bits ({why_not(**fam, quality=QUALITIES[-1])})")
    return out, notes


def last_level_curves(methods: dict, variants: list) -> dict:
    """Per field family measured at two or more --quality (or --bits) values: one curve of
    the whole files (each setting's last level), the single-rate curve a codec is usually
    judged by; its BD-rates against the whole-file codecs are the issue's figure of merit."""
    groups = {}
    for kw in variants:
        knob = "quality" if "quality" in kw else "bits" if "bits" in kw else None
        if knob is None:
            continue
        fam = {k: v for k, v in kw.items() if k != knob}
        groups.setdefault((tuple(sorted(fam.items())), knob), []).append(kw)
    out = {}
    for (fam, knob), kws in groups.items():
        if len(kws) < 2:
            continue
        fam = dict(fam)
        slug = variant_slug(fam) + "-last-levels" if fam else "snf-last-levels"
        name = variant_label(fam) + f" (whole files, {knob} " + ",".join(str(kw[knob]) for kw in kws) + ")"
        per = {}
        for image in methods[variant_slug(kws[0])]["per_image"]:
            curves = [methods[variant_slug(kw)]["per_image"].get(image) for kw in kws]
            if any(c is None for c in curves):
                continue
            per[image] = {k: [c[k][-1] for c in curves] for k in ("bytes", "bpp", "psnr-rgb", "ms-ssim-rgb")
                          if k in curves[0]}
            per[image][knob] = [kw[knob] for kw in kws]
        out[slug] = {"name": name, "description": f"snf {name}: the last level of each setting's file, one "
                     f"point per {knob}", "per_image": per}
    return out


def variant_label(kw: dict) -> str:
    return "snf " + (" ".join(f"{k}={v}" for k, v in kw.items()) or "defaults")


def variant_slug(kw: dict) -> str:
    return "snf-" + ("-".join(f"{k}{v}" for k, v in kw.items()) or "defaults")


def _point(img, rec, n_bytes: int, ms: bool) -> dict:
    h, w = img.shape[:2]
    p = {"bytes": n_bytes, "bpp": n_bytes * 8 / (w * h), "psnr-rgb": finite(metrics.psnr(img, rec))}
    if ms:
        p["ms-ssim-rgb"] = metrics.ms_ssim(img, rec)
    return p


def _curve(points: list, **extra) -> dict:
    """Points -> one image's CompressAI-style lists."""
    keys = ["bytes", "bpp", "psnr-rgb"] + (["ms-ssim-rgb"] if points and "ms-ssim-rgb" in points[0] else [])
    c = {k: [p[k] for p in points] for k in keys}
    c.update(extra)
    return c


def _mean(per_image: dict) -> dict:
    """Mean over images, point by point (same settings or levels in every image)."""
    curves = list(per_image.values())
    n = min(len(c["bpp"]) for c in curves)
    out = {}
    for k in ("bpp", "psnr-rgb", "ms-ssim-rgb"):
        if all(k in c for c in curves):
            vals = [[c[k][i] for c in curves] for i in range(n)]
            out[k] = [None if any(v is None for v in col) else round(float(np.mean(col)), 5) for col in vals]
    return out


def measure_snf(img, kw: dict, budget: float | None, bar: Bar, label: str, ms: bool,
                steps: int | None = None) -> dict:
    from snf import compress
    from snf.decode.decoder import render_image
    from snf.format.container import read
    from snf.settings import EncodeSettings

    def progress(d):
        bar.update(label, d["fraction"], 1.0, f"{d['text']}")
    t = time.monotonic()
    res = compress(img, EncodeSettings(time_budget=None if steps else budget, steps=steps, **kw), quiet=True,
                   progress=progress)
    seconds = time.monotonic() - t
    data = res["bytes"]
    parsed = read(data)
    L = parsed.arch.levels
    points = []
    for k in range(1, L + 1):
        n = len(data) if k == L else parsed.ends[k - 1]
        points.append(_point(img, render_image(parsed, k), n, ms))
    # the latent family keeps its encoder record in the ancillary meta chunk, not the header
    encoder = res["header"].get("encoder") or (parsed.meta or {}).get("encoder") or {}
    return {"points": points, "seconds": round(seconds, 1), "settings": encoder.get("settings"),
            "steps": res["timing"].get("stage_steps")}


def run(args, out: str, bar: Bar, say) -> dict:
    paths = list_images(args.images)
    variants, notes = snf_variants(args.values, getattr(args, "fields", None))
    for note in notes:
        say(note)
    present = {}
    for name in codecs.CODECS:
        why = codecs.available(name)
        if why:
            say(f"{codecs.LABELS[name]} skipped: {why}")
        else:
            present[name] = codecs.LABELS[name]
    say("JPEG XL progressive prefixes skipped: imagecodecs' jpegxl_decode needs the whole codestream "
        "(a prefix returns JXL_DEC_NEED_MORE_INPUT)")
    methods = {}   # slug -> {"name", "description", "per_image": {image: curve}}

    def add(slug, name, desc, image, curve):
        m = methods.setdefault(slug, {"name": name, "description": desc, "per_image": {}})
        m["per_image"][image] = curve
    budgets = {}
    for i, path in enumerate(paths, 1):
        img = load_rgb(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        h, w = img.shape[:2]
        ms = metrics.ms_ssim_skip_reason(img.shape) is None
        if not ms:
            say(f"{stem}: {metrics.ms_ssim_skip_reason(img.shape)}")
        budget = None if args.steps else (args.budget or default_budget(w * h, "rd"))
        budgets[stem] = budget
        how = f"{args.steps} steps a level" if args.steps else f"{budget:.0f} s encode budget"
        pj = codecs.ProgressiveJpeg(img)
        for kw in variants:
            label = f"[{i}/{len(paths)}] {stem} {variant_label(kw)}"
            r = measure_snf(img, kw, budget, bar, label, ms, args.steps)
            slug = variant_slug(kw)
            add(slug, variant_label(kw), f"snf, one progressive file per image, {how}; "
                f"point k = the prefix that decodes level k (header included; whole file at the last level)",
                stem, _curve(r["points"], seconds=r["seconds"], steps=r["steps"], settings=r["settings"]))
            prefix = []
            for p in r["points"]:
                best = pj.at(p["bytes"])
                prefix.append(_point(img, best[1], p["bytes"], ms) | {"quality": best[2]} if best else
                              {"bytes": p["bytes"], "bpp": p["bpp"], "psnr-rgb": None})
            add(f"jpeg-progressive-prefix-at-{slug}", f"progressive jpeg prefix at {variant_label(kw)} bytes",
                "progressive-JPEG prefix at N bytes: the best PSNR the first N bytes of a progressive JPEG "
                "(Pillow, quality 5..95) decode to, at the byte counts of snf's levels",
                stem, _curve(prefix, quality=[p.get("quality") for p in prefix]))
            bar.line(f"{stem} {variant_label(kw)}: " + ", ".join(
                f"L{k} {p['bytes']:,} B {p['psnr-rgb']:.2f} dB (prefix-JPEG {q['psnr-rgb'] or float('nan'):.2f})"
                for k, (p, q) in enumerate(zip(r["points"], prefix), 1)) + f" [{r['seconds']} s, steps {r['steps']}]")
        for name in present:
            bar.update(f"[{i}/{len(paths)}] {stem} {name}", 0, 1, "encoding", force=True)
            setting, _, _, _ = codecs.CODECS[name]
            pts, vals = [], []
            for v, data, rec in codecs.encode_all(name, img):
                pts.append(_point(img, rec, len(data), ms))
                vals.append(v)
            add(name, present[name], f"{present[name]}, whole files, {setting} {list(vals)}", stem,
                _curve(pts, **{setting.replace(' ', '_'): vals}))
        if "jpeg2000" in present:
            lj = codecs.LayeredJpeg2000(img)
            pts = [_point(img, rec, n, ms) for n, rec in lj.prefixes()]
            add("jpeg2000-layer-prefixes", "JPEG 2000 quality-layer prefixes (Pillow/OpenJPEG)",
                f"one JPEG 2000 codestream with {len(lj.rates)} quality layers (ratios {list(lj.rates)}, LRCP), "
                "cut after each whole layer (tile-part length fixed, EOC appended)", stem, _curve(pts))
        bar.line(f"{stem}: classical codecs done")

    lasts = last_level_curves(methods, variants)
    methods.update(lasts)
    files = {}
    for slug, m in methods.items():
        doc = compressai(m["name"], m["description"], m["per_image"], _mean(m["per_image"]))
        path = os.path.join(out, f"{slug}.json")
        write_json(path, doc)
        files[slug] = doc
    refs = reference_curves([os.path.splitext(os.path.basename(p))[0] for p in paths])
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    for slug, doc in refs.items():
        write_json(os.path.join(out, "reference", f"{slug}.json"), doc)
    bd = bd_rates(files, [variant_slug(kw) for kw in variants] + sorted(lasts))
    write_json(os.path.join(out, "bd-rate.json"), bd)
    from snf.bench import plot
    pngs = plot.rd_plots(files, refs, [variant_slug(kw) for kw in variants], out)
    return {"files": sorted(files), "budgets": budgets, "bd": bd, "pngs": pngs, "variants": variants}


ANCHORS = ("jpeg", "webp", "jpeg2000", "jpegxl", "avif", "jpeg2000-layer-prefixes")


def bd_rates(files: dict, snf_slugs: list) -> dict:
    """BD-rate (%) of each snf setting against each anchor: per image, and their mean."""
    out = {"implementation": bdrate.implementation(), "metric": "psnr-rgb", "rates": {}}
    for s in snf_slugs:
        row = {}
        anchors = [a for a in ANCHORS if a in files] + \
            ([f"jpeg-progressive-prefix-at-{s}"] if f"jpeg-progressive-prefix-at-{s}" in files else [])
        for a in anchors:
            per, why = {}, None
            for image, c in files[s]["per_image"].items():
                ac = files[a]["per_image"].get(image)
                try:
                    per[image] = round(bdrate.bd_rate(ac["bpp"], ac["psnr-rgb"], c["bpp"], c["psnr-rgb"]), 2)
                except (bdrate.BDRateError, ValueError, TypeError) as e:
                    per[image], why = None, str(e)
            vals = [v for v in per.values() if v is not None]
            row[a] = {"mean": round(float(np.mean(vals)), 2) if vals and len(vals) == len(per) else None,
                      "per_image": per, **({"note": why} if why else {})}
        out["rates"][s] = row
    return out


def tables(res: dict, files_dir: str) -> str:
    """Markdown tables: snf per image and level beside the prefix-JPEG of the same bytes; BD-rates."""
    import json
    lines = []
    for kw in res["variants"]:
        slug = variant_slug(kw)
        d = json.load(open(os.path.join(files_dir, f"{slug}.json")))
        pj = json.load(open(os.path.join(files_dir, f"jpeg-progressive-prefix-at-{slug}.json")))
        lines += [f"**{d['name']}**", "",
                  "| image | level | bytes | bpp | PSNR | MS-SSIM | prefix-JPEG PSNR (same bytes) | difference |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for image, c in d["per_image"].items():
            q = pj["per_image"][image]
            for k in range(len(c["bpp"])):
                ms = c.get("ms-ssim-rgb", [None] * 99)[k]
                a, b = c["psnr-rgb"][k], q["psnr-rgb"][k]
                lines.append(f"| {image} | {k + 1} | {c['bytes'][k]:,} | {c['bpp'][k]:.4f} | {_f(a)} | "
                             f"{_f(ms, 4)} | {_f(b)} | {_f(None if a is None or b is None else a - b, sign=True)} |")
        lines.append("")
    bd = res["bd"]
    anchors = sorted({a for row in bd["rates"].values() for a in row if not a.startswith("jpeg-progressive")})
    lines += [f"BD-rate (%, PSNR, {bd['implementation']}; negative: snf needs fewer bits; mean over images; "
              "'-' where the curves share no PSNR range)", "",
              "| snf setting | " + " | ".join(anchors) + " | progressive-JPEG prefix, same bytes |",
              "| --- |" + " --- |" * (len(anchors) + 1)]
    for s, row in bd["rates"].items():
        pj = next((v for a, v in row.items() if a.startswith("jpeg-progressive")), {"mean": None})
        lines.append(f"| {s} | " + " | ".join(_f(row[a]["mean"], 1, sign=True) if a in row else "-"
                                                for a in anchors) + f" | {_f(pj['mean'], 1, sign=True)} |")
    return "\n".join(lines) + "\n"


def _f(x, nd: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:+.{nd}f}" if sign else f"{x:.{nd}f}"
