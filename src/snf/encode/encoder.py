"""Signal -> .snf bytes: train, quantise each level as its stage ends, pack.

Every field family's compress function (`compress` for images, `compress_video`,
`compress_sdf`, `compress_grid`; the table `FAMILIES` below maps `settings.field`
and the signal kind to them) takes the signal, an `EncodeSettings` and the run-time
keywords ``quiet, device, progress, publish, cache_limit`` (none of which changes
the bytes), and returns the same shape, an `Encoded` dict (CompressAI style):

    bytes           the whole .snf file
    header          the file's header (a dict, as written)
    levels          header["levels"]: per level its figures (psnr or chamfer, ...) and steps
    arch            the architecture (`Arch`, `GridArch`, ...) the levels belong to
    timing          {"stage_seconds", "stage_ends", "stage_steps"}: lists, one entry a stage
    bits_per_param  per level, {tensor kind: bits per parameter} (side information
                    included); a family that cannot split its payload by kind gives {"all": ...}

A new family adds a compress function with that signature and result, and one entry
in `FAMILIES` (`snf.encode.service` dispatches on it). This is the only module of the
codec that imports torch with `snf.encode`'s training modules.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, TypedDict

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
from snf.decode.render import render_field, to_samples
from snf.format.gridcode import FEATURE as GRID_FEATURE, FEATURE_CTX as GRID_CTX, encode_level as encode_level_grid
from snf.signals.image import VALUE_RANGE, image_samples, psnr
from snf.signals.regions import region_order
from snf.signals.video import video_samples
from snf.encode.presets import GRID_PRESET, PRESETS, per_level, with_overrides
from snf.encode.train import Budget, Trainer


class Encoded(TypedDict):
    """What every family's compress function returns (see the module docstring)."""
    bytes: bytes
    header: dict
    levels: list
    arch: object
    timing: dict
    bits_per_param: list


# -- the one header builder ------------------------------------------------------

def file_header(signal: dict, arch: dict, train: dict, levels: list, *, quant: dict | None = None,
                family: dict | None = None) -> dict:
    """A file's header, for every family. Key order is part of the bytes: `family`'s keys
    (field, requires), then signal, size, channels, arch, the signal's other keys as given
    (values, coords, fps, transform), quant, levels, encoder. Callers leave out keys at the
    spec's defaults themselves (a header byte is a level-1 byte)."""
    head = dict(family or {})
    head.update({k: signal[k] for k in ("signal", "size", "channels")})
    head["arch"] = arch
    head.update({k: v for k, v in signal.items() if k not in ("signal", "size", "channels")})
    if quant is not None:
        head["quant"] = quant
    head["levels"] = levels
    head["encoder"] = {"name": "snf", "version": __version__, **train}
    return head


def train_record(s: EncodeSettings, preset_name: str, steps: int | None = None) -> dict:
    """The header's `encoder` record past name and version: the settings that made the file
    (informative: a decoder never needs them); `steps`: a jointly trained field's one stage."""
    train = {"preset": preset_name, "seed": s.seed, "budget": "time" if s.time_budget else "steps",
             "settings": s.header_record()}  # qat resolved: what ran
    if steps is not None:
        train["steps"] = steps
    return train


def _arch_record(arch: Arch) -> dict:
    """The header's `arch`: widths, and only the keys whose value differs from the spec's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(Arch) if f.name not in ("widths", "extra")}
    return {k: v for k, v in arch.to_dict().items() if k not in defaults or v != defaults[k]}


def _values_record(v: dict) -> dict:
    """The header's `values`: an integral range bound as an int (1 byte, not 9), bit_depth only if not 8."""
    out = {"range": [int(x) if float(x).is_integer() else x for x in v["range"]]}
    out.update({k: x for k, x in v.items() if k != "range" and not (k == "bit_depth" and x == 8)})
    return out


def _siren_signal_record(header: dict) -> dict:
    """A SIREN fit's signal keys as its header records them (defaults left out)."""
    return {k: _values_record(v) if k == "values" else v for k, v in header.items()
            if not (k == "coords" and v == DEFAULT_COORDS)}


# -- what a SIREN fits, per signal kind -----------------------------------------------

