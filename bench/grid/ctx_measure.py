"""Latent bytes of grid files under a factorised Laplace per grid and under context models.

    python bench/grid/ctx_measure.py FILE.snf ...

For every latent grid of each file: the exact coded bytes (plus 4 bytes a model) of
(a) one discretised Laplace per grid (grid-rans), (b) one per magnitude bucket of the
causal neighbours (no prediction), (c) the grid-ctx rule (residual against
trunc((L + U) / 2), four buckets; `snf.format.latentctx`). This is how the grid-ctx
design was chosen (bench/grid/RESULTS.md); it reads any grid file.
"""
from __future__ import annotations

import sys

import numpy as np

from snf.field.grid import GridArch
from snf.format import entropy, latentctx
from snf.format.container import read


def bucket_bytes(r: np.ndarray, b: np.ndarray, n: int) -> float:
    return sum((entropy.fit(r[b == i]).bits(r[b == i]) if (b == i).any() else 0) + 32 for i in range(n)) / 8


def main() -> None:
    for path in sys.argv[1:]:
        p = read(open(path, "rb").read())
        arch, size = GridArch.from_dict(p.header["arch"]), tuple(p.header["size"])
        tot = np.zeros(3)
        print(path)
        for k in range(1, len(p.levels) + 1):
            for t, a in zip(arch.tensors(k, size), p.levels[k - 1]):
                if t.kind != "latent":
                    continue
                q = a.astype(np.int64)
                fact = entropy.fit(q).bits(q) / 8 + 4
                pred, b = latentctx.context(q)
                mag = bucket_bytes(q.ravel(), b.ravel(), latentctx.N_CTX)
                ctx = bucket_bytes((q - pred).ravel(), b.ravel(), latentctx.N_CTX)
                tot += (fact, mag, ctx)
                print(f"  {t.name} {q.shape[0]}x{q.shape[1]} nonzero {np.mean(q != 0):.2f} max |q| {np.abs(q).max()}: "
                      f"factorised {fact:.0f} B, buckets {mag:.0f} B, grid-ctx {ctx:.0f} B")
        print(f"  all latents: factorised {tot[0]:.0f} B, buckets {tot[1]:.0f} B ({tot[1] / tot[0] - 1:+.1%}), "
              f"grid-ctx {tot[2]:.0f} B ({tot[2] / tot[0] - 1:+.1%})")


if __name__ == "__main__":
    main()
