"""Image -> .snf bytes in the latent family (format_spec.md section 11): one joint training run.

Recipe (measured in bench/RESULTS.md, "Latent field"): every grid, the synthesis and the ARM
train together with Adam on a cosine-decayed rate; the latents pass through a soft rounding
around uniform noise, s_T(s_T(y) + u) with T annealed from 0.3 to 0.1 (C3's proxy), for the
first 90 % of the steps, and straight-through rounding after it (the ARM's weights then
train fake-quantised and its mean rounded, as the coder will use them). The loss
is the distortion of one served prefix per step (tail-drop: level k's picture, with
the grids of later levels zero, as a reader fills them) plus lambda times the rate of
every latent, lambda from `-q`. After training, the synthesis weights' step is chosen by
rate-distortion (`choose_weight_steps`). The levels are coded only at the end (they come from
one model), so `publish` is never called before the whole file exists. On a CPU the step runs
through C kernels (`thinmlp`, `conv3x3`, `bilinear`: about 2.4x faster than torch's operations
at 768x512), the same arithmetic up to float rounding.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from snf import __version__
from snf.decode.latent_render import LatentNetwork
from snf.encode.latent_model import LatentModel, to_numpy
from snf.field import latent as L
from snf.field.latent import LatentArch
from snf.format import latentcode as lc
from snf.format.container import build
from snf.progress import Bar
from snf.settings import DEFAULT_QUALITY, EncodeSettings
from snf.signals.image import VALUE_RANGE, psnr
from snf.decode.render import to_samples

# Per effort: steps (full-picture steps at 768x512 scale with the picture's area), lr, and the
# wall-clock seconds the steps must fit in on a CPU (a slower machine trains fewer: said on stderr).
EFFORTS = {"fast": {"steps": 1000, "lr": 1e-2, "lr_latent": 0.2, "deadline": 240.0},
           "slow": {"steps": 3000, "lr": 1e-2, "lr_latent": 0.1, "deadline": 1700.0}}
NOISE_PHASE = 0.9        # fraction of the steps with the rounding proxy; straight-through rounding after
PREFIX_WEIGHTS_LAST = 0.3  # tail-drop: the last level's share of the steps, the rest split evenly
MIN_LR_FRACTION = 0.02
PROXY = "soft"           # the rounding proxy before straight-through: "noise" or "soft" (bench/RESULTS.md)
SOFT_T = (0.3, 0.1)      # soft rounding's temperature, start and end of the proxy phase


def lambda_of_quality(q: int) -> float:
    """Rate weight (MSE on a 0..1 scale + lambda * bits per pixel) of `-q` 0..100: log-linear,
    0.1 at q 0 to 5.6e-4 at q 90, then steeper to 3.2e-5 at q 100. Why the knee: with soft
    rounding the field spends far fewer bytes at a given lambda (kodim03, fast effort: q 25 /
    50 / 75 / 90 give 0.08 / 0.14 / 0.30 / 0.48 bpp), so the first line's 3.2e-4 at q 100 would
    stop near 0.7 bpp; the issue's range reaches at least 1 bpp."""
    q = float(q)
    if q <= 90:
        return 10.0 ** (-1.0 - 0.025 * q)
    return 10.0 ** (-3.25 - 0.125 * (q - 90))


# Small pictures get a smaller network: at 192x128 the default synthesis and ARM (~800 bytes of
# weights) are most of a 1 kB first level. A centre crop of kodim03 (192x128, q 75, 2000 steps):
# synthesis 7 -> 8 -> 3 with one conv layer and a one-layer ARM 8 wide put levels 1-3 above the
# progressive-JPEG prefix of the same bytes (+0.28 / +0.85 / +0.16 dB, the last -0.37); the
# default network at 3000 steps was under it at every level (-1.11 / -0.34 / -0.97 / -1.64 dB).
# Rows: (at most this many pixels, synthesis widths, conv layers, ARM (width, layers), steps
# of the fast effort (cheaper steps: more of them fit its deadline)).
SMALL = ((49_152, (8,), 1, (8, 1), 2000),)
# The deadline's check: pace measured at this step; the fewest steps a cut trains.
DEADLINE_CHECK_STEP = 20
MIN_DEADLINE_STEPS = 40


def _small_row(size: tuple):
    """The `SMALL` row a picture of this size falls in, or None."""
    w, h = size
    return next((row for row in SMALL if w * h <= row[0]), None)


