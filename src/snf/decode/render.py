"""Evaluate a decoded field with numpy alone: no torch on the decoding side.

Where the optional C kernel (`_fastfield.c`) was built, the whole forward pass runs
in it on blocks of 32 samples, each block through every layer while its activations
stay in L1, the blocks split over a few threads. Otherwise numpy does it: the work is
tiled (a few hundred samples a tile, so activations stay in L2) and the tiles run on
a small thread pool with BLAS held to one thread each (numpy releases the GIL in
matmul and sin, and two BLAS pools fighting over two cores is slower than one
thread each).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
import threading

import numpy as np

from snf.field.arch import Arch, tensor_shapes

try:
    from snf.decode import _fastfield as _fast
except ImportError:  # the optional C kernel was not built: numpy alone
    _fast = None

TILE = 768  # samples per tile (a multiple of 32): fastest here of 256..2048


def grid_axis(n: int) -> np.ndarray:
    """Sample positions along one axis: n points spanning [-1, 1] (the paper's grid)."""
    return np.linspace(-1.0, 1.0, n, dtype=np.float64).astype(np.float32) if n > 1 else np.zeros(1, np.float32)


def grid(size: tuple) -> np.ndarray:
    """All coordinates of a grid, first axis fastest: size (W, H) -> (H*W, 2) of (x, y)."""
    return _mesh([grid_axis(n) for n in size])


def render_field(arch: Arch, levels: list, k: int, size: tuple) -> tuple:
    """Evaluate level k on the grid of `size` -> (values with array dims reversed(size) + (d_out,),
    revealed stop along the growth axis, or None).

    Under regional growth only the revealed region is evaluated (samples past it are
    zero); with mode individual, each region's own network renders it."""
    ndim = len(size)
    axes = [grid_axis(n) for n in size]
    if not arch.regional:  # one network over the whole grid: its output is the picture, no copy
        (j, _), = arch.renderers(k)
        vals = Network(arch, levels, j)(_mesh(axes))
        return vals.reshape(tuple(reversed(size)) + (arch.d_out,)), None
    out = np.zeros(tuple(reversed(size)) + (arch.d_out,), np.float32)
    for j, (r0, r1) in arch.renderers(k):
        part = list(axes)
        lo = hi = None
        if arch.regional:
            a = arch.axis
            lo, hi = arch.cut(r0, size[a]), arch.cut(r1, size[a])
            if hi <= lo:
                continue
            part[a] = axes[a][lo:hi]
        vals = Network(arch, levels, j)(_mesh(part)).reshape(tuple(len(p) for p in reversed(part)) + (arch.d_out,))
        if lo is None:
            out[...] = vals
        else:
            index = [slice(None)] * (ndim + 1)
            index[ndim - 1 - arch.axis] = slice(lo, hi)
            out[tuple(index)] = vals
    stop = arch.revealed(k, size[arch.axis]) if arch.regional else None
    return out, stop


def _mesh(axes: list) -> np.ndarray:
    """Every combination of the axes' positions, first axis fastest -> (N, len(axes)) float32."""
    out = np.empty(tuple(len(a) for a in reversed(axes)) + (len(axes),), np.float32)
    for i, a in enumerate(axes):
        shape = [1] * len(axes)
        shape[len(axes) - 1 - i] = len(a)
        out[..., i] = np.asarray(a, np.float32).reshape(shape)
    return out.reshape(-1, len(axes))


def assemble(arch: Arch, levels: list, net: int) -> dict:
    """Dense float32 tensors of one network from the level blocks that fill it."""
    width = arch.net_width(net)
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
    zeros cost nothing; the groups run latest level first, each overwriting rows
    that no earlier group reads, so one activation buffer serves in place.
    """

    def __init__(self, arch: Arch, levels: list, k: int):
        if not 1 <= k <= len(levels):
            raise ValueError(f"level {k} is not decoded (have {len(levels)})")
        dense = assemble(arch, levels[:k], arch.net_of(k))
        w, w0 = arch.widths[k - 1], np.float32(arch.w0)
        spans = arch.row_groups(k)
        self.width, self.d_in, self.d_out = w, arch.d_in, arch.d_out
        self.first = _with_bias(w0 * dense["l0.w"][:w], w0 * dense["l0.b"][:w])
        self.hidden = [[(a, c, _with_bias(w0 * dense[f"l{i}.w"][a:c, :c], w0 * dense[f"l{i}.b"][a:c]))
                        for a, c in reversed(spans)] for i in range(1, arch.layers)]
        self.out = _with_bias(dense["out.w"][:, :w], dense["out.b"])
        self.scratch = max(c - a for a, c in spans)
        self.fused = _fast is not None and not os.environ.get("SNF_NO_C_KERNEL")
        # forward()'s list: first layer, hidden groups (latest level first), output (a = -1)
        self.groups = ([(0, w, 1 + self.d_in, True, self.first)]
                       + [(a, c - a, c + 1, True, Wg) for groups in self.hidden for a, c, Wg in groups]
                       + [(-1, self.d_out, 1 + w, False, self.out)])

    def tile(self, xt: np.ndarray, h: np.ndarray, y: np.ndarray) -> None:
        """[1; coordinates] (1 + d_in, T) -> values in y (d_out, T); h is scratch (numpy path)."""
        z = np.empty((self.scratch, xt.shape[1]), np.float32)
        np.sin(np.matmul(self.first, xt), out=h[1:])
        for groups in self.hidden:
            for a, c, Wg in groups:
                zg = z[:c - a]
                np.matmul(Wg, h[:c + 1], out=zg)
                np.sin(zg, out=h[a + 1:c + 1])
        np.matmul(self.out, h, out=y)

    def __call__(self, coords: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Evaluate (N, d_in) coordinates -> (N, d_out) float32 values."""
        return self._run(np.ascontiguousarray(coords, np.float32), threads)

    def grid(self, size: tuple, threads: int | None = None) -> np.ndarray:
        """Evaluate every point of `grid(size)` -> (N, d_out)."""
        return self._run(grid(size), threads)

    def _run(self, coords: np.ndarray, threads: int | None) -> np.ndarray:
        if self.fused:
            return self._run_blocks(coords, threads)
        return self._run_tiles(coords.T, threads)

    def _run_blocks(self, coords: np.ndarray, threads: int | None) -> np.ndarray:
        """coords (N, d_in) -> (N, d_out) through the C kernel's forward(): 32-sample blocks,
        each through every layer while its activations stay in L1, spread over a few threads.
        The kernel reads and writes numpy's row-major layout itself: no transposed copies."""
        n = coords.shape[0]
        blocks = -(-n // _fast.BLOCK)
        out = np.empty((n, self.d_out), np.float32)
        threads = max(1, min(threads or min(4, os.cpu_count() or 1), blocks))
        cuts = [blocks * i // threads for i in range(threads + 1)]
        rows = 1 + max(self.width, self.d_in)  # activation rows: the coordinates need d_in of them

        def job(i: int) -> None:
            _fast.forward(self.groups, self.d_in, self.d_out, rows, coords, out, n, cuts[i], cuts[i + 1])

        _in_threads(job, range(threads))
        return out

    def _run_tiles(self, coords: np.ndarray, threads: int | None) -> np.ndarray:
        """coords (d_in, N) -> (N, d_out): tiles of TILE samples, laid out tile-major
        so that each tile is contiguous, spread over a few threads."""
        n = coords.shape[1]
        tiles = -(-n // TILE)
        flat = np.zeros((self.d_in, tiles * TILE), np.float32)
        flat[:, :n] = coords
        xt = np.empty((tiles, 1 + self.d_in, TILE), np.float32)
        xt[:, 0] = 1.0
        xt[:, 1:] = flat.reshape(self.d_in, tiles, TILE).transpose(1, 0, 2)
        out = np.empty((tiles, self.d_out, TILE), np.float32)

        def job(span: range) -> None:
            h = np.empty((1 + self.width, TILE), np.float32)
            h[0] = 1.0
            for t in span:
                self.tile(xt[t], h, out[t])

        threads = threads or min(4, os.cpu_count() or 1)
        step = max(1, min(8, tiles // (4 * threads)))
        spans = [range(t, min(tiles, t + step)) for t in range(0, tiles, step)]
        with _one_blas_thread():
            if threads <= 1 or len(spans) == 1:
                for span in spans:
                    job(span)
            else:
                todo = iter(spans)
                lock = threading.Lock()

                def worker(_) -> None:
                    while True:
                        with lock:
                            span = next(todo, None)
                        if span is None:
                            return
                        job(span)

                _in_threads(worker, range(threads))
        return out.transpose(0, 2, 1).reshape(tiles * TILE, self.d_out)[:n]


def _in_threads(fn, items) -> None:
    """fn(item) for each item, one thread each (the last in this thread); the first
    error is raised here. Plain threads: concurrent.futures costs ~4 ms of import in a
    process whose whole budget is a fraction of a second."""
    items = list(items)
    errors = []

    def call(item) -> None:
        try:
            fn(item)
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(it,)) for it in items[:-1]]
    for t in threads:
        t.start()
    if items:
        call(items[-1])
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


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
    s = np.subtract(values, np.float32(lo), dtype=np.float32)
    s *= np.float32(top / (hi - lo))
    np.clip(s, 0, top, out=s)
    np.rint(s, out=s)
    return s.astype(np.uint8 if bit_depth <= 8 else np.uint16)
