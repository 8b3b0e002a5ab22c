"""A grid field level's payload: latents and synthesis weights as integers, entropy-coded.

Two layouts (format_spec.md section 9.3):

- ``grid-rans`` (files whose header `requires` it; what the encoder writes): the
  LEVL data is the payload itself. A head gives, per tensor of the level in payload
  order, its model (u16 amax, u16 ratio) and, for a synthesis tensor, first one step
  byte (`coded.STEPS`, the 2^(1/8) grid the SIREN's rows use); then one rANS stream
  (`snf.format.entropy`) holds every tensor's integers, tensor after tensor. Latents
  are the integers themselves (step 1); a weight is ``float32(q) * STEPS[e]``.
  Why: latents trained with a rate term are integers peaked at zero, a discretised
  Laplace per grid codes them within a few percent of their entropy (zstd of int8
  bytes spent about a third more), and the synthesis weights are a large share of a
  small level, so they are coded the same way on a coarse step.
- ``grid-ctx`` (files whose header `requires` it as well; what the encoder writes
  now): as grid-rans, but each latent grid has `latentctx.N_CTX` models in the head
  (16 bytes) and its integers are coded as residuals against a causal prediction,
  each under the model of its context bucket (`snf.format.latentctx`). Why: a
  factorised model paid ~0.3 bits for every zero of a mostly empty fine grid; the
  context model spends 15-18 % fewer latent bytes on trained grids, and more once
  the rate term trains with it (bench/RESULTS.md).
- ``raw`` (grid files of the first revision, without `requires`): one zstd frame of
  int8 latents and, per synthesis tensor, a float32 step and int8 values. Still read.

Encoder and decoder compute the same float32 values bit for bit.
"""
from __future__ import annotations


import numpy as np

from snf.field.grid import GridArch
from snf.format import entropy, latentctx
from snf.format.coded import STEPS, code_at_least
from snf.format.entropy import EntropyError

FEATURE = "grid-rans"   # the header `requires` entry of an entropy-coded grid file
FEATURE_CTX = "grid-ctx"  # ... and of one whose latent grids are coded by context (with grid-rans)
LATENT_MAX = 127        # raw layout only
WEIGHT_QMAX = 127       # raw layout only
WEIGHT_LEVELS = 31      # encoder's choice (grid-rans): a weight tensor's step is about its peak / 31


class GridCodeError(ValueError):
    pass


# ------------------------------------------------------------------ grid-rans

def head_size(arch: GridArch, k: int, size: tuple, ctx: bool = False) -> int:
    """Bytes of level k's head: 4 per latent grid (16 with contexts), 5 per synthesis tensor."""
    grid = 4 * latentctx.N_CTX if ctx else 4
    return sum(grid if t.kind == "latent" else 5 for t in arch.tensors(k, size))


def weight_code(a: np.ndarray, levels: int = WEIGHT_LEVELS) -> int:
    """The step code of a synthesis tensor: the smallest step >= its peak / levels (and
    coarse enough that every integer stays within the coder's range)."""
    peak = float(np.abs(a).max()) if a.size else 0.0
    if peak == 0:
        return 192  # step 1: every integer is 0
    return int(code_at_least(max(peak / levels, peak / (entropy.MAX_AMAX + 0.49))))


def quantise_weight_coded(a: np.ndarray, e: int) -> np.ndarray:
    """Integers of a synthesis tensor on step STEPS[e] (the decoder's value is float32(q) * STEPS[e])."""
    return np.rint(np.asarray(a, np.float32) / STEPS[e]).astype(np.int64)


