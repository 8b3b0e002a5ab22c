"""A latent field level's payload (format_spec.md section 11.3): weights and latents, rANS-coded.

Level 1 holds the weights (the ARM's Q8 integers and the synthesis' integers, each
tensor under its own Laplace model, as the grid family codes its weights) in one
rANS stream, then its latent grids in a second stream; a later level holds only
its grids. A latent is coded as the residual against the integer ARM's prediction
(`snf.field.latent.arm_int`), under the model (the grid's amax, RATIOS[s]) the ARM
picks, in raster order, grid after grid. Why two streams in level 1: the latents'
models are computed from the ARM, so its weights must be whole before the first
latent decodes; a length field costs 4 bytes and keeps both coders unchanged.

Decoding the latents needs the ARM per latent, in raster order: `_latent` (C)
does it; `_decode_grids_py` is the reference and the fallback (slow: tiny files).
"""
from __future__ import annotations

import struct

import numpy as np

from snf.field import latent as L
from snf.field.latent import LatentArch
from snf.format import entropy
from snf.format.coded import STEPS, code_at_least
from snf.format.entropy import EntropyError

WEIGHT_LEVELS = 63   # encoder's choice: a synthesis tensor's step is about its peak / 63
# Encoder's choice: an ARM tensor's step is the coarsest power of two with peak / step >= this.
# Why 128, not 32: with 32, a tensor's step doubles whenever its peak crosses a power of two,
# and the latents' code length jumped by up to 60 % between consecutive training steps of
# the fake-quantised last phase (bench/RESULTS.md, latent field, "Round 3").
ARM_LEVELS = 128
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")


class LatentCodeError(ValueError):
    pass


def head_size(arch: LatentArch, k: int) -> int:
    """Bytes before level k's first stream (level 1: weight heads and the length field)."""
    return 5 * len(arch.weight_tensors()) + 4 if k == 1 else 0


def max_coded_size(arch: LatentArch, k: int, size: tuple) -> int:
    """A bound of level k's payload (section 11.6's chunk check): heads, 2 bytes per integer, states."""
    a, b = arch.grid_range(k)
    latents = sum(r * c for r, c in arch.grid_shapes(size)[a:b])
    n = latents + (sum(t.size for t in arch.weight_tensors()) if k == 1 else 0)
    return head_size(arch, k) + 2 * (b - a) + 2 * n + 2 * entropy.FLUSH_BYTES


# ------------------------------------------------------------------ weights

def arm_shift(a: np.ndarray) -> int:
    """Encoder's choice of an ARM tensor's code (Q8 units = q << shift): the coarsest step
    with peak / step >= ARM_LEVELS, never coarser than MAX_ARM_SHIFT."""
    peak = float(np.abs(a).max()) * 256 if a.size else 0.0
    s = 0
    while s < L.MAX_ARM_SHIFT and peak / (1 << (s + 1)) >= ARM_LEVELS:
        s += 1
    return s


def quantise_arm(a: np.ndarray, shift: int) -> np.ndarray:
    """Float ARM tensor -> its integers q (Q8 value q << shift), within the weight limit."""
    q = np.rint(np.asarray(a, np.float64) * 256 / (1 << shift)).astype(np.int64)
    lim = L.WEIGHT_MAX >> shift
    return np.clip(q, -lim, lim)


def syn_code(a: np.ndarray, levels: int = WEIGHT_LEVELS) -> int:
    peak = float(np.abs(a).max()) if a.size else 0.0
    if peak == 0:
        return 192
    return int(code_at_least(max(peak / levels, peak / (entropy.MAX_AMAX + 0.49))))


def encode_weights(arch: LatentArch, arrays: list, levels: int = WEIGHT_LEVELS) -> tuple:
    """Float weight tensors (ARM then synthesis) -> (head + length + stream bytes, decoded
    values: ARM as Q8 integers (float32), synthesis as float32(q) * STEP[e])."""
    head, segs, deq = [], [], []
    for t, a in zip(arch.weight_tensors(), arrays, strict=True):
        a = np.asarray(a, np.float32)
        if a.shape != t.shape:
            raise LatentCodeError(f"{t.name}: shape {a.shape}, expected {t.shape}")
        if t.kind == "arm":
            e = arm_shift(a)
            q = quantise_arm(a, e)
            deq.append((q << e).astype(np.float32))
        else:
            e = syn_code(a, levels)
            q = np.rint(a / STEPS[e]).astype(np.int64)
            deq.append(q.astype(np.float32) * STEPS[e])
        m = entropy.fit(q)
        head.append(bytes([e]) + entropy.MODEL.pack(m.amax, m.ratio))
        segs.append((q.ravel(), m))
    stream = entropy.encode_segments(segs)
    return b"".join(head) + U32.pack(len(stream)) + stream, deq


