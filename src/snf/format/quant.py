"""Uniform symmetric quantisation of a level's blocks, and its exact inverse.

A matrix gets one float32 scale per row (rows of a SIREN layer differ in range
by an order of magnitude, so a per-tensor scale wastes bits on the small rows);
a vector gets one scale. The decoder and the encoder both dequantise as
``float32(q) * float32(scale)``, one IEEE multiply, so they agree bit for bit.
"""
from __future__ import annotations

import numpy as np

from snf.field.arch import Arch, Block

MIN_BITS, MAX_BITS = 4, 16  # bits, bits_small of a raw-coded level (format_spec.md, limits table)


class QuantError(ValueError):
    pass


def check_bits(bits: int) -> int:
    bits = int(bits)
    if not MIN_BITS <= bits <= MAX_BITS:
        raise QuantError(f"--bits must be {MIN_BITS}..{MAX_BITS}, got {bits}")
    return bits


def block_bits(block: Block, quant: dict) -> int:
    """Bit depth of one block: `bits`, or `bits_small` for biases and first-layer rows."""
    return int(quant["bits_small"] if block.small else quant["bits"])


def default_quant(bits: int = 8) -> dict:
    bits = check_bits(bits)
    return {"bits": bits, "bits_small": max(bits, min(16, bits + 4)), "scale": "row"}


def _rows(block: Block) -> int:
    return block.shape[0] if block.cols is not None else 1


def quantise(values: np.ndarray, bits: int, per_row: bool) -> tuple:
    """Return (q as int8/int16, scale as float32 per row or a single one)."""
    v = np.asarray(values, dtype=np.float32)
    qmax = (1 << (bits - 1)) - 1
    m = v.reshape(v.shape[0], -1) if per_row else v.reshape(1, -1)
    peak = np.abs(m).max(axis=1) if m.size else np.zeros(m.shape[0], np.float32)
    scale = (peak / np.float32(qmax)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.clip(np.rint(m / safe[:, None]), -qmax, qmax)
    q = q.astype(np.int8 if bits <= 8 else np.int16).reshape(v.shape)
    return q, scale


def dequantise(q: np.ndarray, scale: np.ndarray, per_row: bool) -> np.ndarray:
    """The one dequantisation rule: float32(q) * float32(scale)."""
    qf = q.astype(np.float32)
    if per_row:
        return (qf.reshape(q.shape[0], -1) * scale[:, None]).reshape(q.shape)
    return qf * scale[0]


def payload_size(arch: Arch, k: int, quant: dict) -> int:
    """Exact byte length of level k's uncompressed payload (bounds decompression)."""
    total = 0
    for blk in arch.blocks(k):
        bits = block_bits(blk, quant)
        total += 4 * _rows(blk) + blk.size * (1 if bits <= 8 else 2)
    return total


def encode_level(arch: Arch, k: int, tensors: list, quant: dict) -> tuple:
    """Quantise level k's tensors (in `arch.blocks(k)` order).

    Returns (payload bytes, dequantised float32 tensors): the encoder trains the
    next level on exactly what the decoder will see.
    """
    parts, deq = [], []
    for blk, t in zip(arch.blocks(k), tensors, strict=True):
        t = np.asarray(t, dtype=np.float32)
        if t.shape != blk.shape:
            raise QuantError(f"level {k} {blk.tensor}: shape {t.shape}, expected {blk.shape}")
        per_row = blk.cols is not None
        q, scale = quantise(t, block_bits(blk, quant), per_row)
        parts += [scale.astype("<f4").tobytes(), q.astype(q.dtype.newbyteorder("<")).tobytes()]
        deq.append(dequantise(q, scale, per_row))
    return b"".join(parts), deq


def decode_level(arch: Arch, k: int, payload: bytes, quant: dict) -> list:
    """Inverse of `encode_level`: float32 tensors in block order."""
    if len(payload) != payload_size(arch, k, quant):
        raise QuantError(f"level {k} payload is {len(payload)} bytes, expected {payload_size(arch, k, quant)}")
    out, pos = [], 0
    for blk in arch.blocks(k):
        bits = block_bits(blk, quant)
        rows = _rows(blk)
        scale = np.frombuffer(payload, "<f4", rows, pos).astype(np.float32)
        pos += 4 * rows
        dt = np.dtype("<i1") if bits <= 8 else np.dtype("<i2")
        q = np.frombuffer(payload, dt, blk.size, pos).reshape(blk.shape)
        pos += blk.size * dt.itemsize
        if not np.all(np.isfinite(scale)):
            raise QuantError(f"level {k} {blk.tensor}: scale is not finite")
        qmax = (1 << (bits - 1)) - 1
        if q.size and (int(q.min()) < -qmax or int(q.max()) > qmax):
            raise QuantError(f"level {k} {blk.tensor}: a value is outside +-{qmax} ({bits} bits)")
        out.append(dequantise(q, scale, blk.cols is not None))
    return out