def encode_level(arch: GridArch, k: int, size: tuple, arrays: list, levels: int = WEIGHT_LEVELS,
                 ctx: bool = False) -> tuple:
    """Level k's arrays (payload order, float; latents rounded here) -> (payload bytes, the
    float32 arrays the decoder will see). `ctx`: latent grids coded by context (grid-ctx)."""
    head, segs, deq = [], [], []
    for t, a in zip(arch.tensors(k, size), arrays, strict=True):
        a = np.asarray(a, np.float32)
        if a.shape != t.shape:
            raise GridCodeError(f"level {k} {t.name}: shape {a.shape}, expected {t.shape}")
        if t.kind == "latent":
            q = np.rint(a).astype(np.int64)
            limit = latentctx.LATENT_MAX if ctx else entropy.MAX_AMAX
            if q.size and np.abs(q).max() > limit:
                raise GridCodeError(f"level {k} {t.name}: a latent beyond ±{limit}")
            deq.append(q.astype(np.float32))
            if ctx:
                m = entropy.fit_context(q)
                head += [entropy.MODEL.pack(x.amax, x.ratio) for x in m.models]
                segs.append((q, m))
                continue
        else:
            e = weight_code(a, levels)
            q = quantise_weight_coded(a, e)
            head.append(bytes([e]))
            deq.append(q.astype(np.float32) * STEPS[e])
        m = entropy.fit(q)
        head.append(entropy.MODEL.pack(m.amax, m.ratio))
        segs.append((q.ravel(), m))
    return b"".join(head) + entropy.encode_segments(segs), deq


def decode_level(arch: GridArch, k: int, size: tuple, payload: bytes, ctx: bool = False) -> list:
    """Inverse of `encode_level`: float32 arrays in payload order."""
    tensors = arch.tensors(k, size)
    hs = head_size(arch, k, size, ctx)
    if len(payload) < hs + entropy.FLUSH_BYTES:
        raise GridCodeError(f"level {k} payload is {len(payload)} bytes, shorter than its head and state "
                            f"({hs + entropy.FLUSH_BYTES})")
    pos, steps, segs = 0, [], []
    for t in tensors:
        e = None
        if t.kind == "weight":
            e = payload[pos]
            pos += 1
        try:
            if ctx and t.kind == "latent":
                models = []
                for _ in range(latentctx.N_CTX):
                    m, pos = entropy.read_model(payload, pos)
                    models.append(m)
                model = entropy.Context(t.shape, tuple(models))
            else:
                model, pos = entropy.read_model(payload, pos)
        except EntropyError as err:
            raise GridCodeError(f"level {k} {t.name}: {err}") from None
        segs.append((t.size, model))
        steps.append(e)
    try:
        ints = entropy.decode_segments(payload[hs:], segs)
    except EntropyError as err:
        raise GridCodeError(f"level {k}: {err}") from None
    out = []
    for t, e, q in zip(tensors, steps, ints):
        v = q.astype(np.float32).reshape(t.shape)
        out.append(v if e is None else v * STEPS[e])
    return out


# ------------------------------------------------------------------ raw (first revision)

def payload_size(arch: GridArch, k: int, size: tuple) -> int:
    """Bytes of level k's decompressed raw payload (fixed by the header)."""
    return sum(t.size + (4 if t.kind == "weight" else 0) for t in arch.tensors(k, size))


def max_coded_size(arch: GridArch, k: int, size: tuple, ctx: bool = False) -> int:
    """An upper bound of a grid-rans payload (head, plus 16 bits a symbol and the state): the chunk
    limit check of section 9.5."""
    return head_size(arch, k, size, ctx) + 2 * sum(t.size for t in arch.tensors(k, size)) + entropy.FLUSH_BYTES


def decode_level_raw(arch: GridArch, k: int, size: tuple, payload: bytes) -> list:
    """The first revision's payload (decompressed): int8 latents, float32 step + int8 per weight tensor."""
    want = payload_size(arch, k, size)
    if len(payload) != want:
        raise GridCodeError(f"level {k} payload is {len(payload)} bytes, expected {want}")
    out, pos = [], 0
    for t in arch.tensors(k, size):
        if t.kind == "weight":
            step = np.frombuffer(payload, "<f4", 1, pos)[0].astype(np.float32)
            pos += 4
            if not np.isfinite(step):
                raise GridCodeError(f"level {k} {t.name}: step is not finite")
        q = np.frombuffer(payload, np.int8, t.size, pos).reshape(t.shape)
        pos += t.size
        if t.kind == "latent":
            if (q == -128).any():
                raise GridCodeError(f"level {k} {t.name}: latent -128 is outside [-127, 127]")
            out.append(q.astype(np.float32))
        else:
            out.append(q.astype(np.float32) * step)
    return out
