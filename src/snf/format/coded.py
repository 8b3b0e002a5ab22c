"""Entropy-coded level payloads (container 2.x): log-grid steps, integers, one rANS stream.

Why: a step per row chosen by rate and distortion (the encoder's business, see
snf.encode.rd) leaves integers peaked at zero; coded with a fitted discretised
Laplace (snf.format.entropy) they cost far less than the 8-bit symbols of 1.x.
A step is stored as one byte `e` on a grid of 2^(1/8) (STEPS[e]), so a row's
step costs a byte, not a float32; dequantisation is still one float32 multiply,
``float32(q) * STEPS[e]``, identical in the encoder, numpy, C and JavaScript.

Payload of level k (format_spec.md section 3.2): for each block of
`arch.blocks(k)` in order, its step codes (one per row when the block is a
matrix of more than 8 columns, else one) then its model (u16 amax, u16 ratio,
little-endian); then one rANS stream holding every block's integers, row-major,
block after block, each under its block's model.
"""
from __future__ import annotations


import numpy as np

from snf.field.arch import Arch, Block
from snf.format import entropy
from snf.format.entropy import EntropyError
from snf.format.quant import QuantError

CODING = "rans-laplace"      # header quant.coding of a 2.x file
STEP_EXP_BIAS = 24           # STEPS[e] = 2^(e/8 - 24): 6e-8 .. 235
PER_ROW_MIN_COLS = 9         # matrices with more columns than 8 get a step per row

# 2^(j/8) rounded to float32, j = 0..7 (exact constants of the spec), times 2^(e>>3 - 24)
_FRAC = np.array([1.0, 1.0905077, 1.1892071, 1.2968396, 1.4142135, 1.5422108, 1.6817929, 1.8340081],
                 dtype=np.float32)
STEPS = np.array([np.ldexp(_FRAC[e & 7], (e >> 3) - STEP_EXP_BIAS) for e in range(256)], dtype=np.float32)


def per_row(blk: Block) -> bool:
    return blk.cols is not None and blk.cols[1] - blk.cols[0] >= PER_ROW_MIN_COLS


def n_codes(blk: Block) -> int:
    return blk.shape[0] if per_row(blk) else 1


def code_at_least(step) -> np.ndarray:
    """The smallest code(s) whose step is >= `step` (255 when none is)."""
    s = np.asarray(step, dtype=np.float64)
    e = np.searchsorted(STEPS.astype(np.float64), s, side="left")
    return np.minimum(e, 255).astype(np.uint8)


def min_codes(t: np.ndarray, blk: Block) -> np.ndarray:
    """Codes below these would put some integer beyond the coder's ±MAX_AMAX."""
    m = np.abs(t.reshape(n_codes(blk), -1)).max(axis=1) if t.size else np.zeros(n_codes(blk))
    return code_at_least(m / (entropy.MAX_AMAX + 0.49))


def block_codes(t: np.ndarray, blk: Block, codes) -> np.ndarray:
    """The step codes a block is rounded at: `codes`, raised where the coder's range needs."""
    t = np.asarray(t, dtype=np.float32)
    return np.maximum(np.asarray(codes, dtype=np.uint8).reshape(-1), min_codes(t, blk))


def quantise_block(t: np.ndarray, blk: Block, codes: np.ndarray) -> tuple:
    """Round a block to the nearest integers at the steps `codes` (raised where the coder's
    range needs): (q int64, codes, deq)."""
    t = np.asarray(t, dtype=np.float32)
    codes = block_codes(t, blk, codes)
    steps = STEPS[codes]
    m = t.reshape(codes.size, -1)
    u = m.astype(np.float64) / steps[:, None].astype(np.float64)
    q = np.clip(np.rint(u).astype(np.int64), -entropy.MAX_AMAX, entropy.MAX_AMAX)
    deq = (q.astype(np.float32) * steps[:, None]).reshape(t.shape)
    return q.reshape(t.shape), codes, deq


def encode_level(arch: Arch, k: int, tensors: list, codes: list, ints: list | None = None) -> tuple:
    """Level k's payload from float tensors and step codes (per block, see `n_codes`).

    ints: per block, None (round `tensors` to the nearest integers) or the integers the
    encoder chose itself (rate-distortion rounding, snf.encode.rdoq); those are coded at
    exactly `codes` (already raised by `block_codes`), and `tensors` only gives the shape.
    Returns (payload bytes, dequantised float32 tensors, per-block stats) so the
    encoder trains the next level on exactly what the decoder will see."""
    head, segs, deq, stats = [], [], [], []
    ints = ints if ints is not None else [None] * len(tensors)
    for blk, t, c, qi in zip(arch.blocks(k), tensors, codes, ints, strict=True):
        t = np.asarray(t, dtype=np.float32)
        if t.shape != blk.shape:
            raise QuantError(f"level {k} {blk.tensor}: shape {t.shape}, expected {blk.shape}")
        if qi is None:
            q, c, d = quantise_block(t, blk, c)
        else:
            q, c = np.asarray(qi, dtype=np.int64), np.asarray(c, dtype=np.uint8).reshape(-1)
            if q.shape != blk.shape or c.size != n_codes(blk):
                raise QuantError(f"level {k} {blk.tensor}: integers {q.shape} / {c.size} codes do not fit {blk.shape}")
            d = (q.astype(np.float32).reshape(c.size, -1) * STEPS[c][:, None]).reshape(blk.shape)
        model = entropy.fit(q)
        head += [c.tobytes(), entropy.MODEL.pack(model.amax, model.ratio)]
        segs.append((q, model))
        deq.append(d)
        stats.append({"tensor": blk.tensor, "params": blk.size, "bits": model.bits(q),
                      "side_bytes": c.size + entropy.MODEL.size})
    return b"".join(head) + entropy.encode_segments(segs), deq, stats


def head_size(arch: Arch, k: int) -> int:
    return sum(n_codes(b) + entropy.MODEL.size for b in arch.blocks(k))


def decode_level(arch: Arch, k: int, payload: bytes) -> list:
    """Inverse of `encode_level`: float32 tensors in block order (QuantError on bad data)."""
    blocks = arch.blocks(k)
    if len(payload) < head_size(arch, k):
        raise QuantError(f"level {k} payload is shorter than its step codes and models")
    pos, codes, segs = 0, [], []
    for blk in blocks:
        n = n_codes(blk)
        codes.append(np.frombuffer(payload, np.uint8, n, pos))
        pos += n
        try:
            model, pos = entropy.read_model(payload, pos)
        except EntropyError as e:
            raise QuantError(f"level {k} {blk.tensor}: {e}") from None
        segs.append((blk.size, model))
    try:
        ints = entropy.decode_segments(payload[pos:], segs)
    except EntropyError as e:
        raise QuantError(f"level {k}: {e}") from None
    out = []
    for blk, c, q in zip(blocks, codes, ints):
        steps = STEPS[c]
        out.append((q.astype(np.float32).reshape(c.size, -1) * steps[:, None]).reshape(blk.shape))
    return out