@dataclass
class Fit:
    """What the trainer fits for one signal kind, and how a decoded level is judged.

    header: the signal's header keys (signal, size, channels, values, ...);
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
    header = {"signal": "image", "size": [w, h], "channels": c, "coords": dict(DEFAULT_COORDS),
              "values": {"range": list(VALUE_RANGE), "bit_depth": 8}}
    return Fit(header, coords, values, measure, rows)


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
SDF_REFERENCE_POINTS = 30_000  # surface points the Chamfer distance of each level is measured against


def sdf_fit(points: np.ndarray, normals: np.ndarray, arch: Arch, seed: int = 0) -> Fit:
    """Oriented surface samples in the input's units -> SIREN's SDF objective; each level
    is judged by the Chamfer distance (field units) of its marching-cubes surface."""
    from snf.encode.stage import SdfFit
    from snf.signals.sdf import chamfer, normalisation, to_field
    from snf.decode.sdf import extract_mesh, surface_points
    transform = normalisation(points)
    pts = to_field(points, transform)
    rng = np.random.default_rng(seed)
    ref = pts[rng.choice(len(pts), min(len(pts), SDF_REFERENCE_POINTS), replace=False)]

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


# -- the compress functions (one per family and signal kind) ---------------------------

def compress(img: np.ndarray, settings: EncodeSettings | None = None, *, quiet: bool = True,
             device: str | None = None, progress=None, publish=None, cache_limit: int | None = None,
             **kw) -> Encoded:
    """Encode a uint8 image (H, W, C) into .snf bytes with the family `settings.field` names.

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
    return FAMILIES[s.field]["image"](img, s, quiet=quiet, device=device, progress=progress, publish=publish,
                                      cache_limit=cache_limit)


def compress_image(img: np.ndarray, s: EncodeSettings, **run) -> Encoded:
    """The SIREN family on an image (`compress` picks the family; this is its SIREN entry).
    The default widths, steps and batch are fitted to its pixel count (`presets.SIZES`); a
    picture too small for the field is refused before any training."""
    pixels = img.shape[0] * img.shape[1]
    s.check_pixels(pixels, f"a {img.shape[1]}x{img.shape[0]} image")
    return encode_fit(lambda arch: image_fit(img, arch), s.for_signal("image"), img.shape[2], pixels=pixels, **run)


def compress_video(video: np.ndarray, settings: EncodeSettings | None = None, *, fps: float | None = None,
                   quiet: bool = True, device: str | None = None, progress=None, publish=None,
                   cache_limit: int | None = None, **kw) -> Encoded:
    """Encode a uint8 clip (T, H, W, C); under grow temporal level k covers the first k of K windows.
    `--quality` applies as to images (the rate-distortion steps weigh the sample MSE of the frames)."""
    s = _settings(settings, kw).for_signal("video")
    return encode_fit(lambda arch: video_fit(video, arch, fps), s, video.shape[3], quiet=quiet, device=device,
                      progress=progress, publish=publish, cache_limit=cache_limit)


def compress_sdf(points: np.ndarray, normals: np.ndarray, settings: EncodeSettings | None = None, *,
                 quiet: bool = True, device: str | None = None, progress=None, publish=None,
                 cache_limit: int | None = None, **kw) -> Encoded:
    """Encode a shape given as oriented surface samples (N, 3) + unit normals (N, 3).
    Always fixed bits (`settings.for_signal` fills 8 if none): the rate-distortion steps of
    `--quality` weigh sample MSE, which the SDF objective (distance and normals) is not."""
    s = _settings(settings, kw).for_signal("sdf")
    return encode_fit(lambda arch: sdf_fit(points, normals, arch, s.seed), s, 1, quiet=quiet, device=device,
                      progress=progress, publish=publish, cache_limit=cache_limit)


def _settings(settings, kw) -> EncodeSettings:
    s = settings or EncodeSettings()
    return s.with_(**kw) if kw else s


# -- what every family's encode shares: levels coded as stages end, prefixes, the file ---