def default_arch(size: tuple, channels: int, levels: int | None = None) -> LatentArch:
    """Grids 1/1 .. 1/2^F with F = min(6, floor(log2(short side)) - 2): level 1 the factors
    F..3 (or F alone on small pictures), then one level per finer grid; a smaller network on
    small pictures (`SMALL`). `levels` (--levels) fewer than that merges the finest levels
    into one (level 1 stays as small as it was: the first picture comes as early)."""
    w, h = size
    top = max(0, min(6, int(math.floor(math.log2(max(1, min(w, h))))) - 2))
    first = tuple(range(top, 2, -1)) or (top,)
    rest = tuple((f,) for f in range(min(first) - 1, -1, -1))
    grids = (first,) + rest
    if levels is not None:
        if not 1 <= levels <= len(grids):
            raise ValueError(f"a {w}x{h} picture's latent grids make 1..{len(grids)} levels, not {levels}")
        if levels == 1:
            grids = (tuple(f for g in grids for f in g),)
        else:
            grids = grids[:levels - 1] + (tuple(f for g in grids[levels - 1:] for f in g),)
    row = _small_row(size)
    if row is not None:
        _, syn, conv, arm, _ = row
        return LatentArch(grids, syn=syn, conv=conv, arm=arm, d_out=channels)
    return LatentArch(grids, d_out=channels)


def default_steps(size: tuple, effort: str) -> int:
    """The effort's steps for a picture of this size (more on small pictures, `SMALL`)."""
    row = _small_row(size)
    return row[4] if row is not None and effort == "fast" else EFFORTS[effort]["steps"]