def decode_weights(arch: LatentArch, payload: bytes) -> tuple:
    """Level 1's weights -> (float32 arrays in payload order, position after the weight stream)."""
    tensors = arch.weight_tensors()
    hs = head_size(arch, 1)
    if len(payload) < hs:
        raise LatentCodeError(f"level 1 payload is {len(payload)} bytes, shorter than its head ({hs})")
    pos, codes, segs = 0, [], []
    for t in tensors:
        e = payload[pos]
        pos += 1
        if t.kind == "arm" and e > L.MAX_ARM_SHIFT:
            raise LatentCodeError(f"{t.name}: shift {e} beyond {L.MAX_ARM_SHIFT}")
        try:
            m, pos = entropy.read_model(payload, pos)
        except EntropyError as err:
            raise LatentCodeError(f"{t.name}: {err}") from None
        if t.kind == "arm" and (m.amax << e) > L.WEIGHT_MAX:
            raise LatentCodeError(f"{t.name}: weights beyond ±{L.WEIGHT_MAX} (Q8)")
        codes.append(e)
        segs.append((t.size, m))
    (n,) = U32.unpack_from(payload, pos)
    pos += 4
    if n > len(payload) - pos:
        raise LatentCodeError(f"weight stream of {n} bytes runs past the chunk")
    try:
        ints = entropy.decode_segments(payload[pos:pos + n], segs)
    except EntropyError as err:
        raise LatentCodeError(f"weights: {err}") from None
    out = []
    for t, e, q in zip(tensors, codes, ints):
        q = q.astype(np.int64).reshape(t.shape)
        out.append((q << e).astype(np.float32) if t.kind == "arm" else q.astype(np.float32) * STEPS[e])
    return out, pos + n


# ------------------------------------------------------------------ latents

def arm_weights(arrays: list, arch: LatentArch) -> list:
    """Level 1's ARM tensors (float32 Q8 integers) -> int64 arrays for `arm_int`."""
    return [np.asarray(a).astype(np.int64) for a in arrays[:len(arch.arm_tensors())]]


def encode_grids(arch: LatentArch, k: int, size: tuple, grids: list, arm: list, parent) -> bytes:
    """Level k's integer grids -> per grid u16 amax, then one rANS stream of ARM residuals."""
    shapes = arch.grid_shapes(size)
    a, b = arch.grid_range(k)
    head, freqs, cums = [], [], []
    for g, shape in zip(grids, shapes[a:b], strict=True):
        q = np.asarray(g, np.int64)
        if q.shape != shape:
            raise LatentCodeError(f"level {k}: grid shape {q.shape}, expected {shape}")
        if q.size and np.abs(q).max() > L.LATENT_MAX:
            raise LatentCodeError(f"level {k}: a latent beyond ±{L.LATENT_MAX}")
        pred, s = L.arm_int(L.contexts(q, parent), arm)
        r = q.reshape(-1) - pred
        amax = int(np.abs(r).max()) if r.size else 0
        head.append(U16.pack(amax))
        f_all, c_all = np.empty(r.size, np.int64), np.empty(r.size, np.int64)
        for si in np.unique(s):
            sel = s == si
            freq, cum = entropy._table(amax, L.RATIOS[int(si)])
            f_all[sel], c_all[sel] = freq[r[sel] + amax], cum[r[sel] + amax]
        freqs.append(f_all)
        cums.append(c_all)
        parent = q
    if not freqs:
        return b"".join(head) + entropy.rans_encode([], [])
    return b"".join(head) + entropy.rans_encode(np.concatenate(freqs).tolist(), np.concatenate(cums).tolist())