class _LevelCoder:
    """One encode's coded levels: `stage_end` is the Trainer's callback (code each level
    of the stage, then publish a prefix file), `result` packs the file. A family
    subclass says how a level is coded (`code_level`) and what its header holds."""
    joint = False  # True: one stage trains every level (the header then records its steps once)

    def __init__(self, arch, s: EncodeSettings, preset_name: str, bar: Bar, publish):
        self.arch, self.s, self.preset_name, self.bar, self.publish = arch, s, preset_name, bar, publish
        self.trainer = None  # set once built (its fake quantiser may call back into the coder)
        self.payloads, self.deq, self.levels = {}, {}, {}

    def code_level(self, k: int, model, refit) -> None:
        raise NotImplementedError

    def header(self, levels: list) -> dict:
        raise NotImplementedError

    def bits_per_param(self, k: int) -> dict:
        raise NotImplementedError

    def level_records(self, done: int) -> list:
        """The header's `levels` for levels 1..done: figures, and each stage's steps."""
        if self.joint:
            return [self.levels[j] for j in range(1, done + 1)]
        steps, asked = self.trainer.stage_steps, self.trainer.budget.steps
        # a level the deadline cut short says so, with the steps it was asked for (format_spec 4)
        return [{**self.levels[j], "steps": steps[j - 1],
                 **({"steps_asked": asked[j - 1]} if asked and steps[j - 1] < asked[j - 1] else {})}
                for j in range(1, done + 1)]

    def stage_end(self, stage_levels: list, model, refit) -> None:
        for k in stage_levels:
            self.code_level(k, model, refit)
        done = max(stage_levels)
        if self.publish is not None and done < self.arch.levels:  # a valid prefix while later levels train
            self.publish(build(self.header(self.level_records(done)), self._payloads(done), end=False))

    def _payloads(self, done: int) -> list:
        return [self.payloads[j] for j in range(1, done + 1)]

    def result(self) -> Encoded:
        n = self.arch.levels
        header = self.header(self.level_records(n))
        t = self.trainer
        return {"bytes": build(header, self._payloads(n)), "header": header, "levels": header["levels"],
                "arch": self.arch,
                "timing": {"stage_seconds": t.stage_seconds, "stage_ends": t.stage_ends, "stage_steps": t.stage_steps},
                "bits_per_param": [self.bits_per_param(k) for k in range(1, n + 1)]}


# -- the SIREN family -------------------------------------------------------------

def encode_fit(make_fit: Callable, s: EncodeSettings, channels: int, *, quiet: bool = True,
               device: str | None = None, progress=None, publish=None,
               cache_limit: int | None = None, pixels: int | None = None) -> Encoded:
    """The one SIREN encode for every signal kind: train, quantise each level as its stage
    ends (judging it as the decoder will render it), pack. `pixels`: an image's pixel count,
    which the default widths, steps and batch fit (`EncodeSettings.fitted_recipe`)."""
    torch.manual_seed(s.seed)
    arch = s.arch(d_out=channels, pixels=pixels)
    fit = make_fit(arch)
    s.check_decodable(arch, fit.header)  # before training: what no decoder would render is refused now
    quant = _quant_of(s)
    p = _siren_preset(s, arch, fit.header["signal"], cache_limit, pixels)
    budget = Budget(steps=None, seconds=float(s.time_budget)) if s.time_budget else \
        Budget(steps=[s.steps] * arch.levels if s.steps else per_level(p.steps, arch.levels),
               deadline=s.deadline_on if str(device or "cpu").startswith("cpu") else None)
    bar = Bar(quiet=quiet)
    coder = _SirenCoder(arch, s, p.name, bar, publish, fit, quant)
    coder.trainer = Trainer(arch, fit.coords, fit.values, p, budget, seed=s.seed, device=device, bar=bar,
                            progress=progress, fake_quant=coder.fake_quant,
                            region_rows=fit.region_rows, objective=fit.objective)
    coder.trainer.run(coder.stage_end)
    return coder.result()


def _quant_of(s: EncodeSettings) -> dict:
    """The header's `quant`: fixed bits (experts, and SDFs: steps from each row's peak, small
    blocks 4 bits finer) or the quality whose rate-distortion steps the coder chooses."""
    if s.quality_on is None:
        return {"coding": coded.CODING, "bits": s.bits, "bits_small": min(max(s.bits, s.bits + 4), 14)}
    return {"coding": coded.CODING, "quality": s.quality_on}


def _siren_preset(s: EncodeSettings, arch: Arch, signal: str, cache_limit: int | None, pixels: int | None = None):
    """The preset `s` names, with its overrides, its steps and batch fitted to the picture, the
    rate for this kind of signal, and the cache cap."""
    fit_steps, fit_batch = s.fitted_recipe(pixels)
    p = with_overrides(PRESETS[s.preset], lr=s.lr, batch=s.batch or fit_batch, steps=fit_steps)
    if s.lr is None:  # the preset's rate for this kind of signal, where it has one
        p = with_overrides(p, lr=dict(p.lr_signal).get(signal))
        if p.lr_width and (arch.regional or signal == "video"):  # by width (Preset.lr_width)
            first = per_level(p.lr, arch.levels)[0]
            p = with_overrides(p, lr=tuple(min(first, p.lr_width / w) for w in arch.widths))
    if cache_limit is not None:
        p = with_overrides(p, cache_limit=min(p.cache_limit, cache_limit))
    return p


