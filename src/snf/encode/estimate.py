"""How long an encode's training will take here, before it starts: timed, not guessed.

A user fitting a long video on a CPU should learn that it takes hours before the hours
start. The estimate times a few Adam steps of a plain SIREN at each level's width, on that
level's batch (the preset's, or the whole signal for a full-batch preset, capped), on this
machine with the threads set, and multiplies by the level's steps. An SDF step costs more
(the objective differentiates the field: timed as such); a progressive level trains
only its new units over cached frozen features, so a progressive level is timed as a dense network with its level's multiply-adds
(sqrt(w_k^2 - w_(k-1)^2) wide). Timings on a busy machine are what that machine gives now.
Under --time-budget the budget is the answer. Not estimated: quantising and checking each
level and caching frozen features, which grow with the samples (a minute or more for a
million-sample clip on a loaded CPU).
"""
from __future__ import annotations

import time

from snf.encode.presets import PRESETS, per_level, with_overrides
from snf.settings import EncodeSettings

MAX_TIMED_BATCH = 1 << 16  # a full-batch preset is timed on this many samples and scaled up
LONG_JOB_S = 60.0     # `snf-encode` says the estimate before jobs at least this long


def estimate_seconds(settings: EncodeSettings, samples: int, channels: int = 3, device: str | None = None,
                     reps: int = 2) -> dict:
    """{"seconds": total, "levels": [(width, steps, batch, seconds)], "how": text} for training
    `samples` samples with these settings on this machine."""
    if settings.time_budget:
        return {"seconds": float(settings.time_budget), "levels": [], "how": "the --time-budget"}
    s = settings
    arch = s.arch(d_out=channels)
    p = with_overrides(PRESETS[s.preset], batch=s.batch)
    steps = [s.steps] * arch.levels if s.steps else per_level(p.steps, arch.levels)
    if arch.trains_jointly:  # slimmable: one stage of steps[0] training every width
        steps = [steps[0]] + [0] * (arch.levels - 1)
    batches = per_level(p.batch, arch.levels)
    rows, total = [], 0.0
    widths = list(arch.widths)  # level k's network (cumulative widths under progressive/slimmable)
    if arch.trains_jointly:
        widths = [sum(widths)] + widths[1:]  # a joint step runs every width once
    elif arch.causal:  # progressive: a stage trains the new units over cached frozen features:
        # about the multiply-adds of a dense network of this width
        widths = [widths[0]] + [max(1, round((w * w - v * v) ** 0.5)) for v, w in zip(widths, widths[1:])]
    for k in range(arch.levels):
        batch = samples if batches[k] is None else min(batches[k], samples)
        per_step = _time_steps(widths[k], arch.layers, arch.d_in, channels, min(batch, MAX_TIMED_BATCH),
                               s.kind == "sdf", device, reps) * (batch / min(batch, MAX_TIMED_BATCH))
        sec = per_step * steps[k]
        rows.append((widths[k], steps[k], batch, round(sec, 1)))
        total += sec
    return {"seconds": total, "levels": rows,
            "how": f"{reps} timed steps a level at each level's width and batch, times its steps"}


def pace_of(widths: list, layers: int, d_in: int, d_out: int, batch: int, sdf: bool = False, device=None,
            clock=time.perf_counter):
    """Seconds of one Adam step on `batch` samples at any width, from this machine now: the
    narrowest and the widest of `widths` are timed (one step each after a warm-up) and the
    cost drawn through both as a + b w^2 (the hidden matmuls grow with w^2). What the
    deadline's up-front check (`train.Trainer`) times before the first step: cheap (four
    steps), and on a busy machine it is what that machine gives now."""
    lo, hi = min(widths), max(widths)
    t_lo = _time_steps(lo, layers, d_in, d_out, batch, sdf, device, 1, clock)
    t_hi = t_lo if hi == lo else _time_steps(hi, layers, d_in, d_out, batch, sdf, device, 1, clock)
    b = max(0.0, (t_hi - t_lo) / max(1, hi * hi - lo * lo))
    a = max(0.0, t_lo - b * lo * lo)
    return lambda w: a + b * w * w


def _time_steps(width: int, layers: int, d_in: int, d_out: int, batch: int, sdf: bool, device, reps: int,
                clock=time.perf_counter) -> float:
    import torch
    dev = torch.device(device or "cpu")
    g = torch.Generator().manual_seed(0)
    dims = [d_in] + [width] * layers + [d_out]
    ws = [(torch.randn(a, b, generator=g) / a ** 0.5).to(dev).requires_grad_() for a, b in zip(dims, dims[1:])]
    opt = torch.optim.Adam(ws, lr=1e-4)
    x = (torch.rand(batch, d_in, generator=g) * 2 - 1).to(dev)
    y = torch.zeros(batch, d_out, device=dev)

    def step():
        xi = x.requires_grad_(True) if sdf else x
        h = xi
        for w in ws[:-1]:
            h = torch.sin(h @ w)
        out = h @ ws[-1]
        loss = ((out - y) ** 2).mean()
        if sdf:
            grad, = torch.autograd.grad(out.sum(), xi, create_graph=True)
            loss = loss + ((grad.norm(dim=1) - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    step()  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = clock()
    for _ in range(reps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (clock() - t) / reps


def describe(est: dict) -> str:
    """One line: 'training takes about 42 min here (...)'."""
    sec = est["seconds"]
    when = f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.0f} min" if sec < 7200 else f"{sec / 3600:.1f} h"
    per = "; ".join(f"level {k}: {st} steps of {b:,} samples at width {w}, ~{_short(x)}"
                    for k, (w, st, b, x) in enumerate(est["levels"], 1) if st)
    return f"estimate: training takes about {when} here ({est['how']}" + (f"; {per}" if per else "") + ")"


def _short(sec: float) -> str:
    return f"{sec:.0f} s" if sec < 120 else f"{sec / 60:.0f} min" if sec < 7200 else f"{sec / 3600:.1f} h"
