"""The latent-grid field family: layout and hard limits (numpy only, no torch).

A grid field is a stack of 2-D latent grids at power-of-two fractions of the
picture's size, each upsampled (bilinear, pixel-centre aligned) to wherever the
picture is sampled, and a small synthesis network per level that maps the
features of every grid decoded so far to a residual added to the previous
level's output. Level k owns its new grids and its own synthesis network, and
reads only what levels 1..k own, so every prefix of levels is a complete field
(block-triangular growth, as the SIREN levels grow). The order of
`GridArch.tensors(k)` is the order of level k's payload, so it is part of the
format (format_spec.md, section 9).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

FAMILY = "grid"

# Hard limits, checked before anything is allocated (format_spec.md, section 9.5).
MAX_LEVELS = 16
MAX_GRIDS_PER_LEVEL = 8
MAX_GRIDS = 32
MAX_FACTOR_LOG2 = 10          # a grid is 1/1 .. 1/1024 of the picture per side
MAX_HIDDEN = 128
MAX_LAYERS = 4                # hidden layers of one level's synthesis network
MAX_DIM = 4
MAX_LATENT_SAMPLES = 1 << 26  # latents in all grids together


class GridArchError(ValueError):
    """A grid architecture that breaks a rule or a hard limit."""


@dataclass(frozen=True)
class Tensor:
    """One array of a level's payload: a latent grid, or a synthesis weight."""
    name: str
    shape: tuple
    kind: str  # "latent" (integers, step 1) or "weight" (integers times a float32 step)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GridArch:
    """`grids[k-1]`: the log2 downsampling factors of level k's new grids, coarse to fine;
    `hidden[k-1]`: width of level k's synthesis network; `layers`: its hidden layers."""
    grids: tuple
    hidden: tuple
    layers: int = 2
    d_out: int = 3

    def __post_init__(self):
        try:
            object.__setattr__(self, "grids", tuple(tuple(int(f) for f in g) for g in self.grids))
            object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        except (TypeError, ValueError):
            raise GridArchError("grid levels must be lists of integers") from None
        self.validate()

    def validate(self) -> None:
        n = len(self.grids)
        if not 1 <= n <= MAX_LEVELS:
            raise GridArchError(f"need 1..{MAX_LEVELS} levels, got {n}")
        if len(self.hidden) != n:
            raise GridArchError("one synthesis width per level is needed")
        if any(not 1 <= len(g) <= MAX_GRIDS_PER_LEVEL for g in self.grids):
            raise GridArchError(f"each level adds 1..{MAX_GRIDS_PER_LEVEL} grids")
        if sum(len(g) for g in self.grids) > MAX_GRIDS:
            raise GridArchError(f"more than {MAX_GRIDS} grids in all")
        if any(not 0 <= f <= MAX_FACTOR_LOG2 for g in self.grids for f in g):
            raise GridArchError(f"grid factors are log2 0..{MAX_FACTOR_LOG2}")
        if any(not 1 <= h <= MAX_HIDDEN for h in self.hidden):
            raise GridArchError(f"synthesis width must be 1..{MAX_HIDDEN}")
        if not 1 <= self.layers <= MAX_LAYERS:
            raise GridArchError(f"synthesis hidden layers must be 1..{MAX_LAYERS}")
        if not 1 <= self.d_out <= MAX_DIM:
            raise GridArchError(f"outputs must be 1..{MAX_DIM}")

    @property
    def levels(self) -> int:
        return len(self.grids)

    def inputs(self, k: int) -> int:
        """Features level k's synthesis reads: every grid of levels 1..k."""
        return sum(len(g) for g in self.grids[:k])

    def grid_shapes(self, k: int, size: tuple) -> list:
        """(rows, cols) of level k's grids for a picture of size (W, H)."""
        w, h = size
        return [(math.ceil(h / (1 << f)), math.ceil(w / (1 << f))) for f in self.grids[k - 1]]

    def tensors(self, k: int, size: tuple) -> list:
        """The arrays of level k's payload, in payload order."""
        out = [Tensor(f"grid{k}.{j}", s, "latent") for j, s in enumerate(self.grid_shapes(k, size))]
        fan, h = self.inputs(k), self.hidden[k - 1]
        for i in range(self.layers):
            out += [Tensor(f"syn{k}.l{i}.w", (h, fan), "weight"), Tensor(f"syn{k}.l{i}.b", (h,), "weight")]
            fan = h
        out += [Tensor(f"syn{k}.out.w", (self.d_out, h), "weight"), Tensor(f"syn{k}.out.b", (self.d_out,), "weight")]
        return out

    def check_size(self, size: tuple) -> None:
        """Latents in all grids for this picture size, against the hard limit."""
        total = sum(r * c for k in range(1, self.levels + 1) for r, c in self.grid_shapes(k, size))
        if total > MAX_LATENT_SAMPLES:
            raise GridArchError(f"{total} latents exceed the limit {MAX_LATENT_SAMPLES}")

    def params(self, k: int, size: tuple) -> int:
        """Numbers stored in levels 1..k (latents and weights)."""
        return sum(t.size for j in range(1, k + 1) for t in self.tensors(j, size))

    def macs(self, k: int) -> int:
        """Multiply-adds per output sample of level k's picture (synthesis only)."""
        total = 0
        for j in range(1, k + 1):
            fan, h = self.inputs(j), self.hidden[j - 1]
            total += fan * h + (self.layers - 1) * h * h + h * self.d_out
        return total

    def to_dict(self) -> dict:
        return {"family": FAMILY, "grids": [list(g) for g in self.grids], "hidden": list(self.hidden),
                "layers": self.layers, "d_out": self.d_out}

    @classmethod
    def from_dict(cls, d: dict) -> "GridArch":
        if not isinstance(d, dict) or d.get("family") != FAMILY:
            raise GridArchError("not a grid architecture")
        try:
            return cls(grids=d["grids"], hidden=d["hidden"], layers=d.get("layers", 2), d_out=d["d_out"])
        except KeyError as e:
            raise GridArchError(f"grid architecture lacks {e}") from None
        except TypeError as e:
            raise GridArchError(f"bad grid architecture: {e}") from None


def parse_grid_levels(text: str) -> tuple:
    """'6.5.4.3:12,2:16,1:16,0:16' -> grids ((6,5,4,3),(2,),(1,),(0,)), hidden (12,16,16,16)."""
    grids, hidden = [], []
    try:
        for part in str(text).split(","):
            g, h = part.split(":")
            grids.append(tuple(int(f) for f in g.split(".")))
            hidden.append(int(h))
    except ValueError:
        raise GridArchError(f"grid levels must look like '6.5.4.3:12,2:16' (log2 factors:width per level), "
                            f"got {str(text)[:60]!r}") from None
    return tuple(grids), tuple(hidden)


def axis_taps(n_out: int, n_in: int):
    """Bilinear taps along one axis, pixel-centre aligned: for each of n_out samples the
    two source indices and the weight of the second. The one definition the torch
    trainer, the numpy decoder and the spec share (format_spec.md, section 9.4).

    src = (i + 0.5) * n_in / n_out - 0.5, clamped to [0, n_in - 1]; i0 = floor(src),
    i1 = min(i0 + 1, n_in - 1), t = src - i0 (float32 arithmetic)."""
    import numpy as np
    i = np.arange(n_out, dtype=np.float32)
    src = (i + np.float32(0.5)) * np.float32(n_in / n_out) - np.float32(0.5)
    src = np.clip(src, np.float32(0), np.float32(n_in - 1)).astype(np.float32)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0.astype(np.float32)).astype(np.float32)
