"""Evaluate a decoded field with numpy alone: no torch on the decoding side.

The work is tiled (a few thousand samples a tile, so activations stay in cache)
and the tiles run on a small thread pool with BLAS held to one thread each:
numpy releases the GIL in matmul and sin, and two BLAS pools fighting over two
cores is slower than one thread each.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .arch import Arch, tensor_shapes

TILE = 2048


def grid_axis(n: int) -> np.ndarray:
    """Sample positions along one axis: n points spanning [-1, 1] (the paper's grid)."""
    return np.linspace(-1.0, 1.0, n, dtype=np.float64).astype(np.float32) if n > 1 else np.zeros(1, np.float32)


def grid(size: tuple) -> np.ndarray:
    """All coordinates of a grid, first axis fastest: size (W, H) -> (H*W, 2) of (x, y)."""
    axes = [grid_axis(n) for n in size]
    mesh = np.meshgrid(*axes[::-1], indexing="ij")[::-1]
    return np.stack([m.ravel() for m in mesh], axis=1)


def assemble(arch: Arch, levels: list, net: int) -> dict:
    """Dense float32 tensors of one network from the level blocks that fill it."""
    width = arch.widths[net] if arch.mode == "individual" else arch.widths[-1]
    dense = {name: np.zeros(shape, np.float32) for name, shape in tensor_shapes(arch, width).items()}
    for k, tensors in enumerate(levels, 1):
        for blk, t in zip(arch.blocks(k), tensors):
            if blk.net != net:
                continue
            rows = slice(*blk.rows)
            if blk.cols is None:
                dense[blk.tensor][rows] = t
            else:
                dense[blk.tensor][rows, slice(*blk.cols)] = t
    return dense


class Network:
    """The sub-network that renders one level, laid out for fast tiled evaluation.

    Sine layers compute sin(w0 * (W h + b)) as sin((w0 W) h + w0 b); for the
    progressive mode each layer is a list of row groups (one per level) that read
    only the units that exist at that level, so the structural zeros cost nothing.
    """

    def __init__(self, arch: Arch, levels: list, k: int):
        if not 1 <= k <= len(levels):
            raise ValueError(f"level {k} is not decoded (have {len(levels)})")
        dense = assemble(arch, levels[:k], arch.net_of(k))
        w, w0 = arch.widths[k - 1], np.float32(arch.w0)
        spans = [arch.span(j) for j in range(1, k + 1)] if arch.mode == "progressive" else [(0, w)]
        self.width, self.d_out = w, arch.d_out
        self.first = (np.ascontiguousarray(w0 * dense["l0.w"][:w]), (w0 * dense["l0.b"][:w])[:, None])
        self.hidden = []
        for i in range(1, arch.layers):
            W, b = dense[f"l{i}.w"], dense[f"l{i}.b"]
            self.hidden.append([(a, c, np.ascontiguousarray(w0 * W[a:c, :c]), (w0 * b[a:c])[:, None])
                                for a, c in spans])
        self.out = (np.ascontiguousarray(dense["out.w"][:, :w]), dense["out.b"][:, None].copy())

    def tile(self, xt: np.ndarray) -> np.ndarray:
        """Evaluate (d_in, T) coordinates -> (d_out, T) values."""
        W, b = self.first
        h = W @ xt
        h += b
        np.sin(h, out=h)
        z = np.empty_like(h)
        for groups in self.hidden:
            for a, c, Wg, bg in groups:
                np.matmul(Wg, h[:c], out=z[a:c])
                z[a:c] += bg
            np.sin(z, out=h)
        Wo, bo = self.out
        y = Wo @ h
        y += bo
        return y

    def __call__(self, coords: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Evaluate (N, d_in) coordinates -> (N, d_out) float32 values."""
        xt = np.ascontiguousarray(np.asarray(coords, np.float32).T)
        n = xt.shape[1]
        out = np.empty((self.d_out, n), np.float32)

        def job(i: int) -> None:
            out[:, i:i + TILE] = self.tile(xt[:, i:i + TILE])

        starts = range(0, n, TILE)
        threads = threads or min(4, os.cpu_count() or 1)
        with _one_blas_thread():
            if threads <= 1 or n <= TILE:
                for i in starts:
                    job(i)
            else:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(job, starts))
        return out.T


@contextmanager
def _one_blas_thread():
    """Hold BLAS to one thread while tiles run in parallel (threadpoolctl if present)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def to_samples(values: np.ndarray, value_range: tuple, bit_depth: int = 8) -> np.ndarray:
    """Field outputs -> integer samples (uint8 for 8 bits), rounded and clipped."""
    lo, hi = value_range
    top = (1 << bit_depth) - 1
    s = (values - np.float32(lo)) * np.float32(top / (hi - lo))
    np.clip(s, 0, top, out=s)
    return np.rint(s).astype(np.uint8 if bit_depth <= 8 else np.uint16)