class _SirenCoder(_LevelCoder):
    """A growing SIREN's levels: steps per row (fixed bits, or by rate and distortion),
    optional rate-distortion rounding and output refit, then the level judged as decoded."""

    def __init__(self, arch: Arch, s: EncodeSettings, preset_name: str, bar: Bar, publish, fit: Fit, quant: dict):
        super().__init__(arch, s, preset_name, bar, publish)
        self.fit, self.quant = fit, quant
        self.joint = arch.trains_jointly
        self.qat = s.qat_on
        self.eps = None if s.quality_on is None else rd.eps_of_quality(s.quality_on)
        self.use_rdoq = self.eps is not None and s.rdoq_on and rdoq.applies(arch)
        self.stats = {}
        self.fake_quant = None if not self.qat else \
            (RDFakeQuant(self.choose_codes) if self.eps is not None else fake_quantiser(arch, quant))

    def rows_of(self, k: int) -> tuple:
        """The samples level k's stage fitted (all, without regional growth)."""
        rows = self.fit.region_rows
        if rows is None:
            return 0, len(self.fit.coords)
        r0, r1 = self.arch.trained_regions(k)
        n = len(rows) - 1
        return rows[min(r0, n)], rows[min(r1, n)]

    def samples_of(self, k: int) -> tuple:
        a, b = self.rows_of(k)
        return self.fit.coords[a:b], self.fit.values[a:b]

    def choose_codes(self, k: int, model) -> list:
        """Level k's steps by rate and distortion: a step per row from the output's sensitivity."""
        sens, mse = rd.sensitivity(model, k, *self.samples_of(k), seed=self.s.seed)
        return rd.rd_codes(self.arch, k, sens, mse, self.eps)

    def step_codes(self, k: int, model, floats: list) -> list:
        if self.eps is None:
            return rd.peak_codes(self.arch, k, floats, self.quant)
        if isinstance(self.fake_quant, RDFakeQuant) and k in self.fake_quant.codes:
            return self.fake_quant.codes[k]  # the steps its straight-through phase trained at
        return self.choose_codes(k, model)  # a step per row from the output's sensitivity (snf.encode.rd)

    def code_level(self, k: int, model, refit) -> None:
        arch = self.arch
        floats = model.level_tensors(k)
        codes = self.step_codes(k, model, floats)
        rounder = None
        if self.use_rdoq:  # which integer each weight takes, by rate and distortion (snf.encode.rdoq)
            rounder = rdoq.LevelRounder(model, k, codes, *self.samples_of(k), self.eps, seed=self.s.seed)
            rounder.hidden()
            codes = rounder.codes
        ints = None if rounder is None else rounder.ints
        self._encode(k, floats, codes, ints)
        refits = (self.qat or self.eps is not None) and refit is not None
        if refits:  # output columns re-solved for the rounded units
            n_out = 2 if k == 1 else 1
            model.set_level(k, self.deq[k][:-n_out] + floats[-n_out:])
            refit()
        if rounder is not None:
            rounder.output()
        if refits or rounder is not None:
            self._encode(k, model.level_tensors(k), codes if rounder is None else rounder.codes, ints)
        self._judge(k, model, floats)

    def _encode(self, k: int, tensors: list, codes: list, ints) -> None:
        self.payloads[k], self.deq[k], self.stats[k] = coded.encode_level(self.arch, k, tensors, codes, ints)

    def _judge(self, k: int, model, floats: list) -> None:
        """Level k's figures as decoded (and before rounding, where measured); the bar's line."""
        arch, measure, deq = self.arch, self.fit.measure, self.deq
        before = measure(arch, [deq[j] for j in range(1, k)] + [floats], k) if self.fit.measure_float else {}
        if not arch.trains_jointly:  # shared weights keep training: set at the end only
            model.set_level(k, deq[k])
        after = measure(arch, [deq[j] for j in range(1, k + 1)], k)
        figures = {m: round(v, 2) if m == "psnr" else v for m, v in after.items()}
        figures.update({f"{m}_float": round(v, 2) if m == "psnr" else v for m, v in before.items()})
        self.levels[k] = figures
        text = ", ".join(f"{m} {v}" + (" dB" if m.startswith("psnr") else "") for m, v in figures.items())
        self.bar.line(f"level {k}/{arch.levels}: width {arch.widths[k - 1]}, {arch.params(k)} params, {text}")

    def header(self, levels: list) -> dict:
        steps = self.trainer.stage_steps
        train = train_record(self.s, self.preset_name, steps[0] if self.joint and steps else None)
        return file_header(_siren_signal_record(self.fit.header), _arch_record(self.arch), train, levels,
                           quant=self.quant)

    def bits_per_param(self, k: int) -> dict:
        return rd.bits_per_param(self.stats[k])  # not in the header: ~60 bytes a level


