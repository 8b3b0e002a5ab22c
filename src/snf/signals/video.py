"""Videos as (x, y, t) samples: frames from a folder or a video file (numpy only;
mp4 reading needs the `video` extra: imageio with its ffmpeg plugin).

Coordinates (x, y, t) on the grid of `render.grid((W, H, T))` in [-1, 1], frames
slowest; values as for images (8-bit samples mapped to [-1, 1]).
"""
from __future__ import annotations

import os
import re

import numpy as np

from snf.signals.image import SignalError, image_samples, load_image

MAX_VIDEO_SAMPLES = 1 << 27
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".gif")


def natural_key(name: str) -> list:
    """'f10.png' after 'f9.png': digit runs compare as numbers (true temporal order)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def frame_files(folder: str) -> list:
    """The frames of one video in a folder: image files sorted numerically by name.

    The one place that decides what a folder means as a video (a folder argument is
    a batch of images unless the encode grows temporally)."""
    if not os.path.isdir(folder):
        raise SignalError(f"{folder}: not a folder")
    names = [n for n in os.listdir(folder) if n.lower().endswith(FRAME_EXTENSIONS) and not n.startswith(".")]
    if not names:
        raise SignalError(f"{folder}: no image frames in this folder")
    return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]


def parse_frames(text: str) -> tuple:
    """'A:B' -> (A, B), frames A..B-1 counted from 0 (either side may be left out: ':32', '100:')."""
    a, sep, b = str(text).partition(":")
    try:
        start = int(a) if a.strip() else 0
        stop = int(b) if b.strip() else None
    except ValueError:
        raise SignalError(f"frames {text!r}: expected START:STOP, e.g. 0:32") from None
    if not sep or start < 0 or (stop is not None and stop <= start):
        raise SignalError(f"frames {text!r}: expected START:STOP with 0 <= START < STOP, e.g. 0:32")
    return start, stop


def check_scale(scale: float) -> float:
    scale = float(scale)
    if not 0 < scale <= 1:
        raise SignalError(f"scale {scale:g}: expected a factor in (0, 1], e.g. 0.5")
    return scale


def load_video(path: str, max_frames: int | None = None, frames: tuple | None = None,
               scale: float = 1.0) -> tuple:
    """A folder of frames or a video file -> (uint8 (T, H, W, C), frames per second or None).

    `frames` (start, stop) keeps frames start..stop-1 (stop None: to the end) and `scale`
    downscales each frame (Pillow's Lanczos, sides rounded, at least 1 pixel) as it is read,
    so part of a long clip fits a CPU's memory and time: only the kept frames are decoded
    at full size, one at a time."""
    start, stop = frames or (0, max_frames)
    if max_frames is not None:
        stop = start + max_frames if stop is None else min(stop, start + max_frames)
    scale = check_scale(scale)
    if os.path.isdir(path):
        files = frame_files(path)
        frames_ = [downscale(load_image(f), scale) for f in files[start:stop]]
        if not frames_:
            raise SignalError(f"{path}: no frames in {start}:{'' if stop is None else stop} "
                              f"(the folder has {len(files)})")
        fps = None
    else:
        frames_, fps = _read_video_file(path, start, stop, scale)
    frames = frames_
    first = frames[0].shape
    for i, f in enumerate(frames):
        if f.shape != first:
            raise SignalError(f"{path}: frame {i + 1} is {f.shape[1]}x{f.shape[0]}x{f.shape[2]}, "
                              f"frame 1 is {first[1]}x{first[0]}x{first[2]}")
    video = np.stack(frames)
    if video.size > MAX_VIDEO_SAMPLES:
        raise SignalError(f"{path}: {video.size} samples exceed the limit of {MAX_VIDEO_SAMPLES}")
    return video, fps


def downscale(frame: np.ndarray, scale: float) -> np.ndarray:
    """A frame or picture scaled by `scale` (Lanczos, sides rounded, at least 1 pixel)."""
    if scale == 1:
        return frame
    from PIL import Image
    h, w = frame.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pil = Image.fromarray(frame[..., 0] if frame.shape[2] == 1 else frame)
    out = np.asarray(pil.resize(size, Image.LANCZOS), np.uint8)
    return out[..., None] if out.ndim == 2 else out


def _read_video_file(path: str, start: int = 0, stop: int | None = None, scale: float = 1.0) -> tuple:
    if not os.path.exists(path):
        raise SignalError(f"{path}: no such file")
    try:
        import imageio.v3 as iio
    except ImportError:
        raise SignalError("reading video files needs imageio with ffmpeg: pip install 'snf[video]' "
                          "(or pass a folder of frames)") from None
    try:
        meta = iio.immeta(path)
        frames = []
        for i, f in enumerate(iio.imiter(path)):
            if stop is not None and i >= stop:
                break
            if i >= start:
                f = np.asarray(f, np.uint8)[..., :3] if f.ndim == 3 else np.asarray(f, np.uint8)[..., None]
                frames.append(downscale(f, scale))
    except Exception as e:  # imageio raises many kinds for a file it cannot read
        raise SignalError(f"{path}: not a readable video ({e.__class__.__name__})") from None
    if not frames:
        raise SignalError(f"{path}: no frames" + (f" from frame {start} on" if start else ""))
    fps = meta.get("fps") if isinstance(meta, dict) else None
    return frames, float(fps) if fps else None


def video_samples(video: np.ndarray) -> tuple:
    """uint8 (T, H, W, C) -> coords (T*H*W, 3) float32 (x, y, t), values (T*H*W, C) in [-1, 1]."""
    from snf.decode.render import grid
    t, h, w, c = video.shape
    _, values = image_samples(video.reshape(t * h, w, c))
    return grid((w, h, t)), values
