"""Bjontegaard delta rate: how many percent more (or fewer) bits a codec needs than an
anchor for the same PSNR, averaged over the PSNR range both curves cover.

The maintained `bjontegaard` package (piecewise cubic interpolation, the variant
VVC's common test conditions now use) computes it when installed; otherwise the
classic cubic fit of log-rate against PSNR (VCEG-M33) does, here in a few lines.
Negative means the tested codec needs fewer bits.
"""
from __future__ import annotations

import math

import numpy as np


class BDRateError(ValueError):
    """Curves that cannot give a BD-rate (too few points, no PSNR overlap)."""


def _clean(rate, dist) -> tuple:
    r, d = np.asarray(rate, np.float64), np.asarray(dist, np.float64)
    keep = np.isfinite(r) & np.isfinite(d) & (r > 0)
    r, d = r[keep], d[keep]
    order = np.argsort(d)
    return r[order], d[order]


def _check(ra, da, rt, dt) -> tuple:
    if len(ra) < 4 or len(rt) < 4:
        raise BDRateError("BD-rate needs at least 4 points per curve")
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    if not lo < hi:
        raise BDRateError("the curves share no PSNR range")
    if len(np.unique(da)) < len(da) or len(np.unique(dt)) < len(dt):
        raise BDRateError("a curve repeats a PSNR value")
    return lo, hi


def bd_rate_cubic(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Classic Bjontegaard: cubic polynomials log(rate)(PSNR), integrated over the overlap."""
    ra, da = _clean(rate_anchor, psnr_anchor)
    rt, dt = _clean(rate_test, psnr_test)
    lo, hi = _check(ra, da, rt, dt)
    pa = np.polyint(np.polyfit(da, np.log(ra), 3))
    pt = np.polyint(np.polyfit(dt, np.log(rt), 3))
    avg = ((np.polyval(pt, hi) - np.polyval(pt, lo)) - (np.polyval(pa, hi) - np.polyval(pa, lo))) / (hi - lo)
    return (math.exp(avg) - 1) * 100


def implementation() -> str:
    try:
        import bjontegaard  # noqa: F401
        return "bjontegaard (pchip)"
    except ImportError:
        return "cubic fit (VCEG-M33)"


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """BD-rate in percent of the test curve against the anchor, by the maintained package
    when it is installed, else by the cubic fit."""
    ra, da = _clean(rate_anchor, psnr_anchor)
    rt, dt = _clean(rate_test, psnr_test)
    _check(ra, da, rt, dt)
    try:
        import bjontegaard
    except ImportError:
        return bd_rate_cubic(ra, da, rt, dt)
    return float(bjontegaard.bd_rate(ra, da, rt, dt, method="pchip",
                                        require_matching_points=False, min_overlap=0.0))
