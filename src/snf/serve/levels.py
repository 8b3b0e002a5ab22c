"""Server-side PNG renders of a level, for clients without a decoder; cached on disk.

Renders use the numpy decoder in a worker thread (numpy releases the GIL), at
most `parallel` at a time, one per (asset version, level) however many ask at
once. Cache files live in DIR/.snf-cache/, are named by asset id, ETag and level,
and are written atomically; older versions of an asset's renders are removed.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import re

import anyio

from snf.format.container import Parser, write_atomic
from snf.decode.decoder import pick_level
from snf.decode.preview import extension, render_level, samples_of


_CACHED = re.compile(r"(.+)\.([0-9a-f]{16})\.L(\d+)\.(png|ply)")


class RenderError(Exception):
    """A level that cannot be rendered (not an image, too large), in one line."""


def cache_name(asset_id: str, etag: str, level: int, ext: str = "png") -> str:
    tag = hashlib.sha1(etag.encode()).hexdigest()[:16]
    return f"{asset_id}.{tag}.L{level}.{ext}"


def render_png(path: str, level: int, end: int, max_pixels: int, ext: str = "png") -> bytes:
    """Decode the first `end` bytes of the file (levels 1..level) and render the level's
    preview file: a PNG for an image, a frame strip PNG for a video, a PLY for an SDF."""
    parser = Parser(decode=True)
    with open(path, "rb") as f:
        parser.feed(f.read(end))
    parsed = parser.finish()
    k = pick_level(parsed, level)
    signal = parsed.header["signal"]
    if extension(signal) != ext:
        raise RenderError(f"this asset holds a {signal} signal: its levels render as .{extension(signal)}")
    if samples_of(parsed) > max_pixels:
        raise RenderError(f"{'x'.join(map(str, parsed.header['size']))} is above the server's render limit "
                          f"of {max_pixels} samples")
    try:
        return render_level(parsed, k)[0]
    except ImportError as e:
        raise RenderError(f"the server cannot render {signal} levels ({e.name} is not installed)") from None


class LevelRenderer:
    def __init__(self, cache_dir: str, max_pixels: int, parallel: int = 2):
        self.cache_dir = cache_dir
        self.max_pixels = max_pixels
        self._slots = asyncio.Semaphore(parallel)
        self._locks = {}

    async def png(self, asset_id: str, path: str, etag: str, level: int, end: int, ext: str = "png") -> str:
        """Path of the cached render (PNG, or PLY for a shape) of `level`, rendering it first if needed."""
        name = cache_name(asset_id, etag, level, ext)
        target = os.path.join(self.cache_dir, name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        try:
            async with lock:
                if not os.path.exists(target):
                    async with self._slots:
                        data = await anyio.to_thread.run_sync(render_png, path, level, end, self.max_pixels, ext)
                    await anyio.to_thread.run_sync(self._store, asset_id, name, data)
        finally:
            if not lock.locked():
                self._locks.pop(name, None)
        return target

    def _store(self, asset_id: str, name: str, data: bytes) -> None:
        os.makedirs(self.cache_dir, exist_ok=True)
        write_atomic(os.path.join(self.cache_dir, name), data)
        tag = _CACHED.fullmatch(name).group(2)
        for old in os.listdir(self.cache_dir):
            m = _CACHED.fullmatch(old)
            if m and m.group(1) == asset_id and m.group(2) != tag:
                try:
                    os.unlink(os.path.join(self.cache_dir, old))
                except OSError:
                    pass
