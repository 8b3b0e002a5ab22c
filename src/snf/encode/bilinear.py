"""The synthesis' input for training: every latent grid upsampled (bilinear) to the picture,
stacked as rows of one (grids, pixels) matrix.

Why: torch's upsampling backward scatters over every output pixel and the stack is one more
full copy (about a quarter of a 768x512 training step, bench/RESULTS.md latent field,
"Round 3"); `_bilinear.c` interpolates separably, forward and backward, straight into and out
of the matrix's rows. Grids are split into one group per torch thread (the GIL is released
in C); each grid's gradient is computed whole by one thread, so the bits do not depend on
the thread count. Without the built kernel, or off the CPU, `features` is torch's
F.interpolate(mode="bilinear", align_corners=False) and a stack.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from snf.encode.kernels import load, run_ranges

_c = load("_bilinear")


def features_torch(grids: list, total: int, size: tuple) -> torch.Tensor:
    """(total, H*W): the grids upsampled to size (W, H), then zero rows up to `total`."""
    w, h = size
    rows = [F.interpolate(g[None, None], size=(h, w), mode="bilinear", align_corners=False).reshape(-1)
            if g.shape != (h, w) else g.reshape(-1) for g in grids]
    x = torch.stack(rows, 0)
    if total > len(grids):
        x = torch.cat([x, x.new_zeros(total - len(grids), x.shape[1])], 0)
    return x


def features(grids: list, total: int, size: tuple) -> torch.Tensor:
    """features_torch through the C kernel where it applies (CPU float32)."""
    if _c is None or any(g.device.type != "cpu" or g.dtype != torch.float32 for g in grids):
        return features_torch(grids, total, size)
    return _Up.apply(size, total, *grids)


def _groups(n: int) -> list:
    t = max(1, min(torch.get_num_threads(), n))
    cuts = [n * i // t for i in range(t + 1)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


class _Up(torch.autograd.Function):
    @staticmethod
    def forward(ctx, size, total, *grids):
        w, h = size
        gs = [g.detach().contiguous() for g in grids]
        x = torch.zeros(total, h * w)
        xa = x.numpy()

        def part(a, b):
            for i in range(a, b):
                r, c = gs[i].shape
                if (r, c) == (h, w):
                    xa[i] = gs[i].numpy().reshape(-1)
                else:
                    _c.run(gs[i].numpy(), r, c, xa[i], h, w, False)

        run_ranges(part, _groups(len(gs)))
        ctx.size, ctx.shapes = size, [tuple(g.shape) for g in gs]
        return x

    @staticmethod
    def backward(ctx, gx):
        w, h = ctx.size
        gx = gx.contiguous()
        ga = gx.numpy()
        out = [torch.empty(s) for s in ctx.shapes]

        def part(a, b):
            for i in range(a, b):
                r, c = ctx.shapes[i]
                if (r, c) == (h, w):
                    out[i].copy_(gx[i].reshape(h, w))
                else:
                    _c.run(ga[i], r, c, out[i].numpy(), h, w, True)

        run_ranges(part, _groups(len(out)))
        return (None, None, *out)
