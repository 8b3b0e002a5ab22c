"""The context rule of latent grids coded under `grid-ctx` (format_spec.md section 9.3).

Why: latents trained with a rate term are sparse and spatially clustered; a single
Laplace per grid pays for every zero of a mostly empty fine grid as if it could
be anywhere. Here each latent q at (i, j) is coded as the residual r = q - pred
under one of `N_CTX` Laplace models of its grid, both chosen from the latents
already decoded above and to the left (raster order) with integer arithmetic
only, so Python, C and JavaScript derive the same integers:

    L = q[i][j-1], U = q[i-1][j], UL = q[i-1][j-1], UR = q[i-1][j+1]   (0 outside the grid)
    pred = trunc((L + U) / 2)                     (rounded toward zero)
    s = 2|L| + 2|U| + |UL| + |UR|
    bucket = 0 if s == 0, 1 if s <= 3, 2 if s <= 6, else 3

Measured on trained kodim03 latents (384x256, three recipes): 15-18 % fewer latent
bytes than a factorised Laplace per grid before training with it (bench/RESULTS.md).
The encoder (vectorised, numpy) and the training rate term (torch) use `context`;
the decoders compute the same rule one latent at a time.
"""
from __future__ import annotations

import numpy as np

N_CTX = 4                   # models per latent grid
EDGES = (0, 3, 6)           # bucket = number of edges below s
LATENT_MAX = 4095           # |q| of a context-coded latent (so |r| <= 8190 fits the coder's 8191)


def neighbours(q: np.ndarray) -> tuple:
    """(L, U, UL, UR) of every position of a 2-D integer grid, zero outside it."""
    p = np.pad(np.asarray(q, np.int64), ((1, 0), (1, 1)))
    return p[1:, :-2], p[:-1, 1:-1], p[:-1, :-2], p[:-1, 2:]


def context(q: np.ndarray) -> tuple:
    """(pred, bucket) int64 arrays of a 2-D integer grid: the rule of the module docstring."""
    L, U, UL, UR = neighbours(q)
    t = L + U
    pred = np.sign(t) * (np.abs(t) // 2)
    s = 2 * np.abs(L) + 2 * np.abs(U) + np.abs(UL) + np.abs(UR)
    bucket = np.searchsorted(np.array(EDGES), s, side="left")
    return pred, bucket


def residuals(q: np.ndarray) -> tuple:
    """(r, bucket): what the stream codes for grid q, in raster order."""
    q = np.asarray(q, np.int64)
    pred, bucket = context(q)
    return (q - pred).ravel(), bucket.ravel()