# -- the latent-grid family ----------------------------------------------------------

def compress_grid(img: np.ndarray, s: EncodeSettings, *, quiet: bool = True, device: str | None = None,
                  progress=None, publish=None, cache_limit: int | None = None) -> Encoded:
    """The latent-grid family: the same Trainer, one stage per level; after each, the
    level's latents are rounded and its weights quantised (`gridcode`), and the next
    level trains on top of exactly what the decoder will see. `publish` as `compress`;
    `cache_limit` does not apply (a grid field caches no activations)."""
    h, w, c = img.shape
    torch.manual_seed(s.seed)
    arch = s.grid_arch(d_out=c)
    p = with_overrides(GRID_PRESET, lr=s.lr, batch=s.batch)
    budget = Budget(steps=None, seconds=float(s.time_budget)) if s.time_budget else \
        Budget(steps=[s.steps] * arch.levels if s.steps else per_level(p.steps, arch.levels))
    _, values = image_samples(img)
    bar = Bar(quiet=quiet)
    coder = _GridCoder(arch, s, p.name, bar, publish, img)
    coder.trainer = Trainer(arch, None, values, p, budget, seed=s.seed, device=device, bar=bar, progress=progress,
                            size=coder.size)
    coder.trainer.run(coder.stage_end)
    return coder.result()


class _GridCoder(_LevelCoder):
    """A latent-grid field's levels: latents rounded, weights quantised (`gridcode`), the
    level set to exactly what the decoder will see before the next one trains."""

    def __init__(self, arch, s: EncodeSettings, preset_name: str, bar: Bar, publish, img: np.ndarray):
        super().__init__(arch, s, preset_name, bar, publish)
        self.img = img
        self.size = (img.shape[1], img.shape[0])

    def code_level(self, k: int, model, refit) -> None:
        arch, deq = self.arch, self.deq
        floats = model.level_tensors(k)
        before = self._psnr([deq[j] for j in range(1, k)] + [floats], k)
        self.payloads[k], deq[k] = encode_level_grid(arch, k, self.size, floats, ctx=True)
        model.set_level(k, deq[k])
        after = self._psnr([deq[j] for j in range(1, k + 1)], k)
        self.levels[k] = {"psnr": round(after, 2), "psnr_float": round(before, 2)}
        self.bar.line(f"level {k}/{arch.levels}: grids 1/{', 1/'.join(str(1 << f) for f in arch.grids[k - 1])}, "
                      f"width {arch.hidden[k - 1]}, PSNR {after:.2f} dB quantised ({before:.2f} dB before)")

    def _psnr(self, levels: list, k: int) -> float:
        h, w, c = self.img.shape
        values = GridNetwork(self.arch, levels, k).grid((w, h))
        return psnr(self.img.reshape(-1, c), to_samples(values, VALUE_RANGE))

    def header(self, levels: list) -> dict:
        # the settings that made the file, those the grid field reads (a header byte is a level-1 byte)
        h, w, c = self.img.shape
        signal = {"signal": "image", "size": [w, h], "channels": c,
                  "values": {"range": list(VALUE_RANGE), "bit_depth": 8}}
        return file_header(signal, self.arch.to_dict(), train_record(self.s, self.preset_name), levels,
                           family={"field": "grid", "requires": [GRID_FEATURE, GRID_CTX]})

    def bits_per_param(self, k: int) -> dict:
        """The level's payload (latents, weights and their side information) over its parameters."""
        return {"all": round(len(self.payloads[k]) * 8 / self.arch.params(k, self.size), 3)}


# settings.field -> {signal kind -> compress function(*signal, settings, **run) -> Encoded}.
# `snf.encode.service` dispatches on it; a new family is one entry here.
def compress_latent_image(img: np.ndarray, s: EncodeSettings, *, cache_limit: int | None = None, **run) -> Encoded:
    """The latent family (`snf.encode.latent_encoder`, format_spec.md section 11); it keeps no
    activation cache, so `cache_limit` does not apply."""
    from snf.encode.latent_encoder import compress_latent
    return compress_latent(img, s, **run)


FAMILIES = {
    "siren": {"image": compress_image, "video": compress_video, "sdf": compress_sdf},
    "grid": {"image": compress_grid},
    "latent": {"image": compress_latent_image},
}
