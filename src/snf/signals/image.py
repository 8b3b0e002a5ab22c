"""Signals as (coordinates, values) pairs, and back (numpy only).

Images: coordinates (x, y) on the grid of `render.grid` in [-1, 1]; values are
the 8-bit samples mapped linearly to [-1, 1] (the SIREN convention), one
output per channel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. Alpha (straight, not
premultiplied) is kept only where some pixel is not fully opaque.
"""
from __future__ import annotations

import math

import numpy as np

from snf.decode.render import grid

VALUE_RANGE = (-1.0, 1.0)
MAX_IMAGE_PIXELS = 1 << 26


class SignalError(ValueError):
    pass


def load_image(path: str) -> np.ndarray:
    """Read an image file -> uint8 array (H, W, C), C in {1, 2, 3, 4}; one-line errors."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise SignalError(f"{path}: {w}x{h} exceeds the limit of {MAX_IMAGE_PIXELS} pixels")
            grey = im.mode in ("1", "L", "LA", "I", "I;16", "F")
            if im.mode in ("I", "I;16", "F"):
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if arr.max() > 255 else 255.0
                return np.clip(np.rint(arr / top * 255), 0, 255).astype(np.uint8)[..., None]
            arr = np.asarray(im.convert(("LA" if grey else "RGBA") if im.has_transparency_data
                                        else ("L" if grey else "RGB")), dtype=np.uint8)
    except FileNotFoundError:
        raise SignalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SignalError(f"{path}: is a directory, not an image") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise SignalError(f"{path}: not a readable image ({e.__class__.__name__})") from None
    if arr.ndim == 3 and arr.shape[2] in (2, 4) and arr[..., -1].min() == 255:
        arr = arr[..., :-1]  # opaque everywhere: an alpha channel would only cost bytes
    return arr[..., None] if arr.ndim == 2 else np.ascontiguousarray(arr)


def image_samples(img: np.ndarray) -> tuple:
    """uint8 (H, W, C) -> coords (H*W, 2) float32, values (H*W, C) float32 in [-1, 1]."""
    h, w, c = img.shape
    lo, hi = VALUE_RANGE
    values = img.reshape(-1, c).astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
    return grid((w, h)), values


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB between two arrays of samples (8-bit by default)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(peak * peak / mse)


def sines_1d(n: int = 1024, seed: int = 0) -> tuple:
    """The seed's 1D signal: 10 sines, frequencies 5..50 (step 5), random phases.

    Returns coords (n, 1) in [-1, 1) and values (n, 1), scaled into [-1, 1].
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(-1, 1, n, endpoint=False)
    ks = np.arange(5, 55, 5)
    phases = rng.uniform(0, 2 * np.pi, len(ks))
    y = np.sin(np.pi * ks[:, None] * x[None] + phases[:, None]).sum(0) / len(ks)
    return x[:, None].astype(np.float32), y[:, None].astype(np.float32)
