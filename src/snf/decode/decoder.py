"""Bytes -> picture, numpy only: decode the highest complete level (or one asked for).

`decompress` returns a plain dict (CompressAI style). Any prefix of a file is
accepted: it decodes to the best level its complete chunks allow.
"""
from __future__ import annotations

import numpy as np

from snf.format.container import MAX_PIXELS, MAX_SIDE, Parsed, SnfError, read
from snf.decode.render import render_field, to_samples
from snf.field.grid import GridArch
from snf.field.latent import LatentArch


PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # by channel count


class DecodeError(SnfError):
    """A request the file cannot satisfy (level missing, bad size), in one line."""


def parse_size(text: str) -> tuple:
    """'1536x1024' -> (1536, 1024), within the container's limits."""
    try:
        w, h = (int(t) for t in str(text).lower().split("x"))
    except ValueError:
        raise DecodeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE) or w * h > MAX_PIXELS:
        raise DecodeError(f"size {w}x{h} is outside 1..{MAX_SIDE} per side or above {MAX_PIXELS} pixels")
    return w, h


def pick_level(parsed: Parsed, level: int | None) -> int:
    """The level to render: the one asked for, or the highest complete one."""
    have = parsed.levels_complete
    why = f" ({parsed.error})" if parsed.error else ""
    if parsed.header is None:
        raise DecodeError(str(parsed.error or "no header"))
    if level is None:
        if have == 0:
            raise DecodeError(f"no complete level in this file{why}")
        return have
    total = parsed.arch.levels
    if not 1 <= level <= total:
        raise DecodeError(f"level {level} does not exist: the file has levels 1..{total}")
    if level > have:
        raise DecodeError(f"level {level} is not complete in this file: it holds levels 1..{have}{why}"
                          if have else f"level {level} is not complete in this file: no level is{why}")
    return level


def render_image(parsed: Parsed, level: int, size: tuple | None = None, crop: bool = False) -> np.ndarray:
    """uint8 (H, W, C) picture of one decoded level, at the stored or any other size.

    Spatially grown files render only the level's revealed stripes: by default the
    whole canvas, with one more (alpha) channel that is 0, and colour 0, where no
    stripe has arrived yet; with `crop`, just the revealed columns. A level that
    reveals every column is the plain picture."""
    h = parsed.header
    if h["signal"] != "image":
        raise DecodeError(f"this file holds a {h['signal']} signal, not an image")
    w_, h_ = size or tuple(h["size"][:2])
    _check_cost(parsed, level, (w_, h_))
    if isinstance(parsed.arch, (GridArch, LatentArch)):  # the grid and latent families: no regional growth
        if isinstance(parsed.arch, LatentArch):
            from snf.decode.latent_render import LatentNetwork as Net
        else:
            from snf.decode.grid_render import GridNetwork as Net
        values = Net(parsed.arch, parsed.levels, level).grid((w_, h_))
        samples = to_samples(values, tuple(h["values"]["range"]), h["values"].get("bit_depth", 8))
        return samples.reshape(h_, w_, -1)
    values, stop = render_field(parsed.arch, parsed.levels, level, (w_, h_))
    bits = h["values"].get("bit_depth", 8)
    img = to_samples(values, tuple(h["values"]["range"]), bits)
    if stop is None or stop >= w_:
        return img
    if crop:
        return np.ascontiguousarray(img[:, :stop])
    img[:, stop:] = 0
    c = img.shape[2]
    if c in (2, 4):  # the picture has alpha: unrevealed pixels get alpha 0 in it
        return img
    alpha = np.zeros((h_, w_, 1), img.dtype)
    alpha[:, :stop] = (1 << bits) - 1  # opaque at the samples' own depth
    return np.concatenate([img, alpha], axis=2)


def _check_cost(parsed: Parsed, level: int, size: tuple | None) -> None:
    """The cost model's hard limits for this render (format_spec.md 5.1), as a DecodeError."""
    from snf.format.cost import CostError, check
    try:
        check(parsed.header, parsed.arch, level, size)
    except CostError as e:
        raise DecodeError(str(e)) from None


def to_pil(img: np.ndarray, bits: int = 8):
    """(H, W, C) samples of `bits` bits -> an 8-bit Pillow image: L, LA, RGB or RGBA by channel
    count (Pillow holds no 16-bit colour; snf.decode.image_file writes 16-bit files)."""
    from PIL import Image
    if img.dtype != np.uint8 or bits != 8:
        from snf.decode.image_file import rescale
        img = rescale(img, bits, 8)
    return Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)  # Pillow infers the mode from the shape


def decompress(data: bytes, level: int | None = None, size: tuple | None = None, crop: bool = False) -> dict:
    """Decode bytes (a whole file or any prefix): picture, level used, what the file holds."""
    framed = read(data, decode=False)
    k = pick_level(framed, level)
    if framed.header["signal"] != "image":
        raise DecodeError(f"this file holds a {framed.header['signal']} signal, not an image")
    _check_cost(framed, k, size)
    parsed = read(data, upto=k)  # levels 1..k only
    k = pick_level(parsed, level)  # the framing may hold a level whose payload then fails: one fewer
    img = render_image(parsed, k, size, crop)
    return {
        "image": img,
        "level": k,
        "levels_complete": parsed.levels_complete,
        "levels": parsed.arch.levels,
        "header": parsed.header,
        "stopped": None if parsed.error is None else str(parsed.error),
    }
