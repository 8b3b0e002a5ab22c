"""The latent-grid field in torch, and the objective one of its levels trains.

`GridField` holds, per level, its latent grids, the log-scale of each grid's
Laplace model (the rate term) and its synthesis network; it grows and freezes
levels like `BlockSiren`, so the one `Trainer` drives both families. `GridLevel`
is the objective of stage k: rows are pixels; the frozen levels' features and
output on every pixel are computed once (they never change during stage k), so
a step interpolates only the new grids at the batch's pixels. The loss is
MSE + lambda * bits per pixel, the bits a discretised Laplace's on the latents:
with additive uniform noise for most of the stage, then at the rounded values
(straight-through, latents and synthesis weights both) for the rest, so training
ends where the decoder will be.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from snf.field.grid import GridArch, axis_taps
from snf.format.coded import STEPS
from snf.format.gridcode import weight_code

LN2 = math.log(2.0)


def laplace_bits(q: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """-log2 P(q) summed, P the Laplace(0, b) mass on [q - 1/2, q + 1/2]."""
    b = torch.exp(log_b)
    a = q.abs()
    e1 = torch.exp(-(a - 0.5).abs() / b)
    e2 = torch.exp(-(a + 0.5) / b)
    mass = torch.where(a < 0.5, 1 - 0.5 * e1 - 0.5 * e2, 0.5 * (e1 - e2))
    return -torch.log(mass.clamp_min(1e-9)).sum() / LN2


class GridField(nn.Module):
    """Per level: grids (ParameterList), Laplace log-scales, synthesis layers."""

    def __init__(self, arch: GridArch, size: tuple):
        super().__init__()
        self.arch, self.size = arch, size
        self.grids = nn.ModuleList()   # level k-1: ParameterList of its grids
        self.log_b = nn.ParameterList()
        self.syn = nn.ModuleList()     # level k-1: ParameterList [w0, b0, w1, b1, ..., out.w, out.b]
        arch.check_size(size)

    @property
    def grown(self) -> int:
        return len(self.grids)

    @property
    def levels(self) -> list:
        """Trainable parameters per level (the Trainer's view)."""
        return [list(self.grids[j]) + [self.log_b[j]] + list(self.syn[j]) for j in range(self.grown)]

    def grow(self, gen: torch.Generator) -> None:
        k = self.grown + 1
        arch = self.arch
        self.grids.append(nn.ParameterList([nn.Parameter(torch.zeros(r, c)) for r, c in arch.grid_shapes(k, self.size)]))
        self.log_b.append(nn.Parameter(torch.zeros(len(arch.grids[k - 1]))))
        ps = []
        for t in arch.tensors(k, self.size):
            if t.kind != "weight":
                continue
            if t.name.startswith(f"syn{k}.out"):
                ps.append(nn.Parameter(torch.zeros(t.shape)))  # a new level starts at the last one's picture
            elif len(t.shape) == 2:
                bound = 1.0 / math.sqrt(t.shape[1])
                ps.append(nn.Parameter((torch.rand(t.shape, generator=gen) * 2 - 1) * bound))
            else:
                ps.append(nn.Parameter(torch.zeros(t.shape)))
        self.syn.append(nn.ParameterList(ps))

    def freeze(self, k: int) -> None:
        for p in self.levels[k - 1]:
            p.requires_grad_(False)

    def level_tensors(self, k: int) -> list:
        """Level k's arrays in payload order (latents as floats: the caller rounds)."""
        return [p.detach().cpu().numpy() for p in list(self.grids[k - 1]) + list(self.syn[k - 1])]

    def laplace_scales(self, k: int) -> list:
        return [float(v) for v in torch.exp(self.log_b[k - 1].detach())]

    @torch.no_grad()
    def set_level(self, k: int, arrays: list) -> None:
        for p, a in zip(list(self.grids[k - 1]) + list(self.syn[k - 1]), arrays, strict=True):
            p.copy_(torch.as_tensor(a, dtype=torch.float32))


def synthesis(params, x: torch.Tensor, layers: int) -> torch.Tensor:
    """One level's residual: ReLU layers, then a linear output (rows are samples)."""
    h = x
    for i in range(layers):
        h = torch.relu(torch.addmm(params[2 * i + 1], h, params[2 * i].T))
    return torch.addmm(params[2 * layers + 1], h, params[2 * layers].T)


@torch.no_grad()
def _round_weight(p: torch.Tensor) -> torch.Tensor:
    """The weights as `gridcode.encode_level` stores them: one step per tensor (`weight_code`)."""
    step = float(STEPS[weight_code(p.detach().cpu().numpy())])
    return torch.round(p / step) * step


class Taps:
    """Bilinear taps of one grid at every pixel of a W x H picture, as flat indices."""

    def __init__(self, shape: tuple, size: tuple, device):
        (r, c), (w, h) = shape, size
        y0, y1, ty = (torch.as_tensor(a, device=device) for a in axis_taps(h, r))
        x0, x1, tx = (torch.as_tensor(a, device=device) for a in axis_taps(w, c))
        self.c, self.w = c, w
        self.rows = (y0 * c, y1 * c, ty)
        self.cols = (x0, x1, tx)

    def sample(self, g: torch.Tensor, pix: tuple | None) -> torch.Tensor:
        """Values of grid g (r, c) at pixels pix = (rows, cols) of the picture (None: all)."""
        (r0, r1, ty), (c0, c1, tx) = self.rows, self.cols
        if pix is None:
            gy = g[(r0 // self.c)] * (1 - ty)[:, None] + g[(r1 // self.c)] * ty[:, None]  # (H, c)
            return (gy[:, c0] * (1 - tx) + gy[:, c1] * tx).reshape(-1)
        py, px = pix
        flat = g.reshape(-1)
        a0, a1, t = r0[py], r1[py], ty[py]
        b0, b1, u = c0[px], c1[px], tx[px]
        top = flat[a0 + b0] * (1 - u) + flat[a0 + b1] * u
        bot = flat[a1 + b0] * (1 - u) + flat[a1 + b1] * u
        return top * (1 - t) + bot * t


class GridLevel:
    """Stage k of a grid field: frozen levels cached, new grids and synthesis trained."""

    def __init__(self, model: GridField, k: int, values: torch.Tensor, lam: float,
                 ste_share: float = 0.2, prev=None):
        self.model, self.k, self.lam = model, k, lam
        arch, size = model.arch, model.size
        self.values = values  # (N, C) in [-1, 1]
        self.N = values.shape[0]
        self.W = size[0]
        self.layers = arch.layers
        self.taps = [Taps(g.shape, size, values.device) for g in model.grids[k - 1]]
        self.params = model.levels[k - 1]
        self.ste_share = ste_share
        self.progress = 0.0
        if prev is None:  # level 1: no frozen features, the frozen output is zero
            self.feats = torch.zeros(self.N, 0, device=values.device)
            self.base = torch.zeros_like(values)
        else:
            self.feats, self.base = prev

    def _latents(self, hard: bool) -> list:
        out = []
        for g in self.model.grids[self.k - 1]:
            if hard:
                out.append(g + (torch.round(g) - g).detach())
            else:
                out.append(g + (torch.rand_like(g) - 0.5))
        return out

    def forward(self, qs: list, idx, fake_quant: bool = False):
        f = self.feats if idx is None else self.feats.index_select(0, idx)
        pix = None if idx is None else (idx // self.W, idx % self.W)
        new = [t.sample(q, pix) for t, q in zip(self.taps, qs)]
        x = torch.cat([f] + [n[:, None] for n in new], 1)
        base = self.base if idx is None else self.base.index_select(0, idx)
        params = list(self.model.syn[self.k - 1])
        if fake_quant:  # the weights as the file will hold them (gridcode), straight-through
            params = [p + (_round_weight(p) - p).detach() for p in params]
        return base + synthesis(params, x, self.layers), x

    def step(self, idx) -> float:
        hard = self.progress >= 1 - self.ste_share
        qs = self._latents(hard)
        y, _ = self.forward(qs, idx, fake_quant=hard)
        t = self.values if idx is None else self.values.index_select(0, idx)
        mse = torch.mean((y - t) ** 2)
        bits = sum(laplace_bits(q, lb) for q, lb in zip(qs, self.model.log_b[self.k - 1]))
        loss = mse + self.lam * bits / self.N
        for p in self.params:
            p.grad = None
        loss.backward()
        return float(mse.detach())

    @torch.no_grad()
    def extend(self):
        """Cached features and output of levels 1..k (after on_stage_end set the decoded values),
        for stage k+1."""
        qs = [g.detach() for g in self.model.grids[self.k - 1]]
        y, x = self.forward(qs, None)
        return x.contiguous(), y

    @torch.no_grad()
    def bits(self) -> float:
        return float(sum(laplace_bits(torch.round(g), lb) for g, lb in
                         zip(self.model.grids[self.k - 1], self.model.log_b[self.k - 1])))

    def close(self) -> None:
        for p in self.params:
            p.grad = None
