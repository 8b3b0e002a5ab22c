"""The latent-grid field in torch, and the objective one of its levels trains.

`GridField` holds, per level, its latent grids, the log-scale of each grid's
Laplace model (the rate term) and its synthesis network; it grows and freezes
levels like `BlockSiren`, so the one `Trainer` drives both families. `GridLevel`
is the objective of stage k: rows are pixels; the frozen levels' features and
output on every pixel are computed once (they never change during stage k), so
a step interpolates only the new grids at the batch's pixels. The loss is
MSE + lambda * bits per pixel, the bits those of the coder's context model
(`snf.format.latentctx`: each latent's residual against a causal prediction, under
a discretised Laplace per context bucket and grid, the bucket and prediction taken
from the rounded neighbours without gradient): with additive uniform noise for
most of the stage, then at the rounded values (straight-through, latents and
synthesis weights both) for the rest, so training ends where the decoder will be.

A grid's parameters are its latents divided by `LATENT_GAIN` (Adam moves a
parameter by about the learning rate per step, so a gain lets latents travel
further in a short stage). Measured: on kodim03 at 384x256 with 300 steps a
gain of 4 gave about +2 dB at equal bytes (8 and 16 spent more bytes for the
same PSNR); at 768x512 with 1000 steps a level it moved spent more bytes for
no better margin over the JPEG prefix (kodim08 level 2: 4,196 B at 17.80 dB, the
prefix 17.17; gain 1: 3,173 B at 17.51, the prefix 16.50), so the default is 1.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from snf.field.grid import GridArch, axis_taps
from snf.format import latentctx
from snf.format.coded import STEPS
from snf.format.gridcode import weight_code

LN2 = math.log(2.0)
LATENT_GAIN = 1.0  # a latent is its parameter times this (see the module docstring)


def laplace_bits(q: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """-log2 P(q) summed, P the Laplace(0, b) mass on [q - 1/2, q + 1/2] (log_b: a scalar,
    or one per element of q)."""
    b = torch.exp(log_b)
    a = q.abs()
    e1 = torch.exp(-(a - 0.5).abs() / b)
    e2 = torch.exp(-(a + 0.5) / b)
    mass = torch.where(a < 0.5, 1 - 0.5 * e1 - 0.5 * e2, 0.5 * (e1 - e2))
    return -torch.log(mass.clamp_min(1e-9)).sum() / LN2


@torch.no_grad()
def context(q: torch.Tensor) -> tuple:
    """(pred, bucket) of every latent of grid q (rows, cols), from its rounded causal
    neighbours: the rule of `snf.format.latentctx`, in torch."""
    qr = torch.round(q)
    p = torch.nn.functional.pad(qr[None, None], (1, 1, 1, 0))[0, 0]
    L, U, UL, UR = p[1:, :-2], p[:-1, 1:-1], p[:-1, :-2], p[:-1, 2:]
    pred = torch.trunc((L + U) / 2)
    s = 2 * L.abs() + 2 * U.abs() + UL.abs() + UR.abs()
    bucket = sum((s > e).long() for e in latentctx.EDGES)
    return pred, bucket


def context_bits(q: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """Bits of grid q under the context model with log-scales log_b (one per bucket):
    differentiable in q (the residual), not through the bucket or the prediction."""
    pred, bucket = context(q)
    return laplace_bits(q - pred, log_b[bucket])


class GridField(nn.Module):
    """Per level: grids (ParameterList; latents / LATENT_GAIN), Laplace log-scales (per grid and
    context bucket), synthesis layers."""

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
        self.log_b.append(nn.Parameter(torch.zeros(len(arch.grids[k - 1]), latentctx.N_CTX)))
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

    def latents(self, k: int) -> list:
        """Level k's latent grids (float, unrounded; differentiable)."""
        return [g * LATENT_GAIN for g in self.grids[k - 1]]

    def level_tensors(self, k: int) -> list:
        """Level k's arrays in payload order (latents as floats: the caller rounds)."""
        return [g.detach().cpu().numpy() for g in self.latents(k)] + \
            [p.detach().cpu().numpy() for p in self.syn[k - 1]]

    def laplace_scales(self, k: int) -> list:
        return torch.exp(self.log_b[k - 1].detach()).tolist()

    @torch.no_grad()
    def set_level(self, k: int, arrays: list) -> None:
        n = len(self.grids[k - 1])
        for g, a in zip(self.grids[k - 1], arrays[:n], strict=True):
            g.copy_(torch.as_tensor(a, dtype=torch.float32) / LATENT_GAIN)
        for p, a in zip(self.syn[k - 1], arrays[n:], strict=True):
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
        for g in self.model.latents(self.k):
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
        bits = sum(context_bits(q, lb) for q, lb in zip(qs, self.model.log_b[self.k - 1]))
        loss = mse + self.lam * bits / self.N
        for p in self.params:
            p.grad = None
        loss.backward()
        return float(mse.detach())

    @torch.no_grad()
    def extend(self):
        """Cached features and output of levels 1..k (after on_stage_end set the decoded values),
        for stage k+1."""
        qs = [g.detach() for g in self.model.latents(self.k)]
        y, x = self.forward(qs, None)
        return x.contiguous(), y

    @torch.no_grad()
    def bits(self) -> float:
        return float(sum(context_bits(torch.round(g), lb) for g, lb in
                         zip(self.model.latents(self.k), self.model.log_b[self.k - 1])))

    def close(self) -> None:
        for p in self.params:
            p.grad = None