def compress_latent(img: np.ndarray, settings: EncodeSettings | None = None, *, quiet: bool = True,
                    progress=None, publish=None, device: str | None = None, details: dict | None = None) -> dict:
    """Encode a uint8 image (H, W, C) in the latent family -> `encoder.Encoded` (bytes, header,
    levels, arch, timing, bits_per_param). `progress` gets dicts (level, levels, step, psnr,
    fraction, text). `details`, if given, is filled with figures for benches (seconds, the
    rate estimate against the coded bytes, weight bytes, device, whether a deadline cut the steps)."""
    s = settings or EncodeSettings(field="latent")
    t0 = time.monotonic()
    h, w, c = img.shape
    size = (w, h)
    try:
        arch = default_arch(size, c, s.levels)
    except ValueError as e:
        from snf.settings import SettingsError
        raise SettingsError(str(e)) from None
    effort = EFFORTS[s.effort]
    quality = DEFAULT_QUALITY if s.quality is None else s.quality
    lam = lambda_of_quality(quality)
    if device is None:  # as every encode: CUDA where present
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(s.seed)
    steps = s.steps or default_steps(size, s.effort)
    deadline = None if (s.steps or not str(device).startswith("cpu")) else effort["deadline"]
    if s.deadline is not None:  # --deadline as given (0: none), as for the SIREN family
        deadline = s.deadline or None
    if s.time_budget:
        steps, deadline = 10 ** 7, float(s.time_budget)
    lr0 = s.lr or effort["lr"]
    bar = Bar(quiet=quiet)

    model = LatentModel(arch, size, seed=s.seed).to(device)
    model.parents = [None if p is None else tuple(x.to(device) for x in p) for p in model.parents]
    target = torch.from_numpy(np.ascontiguousarray(img, np.float32)).to(device).permute(2, 0, 1)[None] \
        / 127.5 - 1.0
    # the latents need to move by units, the weights by hundredths: two rates (scaled together)
    lat_scale = effort["lr_latent"] / effort["lr"]
    opt = torch.optim.Adam([{"params": list(model.latents), "scale": lat_scale},
                            {"params": list(model.syn) + list(model.arm), "scale": 1.0}], lr=lr0)
    gen = torch.Generator(device=device).manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    K = arch.levels
    probs = np.full(K, (1 - PREFIX_WEIGHTS_LAST) / max(1, K - 1)) if K > 1 else np.ones(1)
    probs[-1] = PREFIX_WEIGHTS_LAST if K > 1 else 1.0
    said = deadline is not None and s.time_budget is None and \
        say_outlook(model, target, lam, probs, steps, deadline, bar, s.seed)
    t_train = time.monotonic()
    step, total, cut = 0, steps, False
    last = {}
    while step < total:
        frac = step / total
        if frac >= NOISE_PHASE and not model.arm_fq:
            # the last phase: latents rounded and frozen (straight-through gradients move them
            # the wrong way: bench/RESULTS.md, latent field, "Round 3"); the synthesis and the ARM
            # (fake-quantised, its mean rounded, as the coder uses them) fit the rounded latents
            model.arm_fq = model.mu_round = True
            for y in model.latents:
                y.requires_grad_(False)
                y.data.copy_(torch.round(y.data))
        for g in opt.param_groups:
            g["lr"] = g["scale"] * lr0 * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * frac)))
        if PROXY == "soft":
            model.temperature = SOFT_T[0] + (SOFT_T[1] - SOFT_T[0]) * min(1.0, frac / NOISE_PHASE)
        q = model.quantised_latents(PROXY if frac < NOISE_PHASE else "ste", gen)
        k = int(rng.choice(K, p=probs)) + 1
        d, r = _distortion_rate(model, q, k, target)
        loss = d + lam * r
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step == DEADLINE_CHECK_STEP and deadline is not None:  # a machine too slow for the steps trains fewer
            per = (time.monotonic() - t_train) / step
            fit = max(MIN_DEADLINE_STEPS, int(deadline / per))
            if fit < total:
                total, cut = fit, True
                if s.time_budget is None and not said:
                    import sys
                    print(f"snf: latent encode: this machine fits {fit} of {steps} steps in "
                          f"{deadline:.0f} s; training those (the bytes depend on the machine)", file=sys.stderr)
        if k == K:
            last = {"psnr": -10 * math.log10(max(float(d.detach()), 1e-12)), "bpp": float(r.detach())}
        if progress is not None or not quiet:
            text = f"step {step}/{total}, PSNR {last.get('psnr', 0):.2f} dB, {last.get('bpp', 0):.3f} bpp"
            bar.update("latent", step, total, text)
            if progress is not None:
                progress({"level": K, "levels": K, "step": step, "psnr": last.get("psnr"),
                          "fraction": 0.95 * step / total, "text": text})
    train_seconds = time.monotonic() - t_train
    model = model.to("cpu")
    with torch.no_grad():  # the float model's rate with rounded latents: what the coder should approach
        est_bytes = float(model.rate_bits(model.quantised_latents("round"))) / 8

    # ---- quantise and code: what the decoder will see
    ws, lat = to_numpy(model)
    grids = [np.clip(np.rint(y), -L.LATENT_MAX, L.LATENT_MAX).astype(np.int64) for y in lat]
    wpart, deq, weight_levels = choose_weight_steps(arch, ws, grids, img, lam)
    arm = lc.arm_weights(deq, arch)
    payloads, parent = [], None
    for kk in range(1, K + 1):
        a, b = arch.grid_range(kk)
        payloads.append(lc.encode_level(arch, kk, size, grids[a:b], arm, parent, wpart if kk == 1 else b""))
        parent = grids[b - 1]
    level_arrays = _level_arrays(arch, deq, grids)
    levels = []
    for kk in range(1, K + 1):
        values = LatentNetwork(arch, level_arrays, kk).grid(size)
        levels.append({"psnr": round(psnr(img.reshape(-1, c), to_samples(values, VALUE_RANGE)), 2), "steps": step,
                       **({"steps_asked": steps} if cut and s.time_budget is None else {})})  # as format_spec 4
        bar.line(f"level {kk}/{K}: grids 1/{', 1/'.join(str(1 << f) for f in arch.grids[kk - 1])}, "
                 f"PSNR {levels[-1]['psnr']:.2f} dB")
    header = {"field": "latent", "signal": "image", "size": [w, h], "channels": c, "arch": arch.to_dict(),
              "values": {"range": [int(v) for v in VALUE_RANGE]}}
    meta = {"levels": levels, "encoder": {"name": "snf", "version": __version__, "steps": step,
                                          "settings": s.with_(field="latent").header_record()}}
    data = build(header, payloads, meta=meta)
    timing = {"stage_seconds": [train_seconds], "stage_ends": [step], "stage_steps": [step]}
    extra = {"train_seconds": train_seconds, "total_seconds": time.monotonic() - t0, "steps": step,
              "latent_bytes_estimate": round(est_bytes), "latent_bytes": sum(len(x) for x in payloads) - len(wpart),
              "weight_bytes": len(wpart), "weight_levels": weight_levels,
              "cut_by_deadline": cut, "device": str(device)}
    if progress is not None:
        progress({"level": K, "levels": K, "step": step, "psnr": levels[-1]["psnr"], "fraction": 1.0,
                  "text": "done"})
    latents = [sum(r * c for r, c in arch.grid_shapes(size)[slice(*arch.grid_range(kk))]) for kk in range(1, K + 1)]
    params = [n + (sum(t.size for t in arch.weight_tensors()) if kk == 1 else 0) for kk, n in enumerate(latents, 1)]
    bpp = [{"all": round(len(x) * 8 / n, 3)} for x, n in zip(payloads, params)]
    if details is not None:
        details.update(extra)
    return {"bytes": data, "header": header, "levels": levels, "arch": arch, "timing": timing,
            "bits_per_param": bpp}


