"""Loading the latent trainer's optional C kernels and running them over thread ranges.

Why one place: `thinmlp`, `conv3x3` and `bilinear` each wrap a C kernel that releases the
GIL and works on a range of pixels, rows or grids; they share how a kernel is loaded (or
left out: `SNF_TRAIN_KERNELS=0` in the environment runs torch's own operations, the
reference, for checks and A/B timings), how ranges run on threads, and how the ranges'
gradients are summed (in range order, so a result depends on the thread count only, as
torch's own reductions do).
"""
from __future__ import annotations

import importlib
import os
from concurrent.futures import ThreadPoolExecutor

_POOL: dict = {}


def load(name: str):
    """The built kernel `snf.encode.<name>`, or None (not built, or SNF_TRAIN_KERNELS=0)."""
    if os.environ.get("SNF_TRAIN_KERNELS", "1") == "0":
        return None
    try:
        return importlib.import_module(f"snf.encode.{name}")
    except ImportError:  # the optional kernel was not built
        return None


def run_ranges(fn, ranges: list) -> list:
    """[fn(a, b) for (a, b) in ranges], one thread a range."""
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    pool = _POOL.get(len(ranges))
    if pool is None:
        pool = _POOL[len(ranges)] = ThreadPoolExecutor(len(ranges), thread_name_prefix="snf-kernel")
    return list(pool.map(lambda r: fn(*r), ranges))


def sum_in_order(parts: list) -> list:
    """Elementwise sums of the ranges' gradient lists, added in range order."""
    total = list(parts[0])
    for part in parts[1:]:
        total = [u + v for u, v in zip(total, part)]
    return total
