"""Quantisation-aware fine-tuning: the last part of a stage sees its own rounding.

During those steps the loss and gradients are taken at the quantised values of
the level's blocks and applied to the float values (straight-through), so
training settles where rounding costs least. The rounding mirrors
`quant.quantise` (per-row scales for matrices, one for vectors); the file is
still written by `quant.encode_level`, which stays the one definition.
"""
from __future__ import annotations

import numpy as np
import torch

from snf.field.arch import Arch
from snf.format.coded import STEPS
from snf.format.quant import block_bits


def fake_quantiser(arch: Arch, quant: dict):
    """-> fq(k, tensors): level k's blocks (torch, block order) rounded as the file will hold them."""
    blocks = {}

    def fq(k: int, tensors: list) -> list:
        if k not in blocks:
            blocks[k] = [(b.cols is not None, (1 << (block_bits(b, quant) - 1)) - 1) for b in arch.blocks(k)]
        return [_round(t, per_row, qmax) for t, (per_row, qmax) in zip(tensors, blocks[k], strict=True)]
    return fq


@torch.no_grad()
def _round(t: torch.Tensor, per_row: bool, qmax: int) -> torch.Tensor:
    m = t.reshape(t.shape[0], -1) if per_row else t.reshape(1, -1)
    scale = m.abs().amax(dim=1, keepdim=True) / qmax
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (torch.clamp(torch.round(m / safe), -qmax, qmax) * scale).reshape(t.shape)


class RDFakeQuant:
    """Fake quantisation at rate-distortion steps (`--quality` with `--qat`).

    Why: the steps of a level come from the output's sensitivity (snf.encode.rd),
    which only exists once the level is trained. `prepare` chooses them when the
    straight-through phase of a stage starts; that phase trains at those steps,
    and the stage's end quantises with the same steps (`codes`), so training
    settles where exactly that rounding costs least.
    choose(k, model) -> step codes per block of level k (as `snf.format.coded` takes them).
    """

    def __init__(self, choose):
        self.choose = choose
        self.codes, self._steps = {}, {}

    def prepare(self, levels: list, model) -> None:
        for k in levels:
            self.codes[k] = [np.asarray(c, dtype=np.uint8) for c in self.choose(k, model)]
            self._steps[k] = None

    def __call__(self, k: int, tensors: list) -> list:
        if self._steps.get(k) is None:
            self._steps[k] = [torch.as_tensor(STEPS[c].astype(np.float32), device=t.device)
                              for c, t in zip(self.codes[k], tensors, strict=True)]
        return [_round_at(t, s) for t, s in zip(tensors, self._steps[k], strict=True)]


@torch.no_grad()
def _round_at(t: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    m = t.reshape(steps.numel(), -1)
    return (torch.round(m / steps[:, None]) * steps[:, None]).reshape(t.shape)


class StraightThrough:
    """Wraps an objective: each step runs at the rounded values, then puts the floats back."""

    def __init__(self, obj, model, levels: list, fq):
        self.obj, self.model, self.levels, self.fq = obj, model, levels, fq
        self.params = obj.params
        self.master = [[p.detach().clone() for p in model.levels[k - 1]] for k in levels]

    @torch.no_grad()
    def _swap_in(self) -> None:
        for k, saved in zip(self.levels, self.master):
            ps = self.model.levels[k - 1]
            for p, s in zip(ps, saved):
                s.copy_(p)
            for p, q in zip(ps, self.fq(k, ps)):
                p.copy_(q)

    @torch.no_grad()
    def _swap_out(self) -> None:
        for k, saved in zip(self.levels, self.master):
            for p, s in zip(self.model.levels[k - 1], saved):
                p.copy_(s)

    def step(self, idx):
        self._swap_in()
        try:
            return self.obj.step(idx)
        finally:
            self._swap_out()