# Synthesis weight steps tried after training (a tensor's step is about its peak / this): the
# encoder keeps the one with the least distortion + lambda * rate of the whole picture. Any
# step is a valid file (the step is in the tensor's head); coarser steps make level 1 smaller.
WEIGHT_LEVEL_CHOICES = (63, 31, 15)


def choose_weight_steps(arch: LatentArch, ws: list, grids: list, img: np.ndarray, lam: float) -> tuple:
    """(weights part, dequantised weights, levels) of the weight step in WEIGHT_LEVEL_CHOICES
    with the least MSE (0..1 scale, the whole picture) + lam * weight bits per pixel. The ARM's
    steps are left as trained (its fake-quantised weights set the latents' code)."""
    h, w, c = img.shape
    target = img.reshape(-1, c).astype(np.float32) / 255.0
    best = None
    for levels in WEIGHT_LEVEL_CHOICES:
        wpart, deq = lc.encode_weights(arch, ws, levels)
        values = LatentNetwork(arch, _level_arrays(arch, deq, grids), arch.levels).grid((w, h))
        rec = to_samples(values, VALUE_RANGE).astype(np.float32) / 255.0
        cost = float(np.mean((rec - target) ** 2)) + lam * len(wpart) * 8 / (w * h)
        if best is None or cost < best[0]:
            best = (cost, wpart, deq, levels)
    return best[1], best[2], best[3]


def _level_arrays(arch: LatentArch, deq: list, grids: list) -> list:
    """What a reader holds after decoding every level: level 1's weights and grids, then each
    later level's grids (float32), as `LatentNetwork` takes them."""
    return [deq + [g.astype(np.float32) for g in grids[slice(*arch.grid_range(kk))]] if kk == 1 else
            [g.astype(np.float32) for g in grids[slice(*arch.grid_range(kk))]] for kk in range(1, arch.levels + 1)]


def _distortion_rate(model, q: list, k: int, target):
    """(MSE on a 0..1 scale of level k's picture, bits per pixel of every latent): the two
    terms of the training loss."""
    d = ((model.synthesis(q, k) - target) ** 2).mean() / 4.0
    return d, model.rate_bits(q) / (target.shape[-1] * target.shape[-2])


def say_outlook(model, target, lam: float, probs, steps: int, deadline: float, bar: Bar, seed: int) -> bool:
    """Before the first step, the deadline checked against this machine now: three steps of a
    copy of the model timed (the first a warm-up; the model, its rates and the random streams
    are untouched, so the bytes do not change). If even the fewest steps the guard trains
    cannot fit, one warning says so (also under --quiet); if only fewer steps fit, one line
    says how many it plans. True when a line was said (the check at step 20 then keeps quiet)."""
    import copy
    probe = copy.deepcopy(model)
    opt = torch.optim.Adam(list(probe.parameters()), lr=1e-4)
    gen = torch.Generator(device=target.device).manual_seed(seed + 1)
    t = 0.0
    for i in range(3):
        if i == 1:
            t = time.monotonic()
        q = probe.quantised_latents("noise", gen)
        d, r = _distortion_rate(probe, q, len(probs), target)
        loss = d + lam * r
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    per = (time.monotonic() - t) / 2
    least = min(steps, MIN_DEADLINE_STEPS)
    if least * per > deadline:
        bar.warn(f"snf: the --deadline of {deadline:g} s cannot be kept on this machine now: even {least} "
                 f"training steps take about {least * per:.1f} s here (timed before training), so the latent "
                 f"encode will end late (--deadline 0 trains every step)")
        return True
    if steps * per > deadline:
        bar.line(f"snf: every step would take about {steps * per:.0f} s here now, past the --deadline of "
                 f"{deadline:g} s: planning about {max(least, int(deadline / per)):,} of {steps:,} steps "
                 f"(re-measured at step {DEADLINE_CHECK_STEP}; recorded in the file; the bytes depend on the machine)")
        return True
    return False