def decode_grids(arch: LatentArch, k: int, size: tuple, data: bytes, arm: list, parent) -> list:
    """Level k's grids (int32 arrays) from its grid part (amaxes, stream); `parent` is the last
    grid of level k-1 (None for level 1)."""
    shapes = arch.grid_shapes(size)
    a, b = arch.grid_range(k)
    n = b - a
    if len(data) < 2 * n + entropy.FLUSH_BYTES:
        raise LatentCodeError(f"level {k}: grid part of {len(data)} bytes, shorter than its head and state")
    amaxes = [U16.unpack_from(data, 2 * i)[0] for i in range(n)]
    for m in amaxes:
        if m > entropy.MAX_AMAX:
            raise LatentCodeError(f"level {k}: model amax {m} out of range 0..{entropy.MAX_AMAX}")
    stream = bytes(data[2 * n:])
    plan = [(r, c, m) for (r, c), m in zip(shapes[a:b], amaxes)]
    try:
        if _fast is not None:
            total = sum(r * c for r, c, _ in plan)
            out = np.empty(total, np.int32)
            par = np.zeros(0, np.int32) if parent is None else np.ascontiguousarray(parent, np.int32)
            pshape = (0, 0) if parent is None else parent.shape
            flat = np.concatenate([np.asarray(w, np.int64).ravel() for w in arm])
            _fast.decode_grids(stream, np.array(plan, np.uint32).tobytes(), par.tobytes(), int(pshape[0]),
                               int(pshape[1]), flat.tobytes(), int(arch.arm[0]), int(arch.arm[1]), out)
            grids, pos = [], 0
            for r, c, _ in plan:
                grids.append(out[pos:pos + r * c].reshape(r, c))
                pos += r * c
            return grids
        return _decode_grids_py(stream, plan, arm, parent)
    except (EntropyError, ValueError) as err:
        raise LatentCodeError(f"level {k}: {err}") from None


def _decode_grids_py(data: bytes, plan: list, arm: list, parent) -> list:
    """The reference decoder (pure Python): raster order, the ARM on each latent's context."""
    if len(data) < entropy.FLUSH_BYTES:
        raise EntropyError("entropy-coded stream shorter than its 4-byte state")
    x = int.from_bytes(data[:4], "little")
    if not entropy.RANS_L <= x < (entropy.RANS_L << 8):
        raise EntropyError("entropy-coded stream starts with an invalid state")
    pos, end = entropy.FLUSH_BYTES, len(data)
    mask = entropy.PROB_SCALE - 1
    w = [np.asarray(t).tolist() for t in arm]
    grids = []
    par = None if parent is None else np.asarray(parent, np.int64).tolist()
    for rows, cols, amax in plan:
        tabs = {}
        q = [[0] * cols for _ in range(rows)]
        if par is not None:
            pi, pj = L.parent_index(rows, cols, len(par), len(par[0]))
            pi, pj = pi.tolist(), pj.tolist()
        for i in range(rows):
            for j in range(cols):
                ctx = []
                for dx, dy in L.NEIGHBOURS:
                    ii, jj = i + dy, j + dx
                    ctx.append(q[ii][jj] if ii >= 0 and 0 <= jj < cols else 0)
                ctx.append(par[pi[i]][pj[j]] if par is not None else 0)
                pred, s = L.arm_int_one(ctx, w)
                if s not in tabs:
                    freq, cum = entropy._table(amax, L.RATIOS[s])
                    tabs[s] = (freq.tolist(), cum.tolist())
                f_l, c_l = tabs[s]
                slot = x & mask
                sym = int(np.searchsorted(c_l, slot, side="right")) - 1
                v = sym - amax + pred
                if abs(v) > L.LATENT_MAX:
                    raise EntropyError(f"a latent beyond ±{L.LATENT_MAX}")
                q[i][j] = v
                x = f_l[sym] * (x >> entropy.PROB_BITS) + slot - c_l[sym]
                while x < entropy.RANS_L:
                    if pos >= end:
                        raise EntropyError("entropy-coded stream is truncated")
                    x = (x << 8) | data[pos]
                    pos += 1
        g = np.array(q, np.int32).reshape(rows, cols)
        grids.append(g)
        par = q
    if x != entropy.RANS_L or pos != end:
        raise EntropyError("entropy-coded stream does not end where its symbols do")
    return grids


# ------------------------------------------------------------------ levels

def encode_level(arch: LatentArch, k: int, size: tuple, grids: list, arm: list, parent, weights_part=b"") -> bytes:
    """Level k's payload: level 1 = its weight part (`encode_weights`) then its grid part."""
    return weights_part + encode_grids(arch, k, size, grids, arm, parent)


def decode_level(arch: LatentArch, k: int, size: tuple, payload: bytes, earlier: list) -> list:
    """Level k's float32 arrays in payload order (level 1: weights then grids; later: grids).
    `earlier`: the decoded arrays of levels 1..k-1."""
    payload = bytes(payload)
    if k == 1:
        weights, pos = decode_weights(arch, payload)
        arm, parent = arm_weights(weights, arch), None
    else:
        weights, pos = [], 0
        arm = arm_weights(earlier[0], arch)
        parent = np.asarray(earlier[-1][-1]).astype(np.int64)
    grids = decode_grids(arch, k, size, payload[pos:], arm, parent)
    return weights + [g.astype(np.float32) for g in grids]


try:  # the optional C decoder of the latent stream (same integers; tested against the reference)
    from snf.format import _latent as _fast
except ImportError:  # pragma: no cover - depends on the build
    _fast = None
