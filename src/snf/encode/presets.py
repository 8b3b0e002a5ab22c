"""Training presets: the recipes `--preset` names, as a table with the reason for each value
(torch-free, so settings can check names).
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Preset:
    """One training recipe. Per-level settings: a scalar, or a tuple whose last entry repeats."""
    name: str
    batch: int | tuple | None  # samples per step; None: every sample (full batch)
    lr: float | tuple          # peak learning rate
    schedule: str              # "cosine" (down to lr * lr_floor) or "constant"
    steps: tuple               # steps per level
    share: tuple               # each stage's part of a --time-budget or --deadline (normalised)
    lr_floor: float = 0.02
    cache_limit: int = 8 << 30  # bytes of cached frozen-level activations before falling back to autograd
    refit: bool = True          # least-squares output columns at the end of a progressive stage
    sampling: str | tuple = "uniform"  # batch rows: "uniform" (with replacement) or "stratified"
    qat_share: float = 0.15    # --qat: the last share of each stage runs straight-through ...
    qat_lr: float = 0.01       # ... at this fraction of the stage's peak rate, constant
    lam: float | tuple = 0.0   # grid field: rate weight (loss = MSE on [-1, 1] + lam * bits per pixel)
    ste_share: float = 0.2     # grid field: last share of a stage with the latents rounded (straight-through)
    lr_signal: tuple = ()      # (kind, rate) pairs: the peak rate of every level for signals other than images
    lr_width: float | None = None  # videos and regional growth: level k's rate is min(lr[0], lr_width / width_k)
    # spatial/temporal growth, progressive: rows not yet revealed also train, at this weight against
    # the revealed rows' mean (or "area": every row alike, the seed's loss), toward `unrevealed_fill`
    # ("signal": the true values; "zero": mid grey; "black": the seed's zero fill on [0, 1]),
    # taking `unrevealed_share` of each batch (`Trainer._unrevealed`)
    unrevealed: float | str = 0.1
    unrevealed_fill: str = "signal"
    unrevealed_share: float = 0.25
    # mode individual under spatial/temporal growth: None trains network k on its own region only
    # (the stronger baseline); a fill trains it on every row, the other regions' targets filled
    # ("black": the seed's baseline). The file's layout is the same either way.
    individual_fill: str | None = None


# The recipes `--preset` names, and why each value is what it is. Measurements (2-core CPU,
# kodim03 / kodim08 768x512 unless said) are in bench/RESULTS.md (the
# rounds before it: `git show f49b19c:bench/rd/RESULTS.md`).
#
# fast (the default; CPU)
#   batch 16,384          random batches: a full-batch step on 393,216 pixels costs 24x more
#   lr 3e-3 .. 5e-4       falls with the width (rate x width = 0.075-0.10): +0.3 dB at level 1
#   steps 3600, 2300 x3   about 3 minutes on 2 cores; level 1 is cheap (30 units) and gains 0.54 dB
#                         from 1800 to 3600 steps, levels 2-4 gain 0.1-0.2 dB from 1500-1700 to 2300
#   share                 each stage's measured part of that time (10.7 / 16.5 / 21.0 / 24.7 ms a step),
#                         so a deadline acts on no stage of a machine fast enough for the whole
#   sampling              levels 2-4 stratified (+0.15-0.3 dB, read in place: `stage.Window`);
#                         level 1 uniform (stratified lost 0.5 dB there)
#   lr_signal sdf 1e-3    a torus SDF reaches Chamfer 0.015 at 1e-3, 0.050 at the image rate
#   lr_width 0.09         a video field at 3e-3 stayed at 22 dB where 1e-3 reached 46 dB; equal-width
#                         stripe networks at the falling image rates lost up to 1.4 dB
# paper (the seed's recipe, for GPUs)
#   full batch, Adam 2e-4 constant, 50,000 steps a level; spatial/temporal growth trains as the
#   seed's code does (every row alike, the unrevealed target black; individual networks likewise)
PRESETS = {
    "fast": Preset("fast", 16384, (3e-3, 1.5e-3, 7e-4, 5e-4), "cosine", (3600, 2300, 2300, 2300),
                   (0.21, 0.21, 0.26, 0.32), sampling=("uniform", "stratified"),
                   lr_signal=(("sdf", 1e-3),), lr_width=0.09),
    "paper": Preset("paper", None, 2e-4, "constant", (50000,), (1.0,), unrevealed="area", unrevealed_fill="black",
                    individual_fill="black"),
}

# The latent-grid field's recipe (--field grid; --preset names the SIREN's)
#   full batch            a random batch gathers four taps per grid and pixel, dearer than
#                         interpolating whole grids (1,000 whole steps ~110 s vs 3,000 batched 165 s)
#   lr 1e-2, cosine       grids and synthesis together; noise on the latents, rounded for the last 20 %
#   lam .02, .02, .15     level 3's 1/4 grid costs the most bits per dB: its larger rate weight keeps
#                         it where a picture beats the JPEG prefix (a fourth 1/2-grid level never did)
GRID_PRESET = Preset("grid", None, 1e-2, "cosine", (1000, 1000, 1000), (0.4, 0.3, 0.3),
                     refit=False, lam=(0.02, 0.02, 0.15))


# The default widths, steps and batch of a picture of a given size: `snf.sizes` (outside
# this package, since the server validates settings without importing snf.encode).


def per_level(values, levels: int) -> list:
    """A per-level setting: a scalar for every level, or a tuple whose last entry repeats."""
    if not isinstance(values, (tuple, list)):
        return [values] * levels
    return [values[min(i, len(values) - 1)] for i in range(levels)]


def with_overrides(preset: Preset, **kw) -> Preset:
    return replace(preset, **{k: v for k, v in kw.items() if v is not None})
