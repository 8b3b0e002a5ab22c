"""The latent field's trainable twin (torch): grids, synthesis, conv layers and the float ARM.

Everything is trained jointly, in one run. The ARM here is the float twin of the
integer one (`snf.field.latent.arm_int`): the same network in real units (a Q8
integer w stands for w / 256), its weights fake-quantised in the last phase, so its
Laplace code length is what the rate term pays and what the coder later spends,
within the integer rounding.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snf.encode import bilinear, conv3x3, thinmlp
from snf.field import latent as L
from snf.field.latent import LatentArch

LOG2 = math.log(2.0)
# The ARM's two outputs are trained through these gains (folded into its last layer on export):
# in index units a scale must move by tens within a few hundred steps at the weights' rate.
ARM_OUT_GAIN = (4.0, 16.0)
SCALE_INIT = 18.0   # the ARM's first scale index: b = 1


class LatentModel(nn.Module):
    def __init__(self, arch: LatentArch, size: tuple, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.arch, self.size = arch, size
        self.shapes = arch.grid_shapes(size)
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros(r, c)) for r, c in self.shapes])

        def linear(fan_out, fan_in, scale=1.0):
            bound = scale / math.sqrt(fan_in)
            w = (torch.rand(fan_out, fan_in, generator=g) * 2 - 1) * bound
            return nn.Parameter(w), nn.Parameter(torch.zeros(fan_out))

        syn, fan = [], len(arch.factors)
        for h in arch.syn:
            syn += list(linear(h, fan))
            fan = h
        syn += list(linear(arch.d_out, fan))
        for _ in range(arch.conv):
            syn += [nn.Parameter(torch.zeros(arch.d_out, arch.d_out, 3, 3)), nn.Parameter(torch.zeros(arch.d_out))]
        self.syn = nn.ParameterList(syn)
        arm, fan = [], L.N_CONTEXT
        width, layers = arch.arm
        for _ in range(layers):
            arm += list(linear(width, fan))
            fan = width
        w, b = linear(2, fan, 0.02)
        b.data[1] = SCALE_INIT / ARM_OUT_GAIN[1]
        self.arm = nn.ParameterList(arm + [w, b])
        self.register_buffer("out_gain", torch.tensor(ARM_OUT_GAIN))
        # context gathers, fixed by the layout: parent rows/cols of each grid
        self.parents = [None] + [tuple(torch.from_numpy(x) for x in L.parent_index(r, c, *self.shapes[i]))
                                 for i, (r, c) in enumerate(self.shapes[1:])]
        self.temperature = 0.3  # soft rounding's temperature (quantised_latents "soft")
        self.arm_fq = False  # fake-quantise the ARM's weights (Q8, the coder's shifts)
        self.mu_round = False

    # -------------------------------------------------------------- pieces
    def quantised_latents(self, how: str, gen=None) -> list:
        out = []
        for y in self.latents:
            if how == "noise":
                out.append(y + torch.rand(y.shape, generator=gen, device=y.device) - 0.5)
            elif how == "soft":  # soft rounding around uniform noise (C3's proxy): s_T(s_T(y) + u)
                u = torch.rand(y.shape, generator=gen, device=y.device) - 0.5
                out.append(soft_round(soft_round(y, self.temperature) + u, self.temperature))
            elif how == "ste":
                out.append(y + (torch.round(y) - y).detach())
            else:
                out.append(torch.round(y))
        return out

    def synthesis(self, q: list, k: int, size: tuple | None = None) -> torch.Tensor:
        """(1, d_out, H, W) output of the prefix of levels 1..k (later grids zero)."""
        w, h = size or self.size
        n = self.arch.grid_range(k)[1]
        # channels-first (C, N) layout throughout: a (16, 7) @ (7, N) product is about twice as
        # fast on a CPU as the (N, 7) @ (7, 16) one, forward and backward (bench/RESULTS.md)
        total = len(self.arch.factors)
        x = bilinear.features(q[:n], total, (w, h))
        p = self.syn
        ns = len(self.arch.syn)
        y = thinmlp.mlp(x, list(p[:2 * ns + 2]))
        img = y.reshape(self.arch.d_out, h, w)
        for j in range(self.arch.conv):
            img = img + conv3x3.conv3x3(img, p[2 * ns + 2 + 2 * j], p[2 * ns + 3 + 2 * j])
        return img[None]

    def arm_effective(self) -> list:
        """The ARM's tensors as the format stores them (real units): the output gains folded in."""
        ps = list(self.arm)
        ps[-2] = ps[-2] * self.out_gain[:, None]
        ps[-1] = ps[-1] * self.out_gain
        return ps

    def arm_params(self) -> list:
        if not self.arm_fq:
            return self.arm_effective()
        from snf.format.latentcode import arm_shift
        out = []
        for t in self.arm_effective():
            step = (1 << arm_shift(t.detach().cpu().numpy())) / 256.0
            out.append(t + (torch.round(t / step) * step - t).detach())
        return out

    def contexts(self, q: list) -> torch.Tensor:
        """(N_CONTEXT, N) contexts of every latent, grid after grid (raster order), channels first."""
        parts = []
        for i, g in enumerate(q):
            r, c = g.shape
            pad = F.pad(g, (2, 2, 2, 0))
            cols = [pad[2 + dy:2 + dy + r, 2 + dx:2 + dx + c].reshape(-1) for dx, dy in L.NEIGHBOURS]
            if i == 0:
                cols.append(g.new_zeros(r * c))
            else:
                pi, pj = self.parents[i]
                cols.append(q[i - 1][pi][:, pj].reshape(-1))
            parts.append(torch.stack(cols, 0))
        return torch.cat(parts, 1)

    def rate_bits(self, q: list) -> torch.Tensor:
        """Total Laplace code length (bits) of the latents q under the float ARM."""
        a = self.contexts(q)
        sym = torch.cat([x.reshape(-1) for x in q])
        w = self.arm_params()
        o = thinmlp.mlp(a, w)
        mu = o[0]
        if self.mu_round:
            mu = mu + (torch.round(mu) - mu).detach()
        s = o[1].clamp(0, L.N_SCALES - 1)
        b = torch.exp2((s - L.SCALE_OFFSET) / 6.0)
        if GEOMETRIC:
            return geometric_bits(sym, mu, b).sum()
        return laplace_bits(sym, mu, b).sum()


