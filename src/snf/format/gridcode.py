"""A grid field level's payload: latents as int8, synthesis weights as int8 times a step.

Latents are integers already (the trainer rounds them to step 1), so they are
stored as they are, clamped to [-127, 127]. Each synthesis tensor gets one
float32 step (its peak / 127) and int8 values; the decoder multiplies
``float32(q) * step`` exactly as `quant.dequantise` does, so encoder and decoder
agree bit for bit. The container compresses the payload with zstd (format_spec.md,
section 9.3). The payload length is fixed by the header, and checked.
"""
from __future__ import annotations

import numpy as np

from snf.field.grid import GridArch

LATENT_MAX = 127
WEIGHT_QMAX = 127


class GridCodeError(ValueError):
    pass


def payload_size(arch: GridArch, k: int, size: tuple) -> int:
    return sum(t.size + (4 if t.kind == "weight" else 0) for t in arch.tensors(k, size))


def quantise_weight(a: np.ndarray) -> tuple:
    a = np.asarray(a, np.float32)
    peak = float(np.abs(a).max()) if a.size else 0.0
    step = np.float32(peak / WEIGHT_QMAX if peak > 0 else 1.0)
    q = np.clip(np.rint(a / step), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return q, step


def encode_level(arch: GridArch, k: int, size: tuple, arrays: list) -> tuple:
    """Level k's arrays (payload order, float) -> (payload bytes, the arrays the decoder will see)."""
    parts, deq = [], []
    for t, a in zip(arch.tensors(k, size), arrays, strict=True):
        a = np.asarray(a, np.float32)
        if a.shape != t.shape:
            raise GridCodeError(f"level {k} {t.name}: shape {a.shape}, expected {t.shape}")
        if t.kind == "latent":
            q = np.clip(np.rint(a), -LATENT_MAX, LATENT_MAX).astype(np.int8)
            parts.append(q.tobytes())
            deq.append(q.astype(np.float32))
        else:
            q, step = quantise_weight(a)
            parts += [np.array([step], "<f4").tobytes(), q.tobytes()]
            deq.append(q.astype(np.float32) * step)
    return b"".join(parts), deq


def decode_level(arch: GridArch, k: int, size: tuple, payload: bytes) -> list:
    """Inverse of `encode_level`: float32 arrays in payload order."""
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
