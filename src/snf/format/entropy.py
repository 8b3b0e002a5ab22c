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
`encode_segments` / `decode_segments` (one 4-byte state flush for all). A segment's
model may also be a `Context` (a latent grid under `grid-ctx`: one Laplace per
context bucket, residuals against a causal prediction; `snf.format.latentctx`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from snf.format import latentctx

PROB_BITS = 15
PROB_SCALE = 1 << PROB_BITS          # frequencies of a table sum to this
RANS_L = 1 << 23                     # the state lives in [RANS_L, 2^31)
MAX_AMAX = 8191                      # symbols -amax..amax: at most half of PROB_SCALE
MAX_CODED_BITS = (MAX_AMAX + 1).bit_length()  # 14: B-bit integers reach 2^(B-1)-1 = MAX_AMAX
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


@dataclass(frozen=True)
class Context:
    """The models of one context-coded latent grid (`latentctx`): `models[b]` codes the
    residuals whose context bucket is b; `shape` = (rows, cols) of the grid."""
    shape: tuple
    models: tuple

    def __post_init__(self):
        if len(self.models) != latentctx.N_CTX:
            raise EntropyError(f"a context-coded grid has {latentctx.N_CTX} models, not {len(self.models)}")

    @property
    def size(self) -> int:
        return int(self.shape[0]) * int(self.shape[1])

    def bits(self, q) -> float:
        """Exact cost of coding grid q (rows, cols) under these models, in bits."""
        r, b = latentctx.residuals(np.asarray(q).reshape(self.shape))
        return float(sum(m.bits(r[b == i]) for i, m in enumerate(self.models)))


def fit_context(q) -> Context:
    """Per bucket the cheapest Laplace for the residuals of grid q (2-D integers)."""
    q = np.asarray(q, np.int64)
    if q.size and np.abs(q).max() > latentctx.LATENT_MAX:
        raise EntropyError(f"a latent beyond ±{latentctx.LATENT_MAX}")
    r, b = latentctx.residuals(q)
    return Context(tuple(int(n) for n in q.shape), tuple(fit(r[b == i]) for i in range(latentctx.N_CTX)))


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
    syms = []
    for ints, model in segments:
        if isinstance(model, Context):
            r, b = latentctx.residuals(np.asarray(ints).reshape(model.shape))
            f_all, c_all = np.empty(r.size, np.int64), np.empty(r.size, np.int64)
            for i, m in enumerate(model.models):
                sel = b == i
                f_all[sel], c_all[sel] = _gather(r[sel], m)
            syms.append((f_all.tolist(), c_all.tolist()))
            continue
        f, c = _gather(np.asarray(ints, dtype=np.int64).ravel(), model)
        syms.append((f.tolist(), c.tolist()))
    return rans_encode([f for freqs, _ in syms for f in freqs], [c for _, cums in syms for c in cums])


def rans_encode(freqs, cums) -> bytes:
    """The rANS encoder of section 8 on (freq, cum) pairs, given in decode order (it runs them
    backwards): the one loop behind every entropy-coded stream snf writes."""
    x = RANS_L
    out = bytearray()
    step = (RANS_L >> PROB_BITS) << 8
    for f, c in zip(reversed(freqs), reversed(cums)):
        x_max = step * f
        while x >= x_max:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // f) << PROB_BITS) + (x % f) + c
    out.reverse()
    return x.to_bytes(4, "little") + bytes(out)


def _gather(q: np.ndarray, model: Laplace) -> tuple:
    """(freq, cum) of each integer of q under model."""
    if q.size and np.abs(q).max() > model.amax:
        raise EntropyError(f"integer {int(np.abs(q).max())} beyond the model's ±{model.amax}")
    freq, cum = model.table()
    idx = q + model.amax
    return freq[idx], cum[idx]


def decode(data: bytes, n: int, model: Laplace) -> np.ndarray:
    """Inverse of `encode`: `n` integers (int32). Raises EntropyError on inconsistent data."""
    return decode_segments(data, [(n, model)])[0]


def decode_segments(data: bytes, segments) -> list:
    """Inverse of `encode_segments`: one int32 array per (n, model) (flat; a `Context`
    segment gives its grid's integers q in raster order, n being its size); the stream must
    end exactly (final state RANS_L, every byte consumed), else EntropyError."""
    plan, models = [], []
    for n, m in segments:
        if isinstance(m, Context):
            rows, cols = (int(v) for v in m.shape)
            if rows < 0 or cols < 0 or rows * cols != int(n):
                raise EntropyError("context segment's size differs from its shape")
            plan.append((rows, cols, len(models), len(m.models)))
            models += [(x.amax, x.ratio) for x in m.models]
        else:
            if int(n) < 0:
                raise EntropyError("negative symbol count")
            plan.append((int(n), 1, len(models), 1))
            models.append((m.amax, m.ratio))
    for a, r in models:
        check_model(a, r)
    total = sum(r * c for r, c, _, _ in plan)
    if _fast is not None:
        out = np.empty(total, dtype=np.int32)
        try:
            _fast.decode_plan(bytes(data), np.array(plan, np.uint32).reshape(-1, 4).tobytes(),
                              np.array(models, np.uint32).reshape(-1, 2).tobytes(), out)
        except ValueError as e:
            raise EntropyError(str(e)) from None
    else:
        out = _decode_py(bytes(data), plan, models, total)
    parts, pos = [], 0
    for r, c, _, _ in plan:
        parts.append(out[pos:pos + r * c])
        pos += r * c
    return parts


def _lookup(amax: int, ratio: int) -> np.ndarray:
    freq, _ = _table(amax, ratio)
    return np.repeat(np.arange(freq.size, dtype=np.int32), freq)  # slot -> symbol index


def _decode_py(data: bytes, plan: list, models: list, total: int) -> np.ndarray:
    """The reference decoder in plain Python (used when the C module is absent). `plan`:
    per segment (rows, cols, first model, models): one model codes rows*cols integers;
    `latentctx.N_CTX` models code a latent grid's residuals by context (format_spec.md 9.3)."""
    if len(data) < FLUSH_BYTES:
        raise EntropyError("entropy-coded stream shorter than its 4-byte state")
    x = int.from_bytes(data[:4], "little")
    if not RANS_L <= x < (RANS_L << 8):
        raise EntropyError("entropy-coded stream starts with an invalid state")
    pos, end = FLUSH_BYTES, len(data)
    out = np.empty(total, dtype=np.int32)
    o = 0
    mask = PROB_SCALE - 1
    e0, e1, e2 = latentctx.EDGES
    qmax = latentctx.LATENT_MAX
    for rows, cols, first, count in plan:
        n = rows * cols
        if n == 0:
            continue
        tabs = []
        for amax, ratio in models[first:first + count]:
            freq, cum = _table(amax, ratio)
            tabs.append((amax, freq.tolist(), cum.tolist(), _lookup(amax, ratio).tolist()))
        res = [0] * n
        for i in range(n):
            if count == 1:
                pred, b = 0, 0
            else:  # the context rule of latentctx / format_spec.md 9.3
                r_, c_ = divmod(i, cols)
                L = res[i - 1] if c_ else 0
                U = res[i - cols] if r_ else 0
                UL = res[i - cols - 1] if r_ and c_ else 0
                UR = res[i - cols + 1] if r_ and c_ + 1 < cols else 0
                t = L + U
                pred = t // 2 if t >= 0 else -((-t) // 2)
                s = 2 * abs(L) + 2 * abs(U) + abs(UL) + abs(UR)
                b = 0 if s <= e0 else 1 if s <= e1 else 2 if s <= e2 else 3
            amax, f_l, c_l, lut = tabs[b]
            slot = x & mask
            sym = lut[slot]
            q = sym - amax + pred
            if count != 1 and abs(q) > qmax:
                raise EntropyError(f"a latent beyond ±{qmax}")
            res[i] = q
            x = f_l[sym] * (x >> PROB_BITS) + slot - c_l[sym]
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
