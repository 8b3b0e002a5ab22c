"""The one trainer: stages, batches, Adam, the learning-rate schedule, budgets.

Modes differ only in their stages (progressive and individual: one per level;
slimmable: one joint stage over all widths) and in the objective a stage uses
(`stage.CachedLevel` or `stage.Autograd`). After a level's last stage the
caller's `on_stage_end` quantises it and may replace it with what the decoder
will see; progressive training then continues on top of those values.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from snf.field.arch import Arch
from snf.field.grid import GridArch
from snf.encode.grid_model import GridField, GridLevel
from snf.encode.model import BlockSiren
from snf.progress import Bar
from snf.encode.qat import StraightThrough
from snf.encode.presets import PRESETS, Preset, per_level, with_overrides  # noqa: F401 (re-exported)
from snf.encode.stage import (Autograd, CachedLevel, Window, cache_bytes, filled_target, initial_tables,
                              sweep_order)

# The deadline (fixed steps, `Budget.deadline`). A stage times its pace from step
# max(PROBE_FROM_MIN, steps // PROBE_FROM_DIV) (after the first steps' warm-up) to step
# max(PROBE_TO_MIN, steps // PROBE_TO_DIV) (20 % in) and shortens itself once if the
# projection overruns its cap. The long window matters: over 5 % (~2 s) a passing stall of
# another process once cut a stage on a machine with a third of its time to spare.
PROBE_FROM_MIN, PROBE_FROM_DIV = 3, 100
PROBE_TO_MIN, PROBE_TO_DIV = 13, 5
# After the probe the projection is redone every steps // RECHECK_DIV steps, at the pace
# since the probe began (a machine that turns busy later: issue 27 saw a stage cut at 20 %
# still run minutes past its cap), and a stage whose cap has passed stops at once.
RECHECK_DIV = 20
# A stage before the last may run this much over its share (the pace drifts by that much
# within minutes on a shared machine; the later stages then share what is left).
EARLY_STAGE_SLACK = 1.25
# The up-front check (`Trainer._outlook`): quantising and judging a level costs at least about
# this many training steps of its whole network over every sample (measured on a shared 2-core
# machine: 1.3x at 768x512 to 26x at 192x128, where fixed costs dominate), so a deadline below
# the estimate cannot be kept. Low figures: the check must not cry wolf; the measured
# quantisations after each level (`_say_overrun`) catch the rest.
QUANT_PASSES = 0.8
# ... plus fixed costs (per-row solves and rounding, the level judged as decoded) that dominate
# on small pictures: at least about this many steps of the narrowest network a level (the same
# measurements: 0.2-0.4 s a level where these steps take 0.1-0.4 s).
QUANT_FIXED_STEPS = 20


@dataclass
class Budget:
    """How long each stage runs: fixed steps (deterministic) or wall-clock seconds.

    `deadline` (fixed steps only): seconds the training and the quantisation of every
    level must fit in, counted from the start of training. Each stage may take its share
    of what is left (the preset's `share`) after a reserve for quantising the levels still
    to come (the longest quantisation measured so far, per stage left); a stage that
    measures itself too slow for that trains fewer steps (`Trainer._loop`), and the cut is
    kept in `Trainer.shortened` (the file records it per level: `steps_asked`). On a
    machine fast enough it never acts, so the steps, and the bytes, stay the preset's.
    The margin past the deadline is what the reserve underestimates: the last level's
    quantisation less the longest earlier one, plus up to two steps (a stage stops at
    the first step past its cap, a QAT phase trains at least one): so at most about the
    last level's quantisation (under 6 s at 768x512 on a shared 2-core machine). Where
    even that cannot hold, the trainer says so up front (`Trainer._outlook`) or, once
    measured, after a level (`Trainer._say_overrun`)."""
    steps: list | None
    seconds: float | None = None
    deadline: float | None = None

    def stage_seconds(self, share: list, stage: int, spent: float, reserve: float = 0.0) -> float:
        """Stage `stage`'s part of the seconds left after `spent`, less `reserve`."""
        total = self.seconds if self.seconds is not None else self.deadline
        left = max(0.0, total - spent - reserve)
        return left * share[stage] / sum(share[stage:])


class Trainer:
    def __init__(self, arch, coords, values, preset: Preset, budget: Budget,
                 seed: int = 0, device: str | None = None, bar: Bar | None = None, progress=None,
                 fake_quant=None, size: tuple | None = None, region_rows: list | None = None, objective=None):
        self.arch, self.preset, self.budget = arch, preset, budget
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.coords = None if coords is None else torch.as_tensor(coords, dtype=torch.float32, device=self.device)
        self.values = torch.as_tensor(values, dtype=torch.float32, device=self.device)
        # the field family: a growing SIREN (Arch), or latent grids (GridArch, rows are the
        # pixels of a `size` = (W, H) picture)
        self.grid = isinstance(arch, GridArch)
        self.model = (GridField(arch, size) if self.grid else BlockSiren(arch)).to(self.device)
        self.seed = seed
        self.bar = bar or Bar(quiet=True)
        self.progress = progress  # callable(dict), at most twice a second: for servers and GUIs
        self.fake_quant = fake_quant  # fq(k, tensors) -> rounded tensors: quantisation-aware steps
        # rows of region j are region_rows[j]..region_rows[j+1] (samples ordered region by region);
        # stage k trains on the rows of `arch.trained_regions(k)`
        self._n = self.values.shape[0]  # every row (a grid field has no coords: rows are its pixels)
        self.region_rows = list(region_rows) if region_rows is not None else [0, self._n]
        self.make_objective = objective  # (model, levels, coords, values, gen, batch) -> objective, or None
        self._range = (0, self._n)
        self._cached = False  # the stage's objective is CachedLevel (it can weigh unrevealed rows)
        self._swept = False   # the cached tables hold the rows in `sweep_order` (see `_sweep_order`)
        self._reported = 0.0
        self._stage = (0, 1)
        self._level = 1
        self.gen = torch.Generator().manual_seed(seed)
        self.stage_steps = []     # optimizer steps per stage
        self.stage_seconds = []   # wall time per stage: training loop only
        self.stage_ends = []      # wall time from the start to the end of each stage (after on_stage_end)
        self.shortened = []       # (level, steps trained, steps asked) where the deadline cut a stage
        self._said = False        # the deadline's cut was said on stderr (once a stage)
        self.overrun = 0.0        # seconds past the deadline foreseen (and said) once quantising alone overran
        self.outlook = None       # the deadline's up-front check: {"min", "full", "planned", "quant"} (`_outlook`)

    @property
    def rows(self) -> int:
        """Rows the current stage trains on."""
        return self._range[1] - self._range[0]

    def _rows_of(self, k: int) -> tuple:
        """Rows stage k draws its batches from: its regions' (all, with `_others_fill`)."""
        n = len(self.region_rows) - 1
        if self.grid or n == 1 or self._others_fill() is not None:  # no regions, or every row
            return (0, self._n)
        return self._region_rows(k)

    def _region_rows(self, k: int) -> tuple:
        n = len(self.region_rows) - 1
        r0, r1 = self.arch.trained_regions(k)
        return (self.region_rows[min(r0, n)], self.region_rows[min(r1, n)])

    def _others_fill(self):
        """The fill of the other regions' rows when each of separate networks (mode individual,
        spatial/temporal growth) trains on every row alike (`Preset.individual_fill`; the seed's
        baseline), or None: it trains on its own region only."""
        fill = self.preset.individual_fill
        if fill is None or self.grid or not self.arch.composite or len(self.region_rows) <= 2:
            return None
        return fill

    def stages(self) -> list:
        """Levels trained by each stage."""
        if self.grid:  # the grid family: one stage per level
            return [[k] for k in range(1, self.arch.levels + 1)]
        return self.arch.stages()

    def run(self, on_stage_end) -> BlockSiren:
        """Train every stage; `on_stage_end(levels, model, refit)` runs after each
        (`refit` re-solves the stage's output columns, or is None)."""
        arch, t_start, tables = self.arch, time.monotonic(), None
        stages = self.stages()
        share = [sum(per_level(self.preset.share, arch.levels)[k - 1] for k in s) for s in stages]
        post = 0.0  # the longest quantisation (time after a stage's training) measured so far
        if self.budget.deadline and self.budget.steps and not self.grid:
            self._outlook(stages, share, t_start)
        for si, levels in enumerate(stages):
            self._stage = (si, len(stages))
            self._level = levels[-1]
            self._range = self._rows_of(levels[-1])
            for k in levels:
                self.model.grow(self.gen)
            for j in range(1, levels[0]):
                self.model.freeze(j)
            obj = self._objective(levels, tables)
            cap = None
            if self.budget.seconds is not None:
                steps, secs = None, self.budget.stage_seconds(share, si, time.monotonic() - t_start)
            else:
                steps, secs = sum(self.budget.steps[k - 1] for k in levels), None
                if self.budget.deadline:  # the stage's share, after a reserve for the quantisations to come
                    reserve = post * (len(stages) - si)  # measured, and at least the up-front estimate
                    if self.outlook is not None:
                        reserve = max(reserve, sum(self.outlook["quant"][si:]))
                    cap = self.budget.stage_seconds(share, si, time.monotonic() - t_start, reserve)
                    cap *= 1.0 if si == len(stages) - 1 else EARLY_STAGE_SLACK
            t_loop = time.monotonic()
            self._said = False
            self.stage_steps.append(self._train_stage(obj, levels, steps, secs, cap))
            t_trained = time.monotonic()
            self.stage_seconds.append(t_trained - t_loop)
            refit = getattr(obj, "refit_output", None) if self.preset.refit else None
            if refit is not None:
                refit()
            on_stage_end(levels, self.model, refit)
            if isinstance(obj, (CachedLevel, GridLevel)) and levels[-1] < arch.levels:
                tables = obj.extend()
            obj.close()
            self.stage_ends.append(time.monotonic() - t_start)
            post = max(post, time.monotonic() - t_trained)
            if self.budget.deadline and si < len(stages) - 1 and not self.overrun:
                self._say_overrun(post, len(stages) - 1 - si, self.budget.deadline - self.stage_ends[-1])
        return self.model

    def _train_stage(self, obj, levels: list, steps: int | None, seconds: float | None,
                     cap: float | None = None) -> int:
        """The stage's steps; with fake quantisation, its last share runs straight-through
        at a low constant rate (same total steps or time as without). `cap`: seconds the
        stage may take under a deadline (its first phase is measured and shortened)."""
        if self.fake_quant is None:
            return self._loop(obj, levels, steps, seconds, cap=cap)
        share = self.preset.qat_share
        q_steps = None if steps is None else round(steps * share)
        q_secs = None if seconds is None else seconds * share
        t0 = time.monotonic()
        n = self._loop(obj, levels, None if steps is None else steps - q_steps,
                       None if seconds is None else seconds - q_secs,
                       cap=None if cap is None else cap * (1 - share))
        if q_steps == 0 or q_secs == 0:
            return n
        prepare = getattr(self.fake_quant, "prepare", None)
        if prepare is not None:  # rate-distortion steps: chosen now, from the trained-so-far level
            prepare(levels, self.model)
        st = StraightThrough(obj, self.model, levels, self.fake_quant)
        lr = self.preset.qat_lr * self._level_setting(self.preset.lr)
        rest = None if cap is None else max(0.0, cap - (time.monotonic() - t0))
        return n + self._loop(st, levels, q_steps, q_secs, constant_lr=lr, tag=" QAT", cap=rest)

    def _objective(self, levels: list, tables):
        arch, k = self.arch, levels[-1]
        if self.grid:
            return GridLevel(self.model, k, self.values, self._level_setting(self.preset.lam),
                             ste_share=self.preset.ste_share, prev=tables)
        self._cached = False
        if self.make_objective is not None:
            return self.make_objective(self.model, levels, self.coords, self.values, self.gen, self._batch())
        fits = cache_bytes(arch, k, self._n) <= self.preset.cache_limit
        if arch.causal and fits:  # cached tables hold frozen earlier units: only valid when causal
            if tables is None:
                order = self._sweep_order()
                self._swept = order is not None
                if order is None:
                    tables = initial_tables(arch, self.coords, self.values)
                else:  # the rows in sweep order: a stratified batch is a run of rows (Window)
                    tables = initial_tables(arch, self.coords.index_select(0, order),
                                            self.values.index_select(0, order))
            u = self._unrevealed()
            self._cached = True
            return CachedLevel(self.model, k, tables, self._batch(), rows=self._range[1],
                               outside=None if u is None else u[:2])
        fill = self._others_fill()
        if fill is not None:  # network k on every row, targets outside its region filled
            lo, hi = self._region_rows(k)
            return Autograd(self.model, levels, self.coords, filled_target(self.values, lo, hi, fill))
        return Autograd(self.model, levels, self.coords, self.values)

    def _unrevealed(self):
        """(weight, fill, batch share) for the rows a regional stage has not revealed, or None.

        A progressive level's units are frozen once trained, and they still answer on the
        stripes (windows) that later levels reveal; trained on their own region only, they
        extrapolate freely there, and the later levels' few new units must first cancel that.
        So a stage also fits the unrevealed rows, at a small weight: to the true signal
        ("signal", ours: the encoder has it all) or to zero ("zero", the reference code's
        zero-filled target). Weight "area" is the reference's loss: every row alike."""
        p = self.preset
        if not (self.arch.regional and self.arch.causal) or p.unrevealed in (0, None) or self._range[1] >= self._n:
            return None
        hi = self._range[1]
        if p.unrevealed == "area":
            return ((self._n - hi) / hi, p.unrevealed_fill, (self._n - hi) / self._n)
        return (float(p.unrevealed), p.unrevealed_fill, p.unrevealed_share)

    def _sweep_order(self):
        """The order the cached tables keep their rows in: `sweep_order` for the first
        stratified level's batch when every stage trains on every row (no regions), so
        stratified batches are read in place; None (natural order) otherwise."""
        levels = self.arch.levels
        if len(self.region_rows) != 2 or self._n < 2:
            return None
        sampling, batch = per_level(self.preset.sampling, levels), per_level(self.preset.batch, levels)
        for s, b in zip(sampling, batch):
            if s == "stratified" and b is not None and b < self._n:
                return sweep_order(self._n, b, self.gen).to(self.device)
        return None

    def _level_setting(self, values):
        return per_level(values, self.arch.levels)[self._level - 1]

    def _batch(self) -> int:
        b = self._level_setting(self.preset.batch)
        return self.rows if b is None else min(b, self.rows)

    def _indices(self):
        """A batch of sorted row indices (None: every row). Under spatial or temporal growth a
        causal stage also draws `Preset.unrevealed_share` of its batch from the rows not yet
        revealed (see `_unrevealed`); they come last, as CachedLevel expects."""
        B = self._batch()
        u = self._unrevealed() if self._cached else None  # only the cached objective weighs them
        if u and self._level_setting(self.preset.batch) is None:  # full batch: every row, revealed first
            return torch.arange(self._range[0], self._n, device=self.device)
        n_out = round(B * u[2]) if u else 0
        idx = self._indices_in(B - n_out)
        if n_out == 0:
            return idx
        hi = self._range[1]
        if idx is None:
            idx = torch.arange(self._range[0], hi, device=self.device)
        out = torch.randint(self._n - hi, (n_out,), generator=self.gen).sort().values + hi
        return torch.cat([idx, out.to(self.device)])

    def _indices_in(self, B):
        lo = self._range[0]
        if B >= self.rows:
            if self.rows == self._n:
                return None
            return torch.arange(lo, self._range[1], device=self.device)
        if self._level_setting(self.preset.sampling) == "stratified":
            if self._swept and self._cached:
                # tables in sweep order: any B consecutive rows are one stratified batch
                return Window(int(torch.randint(self.rows, (1,), generator=self.gen)) + lo, B)
            # one sample in each of B equal runs of rows: sorted already, and the
            # batch covers the whole signal every step
            edges = torch.arange(B, dtype=torch.float64) * (self.rows / B)
            jitter = torch.rand(B, generator=self.gen, dtype=torch.float64) * (self.rows / B)
            idx = (edges + jitter).long().clamp_(max=self.rows - 1)
        else:
            idx = torch.randint(self.rows, (B,), generator=self.gen).sort().values
        return (idx + lo).to(self.device)

    def _lr(self, frac: float) -> float:
        p, lr = self.preset, self._level_setting(self.preset.lr)
        if p.schedule == "constant":
            return lr
        floor = lr * p.lr_floor
        return floor + 0.5 * (lr - floor) * (1 + math.cos(math.pi * min(1.0, frac)))

    def _loop(self, obj, levels: list, steps: int | None, seconds: float | None,
              constant_lr: float | None = None, tag: str = "", cap: float | None = None) -> int:
        lr_at = (lambda frac: constant_lr) if constant_lr is not None else self._lr
        opt = _adam(obj.params, lr_at(0.0))
        t0, step, ema = time.monotonic(), 0, None
        timed = cap is not None and steps is not None
        probe_from = max(PROBE_FROM_MIN, steps // PROBE_FROM_DIV) if timed else None
        probe_to = max(PROBE_TO_MIN, steps // PROBE_TO_DIV) if timed else None
        every = max(1, steps // RECHECK_DIV) if timed else None
        t_a = step_a = None
        label = f"level {levels[-1]}/{self.arch.levels}" if len(levels) == 1 else f"levels 1-{levels[-1]}"
        label += tag
        while True:
            elapsed = time.monotonic() - t0
            if timed and elapsed >= cap and 0 < step < steps:  # the cap has passed: stop here
                steps = self._cut(levels[-1], step, steps)
            frac = step / steps if steps is not None else elapsed / max(seconds, 1e-9)
            if frac >= 1.0:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(frac)
            if hasattr(obj, "progress"):
                obj.progress = frac  # objectives whose step changes over the stage (grid: noise, then rounding)
            loss = obj.step(self._indices())
            opt.step()
            step += 1
            if timed and step == probe_from:
                t_a, step_a = time.monotonic(), step
            elif timed and step_a is not None and step < steps and (
                    step == probe_to or (step > probe_to and (step - probe_to) % every == 0)):
                now = time.monotonic()  # one reading: elapsed and pace end at the same instant
                pace = (now - t_a) / (step - step_a)
                steps = self._fit_deadline(levels[-1], step, steps, now - t0, pace, cap)
            ema = loss if ema is None else 0.95 * ema + 0.05 * loss
            total = steps if steps is not None else seconds
            done = step if steps is not None else elapsed
            info = f"step {step} psnr {psnr_of_mse(ema):.2f} dB {elapsed:.0f}s"
            self.bar.update(label, done, total, info)
            self._report(levels[-1], step, min(1.0, done / total), psnr_of_mse(ema), f"{label}: {info}")
        return step

    def _fit_deadline(self, level: int, step: int, steps: int, elapsed: float, pace: float, cap: float) -> int:
        """Steps for a stage that has run `step` of `steps` in `elapsed` s at `pace` s a step,
        to end within `cap` s: unchanged when it fits (the usual case), else fewer."""
        if elapsed + pace * (steps - step) <= cap:
            return steps
        fewer = max(step + 1, step + int((cap - elapsed) / max(pace, 1e-9)))
        return steps if fewer >= steps else self._cut(level, fewer, steps)

    def _outlook(self, stages: list, share: list, t_start: float) -> None:
        """Before the first step, the deadline checked against this machine now: a plain
        SIREN's Adam step timed at the narrowest and widest widths (`estimate.pace_of`), each
        stage's steps and quantisation (`QUANT_PASSES`) estimated from it. If even the
        fewest steps the guard trains (one a stage, two with QAT) and quantising cannot fit,
        one warning says so now (also under --quiet: the promise is broken); if only fewer
        steps fit, one line says how many it plans per stage (progress: --quiet hides it).
        The steps are still cut by the stages' own measurements; the estimated quantisations
        are reserved from the start (before any is measured, the first stage would take them)."""
        from snf.encode.estimate import MAX_TIMED_BATCH, pace_of
        arch, n, deadline = self.arch, self._n, self.budget.deadline
        widths = list(arch.widths)  # each level's whole network: what quantising renders
        batches = [min(b or n, n) for b in per_level(self.preset.batch, arch.levels)]
        timed = max(1, min(max(batches), MAX_TIMED_BATCH))
        if arch.trains_jointly:  # one step runs every width (estimate.py's rule)
            trained = [sum(widths)]
        elif arch.causal:  # a progressive stage trains its new units over cached features
            trained = [widths[0]] + [max(1, round((w * w - v * v) ** 0.5)) for v, w in zip(widths, widths[1:])]
        else:
            trained = widths
        pace = pace_of(trained + widths, arch.layers, arch.d_in, arch.d_out, timed,
                       sdf=self.make_objective is not None, device=self.device, clock=lambda: time.monotonic())
        floor = 2 if self.fake_quant is not None else 1
        step_s, quant_s, asked = [], [], []
        for levels in stages:
            k = levels[-1]
            step_s.append(pace(trained[min(k, len(trained)) - 1]) * batches[k - 1] / timed)
            quant_s.append(sum(QUANT_PASSES * pace(widths[j - 1]) * n / timed + QUANT_FIXED_STEPS * pace(min(widths))
                               for j in levels))
            asked.append(sum(self.budget.steps[j - 1] for j in levels))
        spent = time.monotonic() - t_start  # the probe counts against the deadline too
        need_min = spent + sum(floor * t + q for t, q in zip(step_s, quant_s))
        need_full = spent + sum(a * t + q for a, t, q in zip(asked, step_s, quant_s))
        left = max(0.0, deadline - spent - sum(quant_s))
        planned = [max(floor, min(a, int(left * share[i] / sum(share) / max(t, 1e-9))))
                   for i, (a, t) in enumerate(zip(asked, step_s))]
        self.outlook = {"min": need_min, "full": need_full, "planned": planned if need_full > deadline else asked,
                        "quant": quant_s}
        if need_min > deadline:
            self.overrun = need_min - deadline  # said now: not again after a level
            self.bar.warn(f"snf: the --deadline of {deadline:g} s cannot be kept on this machine now: even "
                          f"{'two training steps' if floor == 2 else 'one training step'} a level and quantising "
                          f"take at least about {_secs(need_min)} s here (timed before training), so the encode will end "
                          f"late with its levels barely trained (--deadline 0 trains every step)")
        elif need_full > deadline:
            plan = ", ".join(f"{p:,} of {a:,}" for p, a in zip(planned, asked))
            self.bar.line(f"snf: every step would take about {_secs(need_full)} s here now, past the --deadline of "
                          f"{deadline:g} s: planning{', level by level,' if len(stages) > 1 else ''} about {plan} steps "
                          f"(re-measured as it trains; recorded in the file; --deadline 0 trains every step)")

    def _say_overrun(self, post: float, stages_left: int, left: float) -> None:
        """Once, as soon as it is known: the levels still to come cannot even be quantised
        within what is left of the deadline, so the encode will end late by about this much
        (each of those stages then trains one step and is recorded as cut)."""
        need = post * stages_left
        if need <= left:
            return
        self.overrun = need - max(left, 0.0)
        self.bar.warn(f"the --deadline of {self.budget.deadline:g} s cannot be kept on this machine now: quantising "
                      f"a level takes about {_secs(post)} s here, so the encode will end about {_secs(self.overrun)} s "
                      f"late, with the remaining levels barely trained (--deadline 0 trains every step)")

    def _cut(self, level: int, fewer: int, steps: int) -> int:
        """The stage trains `fewer` of its `steps`: recorded (with the steps first asked), and
        said on stderr once a stage."""
        if self.shortened and self.shortened[-1][0] == level:  # cut again: keep the steps first asked
            steps = self.shortened.pop()[2]
        self.shortened.append((level, fewer, steps))
        if not self._said:
            self._said = True
            self.bar.line(f"level {level}: this machine is slower than the preset's steps assume: "
                          f"training {fewer:,} of {steps:,} steps to keep within the deadline "
                          f"(recorded in the file; --deadline 0 trains them all)")
        return fewer

    def _report(self, level: int, step: int, frac: float, psnr: float, text: str) -> None:
        now = time.monotonic()
        if self.progress is None or now - self._reported < 0.5:
            return
        self._reported = now
        si, n = self._stage
        self.progress({"level": level, "levels": self.arch.levels, "step": step, "psnr": round(psnr, 2),
                       "fraction": (si + frac) / n, "text": text})


def _secs(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:,.0f}"


def _adam(params: list, lr: float) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def psnr_of_mse(mse: float, value_span: float = 2.0) -> float:
    """PSNR of an MSE measured on values that span `value_span` (2 for [-1, 1])."""
    return 99.0 if mse <= 0 else 10 * math.log10(value_span ** 2 / mse)