def soft_round(y: torch.Tensor, t: float) -> torch.Tensor:
    """A differentiable rounding: the identity as t grows, round(y) as t -> 0 (Agustsson and
    Theis 2020; C3 anneals t while training)."""
    m = torch.floor(y) + 0.5
    return m + 0.5 * torch.tanh((y - m) / t) / math.tanh(0.5 / t)


GEOMETRIC = True  # the rate term uses the coder's own (two-sided geometric) model, not Laplace bins


def geometric_bits(x: torch.Tensor, mu: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """-log2 of the two-sided geometric pmf the coder's table approximates (section 8 with
    ratio r = exp(-1/b)): P(d) = (1 - r) / (1 + r) * r^|d|, d = x - mu (real d interpolates)."""
    r = torch.exp(-1.0 / b)
    return (-torch.log2((1 - r) / (1 + r)).clamp_max(16.0) + (x - mu).abs() / b / LOG2).clamp_max(16.0)


def laplace_bits(x: torch.Tensor, mu: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """-log2 P(x) of integers x under a Laplace(mu, b) discretised on unit bins (floored at 2^-16)."""
    d = -(x - mu).abs()  # the Laplace is symmetric: the lower tail keeps float32 precision
    hi = _cdf(d + 0.5, b)
    lo = _cdf(d - 0.5, b)
    p = (hi - lo).clamp_min(2.0 ** -16)
    return -torch.log2(p)


def _cdf(t: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    e = 0.5 * torch.exp(-t.abs() / b)
    return torch.where(t < 0, e, 1 - e)


def to_numpy(model: LatentModel) -> tuple:
    """(weight tensors in payload order: ARM then synthesis, float32; latents float32)."""
    ws = [t.detach().cpu().numpy().astype(np.float32) for t in model.arm_effective() + list(model.syn)]
    return ws, [y.detach().numpy().astype(np.float32) for y in model.latents]
