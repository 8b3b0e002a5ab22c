"""Render a decoded latent field (format_spec.md section 11.5) with numpy alone, at any size.

Every grid the reader holds is upsampled bilinearly (the grid family's taps,
`snf.field.grid.axis_taps`) to the render's pixel centres; a grid of a level not
held is zero (the fill rule), so it adds nothing to the features. The per-pixel
synthesis runs on row blocks; the 3x3 residual conv layers then run on the whole
render (zero outside it).
"""
from __future__ import annotations

import numpy as np

from snf.decode.grid_render import upsample
from snf.decode.render import _one_blas_thread
from snf.field.latent import LatentArch

ROWS = 64


class LatentNetwork:
    """Levels 1..k of a latent field: `levels[j-1]` holds level j's decoded arrays."""

    def __init__(self, arch: LatentArch, levels: list, k: int):
        if not 1 <= k <= len(levels):
            raise ValueError(f"level {k} is not decoded (have {len(levels)})")
        self.arch, self.k = arch, k
        n_arm = len(arch.arm_tensors())
        n_syn = len(arch.syn_tensors())
        self.syn = [np.asarray(a, np.float32) for a in levels[0][n_arm:n_arm + n_syn]]
        self.grids = list(levels[0][n_arm + n_syn:])
        for j in range(2, k + 1):
            self.grids += list(levels[j - 1])

    def grid(self, size: tuple) -> np.ndarray:
        """Output values (H*W, d_out) float32 of a W x H render (row-major pixels)."""
        with _one_blas_thread():
            return self._grid(size)

    def _grid(self, size: tuple) -> np.ndarray:
        w, h = size
        arch = self.arch
        n = len(arch.factors)
        feats = np.zeros((h * w, n), np.float32)
        for i, g in enumerate(self.grids):
            if np.any(g):
                feats[:, i] = upsample(np.asarray(g, np.float32), size).reshape(-1)
        ns = len(arch.syn)
        p = self.syn
        out = np.empty((h * w, arch.d_out), np.float32)
        step = ROWS * w
        for s in range(0, h * w, step):
            a = feats[s:s + step]
            for i in range(ns):
                a = a @ p[2 * i].T
                a += p[2 * i + 1]
                np.maximum(a, 0, out=a)
            y = a @ p[2 * ns].T
            y += p[2 * ns + 1]
            out[s:s + step] = y
        if arch.conv:
            img = out.reshape(h, w, arch.d_out)
            for j in range(arch.conv):
                cw, cb = p[2 * ns + 2 + 2 * j], p[2 * ns + 3 + 2 * j]
                img = img + conv3x3(img, cw, cb)
            out = np.ascontiguousarray(img.reshape(h * w, arch.d_out), np.float32)
        return out


def conv3x3(img: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 -> (H, W, O): sum over c, dy, dx of w[o, c, dy, dx] * img[y+dy-1, x+dx-1, c]
    (zero outside the picture) plus b[o] (cross-correlation, as torch's conv2d)."""
    h, wd, c = img.shape
    pad = np.zeros((h + 2, wd + 2, c), np.float32)
    pad[1:-1, 1:-1] = img
    out = np.zeros((h, wd, w.shape[0]), np.float32)
    for dy in range(3):
        for dx in range(3):
            out += pad[dy:dy + h, dx:dx + wd] @ np.ascontiguousarray(w[:, :, dy, dx].T)
    out += b
    return out
