"""The latent field's per-pixel synthesis MLP as one autograd function over a C kernel.

Why: at 7 -> 16 -> 16 -> 3 units torch spends most of a training step streaming thin
(16, H*W) activations, ReLU masks and their gradients through memory (bench/RESULTS.md,
latent field, "Round 3"); `_thinmlp.c` runs blocks of pixels through every layer in L1 and
recomputes the activations in the backward pass. The pixels are split into one range per
torch thread (the GIL is released in C) and the ranges' weight gradients summed in range
order, so a result depends on the thread count only, as torch's own reductions do.
Without the built kernel, or off the CPU, `mlp` is torch's layer-by-layer path.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from snf.encode.kernels import load, run_ranges, sum_in_order

_c = load("_thinmlp")
_BLOCK = 64  # the kernel's pixels per block: ranges start on a block


def available() -> bool:
    return _c is not None


def mlp_torch(x: torch.Tensor, params: list) -> torch.Tensor:
    """The reference: x (d0, N) through ReLU layers (w, b pairs), the last linear -> (d_out, N)."""
    n = len(params) // 2
    for i in range(n):
        x = torch.addmm(params[2 * i + 1][:, None], params[2 * i], x)
        if i < n - 1:
            x = F.relu(x)
    return x


def mlp(x: torch.Tensor, params: list) -> torch.Tensor:
    """mlp_torch through the fused kernel where it applies (CPU float32, widths <= 64)."""
    if _c is None or x.device.type != "cpu" or x.dtype != torch.float32 \
            or max([x.shape[0]] + [p.shape[0] for p in params]) > 64 or len(params) > 12:
        return mlp_torch(x, params)
    return _Fused.apply(x, *params)


def _ranges(n: int) -> list:
    t = max(1, min(torch.get_num_threads(), n // (16 * _BLOCK) or 1))
    cuts = [((n * i // t) // _BLOCK) * _BLOCK for i in range(t)] + [n]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _dims(x, params) -> list:
    return [int(x.shape[0])] + [int(params[2 * i].shape[0]) for i in range(len(params) // 2)]


class _Fused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, *params):
        x = x.detach().contiguous()
        ps = [p.detach().contiguous() for p in params]
        dims, n = _dims(x, ps), x.shape[1]
        y = torch.empty(dims[-1], n)
        xa, ya = x.numpy(), y.numpy()
        ws, bs = [p.numpy() for p in ps[0::2]], [p.numpy() for p in ps[1::2]]
        run_ranges(lambda a, b: _c.run(xa, n, a, b, dims, ws, bs, ya, None, None, None, None), _ranges(n))
        ctx.save_for_backward(x, *ps)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, *ps = ctx.saved_tensors
        dims, n = _dims(x, ps), x.shape[1]
        dy = dy.contiguous()
        need_x = ctx.needs_input_grad[0]
        dx = torch.empty_like(x) if need_x else None
        xa, dya = x.numpy(), dy.numpy()
        ws, bs = [p.numpy() for p in ps[0::2]], [p.numpy() for p in ps[1::2]]
        dxa = dx.numpy() if need_x else None

        def part(a, b):
            grads = [torch.zeros_like(p) for p in ps]  # w, b pairs, in the parameters' order
            _c.run(xa, n, a, b, dims, ws, bs, None, dya, dxa, [g.numpy() for g in grads[0::2]],
                   [g.numpy() for g in grads[1::2]])
            return grads

        return (dx, *sum_in_order(run_ranges(part, _ranges(n))))
