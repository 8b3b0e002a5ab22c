"""The latent field family (`field` "latent"): one jointly trained model, streamed by prefixes.

Why: a Cool-chic-style overfitted codec (latent grids from 1/64 of the picture down
to full size, bilinear upsampling, a small synthesis network with 3x3 conv layers,
and an auto-regressive context model, the ARM, that codes every latent) gives the
most quality per byte when every part is trained together (round 5 of the grid
family's results, `git show f49b19c:bench/grid/RESULTS.md`). Progressiveness comes from the latents, not from the network: level 1
carries the synthesis, the ARM and the coarse grids; each later level adds finer
grids; a reader fills the grids it does not hold with zeros, and training optimised
every such prefix (tail-drop). The ARM runs in integer fixed point so numpy, C and
JavaScript decode the same latents on every CPU (format_spec.md section 11).

This module is the layout, the hard limits and the integer ARM (numpy only, no
torch). `LatentArch.tensors` and the ARM arithmetic here are part of the format.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FAMILY = "latent"

# Hard limits, checked before anything is allocated (format_spec.md section 11.6).
MAX_LEVELS = 8
MAX_GRIDS = 12
MAX_FACTOR_LOG2 = 10
MAX_SYN_WIDTH = 64
MAX_SYN_LAYERS = 4
MAX_CONV = 4
MAX_ARM_WIDTH = 32
MAX_ARM_LAYERS = 4
MAX_DIM = 4
MAX_LATENT_SAMPLES = 1 << 26
LATENT_MAX = 4095             # |latent| a file may hold
WEIGHT_MAX = 1 << 15          # |ARM weight| in Q8 units
HIDDEN_MAX = (1 << 24) - 1    # an ARM hidden activation is clamped to 0..HIDDEN_MAX (Q8)
MAX_ARM_SHIFT = 8             # an ARM tensor's code: its integer times 2^shift, in Q8 units

# The ARM's causal context in a latent's own grid, (column offset, row offset), in this
# order, then the co-located latent of the grid decoded before it (its parent).
NEIGHBOURS = ((-1, 0), (0, -1), (-1, -1), (1, -1), (-2, 0), (0, -2), (-2, -1), (2, -1))
N_CONTEXT = len(NEIGHBOURS) + 1
N_SCALES = 64
SCALE_OFFSET = 18   # scale index s stands for the Laplace scale b = 2^((s - 18) / 6)
# RATIOS[s] = min(65535, round(65536 * exp(-1 / b_s))): the model (amax, RATIOS[s]) of section 8
RATIOS = (22, 53, 115, 229, 424, 735, 1200, 1857, 2740, 3874, 5274, 6943, 8869, 11032, 13399, 15933,
          18591, 21330, 24109, 26889, 29633, 32314, 34905, 37389, 39750, 41978, 44069, 46019, 47828, 49501,
          51039, 52451, 53741, 54917, 55986, 56957, 57835, 58629, 59346, 59992, 60573, 61096, 61565, 61987,
          62364, 62703, 63006, 63277, 63520, 63737, 63930, 64104, 64258, 64397, 64520, 64630, 64728, 64816,
          64894, 64964, 65026, 65081, 65131, 65175)


DEFAULTS = {"syn": [16, 16], "conv": 2, "arm": [12, 2]}  # arch keys a header may leave out


class LatentArchError(ValueError):
    """A latent architecture that breaks a rule or a hard limit."""


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple
    kind: str  # "arm" (Q8 integers), "weight" (synthesis: integer times STEP[e]), "latent"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LatentArch:
    """`grids[k-1]`: log2 factors of the grids level k adds (all grids strictly coarse to
    fine); `syn`: hidden widths of the per-pixel synthesis; `conv`: 3x3 residual conv
    layers after it; `arm`: (hidden width, hidden layers) of the context model."""
    grids: tuple
    syn: tuple = (16, 16)
    conv: int = 2
    arm: tuple = (12, 2)
    d_out: int = 3

    def __post_init__(self):
        try:
            object.__setattr__(self, "grids", tuple(tuple(int(f) for f in g) for g in self.grids))
            object.__setattr__(self, "syn", tuple(int(h) for h in self.syn))
            object.__setattr__(self, "arm", tuple(int(a) for a in self.arm))
            object.__setattr__(self, "conv", int(self.conv))
            object.__setattr__(self, "d_out", int(self.d_out))
        except (TypeError, ValueError):
            raise LatentArchError("latent arch values must be integers") from None
        self.validate()

    def validate(self) -> None:
        n = len(self.grids)
        if not 1 <= n <= MAX_LEVELS:
            raise LatentArchError(f"need 1..{MAX_LEVELS} levels, got {n}")
        if any(len(g) < 1 for g in self.grids):
            raise LatentArchError("each level adds at least one grid")
        f = self.factors
        if len(f) > MAX_GRIDS:
            raise LatentArchError(f"more than {MAX_GRIDS} grids")
        if any(not 0 <= x <= MAX_FACTOR_LOG2 for x in f):
            raise LatentArchError(f"grid factors are log2 0..{MAX_FACTOR_LOG2}")
        if any(a <= b for a, b in zip(f, f[1:])):
            raise LatentArchError("grid factors must decrease strictly (coarse to fine)")
        if len(self.syn) > MAX_SYN_LAYERS or any(not 1 <= h <= MAX_SYN_WIDTH for h in self.syn):
            raise LatentArchError(f"synthesis: at most {MAX_SYN_LAYERS} hidden layers of width 1..{MAX_SYN_WIDTH}")
        if not 0 <= self.conv <= MAX_CONV:
            raise LatentArchError(f"conv layers must be 0..{MAX_CONV}")
        if len(self.arm) != 2 or not 1 <= self.arm[0] <= MAX_ARM_WIDTH or not 1 <= self.arm[1] <= MAX_ARM_LAYERS:
            raise LatentArchError(f"arm is [width 1..{MAX_ARM_WIDTH}, layers 1..{MAX_ARM_LAYERS}]")
        if not 1 <= self.d_out <= MAX_DIM:
            raise LatentArchError(f"outputs must be 1..{MAX_DIM}")

    @property
    def levels(self) -> int:
        """K, the number of levels (the readers' generic name, as Arch.levels)."""
        return len(self.grids)

    @property
    def factors(self) -> tuple:
        return tuple(f for g in self.grids for f in g)

    def grid_range(self, k: int) -> tuple:
        """Global indices [a, b) of level k's grids."""
        a = sum(len(g) for g in self.grids[:k - 1])
        return a, a + len(self.grids[k - 1])

    def grid_shapes(self, size: tuple) -> list:
        w, h = size
        return [(math.ceil(h / (1 << f)), math.ceil(w / (1 << f))) for f in self.factors]

    def arm_tensors(self) -> list:
        width, layers = self.arm
        out, fan = [], N_CONTEXT
        for i in range(layers):
            out += [Tensor(f"arm.l{i}.w", (width, fan), "arm"), Tensor(f"arm.l{i}.b", (width,), "arm")]
            fan = width
        return out + [Tensor("arm.out.w", (2, fan), "arm"), Tensor("arm.out.b", (2,), "arm")]

    def syn_tensors(self) -> list:
        out, fan = [], len(self.factors)
        for i, h in enumerate(self.syn):
            out += [Tensor(f"syn.l{i}.w", (h, fan), "weight"), Tensor(f"syn.l{i}.b", (h,), "weight")]
            fan = h
        out += [Tensor("syn.out.w", (self.d_out, fan), "weight"), Tensor("syn.out.b", (self.d_out,), "weight")]
        for j in range(self.conv):
            out += [Tensor(f"conv{j}.w", (self.d_out, self.d_out, 3, 3), "weight"),
                    Tensor(f"conv{j}.b", (self.d_out,), "weight")]
        return out

    def weight_tensors(self) -> list:
        """Level 1's weight tensors in payload order: the ARM's, then the synthesis'."""
        return self.arm_tensors() + self.syn_tensors()

    def macs(self) -> int:
        """Multiply-adds per pixel of a render (the cost model, format_spec.md 5.1): the
        per-pixel synthesis and the 3x3 convs; the bilinear taps are not counted, as in the
        grid family. Every level costs the same: a grid not held is zeros, still read."""
        fan, n = len(self.factors), 0
        for h in self.syn:
            n += fan * h
            fan = h
        return n + fan * self.d_out + self.conv * 9 * self.d_out * self.d_out

    def params(self, k: int, size: tuple) -> int:
        """Numbers stored in levels 1..k (cost model): level 1's weights and every latent of
        the grids of levels 1..k."""
        shapes = self.grid_shapes(size)
        return sum(t.size for t in self.weight_tensors()) + sum(r * c for r, c in shapes[:self.grid_range(k)[1]])

    def check_size(self, size: tuple) -> None:
        total = sum(r * c for r, c in self.grid_shapes(size))
        if total > MAX_LATENT_SAMPLES:
            raise LatentArchError(f"{total} latents exceed the limit {MAX_LATENT_SAMPLES}")

    def to_dict(self) -> dict:
        """The header's `arch`: keys at the spec's defaults left out (a header byte is a level-1 byte)."""
        d = {"grids": [list(g) for g in self.grids], "syn": list(self.syn), "conv": self.conv,
             "arm": list(self.arm), "d_out": self.d_out}
        for k, v in DEFAULTS.items():
            if d[k] == v:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LatentArch":
        if not isinstance(d, dict):
            raise LatentArchError("arch must be a map")
        try:
            lv = d["grids"]
            if not isinstance(lv, list) or not all(isinstance(g, list) for g in lv):
                raise LatentArchError("grids must be a list of lists of integers")
            if any(not _is_int(v) for g in lv for v in g) or any(not _is_int(v) for v in d.get("syn", [])) \
                    or any(not _is_int(v) for v in d.get("arm", [0, 0])) \
                    or not _is_int(d.get("conv", 0)) or not _is_int(d["d_out"]):
                raise LatentArchError("latent arch values must be integers")
            if len(lv) > MAX_LEVELS or sum(len(g) for g in lv) > MAX_GRIDS:
                raise LatentArchError(f"at most {MAX_LEVELS} levels and {MAX_GRIDS} grids")
            return cls(grids=lv, syn=d.get("syn", [16, 16]), conv=d.get("conv", 2), arm=d.get("arm", [12, 2]),
                       d_out=d["d_out"])
        except KeyError as e:
            raise LatentArchError(f"latent arch lacks {e}") from None
        except TypeError as e:
            raise LatentArchError(f"bad latent arch: {e}") from None


def _is_int(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def parse_levels(text: str) -> tuple:
    """'6.5.4.3,2,1,0' -> ((6, 5, 4, 3), (2,), (1,), (0,))."""
    try:
        return tuple(tuple(int(f) for f in part.split(".")) for part in str(text).split(","))
    except ValueError:
        raise LatentArchError(f"latent levels look like '6.5.4.3,2,1,0', got {str(text)[:60]!r}") from None


# ------------------------------------------------------------------ the integer ARM

def parent_index(rows: int, cols: int, prows: int, pcols: int) -> tuple:
    """Row and column of each latent's parent: floor(i * prows / rows), floor(j * pcols / cols)."""
    return (np.arange(rows, dtype=np.int64) * prows) // rows, (np.arange(cols, dtype=np.int64) * pcols) // cols


def contexts(q: np.ndarray, parent: np.ndarray | None) -> np.ndarray:
    """(rows*cols, N_CONTEXT) int64 contexts of every latent of grid q (raster order):
    NEIGHBOURS (0 outside the grid), then the parent's co-located latent (0 without one)."""
    rows, cols = q.shape
    pad = np.zeros((rows + 2, cols + 4), np.int64)
    pad[2:, 2:cols + 2] = q
    out = np.empty((rows * cols, N_CONTEXT), np.int64)
    for n, (dx, dy) in enumerate(NEIGHBOURS):
        out[:, n] = pad[2 + dy:2 + dy + rows, 2 + dx:2 + dx + cols].reshape(-1)
    if parent is None:
        out[:, -1] = 0
    else:
        pi, pj = parent_index(rows, cols, *parent.shape)
        out[:, -1] = np.asarray(parent, np.int64)[pi][:, pj].reshape(-1)
    return out


def arm_int(ctx: np.ndarray, weights: list) -> tuple:
    """The integer ARM on contexts (N, N_CONTEXT) int64 with Q8 weights (ARM tensors in order)
    -> (pred, s): int64 predictions (|pred| <= LATENT_MAX) and scale indices 0..63.
    format_spec.md 11.4 is this, operation by operation."""
    a = np.asarray(ctx, np.int64)
    n_hidden = (len(weights) - 2) // 2
    for i in range(n_hidden):
        w, b = weights[2 * i], weights[2 * i + 1]
        acc = a @ np.asarray(w, np.int64).T
        if i:
            acc >>= 8  # floor division by 256 (arithmetic shift)
        a = np.clip(acc + np.asarray(b, np.int64), 0, HIDDEN_MAX)
    o = ((a @ np.asarray(weights[-2], np.int64).T) >> 8) + np.asarray(weights[-1], np.int64)
    pred = np.clip((o[:, 0] + 128) >> 8, -LATENT_MAX, LATENT_MAX)
    s = np.clip((o[:, 1] + 128) >> 8, 0, N_SCALES - 1)
    return pred, s


def arm_int_one(ctx: list, weights: list) -> tuple:
    """arm_int for one context in plain Python integers (the reference decoder's inner step)."""
    a = ctx
    n_hidden = (len(weights) - 2) // 2
    for i in range(n_hidden):
        w, b = weights[2 * i], weights[2 * i + 1]
        nxt = []
        for row, bias in zip(w, b):
            acc = sum(x * y for x, y in zip(row, a))
            if i:
                acc >>= 8
            acc += bias
            nxt.append(0 if acc < 0 else HIDDEN_MAX if acc > HIDDEN_MAX else acc)
        a = nxt
    o = [(sum(x * y for x, y in zip(row, a)) >> 8) + bias for row, bias in zip(weights[-2], weights[-1])]
    pred = max(-LATENT_MAX, min(LATENT_MAX, (o[0] + 128) >> 8))
    s = max(0, min(N_SCALES - 1, (o[1] + 128) >> 8))
    return pred, s
