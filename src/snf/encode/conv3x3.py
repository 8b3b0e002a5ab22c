"""A 3x3 convolution of a few channels (the latent field's residual conv layers) for training.

Why: at 3 channels a layer is 81 multiply-adds a pixel, so torch's batched products and
copies are the cost (bench/RESULTS.md, latent field, "Round 3"). `_conv3x3.c` makes each
output row from three padded input rows; rows are split into one range per torch thread
(the GIL is released in C) and the ranges' weight gradients summed in range order, so a
result depends on the thread count only. Without the built kernel, or off the CPU,
`conv3x3` is the torch path (nine shifted channel mixes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from snf.encode.kernels import load, run_ranges, sum_in_order

_c = load("_conv3x3")

MAX_CHANNELS = 4


def conv3x3_torch(img: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """F.conv2d(img[None], w, b, padding=1)[0] for a few channels, as nine shifted channel
    mixes: on a CPU about 1.5x faster than the library convolution's backward at 3 channels."""
    _, h, wd = img.shape
    p = F.pad(img, (1, 1, 1, 1))
    out = b[:, None, None]
    for dy in range(3):
        for dx in range(3):
            out = out + torch.einsum("oc,chw->ohw", w[:, :, dy, dx], p[:, dy:dy + h, dx:dx + wd])
    return out


def conv3x3(img: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """conv3x3_torch through the C kernel where it applies (CPU float32, <= 4 channels)."""
    if _c is None or img.device.type != "cpu" or img.dtype != torch.float32 or img.shape[0] > MAX_CHANNELS:
        return conv3x3_torch(img, w, b)
    return _Conv.apply(img, w, b)


def _row_ranges(h: int, w: int) -> list:
    t = max(1, min(torch.get_num_threads(), (h * w) // 16384 or 1, h))
    cuts = [h * i // t for i in range(t + 1)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b):
        x, w, b = x.detach().contiguous(), w.detach().contiguous(), b.detach().contiguous()
        c, h, wd = x.shape
        y = torch.empty_like(x)
        xa, wa, ba, ya = x.numpy(), w.numpy(), b.numpy(), y.numpy()
        run_ranges(lambda r0, r1: _c.forward(xa, c, h, wd, wa, ba, ya, r0, r1), _row_ranges(h, wd))
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        c, h, wd = x.shape
        g = g.contiguous()
        dx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        xa, ga, wa = x.numpy(), g.numpy(), w.numpy()
        dxa = dx.numpy() if dx is not None else None

        def part(r0, r1):
            dk, db = torch.zeros_like(w), torch.zeros(c)
            _c.backward(xa, ga, c, h, wd, wa, dxa, dk.numpy(), db.numpy(), r0, r1)
            return dk, db

        dk, db = sum_in_order(run_ranges(part, _row_ranges(h, wd)))
        return dx, dk, db
