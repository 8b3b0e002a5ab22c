"""Training presets: the recipes `--preset` names (torch-free, so settings can check names).

A per-level setting is a scalar for every level, or a tuple whose last entry repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Preset:
    name: str
    batch: int | tuple | None  # samples per step, per level (last entry repeats); None: full batch
    lr: float | tuple          # peak learning rate, per level (last entry repeats)
    schedule: str              # "cosine" (to lr * lr_floor) or "constant"
    steps: tuple               # steps per level, by level (last entry repeats)
    share: tuple               # time-budget share per level (normalised)
    lr_floor: float = 0.02
    cache_limit: int = 8 << 30  # bytes of cached activations before falling back to autograd
    refit: bool = True          # least-squares output columns at the end of a progressive stage
    sampling: str | tuple = "uniform"  # batch rows, per level: "uniform" (with replacement) or "stratified"
    qat_share: float = 0.15    # with fake quantisation (--qat): the last share of each stage's steps or time
    qat_lr: float = 0.01       # ... at this fraction of the stage's peak rate, constant (0.05: 0.2 dB worse)
    lam: float | tuple = 0.0   # grid field: rate weight per level (loss = MSE on [-1, 1] + lam * bits / pixel)
    ste_share: float = 0.2     # grid field: last share of a stage with latents rounded (straight-through)
    # spatial/temporal growth, progressive: rows not yet revealed also train, at this weight
    # against the revealed rows' mean (float), or "area" (every row alike: the reference's
    # loss); their targets: "signal" (the true values), "zero" (0 on our [-1, 1] scale: mid
    # grey) or "black" (-1: the reference code's zero fill on its [0, 1] scale, see
    # stage.FILLS); they take this share of each batch (see Trainer._unrevealed)
    # peak rate for every level of a signal kind other than images (kind -> rate; kinds not
    # listed use `lr`): a torus SDF (w0 10, 400 steps) reaches Chamfer 0.050 at the image
    # rate 3e-3 and 0.015 at 1e-3 (bench/RESULTS-modalities.md)
    lr_signal: tuple = ()
    # videos and spatially/temporally grown pictures: level k's peak rate is
    # min(level 1's rate, lr_width / width of the network rendering level k). The image rates
    # fall with level because the widths grow (30..151 wide: rate x width = 0.075..0.10), not
    # because later levels need less: an equal-width network per stripe (mode individual) kept
    # at the falling rates lost up to 1.4 dB at level 4 (kodim08 crop), and a 64-wide video
    # field at 3e-3 stayed at 22 dB where 1e-3 reached 46 dB (bench/RESULTS-modalities.md).
    lr_width: float | None = None
    unrevealed: float | str = 0.1
    unrevealed_fill: str = "signal"
    unrevealed_share: float = 0.25
    # mode individual under spatial/temporal growth: None trains network k on its own region
    # only (ours, the stronger baseline); a fill ("black", "zero", "signal" as above) trains it
    # on every row alike, the other regions' targets filled: "black" is the seed's individual
    # baseline (its code zero-fills every stripe but k's on its [0, 1] scale and fits the whole
    # canvas; bench/RESULTS-modalities.md). The file is the same either way: only the weights differ.
    individual_fill: str | None = None


PRESETS = {
    # CPU: random batches, Adam with cosine decay, cached frozen levels. The small
    # early levels take a higher rate (measured on kodim03: +0.3 dB at level 1, and
    # later levels gain too); levels after the first draw stratified batches (+0.15
    # to +0.3 dB on kodim03 and kodim08; level 1 lost 0.5 dB with them on kodim03);
    # steps sized so the seed widths on a 768x512 image take about 3 minutes on 2 cores.
    # Level 1 (cheap: 30 units) takes 3600 steps: +0.54 dB at level 1 on kodim03 over 1800
    # (5400: +0.66), about 10 % more encode time; its bytes barely move (bench/rd/RESULTS.md).
    # Levels 2-4 take 2300 steps (were 1500 / 1700 / 1700: at levels 3-4 +0.07 / +0.11 dB on
    # kodim08 at q75, which took its bytes at equal PSNR past 25 % less than 1.0's; at level 2
    # +0.23 / +0.17 / +0.10 dB at levels 2-4 on kodim03, +0.10 dB at level 2 on kodim08, for
    # about 13 s); they cost about the time the old steps did because a stratified step now
    # reads its batch in place (`stage.Window`: 13-26 % less time a step at levels 2-4).
    # `share` (the split of a time budget or a deadline) is each stage's measured part of
    # the training time at these steps (2 threads, `bench/rd/step_cost.py 2 --win`: 10.7 /
    # 16.5 / 21.0 / 24.7 ms a step), so a --time-budget splits like the steps and a
    # --deadline acts on no stage of a machine fast enough for the whole. (With one
    # thread's CPU seconds, 0.19 / 0.20 / 0.27 / 0.34, level 1's cap had too little room:
    # one idle acceptance run, most likely slowed at its start, had level 1 cut.)
    "fast": Preset("fast", 16384, (3e-3, 1.5e-3, 7e-4, 5e-4), "cosine", (3600, 2300, 2300, 2300),
                   (0.21, 0.21, 0.26, 0.32), sampling=("uniform", "stratified"),
                   lr_signal=(("sdf", 1e-3),), lr_width=0.09),
    # The seed's recipe: full batch, Adam 2e-4, 50,000 steps a level (for GPUs).
    # (spatial/temporal growth as the seed's code: target zero-filled on its [0, 1] scale, i.e.
    # black, every row alike; its individual networks likewise, every region but their own black)
    "paper": Preset("paper", None, 2e-4, "constant", (50000,), (1.0,), unrevealed="area", unrevealed_fill="black",
                    individual_fill="black"),
}

# The recipe of the latent-grid field (--field grid; --preset names the SIREN's recipes)
GRID_PRESET = (
    # The latent-grid field (--field grid): every step sees the whole picture. A random
    # pixel batch gathers four taps per grid and pixel, dearer than interpolating whole
    # grids (kodim08 level 1, loaded machine: 3,000 steps on a quarter of the pixels,
    # 165 s CPU, 16.41 dB; 1,000 whole steps, about 110 s, 15.97 dB). Adam with cosine
    # decay on the grids and the synthesis together; uniform noise on the latents, then
    # rounded (straight-through) for the last 20%. Lambda (MSE on [-1, 1] + lam * bits
    # per pixel, the bits of the context model) per level: level 3's 1/4 grid costs the
    # most bits per dB, so its larger lambda keeps it small (the byte points where a
    # picture beats a JPEG prefix). A fourth level with the 1/2 grid did not beat the
    # prefix on kodim08 at any lambda tried (0.08: 1.2 dB below it at 15.1 kB; 0.25:
    # 0.28 dB below at 8.8 kB; bench/grid/RESULTS.md).
    Preset("grid", None, 1e-2, "cosine", (1000, 1000, 1000), (0.4, 0.3, 0.3),
           refit=False, lam=(0.02, 0.02, 0.15)))


def per_level(values, levels: int) -> list:
    """A per-level setting: a scalar for every level, or a tuple whose last entry repeats."""
    if not isinstance(values, (tuple, list)):
        return [values] * levels
    return [values[min(i, len(values) - 1)] for i in range(levels)]


def with_overrides(preset: Preset, **kw) -> Preset:
    return replace(preset, **{k: v for k, v in kw.items() if v is not None})
