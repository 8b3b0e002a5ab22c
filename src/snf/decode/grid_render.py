"""Render a decoded latent-grid field with numpy alone, at any size.

Each grid is upsampled separably (rows, then columns) with the bilinear taps of
`snf.field.grid.axis_taps`, which the trainer uses too; the features then go
through each level's synthesis network, row block by row block, and the
residuals add up. The field is continuous: a render of another size samples
the same grids at that size's pixel centres.
"""
from __future__ import annotations

import numpy as np

from snf.decode.render import _one_blas_thread
from snf.field.grid import GridArch, axis_taps

ROWS = 64  # picture rows per block: keeps the activations in cache


def upsample(g: np.ndarray, size: tuple) -> np.ndarray:
    """Grid (r, c) float32 -> (H, W) float32 at the pixel centres of a W x H picture."""
    w, h = size
    y0, y1, ty = axis_taps(h, g.shape[0])
    x0, x1, tx = axis_taps(w, g.shape[1])
    one = np.float32(1)
    rows = g[y0] * (one - ty)[:, None] + g[y1] * ty[:, None]
    return rows[:, x0] * (one - tx) + rows[:, x1] * tx


class GridNetwork:
    """Levels 1..k of a grid field: `levels[j-1]` holds level j's arrays in payload order."""

    def __init__(self, arch: GridArch, levels: list, k: int):
        if not 1 <= k <= len(levels):
            raise ValueError(f"level {k} is not decoded (have {len(levels)})")
        self.arch, self.k = arch, k
        self.grids, self.syn = [], []
        for j in range(1, k + 1):
            n = len(arch.grids[j - 1])
            arrays = levels[j - 1]
            self.grids += list(arrays[:n])
            self.syn.append((arch.inputs(j), arrays[n:]))

    def grid(self, size: tuple) -> np.ndarray:
        """Output values (H*W, d_out) float32 of a W x H render (row-major pixels). The products
        are small (a few dozen columns): one BLAS thread (a pool of them was 7x slower here)."""
        with _one_blas_thread():
            return self._grid(size)

    def _grid(self, size: tuple) -> np.ndarray:
        w, h = size
        feats = np.empty((h * w, len(self.grids)), np.float32)
        for i, g in enumerate(self.grids):
            feats[:, i] = upsample(g, size).reshape(-1)
        out = np.zeros((h * w, self.arch.d_out), np.float32)
        L = self.arch.layers
        step = ROWS * w
        for s in range(0, h * w, step):
            x = feats[s:s + step]
            y = out[s:s + step]
            for fan, ps in self.syn:
                a = x[:, :fan]
                for i in range(L):
                    a = a @ ps[2 * i].T
                    a += ps[2 * i + 1]
                    np.maximum(a, 0, out=a)
                r = a @ ps[2 * L].T
                r += ps[2 * L + 1]
                y += r
        return out
