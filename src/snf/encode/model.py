"""The growing SIREN in torch: one parameter per block of `Arch.blocks(k)`.

Every mode stores exactly the blocks the container stores, so the layout has
one source of truth. The dense tensors of the sub-network for level k are
assembled from them: level j appends its rows (units that read every unit
existing at level j) and, in the slimmable mode only, a column block (old units
reading new ones; structurally zero in the progressive mode). Sine layers are
sin(w0 (W h + b)); the output layer is plain linear, not scaled by w0 (the
paper's code scales it; the parameter counts are the same either way).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from snf.field.arch import Arch, Block


def _uniform(shape, bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound


def init_block(arch: Arch, k: int, blk: Block, gen: torch.Generator) -> torch.Tensor:
    """SIREN init for one block; a progressive growth step zeroes new -> new weights
    (and, with init 'zero-out', the new output columns)."""
    a, b = arch.span(k)
    fan = arch.init_fan(k)
    grown = arch.grows_from_zero(k)
    if blk.tensor == "l0.w":
        return _uniform(blk.shape, 1.0 / arch.d_in, gen)
    if blk.cols is None:  # biases: torch.nn.Linear's default, as the SIREN reference keeps it
        fan_in = arch.d_in if blk.tensor == "l0.b" else fan
        return _uniform(blk.shape, 1.0 / math.sqrt(fan_in), gen)
    w = _uniform(blk.shape, math.sqrt(6.0 / fan) / arch.w0, gen)
    if grown and blk.tensor == "out.w" and arch.init == "zero-out":
        w.zero_()
    elif grown and blk.tensor != "out.w":
        w[:, a - blk.cols[0]:] = 0  # new -> new starts at zero; lateral keeps SIREN init
    return w


class BlockSiren(nn.Module):
    """All three modes: `levels[k-1]` holds level k's blocks as parameters."""

    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        self.levels = nn.ModuleList()

    @property
    def grown(self) -> int:
        return len(self.levels)

    def grow(self, gen: torch.Generator) -> None:
        """Add the next level's blocks, initialised for its mode."""
        k = self.grown + 1
        if k > self.arch.levels:
            raise ValueError("all levels already exist")
        blocks = [nn.Parameter(init_block(self.arch, k, blk, gen)) for blk in self.arch.blocks(k)]
        self.levels.append(nn.ParameterList(blocks))

    def level_tensors(self, k: int) -> list:
        return [p.detach().cpu().numpy().copy() for p in self.levels[k - 1]]

    @torch.no_grad()
    def set_level(self, k: int, tensors: list) -> None:
        """Replace level k's blocks (with their dequantised values, say)."""
        for p, t in zip(self.levels[k - 1], tensors, strict=True):
            p.copy_(torch.as_tensor(t, dtype=p.dtype))

    def freeze(self, k: int, frozen: bool = True) -> None:
        for p in self.levels[k - 1]:
            p.requires_grad_(not frozen)

    def dense(self, k: int) -> dict:
        """Dense tensors of the sub-network that renders level k (autograd flows)."""
        arch = self.arch
        t = {}
        for j in range(arch.first_level(k), k + 1):
            named = {}
            for blk, p in zip(arch.blocks(j), self.levels[j - 1]):
                named.setdefault(blk.tensor, []).append((blk, p))
            for name, parts in named.items():
                t[name] = _extend(t.get(name), parts, arch.rule.separate)
        return t

    def forward(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        k = k or self.grown
        t = self.dense(k)
        return siren_forward(x, t, self.arch)


def _extend(prev, parts: list, whole: bool):
    """Grow one dense tensor by a level's blocks (rows; a column block if present)."""
    if whole or prev is None:
        return parts[0][1]
    blk, p = parts[0]
    if blk.cols is None:  # bias: new entries (out.b never grows)
        return torch.cat([prev, p]) if blk.tensor != "out.b" else prev
    if blk.tensor == "out.w":
        return torch.cat([prev, p], 1)
    cols = parts[1][1] if len(parts) > 1 else prev.new_zeros(prev.shape[0], p.shape[0])
    if blk.tensor == "l0.w":
        return torch.cat([prev, p], 0)
    return torch.cat([torch.cat([prev, cols], 1), p], 0)


def siren_forward(x: torch.Tensor, t: dict, arch: Arch) -> torch.Tensor:
    h = torch.sin(arch.w0 * torch.addmm(t["l0.b"], x, t["l0.w"].T))
    for i in range(1, arch.layers):
        h = torch.sin(arch.w0 * torch.addmm(t[f"l{i}.b"], h, t[f"l{i}.w"].T))
    return torch.addmm(t["out.b"], h, t["out.w"].T)
