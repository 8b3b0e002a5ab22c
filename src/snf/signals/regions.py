"""Sample order for growth in the signal's domain (numpy only).

Under spatial or temporal growth, level k covers regions 1..k of K along one
axis (vertical stripes of an image: x; windows of a video's frames: t). The
encoder trains on samples ordered region by region, so the samples a stage
sees are one run of rows: `region_order` gives that order and the row where
each region starts.
"""
from __future__ import annotations

import numpy as np

from snf.field.arch import Arch


def region_order(arch: Arch, size: tuple) -> tuple:
    """Grid samples of `size` (first axis fastest) -> (permutation, cumulative rows per region).

    Without regional growth: identity order and one region holding every row.
    """
    n = int(np.prod(size))
    if not arch.regional:
        return np.arange(n), [0, n]
    a = arch.axis
    index = np.arange(n).reshape(tuple(reversed(size)))  # array dims: last axis first
    dim = len(size) - 1 - a
    parts, bounds = [], [0]
    for j in range(1, arch.levels + 1):
        lo, hi = arch.cut(j - 1, size[a]), arch.cut(j, size[a])
        part = np.take(index, np.arange(lo, hi), axis=dim).ravel()
        parts.append(part)
        bounds.append(bounds[-1] + part.size)
    return np.concatenate(parts), bounds

