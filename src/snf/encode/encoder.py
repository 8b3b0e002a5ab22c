"""Image -> .snf bytes: train, quantise each level as its stage ends, pack.

`compress` returns a plain dict (CompressAI style): the file bytes, the header,
and per-level figures. This is the only module of the codec that imports torch.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from snf import __version__
from snf.field.arch import Arch
from snf.settings import EncodeSettings
from snf.format.container import DEFAULT_COORDS, build
from snf.progress import Bar
from snf.encode.qat import RDFakeQuant, fake_quantiser
from snf.decode.grid_render import GridNetwork
from snf.format import coded
from snf.encode import rd, rdoq
from snf.decode.render import Network, render_field, to_samples
from snf.format.gridcode import FEATURE as GRID_FEATURE, FEATURE_CTX as GRID_CTX, encode_level as encode_level_grid
from snf.signals.image import VALUE_RANGE, image_samples, psnr
from snf.signals.regions import region_order
from snf.signals.video import video_samples
from snf.encode.presets import GRID_PRESET, PRESETS, per_level, with_overrides
from snf.encode.train import Budget, Trainer


@dataclass
class Fit:
    """What the trainer fits for one signal kind, and how a decoded level is judged.

    coords/values: training samples, ordered region by region under spatial or
    temporal growth (`region_rows[j]` is where region j starts); `measure(arch,
    levels, k)` -> the level's figures from dequantised blocks (numpy, as a decoder
    renders them); `objective`: a stage objective factory, or None for the MSE fit.
    """
    header: dict
    coords: np.ndarray
    values: np.ndarray
    measure: Callable
    region_rows: list | None = None
    objective: Callable | None = None
    measure_float: bool = True


def image_header(img: np.ndarray, arch: Arch, quant: dict, train: dict) -> dict:
    h, w, c = img.shape
    return {
        "signal": "image",
        "size": [w, h],
        "channels": c,
        "arch": arch.to_dict(),
        "coords": {"range": [-1.0, 1.0], "grid": "linspace", "order": "xy"},
        "values": {"range": list(VALUE_RANGE), "bit_depth": 8},
        "quant": quant,
        "levels": [],
        "encoder": {"name": "snf", "version": __version__, **train},
    }


def _ordered(arch: Arch, size: tuple, coords: np.ndarray, values: np.ndarray) -> tuple:
    """Samples in region order (unchanged without regional growth), and the region rows."""
    if not arch.regional:
        return coords, values, None
    perm, rows = region_order(arch, size)
    return coords[perm], values[perm], rows


def image_fit(img: np.ndarray, arch: Arch) -> Fit:
    h, w, c = img.shape
    coords, values, rows = _ordered(arch, (w, h), *image_samples(img))

    def measure(arch, levels, k):
        out, stop = render_field(arch, levels, k, (w, h))
        stop = w if stop is None else stop  # PSNR over the revealed columns
        return {"psnr": psnr(img[:, :stop].reshape(-1, c), to_samples(out[:, :stop], VALUE_RANGE).reshape(-1, c))}
    hd = image_header(img, arch, {}, {})
    return Fit({k: hd[k] for k in ("signal", "size", "channels", "coords", "values")}, coords, values, measure, rows)


def video_fit(video: np.ndarray, arch: Arch, fps: float | None = None) -> Fit:
    """A uint8 (T, H, W, C) clip: (x, y, t) samples; PSNR over the frames a level covers."""
    t, h, w, c = video.shape
    coords, values, rows = _ordered(arch, (w, h, t), *video_samples(video))

    def measure(arch, levels, k):
        out, stop = render_field(arch, levels, k, (w, h, t))
        stop = t if stop is None else stop
        return {"psnr": psnr(video[:stop].reshape(-1, c), to_samples(out[:stop], VALUE_RANGE).reshape(-1, c))}
    # no `coords` key: its must-understand defaults describe images; format_spec 4.1 gives (x, y, t)
    header = {"signal": "video", "size": [w, h, t], "channels": c,
              "values": {"range": list(VALUE_RANGE), "bit_depth": 8}}
    if fps:
        header["fps"] = float(fps)
    return Fit(header, coords, values, measure, rows)


SDF_RESOLUTION = 64       # the header's default extraction grid (per side)
SDF_MEASURE_RESOLUTION = 48


def sdf_fit(points: np.ndarray, normals: np.ndarray, arch: Arch, seed: int = 0) -> Fit:
    """Oriented surface samples in the input's units -> SIREN's SDF objective; each level
    is judged by the Chamfer distance (field units) of its marching-cubes surface."""
    from snf.encode.stage import SdfFit
    from snf.signals.sdf import chamfer, normalisation, to_field
    from snf.decode.sdf import extract_mesh, surface_points
    transform = normalisation(points)
    pts = to_field(points, transform)
    rng = np.random.default_rng(seed)
    ref = pts[rng.choice(len(pts), min(len(pts), 30_000), replace=False)]

    def measure(arch, levels, k):
        r = SDF_MEASURE_RESOLUTION
        grid = render_field(arch, levels, k, (r, r, r))[0][..., 0]
        verts, faces = extract_mesh(grid)
        return {"chamfer": round(chamfer(surface_points(verts, faces, len(ref), seed), ref), 5)}

    def objective(model, levels, coords, values, gen, batch):
        return SdfFit(model, levels, coords, values, gen, batch)
    header = {"signal": "sdf", "size": [SDF_RESOLUTION] * 3, "channels": 1,
              "values": {"range": [-1.0, 1.0], "bit_depth": 8},  # unused: the output is a distance
              "transform": transform}
    return Fit(header, pts, normals.astype(np.float32), measure, None, objective, measure_float=False)


def compress(img: np.ndarray, settings: EncodeSettings | None = None, *, quiet: bool = True,
             device: str | None = None, progress=None, publish=None, refit: bool | None = None,
             cache_limit: int | None = None, **kw) -> dict:
    """Encode a uint8 image (H, W, C) into .snf bytes.

    `settings` decides the bytes (keyword arguments such as ``widths=`` or
    ``bits=`` build or override one, CompressAI style); `quiet`, `device` and
    `progress` do not. `progress`, if given, is called with a dict (level,
    levels, step, psnr, fraction of the whole encode, text) at most twice a second.
    `cache_limit` caps the bytes of cached frozen-level activations (the server sizes
    it from a job's memory allowance); past it a stage trains by autograd instead.
    `publish`, if given, is called with the bytes of a valid prefix file (the header
    and every level finished so far, no end chunk) after each level but the last: a
    caller writes it atomically so a server can stream those levels while later ones
    train (a growing file). The final bytes do not depend on it.
    """
    s = _settings(settings, kw)
    if s.field == "grid":
        return compress_grid(img, s, quiet=quiet, device=device, progress=progress, publish=publish)
    s = s.for_signal("image")
    return encode_fit(lambda arch: image_fit(img, arch), s, img.shape[2], quiet=quiet, device=device,
                      progress=progress, publish=publish, refit=refit, cache_limit=cache_limit)


def compress_video(video: np.ndarray, settings: EncodeSettings | None = None, *, fps: float | None = None,
                   quiet: bool = True, device: str | None = None, progress=None, publish=None, **kw) -> dict:
    """Encode a uint8 clip (T, H, W, C); under grow temporal level k covers the first k of K windows.
    `--quality` applies as to images (the rate-distortion steps weigh the sample MSE of the frames)."""
    s = _settings(settings, kw).for_signal("video")
    return encode_fit(lambda arch: video_fit(video, arch, fps), s, video.shape[3], quiet=quiet, device=device,
                      progress=progress, publish=publish)


def compress_sdf(points: np.ndarray, normals: np.ndarray, settings: EncodeSettings | None = None, *,
                 quiet: bool = True, device: str | None = None, progress=None, publish=None, **kw) -> dict:
    """Encode a shape given as oriented surface samples (N, 3) + unit normals (N, 3).
    Always fixed bits (`settings.for_signal` fills 8 if none): the rate-distortion steps of
    `--quality` weigh sample MSE, which the SDF objective (distance and normals) is not."""
    s = _settings(settings, kw).for_signal("sdf")
    return encode_fit(lambda arch: sdf_fit(points, normals, arch, s.seed), s, 1, quiet=quiet, device=device,
                      progress=progress, publish=publish)


def _settings(settings, kw) -> EncodeSettings:
    s = settings or EncodeSettings()
    return s.with_(**kw) if kw else s


def encode_fit(make_fit: Callable, s: EncodeSettings, channels: int, *, quiet: bool = True,
               device: str | None = None, progress=None, publish=None, refit: bool | None = None,
               cache_limit: int | None = None) -> dict:
    """The one encode loop for every signal kind: train, quantise each level as its stage
    ends (judging it as the decoder will render it), pack."""
    bits, seed, time_budget = s.bits, s.seed, s.time_budget
    qat, quality = s.qat_on, s.quality_on
    torch.manual_seed(seed)
    arch = s.arch(d_out=channels)
    fit = make_fit(arch)
    s.check_decodable(arch, fit.header)  # before training: what no decoder would render is refused now
    if quality is None:  # experts, and SDFs: fixed bits, steps from each row's peak (small blocks 4 bits finer)
        quant = {"coding": coded.CODING, "bits": bits, "bits_small": min(max(bits, bits + 4), 14)}
    else:
        quant = {"coding": coded.CODING, "quality": quality}
    eps = None if quality is None else rd.eps_of_quality(quality)
    use_rdoq = eps is not None and s.rdoq_on and rdoq.applies(arch)
    p = with_overrides(PRESETS[s.preset], lr=s.lr, batch=s.batch, refit=refit)
    if s.lr is None:  # the preset's rate for this kind of signal, where it has one
        p = with_overrides(p, lr=dict(p.lr_signal).get(fit.header["signal"]))
        if p.lr_width and (arch.regional or fit.header["signal"] == "video"):  # by width (Preset.lr_width)
            first = per_level(p.lr, arch.levels)[0]
            p = with_overrides(p, lr=tuple(min(first, p.lr_width / w) for w in arch.widths))
    if cache_limit is not None:
        p = with_overrides(p, cache_limit=min(p.cache_limit, cache_limit))
    budget = Budget(steps=None, seconds=float(time_budget)) if time_budget else \
        Budget(steps=[s.steps] * arch.levels if s.steps else per_level(p.steps, arch.levels),
               deadline=s.deadline_on if str(device or "cpu").startswith("cpu") else None)
    bar = Bar(quiet=quiet)

    def choose_codes(k: int, model) -> list:
        """Level k's steps by rate and distortion: a step per row from the output's sensitivity."""
        a, b = rows_of(k)  # the samples level k's stage fitted (all, without regional growth)
        sens, mse = rd.sensitivity(model, k, fit.coords[a:b], fit.values[a:b], seed=seed)
        return rd.rd_codes(arch, k, sens, mse, eps)

    fq = None if not qat else (RDFakeQuant(choose_codes) if eps is not None else fake_quantiser(arch, quant))
    trainer = Trainer(arch, fit.coords, fit.values, p, budget, seed=seed, device=device, bar=bar,
                      progress=progress, fake_quant=fq,
                      region_rows=fit.region_rows, objective=fit.objective)
    payloads, deq, levels, stats = {}, {}, {}, {}

    def rows_of(k: int) -> tuple:
        if fit.region_rows is None:
            return 0, len(fit.coords)
        r0, r1 = arch.trained_regions(k)
        n = len(fit.region_rows) - 1
        return fit.region_rows[min(r0, n)], fit.region_rows[min(r1, n)]

    def on_stage_end(stage_levels: list, model, refit) -> None:
        for k in stage_levels:
            floats = model.level_tensors(k)
            if eps is None:
                codes = rd.peak_codes(arch, k, floats, quant)
            elif isinstance(fq, RDFakeQuant) and k in fq.codes:  # the steps its straight-through phase trained at
                codes = fq.codes[k]
            else:  # a step per row from the output's sensitivity (snf.encode.rd)
                codes = choose_codes(k, model)
            rounder = None
            if use_rdoq:  # which integer each weight takes, by rate and distortion (snf.encode.rdoq)
                a, b = rows_of(k)
                rounder = rdoq.LevelRounder(model, k, codes, fit.coords[a:b], fit.values[a:b], eps, seed=seed)
                rounder.hidden()
                codes = rounder.codes
            ints = None if rounder is None else rounder.ints
            payloads[k], deq[k], stats[k] = coded.encode_level(arch, k, floats, codes, ints)
            refits = (qat or eps is not None) and refit is not None
            if refits:  # output columns re-solved for the rounded units
                n_out = 2 if k == 1 else 1
                model.set_level(k, deq[k][:-n_out] + floats[-n_out:])
                refit()
            if rounder is not None:
                rounder.output()
            if refits or rounder is not None:
                codes = codes if rounder is None else rounder.codes
                payloads[k], deq[k], stats[k] = coded.encode_level(arch, k, model.level_tensors(k), codes, ints)
            before = fit.measure(arch, [deq[j] for j in range(1, k)] + [floats], k) if fit.measure_float else {}
            if not arch.trains_jointly:  # shared weights keep training: set at the end only
                model.set_level(k, deq[k])
            after = fit.measure(arch, [deq[j] for j in range(1, k + 1)], k)
            levels[k] = {m: round(v, 2) if m == "psnr" else v for m, v in after.items()}
            levels[k].update({f"{m}_float": round(v, 2) if m == "psnr" else v for m, v in before.items()})
            figures = ", ".join(f"{m} {v}" + (" dB" if m.startswith("psnr") else "") for m, v in levels[k].items())
            bar.line(f"level {k}/{arch.levels}: width {arch.widths[k - 1]}, {arch.params(k)} params, {figures}")
        done = max(stage_levels)
        if publish is not None and done < arch.levels:
            head = header_of(train_record())
            head["levels"] = [levels[j] if arch.trains_jointly else {**levels[j], "steps": trainer.stage_steps[j - 1]}
                              for j in range(1, done + 1)]
            publish(build(head, [payloads[j] for j in range(1, done + 1)], end=False))

    def train_record() -> dict:
        """The settings that made the file (informative: a decoder never needs them); the
        grid family's own settings stay out (defaults here; a header byte is a level-1 byte)."""
        settings = s.header_record()
        train = {"preset": p.name, "seed": seed, "budget": "time" if time_budget else "steps",
                 "settings": settings}  # qat resolved: what ran
        if arch.trains_jointly and trainer.stage_steps:
            train["steps"] = trainer.stage_steps[0]
        return train

    def header_of(train: dict) -> dict:
        f = fit.header  # key order as images always had it
        # keys at the spec's defaults are left out (a header byte is a level-1 byte; readers fill them in)
        return {"signal": f["signal"], "size": f["size"], "channels": f["channels"], "arch": _arch_record(arch),
                **{k: _values_record(v) if k == "values" else v for k, v in f.items()
                   if k not in ("signal", "size", "channels") and not (k == "coords" and v == DEFAULT_COORDS)},
                "quant": quant, "levels": [], "encoder": {"name": "snf", "version": __version__, **train}}

    trainer.run(on_stage_end)
    for k, n in enumerate([] if arch.trains_jointly else trainer.stage_steps, 1):
        levels[k]["steps"] = n
    header = header_of(train_record())
    header["levels"] = [levels[k] for k in range(1, arch.levels + 1)]
    data = build(header, [payloads[k] for k in range(1, arch.levels + 1)])
    timing = {"stage_seconds": trainer.stage_seconds, "stage_ends": trainer.stage_ends,
              "stage_steps": trainer.stage_steps}
    # bits per parameter by tensor kind, per level (not in the header: ~60 bytes a level)
    kinds = [rd.bits_per_param(stats[k]) for k in range(1, arch.levels + 1)]
    return {"bytes": data, "header": header, "levels": header["levels"], "arch": arch, "timing": timing,
            "bits_per_param": kinds}


def _arch_record(arch: Arch) -> dict:
    """The header's `arch`: widths, and only the keys whose value differs from the spec's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(Arch) if f.name not in ("widths", "extra")}
    return {k: v for k, v in arch.to_dict().items() if k not in defaults or v != defaults[k]}


def _values_record(v: dict) -> dict:
    """The header's `values`: an integral range bound as an int (1 byte, not 9), bit_depth only if not 8."""
    out = {"range": [int(x) if float(x).is_integer() else x for x in v["range"]]}
    out.update({k: x for k, x in v.items() if k != "range" and not (k == "bit_depth" and x == 8)})
    return out


def _render_psnr(arch: Arch, levels: list, k: int, img: np.ndarray) -> float:
    h, w, c = img.shape
    values = Network(arch, levels, k).grid((w, h))
    return psnr(img.reshape(-1, c), to_samples(values, VALUE_RANGE))


def compress_grid(img: np.ndarray, s: EncodeSettings, *, quiet: bool = True, device: str | None = None,
                  progress=None, publish=None) -> dict:
    """The latent-grid family: the same Trainer, one stage per level; after each, the
    level's latents are rounded and its weights quantised (`gridcode`), and the next
    level trains on top of exactly what the decoder will see. `publish` as `compress`."""
    h, w, c = img.shape
    torch.manual_seed(s.seed)
    arch = s.grid_arch(d_out=c)
    size = (w, h)
    p = with_overrides(GRID_PRESET, lr=s.lr, batch=s.batch)
    budget = Budget(steps=None, seconds=float(s.time_budget)) if s.time_budget else \
        Budget(steps=[s.steps] * arch.levels if s.steps else per_level(p.steps, arch.levels))
    _, values = image_samples(img)
    bar = Bar(quiet=quiet)
    trainer = Trainer(arch, None, values, p, budget, seed=s.seed, device=device, bar=bar, progress=progress,
                      size=size)
    payloads, deq, levels = {}, {}, {}

    def grid_header(done: int) -> dict:
        # the settings that made the file, those the grid field reads (a header byte is a level-1 byte)
        train = {"preset": p.name, "seed": s.seed, "budget": "time" if s.time_budget else "steps",
                 "settings": s.header_record()}
        return {
            "field": "grid",
            "requires": [GRID_FEATURE, GRID_CTX],
            "signal": "image",
            "size": [w, h],
            "channels": c,
            "arch": arch.to_dict(),
            "values": {"range": list(VALUE_RANGE), "bit_depth": 8},
            "levels": [levels[k] for k in range(1, done + 1)],
            "encoder": {"name": "snf", "version": __version__, **train},
        }

    def on_stage_end(stage_levels: list, model, refit) -> None:
        for k in stage_levels:
            floats = model.level_tensors(k)
            before = _render_psnr_grid(arch, [deq[j] for j in range(1, k)] + [floats], k, img)
            payloads[k], deq[k] = encode_level_grid(arch, k, size, floats, ctx=True)
            model.set_level(k, deq[k])
            after = _render_psnr_grid(arch, [deq[j] for j in range(1, k + 1)], k, img)
            levels[k] = {"psnr": round(after, 2), "psnr_float": round(before, 2)}
            bar.line(f"level {k}/{arch.levels}: grids 1/{', 1/'.join(str(1 << f) for f in arch.grids[k - 1])}, "
                     f"width {arch.hidden[k - 1]}, PSNR {after:.2f} dB quantised ({before:.2f} dB before)")
        done = max(stage_levels)
        if publish is not None and done < arch.levels:  # a valid prefix file while later levels train
            head = grid_header(done)
            head["levels"] = [{**levels[j], "steps": trainer.stage_steps[j - 1]} for j in range(1, done + 1)]
            publish(build(head, [payloads[j] for j in range(1, done + 1)], end=False))

    trainer.run(on_stage_end)
    for k, n in enumerate(trainer.stage_steps, 1):
        levels[k]["steps"] = n
    header = grid_header(arch.levels)
    data = build(header, [payloads[k] for k in range(1, arch.levels + 1)])
    timing = {"stage_seconds": trainer.stage_seconds, "stage_ends": trainer.stage_ends,
              "stage_steps": trainer.stage_steps}
    return {"bytes": data, "header": header, "levels": header["levels"], "arch": arch, "timing": timing}


def _render_psnr_grid(arch, levels: list, k: int, img: np.ndarray) -> float:
    h, w, c = img.shape
    values = GridNetwork(arch, levels, k).grid((w, h))
    return psnr(img.reshape(-1, c), to_samples(values, VALUE_RANGE))
