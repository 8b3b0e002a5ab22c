"""How many latent bytes a learned context model (an 'ARM', as in Cool-chic) could save over
`grid-ctx` (format_spec.md 9.3), measured offline on trained latents (not the product).

For every latent q of every grid in an .npz (`r4_explore.py --save`) or a grid .snf file: its
causal neighbours (raster order; rows i-2, i-1 at columns j-2..j+2 and row i at j-3..j-1,
zero outside the grid) feed a small ReLU MLP that outputs the mean and log-scale of a
discretised Laplace; one MLP for the whole file, fitted on the very latents it then codes
(so an optimistic bound on the coding side: the latents themselves were trained under the
grid-ctx rule, which is pessimistic for the ARM). Printed beside the exact grid-ctx bytes
(the real coder), and the ARM's own parameter count (a file would store them too).

    python bench/grid/arm_estimate.py LATENTS.npz [--hidden 16 --layers 2 --steps 600]
"""
import argparse
import math

import numpy as np
import torch

from snf.format import entropy, latentctx

torch.set_num_threads(1)
OFFS = [(-2, d) for d in range(-2, 3)] + [(-1, d) for d in range(-2, 3)] + [(0, -3), (0, -2), (0, -1)]


def neighbours(q: np.ndarray, n: int) -> np.ndarray:
    """(rows*cols, n) causal neighbours of every latent (the last n of OFFS: the nearest)."""
    r, c = q.shape
    p = np.pad(q.astype(np.float32), ((2, 0), (3, 2)))
    cols = [p[2 + dy:2 + dy + r, 3 + dx:3 + dx + c].reshape(-1) for dy, dx in OFFS[-n:]]
    return np.stack(cols, 1)


def grid_ctx_bytes(grids: list) -> int:
    segs = [(q.astype(np.int64), entropy.fit_context(q.astype(np.int64))) for q in grids]
    return len(entropy.encode_segments(segs)) + 4 * latentctx.N_CTX * len(grids)


def laplace_bits(x, mu, log_b):
    b = torch.exp(log_b).clamp_min(0.05)
    def cdf(v):
        z = (v - mu) / b
        return torch.where(z < 0, 0.5 * torch.exp(z.clamp_max(0)), 1 - 0.5 * torch.exp(-z.clamp_min(0)))
    m = (cdf(x + 0.5) - cdf(x - 0.5)).clamp_min(1e-9)
    return -torch.log2(m).sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("latents")
    ap.add_argument("--ctx", type=int, default=13, help="neighbours (nearest first: 3 = L, LL, LLL...)")
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=600)
    a = ap.parse_args()
    z = np.load(a.latents)
    grids = [z[k] for k in z.files]
    x = torch.tensor(np.concatenate([neighbours(q, a.ctx) for q in grids]))
    y = torch.tensor(np.concatenate([q.reshape(-1) for q in grids]).astype(np.float32))
    torch.manual_seed(0)
    mods, fan = [], a.ctx
    for _ in range(a.layers):
        mods += [torch.nn.Linear(fan, a.hidden), torch.nn.ReLU()]
        fan = a.hidden
    mods.append(torch.nn.Linear(fan, 2))
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for s in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = 1e-2 * 0.5 * (1 + math.cos(math.pi * s / a.steps))
        o = net(x)
        bits = laplace_bits(y, o[:, 0], o[:, 1])
        opt.zero_grad()
        bits.backward()
        opt.step()
    with torch.no_grad():
        o = net(x)
        arm = float(laplace_bits(y, o[:, 0], o[:, 1])) / 8
    n_par = sum(p.numel() for p in net.parameters())
    ctx = grid_ctx_bytes(grids)
    print(f"{a.latents}: {len(grids)} grids, {y.numel()} latents ({int((y != 0).sum())} non-zero); "
          f"grid-ctx {ctx} B; ARM ({a.ctx} neighbours, {a.layers}x{a.hidden}) {arm:.0f} B "
          f"({100 * (arm / ctx - 1):+.1f} %) + {n_par} parameters")


if __name__ == "__main__":
    main()
