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

TILE = 768  # samples per tile: measured fastest for OpenBLAS here (256..2048 tried)


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

    Sine layers compute sin(w0 * (W h + b)) as sin([w0 b | w0 W] [1; h]): every
    activation tile carries a leading row of ones, so biases ride in the matrix
    product. In the progressive mode each layer is a list of row groups (one per
    level) that read only the units existing at that level, so the structural
    zeros cost nothing.
    """

    def __init__(self, arch: Arch, levels: list, k: int):
        if not 1 <= k <= len(levels):
            raise ValueError(f"level {k} is not decoded (have {len(levels)})")
        dense = assemble(arch, levels[:k], arch.net_of(k))
        w, w0 = arch.widths[k - 1], np.float32(arch.w0)
        spans = [arch.span(j) for j in range(1, k + 1)] if arch.mode == "progressive" else [(0, w)]
        self.width, self.d_in, self.d_out = w, arch.d_in, arch.d_out
        self.first = _with_bias(w0 * dense["l0.w"][:w], w0 * dense["l0.b"][:w])
        self.hidden = [[(a, c, _with_bias(w0 * dense[f"l{i}.w"][a:c, :c], w0 * dense[f"l{i}.b"][a:c]))
                        for a, c in spans] for i in range(1, arch.layers)]
        self.out = _with_bias(dense["out.w"][:, :w], dense["out.b"])
        self.in_place = len(spans) > 1
        self.scratch = max(c - a for a, c in spans)

    def tile(self, xt: np.ndarray) -> np.ndarray:
        """Evaluate a (1 + d_in, T) tile of [1; coordinates] -> (d_out, T) values."""
        T = xt.shape[1]
        h = np.empty((1 + self.width, T), np.float32)
        h[0] = 1.0
        np.sin(np.matmul(self.first, xt), out=h[1:])
        z = np.empty((self.scratch, T), np.float32)
        for groups in self.hidden:
            if self.in_place:
                # latest level first: group j overwrites rows a..c, which no earlier
                # group reads, so one activation buffer serves (and stays in cache)
                for a, c, Wg in reversed(groups):
                    zg = z[:c - a]
                    np.matmul(Wg, h[:c + 1], out=zg)
                    np.sin(zg, out=h[a + 1:c + 1])
            else:
                for a, c, Wg in groups:
                    np.matmul(Wg, h[:c + 1], out=z[a:c])
                np.sin(z, out=h[1:])
        return self.out @ h

    def __call__(self, coords: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Evaluate (N, d_in) coordinates -> (N, d_out) float32 values."""
        n = coords.shape[0]
        xt = np.empty((1 + self.d_in, n), np.float32)
        xt[0] = 1.0
        xt[1:] = np.asarray(coords, np.float32).T
        return self._run(n, lambda i, j: xt[:, i:j], threads)

    def grid(self, size: tuple, threads: int | None = None) -> np.ndarray:
        """Evaluate the whole grid of `grid(size)` without materialising it: (N, d_out)."""
        axes = [grid_axis(s) for s in size]
        strides = np.cumprod([1] + list(size[:-1]))
        n = int(np.prod(size))

        def coords(i: int, j: int) -> np.ndarray:
            flat = np.arange(i, j)
            xt = np.empty((1 + len(size), j - i), np.float32)
            xt[0] = 1.0
            for d, (ax, st) in enumerate(zip(axes, strides)):
                xt[1 + d] = ax[(flat // st) % len(ax)]
            return xt

        return self._run(n, coords, threads)

    def _run(self, n: int, tile_input, threads: int | None) -> np.ndarray:
        out = np.empty((self.d_out, n), np.float32)

        def job(i: int) -> None:
            j = min(n, i + TILE)
            out[:, i:j] = self.tile(tile_input(i, j))

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


def _with_bias(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[b | W] as one contiguous float32 matrix (it multiplies [1; h])."""
    return np.ascontiguousarray(np.concatenate([b[:, None], W], axis=1), dtype=np.float32)


@contextmanager
def _one_blas_thread():
    """Hold BLAS to one thread while tiles run in parallel (threadpoolctl if present;
    the CLIs set OPENBLAS_NUM_THREADS=1 before numpy loads, which makes this moot)."""
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        yield
        return
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
