"""Entropy coding of quantised integers: a discretised Laplace model and a byte-wise rANS coder.

Why this design: weights (and latents) quantised with a step chosen by rate and
distortion are integers peaked at zero with roughly geometric tails, so a
two-sided geometric distribution (the discretised Laplace) with one parameter
models them to within a few percent of their entropy. Its probability table is
built with integer arithmetic only (no exp or log), so Python, C and JavaScript
build the same table on every platform, and the coder (rANS with 32-bit state,
15-bit probabilities and byte renormalisation) decodes about as fast as a table
lookup. format_spec.md section 7 specifies all of it; this module is its
reference. `snf.format._rans` (C, optional) decodes the same bytes faster;
`decode` uses it when it was built.

API (stable; other fields code their integers with it):

    model = fit(ints)                  # Laplace(amax, ratio): the cheapest for these ints
    data = encode(ints, model)         # bytes
    ints = decode(data, len(ints), model)
    model.bits(ints)                   # exact cost in bits of coding ints (plus the state flush)

Several integer arrays, each with its own model, share one stream with
`encode_segments` / `decode_segments` (one 4-byte state flush for all).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

PROB_BITS = 15
PROB_SCALE = 1 << PROB_BITS          # frequencies of a table sum to this
RANS_L = 1 << 23                     # the state lives in [RANS_L, 2^31)
MAX_AMAX = 8191                      # symbols -amax..amax: at most half of PROB_SCALE
MAX_RATIO = 65535
W0 = 1 << 24                         # unnormalised weight of symbol 0
FLUSH_BYTES = 4


class EntropyError(ValueError):
    """Entropy-coded data that is inconsistent, or a model parameter out of range (one line)."""


@dataclass(frozen=True)
class Laplace:
    """Two-sided geometric distribution over -amax..amax: P(q) proportional to (ratio/65536)^|q|.

    amax: largest magnitude the alphabet holds (0..8191); ratio: 0..65535, the
    ratio of the weights of successive magnitudes in 1/65536 units.
    """
    amax: int
    ratio: int

    def __post_init__(self):
        check_model(self.amax, self.ratio)

    @property
    def size(self) -> int:
        return 2 * self.amax + 1

    def table(self) -> tuple:
        """(freq, cum): int64 arrays over symbols -amax..amax; cum has size+1 entries, cum[-1] = 2^15."""
        return _table(self.amax, self.ratio)

    def bits(self, ints) -> float:
        """Exact cost of coding `ints` under this model, in bits (without the 32-bit flush)."""
        q = np.asarray(ints, dtype=np.int64).ravel()
        if q.size == 0:
            return 0.0
        if np.abs(q).max() > self.amax:
            return float("inf")
        freq, _ = self.table()
        counts = np.bincount(q + self.amax, minlength=self.size)
        nz = counts > 0
        return float(-(counts[nz] * np.log2(freq[nz] / PROB_SCALE)).sum())


MODEL = struct.Struct("<HH")  # a model as stored in a level's head: amax, ratio (format_spec.md 8)


def read_model(payload, pos: int) -> tuple:
    """The model stored at payload[pos:] -> (Laplace, position after it); EntropyError if out
    of range. SIREN and grid level heads both store their models this way."""
    amax, ratio = MODEL.unpack_from(payload, pos)
    return Laplace(amax, ratio), pos + MODEL.size


def check_model(amax, ratio) -> None:
    if not (isinstance(amax, (int, np.integer)) and 0 <= amax <= MAX_AMAX):
        raise EntropyError(f"model amax {amax} out of range 0..{MAX_AMAX}")
    if not (isinstance(ratio, (int, np.integer)) and 0 <= ratio <= MAX_RATIO):
        raise EntropyError(f"model ratio {ratio} out of range 0..{MAX_RATIO}")


@lru_cache(maxsize=512)
def _table(amax: int, ratio: int) -> tuple:
    # weights: w0 = 2^24, w(m) = floor(w(m-1) * ratio / 2^16); the same for +m and -m
    w = [W0]
    for _ in range(amax):
        w.append((w[-1] * ratio) >> 16)
    n = 2 * amax + 1
    total = w[0] + 2 * sum(w[1:])
    spare = PROB_SCALE - n
    f = [1 + (wm * spare) // total for wm in w]          # every symbol at least 1
    freq = np.array(f[:0:-1] + f, dtype=np.int64)        # -amax..amax
    freq[amax] += PROB_SCALE - int(freq.sum())           # the remainder goes to zero
    cum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(freq, out=cum[1:])
    freq.setflags(write=False)
    cum.setflags(write=False)
    return freq, cum


def fit(ints) -> Laplace:
    """The model with the smallest `bits` for these integers: amax their largest magnitude,
    ratio searched (coarse grid on log(1 - r), then a local refinement)."""
    q = np.asarray(ints, dtype=np.int64).ravel()
    amax = int(np.abs(q).max()) if q.size else 0
    if amax > MAX_AMAX:
        raise EntropyError(f"integer {amax} beyond the coder's range ±{MAX_AMAX}")
    if amax == 0:
        return Laplace(0, 0)
    counts = np.bincount(np.abs(q), minlength=amax + 1)

    def cost(r: int) -> float:
        freq, _ = _table(amax, r)
        half = freq[amax:]
        nz = counts > 0
        return float(-(counts[nz] * np.log2(half[nz] / PROB_SCALE)).sum())

    grid = sorted({0, MAX_RATIO} | {int(round(65536 * (1 - 2.0 ** (-e / 4)))) for e in range(1, 64)})
    grid = [r for r in grid if 0 <= r <= MAX_RATIO]
    best = min(grid, key=lambda r: (cost(r), r))
    i = grid.index(best)
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    while hi - lo > 2:  # ternary search between the neighbours (cost is unimodal in r)
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if cost(m1) <= cost(m2):
            hi = m2
        else:
            lo = m1
    best = min(range(lo, hi + 1), key=lambda r: (cost(r), r))
    return Laplace(amax, best)


# ---------------------------------------------------------------- coding

def encode(ints, model: Laplace) -> bytes:
    """rANS-code `ints` (each within ±model.amax) under `model`."""
    return encode_segments([(ints, model)])


def encode_segments(segments) -> bytes:
    """One stream for several (ints, model) pairs, decoded in the same order."""
    syms, tables = [], []
    for ints, model in segments:
        q = np.asarray(ints, dtype=np.int64).ravel()
        if q.size and np.abs(q).max() > model.amax:
            raise EntropyError(f"integer {int(np.abs(q).max())} beyond the model's ±{model.amax}")
        freq, cum = model.table()
        idx = q + model.amax
        syms.append((freq[idx].tolist(), cum[idx].tolist()))
        tables.append(model)
    x = RANS_L
    out = bytearray()
    step = (RANS_L >> PROB_BITS) << 8
    for freqs, cums in reversed(syms):
        for f, c in zip(reversed(freqs), reversed(cums)):
            x_max = step * f
            while x >= x_max:
                out.append(x & 0xFF)
                x >>= 8
            x = ((x // f) << PROB_BITS) + (x % f) + c
    out.reverse()
    return x.to_bytes(4, "little") + bytes(out)


def decode(data: bytes, n: int, model: Laplace) -> np.ndarray:
    """Inverse of `encode`: `n` integers (int32). Raises EntropyError on inconsistent data."""
    return decode_segments(data, [(n, model)])[0]


def decode_segments(data: bytes, segments) -> list:
    """Inverse of `encode_segments`: one int32 array per (n, model); the stream must end exactly
    (final state RANS_L, every byte consumed), else EntropyError."""
    segs = [(int(n), m.amax, m.ratio) for n, m in segments]
    for n, a, r in segs:
        if n < 0:
            raise EntropyError("negative symbol count")
        check_model(a, r)
    total = sum(n for n, _, _ in segs)
    if _fast is not None:
        out = np.empty(total, dtype=np.int32)
        spec = np.array(segs, dtype=np.uint32).reshape(-1, 3)
        try:
            _fast.decode(bytes(data), spec.tobytes(), out)
        except ValueError as e:
            raise EntropyError(str(e)) from None
    else:
        out = _decode_py(bytes(data), segs, total)
    parts, pos = [], 0
    for n, _, _ in segs:
        parts.append(out[pos:pos + n])
        pos += n
    return parts


def _lookup(amax: int, ratio: int) -> np.ndarray:
    freq, _ = _table(amax, ratio)
    return np.repeat(np.arange(freq.size, dtype=np.int32), freq)  # slot -> symbol index


def _decode_py(data: bytes, segs: list, total: int) -> np.ndarray:
    """The reference decoder in plain Python (used when the C module is absent)."""
    if len(data) < FLUSH_BYTES:
        raise EntropyError("entropy-coded stream shorter than its 4-byte state")
    x = int.from_bytes(data[:4], "little")
    if not RANS_L <= x < (RANS_L << 8):
        raise EntropyError("entropy-coded stream starts with an invalid state")
    pos, end = FLUSH_BYTES, len(data)
    out = np.empty(total, dtype=np.int32)
    o = 0
    mask = PROB_SCALE - 1
    for n, amax, ratio in segs:
        if n == 0:
            continue
        freq, cum = _table(amax, ratio)
        f_l, c_l, lut = freq.tolist(), cum.tolist(), _lookup(amax, ratio).tolist()
        res = [0] * n
        for i in range(n):
            slot = x & mask
            s = lut[slot]
            res[i] = s - amax
            x = f_l[s] * (x >> PROB_BITS) + slot - c_l[s]
            while x < RANS_L:
                if pos >= end:
                    raise EntropyError("entropy-coded stream is truncated")
                x = (x << 8) | data[pos]
                pos += 1
        out[o:o + n] = res
        o += n
    if x != RANS_L or pos != end:
        raise EntropyError("entropy-coded stream does not end where its symbols do")
    return out


try:  # the optional C decoder (same bytes, same integers; tested against _decode_py)
    from snf.format import _rans as _fast
except ImportError:  # pragma: no cover - depends on the build
    _fast = None
