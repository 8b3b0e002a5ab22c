"""Rate-distortion choice of quantisation steps: a step per row from the output's sensitivity.

Why: rounding weight i with step D_i adds about F_i D_i^2 / 12 to the mean squared
error, where F_i is the mean over samples and channels of (dy/dw_i)^2 (the
Gauss-Newton diagonal), and costs about log2(1/D_i) bits more per halving. The
Lagrangian optimum gives every weight the same share of the added error:
D_i^2 = 12 * eps * MSE / (N * F_i), with eps the relative MSE increase allowed
for the level and N its parameter count. We use one F per step (a row's mean),
estimated with Rademacher probes: E[(J^T v)^2] = diag(J^T J). `--quality` sets eps
(see `eps_of_quality`), so one knob trades bytes for error the same way at
every level and for every tensor kind.
"""
from __future__ import annotations


import numpy as np
import torch

from snf.field.arch import Arch
from snf.format.coded import code_at_least, n_codes

# Level k's probe pixels come from a generator seeded seed + PROBE_SEED_STRIDE * k: other pixels
# for each level, the same for the same seed (changing it changes every encode's bytes).
PROBE_SEED_STRIDE = 1000


def eps_of_quality(quality: int) -> float:
    """Relative MSE increase a level may take from rounding: 4x less every 20 quality points.

    quality 75 -> 0.0125 (about 0.05 dB), 95 -> 0.0031, 55 -> 0.05, 35 -> 0.2, 0 -> 2.6."""
    return 0.05 * 4.0 ** ((55 - float(quality)) / 20.0)


def sensitivity(model, k: int, coords, values, samples: int = 32768, probes: int = 4,
                seed: int = 0) -> tuple:
    """(per-block F per step: list of arrays, float MSE on the samples) for level k's blocks."""
    gen = torch.Generator().manual_seed(seed + PROBE_SEED_STRIDE * k)
    n = coords.shape[0]
    idx = torch.randperm(n, generator=gen)[:min(samples, n)]
    dev = next(model.parameters()).device
    x = torch.as_tensor(coords, dtype=torch.float32)[idx].to(dev)
    y = torch.as_tensor(values, dtype=torch.float32)[idx].to(dev)
    params = list(model.levels[k - 1])
    saved = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    acc = [torch.zeros_like(p) for p in params]
    try:
        for _ in range(probes):
            out = model(x, k)
            v = (torch.randint(0, 2, out.shape, generator=gen, dtype=torch.float32) * 2 - 1).to(dev)
            grads = torch.autograd.grad((out * v).sum(), params)
            for a, g in zip(acc, grads):
                a += g.detach() ** 2
        with torch.no_grad():
            mse = float(((model(x, k) - y) ** 2).mean())
    finally:
        for p, s in zip(params, saved):
            p.requires_grad_(s)
    denom = probes * out.numel()
    sens = []
    for blk, a in zip(model.arch.blocks(k), acc):
        f = (a.cpu().numpy().astype(np.float64) / denom).reshape(n_codes(blk), -1).mean(axis=1)
        sens.append(f)
    return sens, mse


def rd_codes(arch: Arch, k: int, sens: list, mse: float, eps: float) -> list:
    """Step codes per block: D^2 = 12 eps MSE / (N F), on the 2^(1/8) grid (nearest in log)."""
    n = arch.level_params(k)
    target = 12.0 * eps * max(mse, 1e-12) / n
    codes = []
    for f in sens:
        step = np.sqrt(target / np.maximum(f, 1e-30))
        # nearest grid point in log2: the smallest code >= step / 2^(1/16)
        codes.append(code_at_least(step * 2.0 ** (-1 / 16)))
    return codes


def peak_codes(arch: Arch, k: int, tensors: list, quant: dict) -> list:
    """Expert mode (--bits): the smallest step that keeps |q| <= 2^(bits-1) - 1 (peak per row)."""
    from snf.format.quant import block_bits
    codes = []
    for blk, t in zip(arch.blocks(k), tensors):
        qmax = (1 << (block_bits(blk, quant) - 1)) - 1
        m = np.abs(np.asarray(t, np.float32).reshape(n_codes(blk), -1)).max(axis=1)
        codes.append(code_at_least(m / qmax))
    return codes


def bits_per_param(stats: list) -> dict:
    """Bits per parameter by tensor kind (first layer, hidden, biases, output), side info included."""
    kinds = {}
    for s in stats:
        t = s["tensor"]
        kind = "bias" if t.endswith(".b") else ("first" if t == "l0.w" else ("out" if t == "out.w" else "hidden"))
        b = kinds.setdefault(kind, [0.0, 0])
        b[0] += s["bits"] + 8 * s["side_bytes"]
        b[1] += s["params"]
    return {kk: round(v[0] / v[1], 3) for kk, v in kinds.items() if v[1]}


