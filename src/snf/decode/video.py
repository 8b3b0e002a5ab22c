"""Decoding a video field: the frames a level covers, as PNGs and (with ffmpeg) an mp4.

Under temporal growth level k covers the first floor(k T / K) frames (its windows);
under spectral growth every level covers all T frames.
"""
from __future__ import annotations

import os

import numpy as np

from snf.format.container import Parsed, write_atomic
from snf.decode.render import render_field, to_samples


def render_frames(parsed: Parsed, level: int, size: tuple | None = None) -> np.ndarray:
    """uint8 (T_k, H, W, C): the frames level k covers, at the stored or another (W, H)."""
    from snf.decode.decoder import DecodeError
    h = parsed.header
    if h["signal"] != "video":
        raise DecodeError(f"this file holds a {h['signal']} signal, not a video")
    w_, h_, t_ = (tuple(size) + (h["size"][2],)) if size else tuple(h["size"])
    from snf.format.cost import CostError, check
    try:
        check(h, parsed.arch, level, (w_, h_, t_))  # as rendered: every frame at this size
    except CostError as e:
        raise DecodeError(str(e)) from None
    arch = parsed.arch
    # only the revealed frames are evaluated: render_field skips the rest
    values, stop = render_field(arch, parsed.levels, level, (w_, h_, t_))
    frames = to_samples(values, tuple(h["values"]["range"]), h["values"].get("bit_depth", 8))
    return frames[:stop] if stop is not None else frames


def write_frames(folder: str, frames: np.ndarray, fps: float | None = None, mp4: bool = True,
                 bits: int = 8, depth: int = 8) -> list:
    """frame_0001.png ... in `folder` (each written atomically; `frames` hold samples of `bits`
    bits, written at `depth`, 8 or 16), and video.mp4 (8 bits) when imageio-ffmpeg is installed
    and `mp4`; returns the paths written."""
    from snf.decode.image_file import rescale
    from snf.decode.png import png_bytes
    os.makedirs(folder, exist_ok=True)
    written = []
    significant = bits if bits < depth else None
    for i, f in enumerate(frames, 1):
        path = os.path.join(folder, f"frame_{i:04d}.png")
        write_atomic(path, png_bytes(rescale(f, bits, depth), significant=significant), durable=False)
        written.append(path)
    if mp4:
        data = encode_mp4(rescale(frames, bits, 8), fps or 25.0)
        if data is not None:
            path = os.path.join(folder, "video.mp4")
            write_atomic(path, data, durable=False)
            written.append(path)
    return written


def encode_mp4(frames: np.ndarray, fps: float) -> bytes | None:
    """H.264 mp4 bytes through imageio's ffmpeg plugin, or None where it is not installed.
    Odd sides are padded by one edge pixel (yuv420p needs even ones)."""
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401 (the plugin's binary)
    except ImportError:
        return None
    t, h, w, c = frames.shape
    rgb = frames[..., :3] if c >= 3 else np.repeat(frames[..., :1], 3, axis=3)  # alpha dropped
    rgb = np.pad(rgb, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return iio.imwrite("<bytes>", rgb, extension=".mp4", plugin="FFMPEG", fps=fps, codec="libx264",
                       macro_block_size=1, pixelformat="yuv420p")


def frame_strip(frames: np.ndarray, max_frames: int = 16) -> np.ndarray:
    """Up to `max_frames` frames evenly picked and laid side by side (a server preview)."""
    idx = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int))
    return np.concatenate(list(frames[idx]), axis=1)
