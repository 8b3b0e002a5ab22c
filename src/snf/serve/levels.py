"""Server-side PNG renders of a level, for clients without a decoder; cached on disk.

Each render runs in a process of its own (a fresh child of a fork server, one render
per process), so whatever memory the decoder took dies with it instead of staying
in the server's heap, and an address-space cap (`max_render_mb`) turns a render
that would need more into one failed render, not a swapping host. Before a level is
decoded its cost is computed from the header (format/cost.py) and checked against
the server's `Budget`; a refusal or a failed render is cached like a render (a small
`.err` file named by asset version and level), so asking again costs nothing. At
most `parallel` renders run at once, one per (asset version, level) however many ask.
Cache files live in DIR/.snf-cache/, are named by asset id, ETag and level, and are
written atomically; older versions of an asset's renders are removed.
"""
from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import anyio

from snf.format.container import write_atomic
from snf.format.cost import Budget


_CACHED = re.compile(r"(.+)\.([0-9a-f]{16})\.L(\d+)\.(png|ply)(\.err)?")
FAILED = ".err"   # suffix of a cached failure


class RenderError(Exception):
    """A level that cannot be rendered (not an image, too large), in one line."""


def cache_name(asset_id: str, etag: str, level: int, ext: str = "png") -> str:
    tag = hashlib.sha1(etag.encode()).hexdigest()[:16]
    return f"{asset_id}.{tag}.L{level}.{ext}"


def render_png(path: str, level: int, end: int, budget: Budget | int, ext: str = "png",
               memory_mb: int | None = None) -> bytes:
    """Decode the first `end` bytes of the file (levels 1..level) and render the level's
    preview file: a PNG for an image, a frame strip PNG for a video, a PLY for an SDF.
    The cost is checked from the header before any level is decoded (`budget`: a Budget, or
    a number of samples with the spec's other limits); every refusal is a RenderError (one
    line), whatever part of the decoder refused."""
    if isinstance(budget, int):
        budget = Budget(samples=budget)
    from snf.format.container import SnfError, read
    from snf.format.cost import CostError, check
    from snf.decode.decoder import pick_level
    from snf.decode.preview import extension, render_level
    if memory_mb:
        from snf.serve.limits import limit_address_space
        limit_address_space(memory_mb)
    try:
        with open(path, "rb") as f:
            data = f.read(end)
        framed = read(data, decode=False)
        k = pick_level(framed, level)
        signal = framed.header["signal"]
        if extension(signal) != ext:
            raise RenderError(f"this asset holds a {signal} signal: its levels render as .{extension(signal)}")
        check(framed.header, framed.arch, k, preview_size(framed.header), budget)
        parsed = read(data, upto=k)   # levels 1..k only
        pick_level(parsed, k)         # (a payload error in level k: its reason)
        return render_level(parsed, k)[0]
    except CostError as e:
        raise RenderError(f"above this server's render limits: {e}") from None
    except (SnfError, ValueError) as e:
        raise RenderError(str(e).splitlines()[0] if str(e) else e.__class__.__name__) from None
    except MemoryError:
        raise RenderError(f"the render needs more than this server's {memory_mb} MiB") from None
    except ImportError as e:
        raise RenderError(f"the server cannot render {signal} levels ({e.name} is not installed)") from None


def preview_size(header: dict) -> tuple | None:
    """The size the preview renders at (None: the stored size; an SDF: its marching-cubes grid)."""
    if header.get("signal") == "sdf":
        from snf.decode.sdf import resolution_for
        return (resolution_for(header),)
    return None


def _render_child(*args) -> tuple:
    """In the render process: (True, bytes) or (False, reason); never an exception to pickle."""
    try:
        return True, render_png(*args)
    except RenderError as e:
        return False, str(e)
    except Exception as e:  # noqa: BLE001 - a bug still fails one render, with its name
        return False, f"render failed ({e.__class__.__name__})"


def _pool(parallel: int) -> ProcessPoolExecutor:
    """One process per render (max_tasks_per_child=1), forked from a fork server that has the
    decoder imported: the start costs milliseconds, and the memory goes back with the process."""
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["snf.serve.levels", "snf.decode.preview", "snf.decode.decoder"])
    except ValueError:  # no fork server on this platform
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(parallel, mp_context=ctx, max_tasks_per_child=1)


class LevelRenderer:
    def __init__(self, cache_dir: str, max_pixels: int, parallel: int = 2, budget: Budget | None = None,
                 memory_mb: int | None = None, in_process: bool = False):
        self.cache_dir = cache_dir
        self.max_pixels = max_pixels
        self.budget = budget or Budget(samples=max_pixels)
        self.memory_mb = memory_mb
        self.parallel = parallel
        self.in_process = in_process   # tests and platforms without processes: render in a thread
        self._executor = None
        self._slots = asyncio.Semaphore(parallel)
        self._locks = {}

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _render(self, path: str, level: int, end: int, ext: str) -> tuple:
        args = (path, level, end, self.budget, ext, self.memory_mb)
        if self.in_process:
            return await anyio.to_thread.run_sync(_render_child, *args[:5])
        if self._executor is None:
            self._executor = _pool(self.parallel)
        try:
            return await asyncio.wrap_future(self._executor.submit(_render_child, *args))
        except BrokenProcessPool:  # the render process died (killed, out of memory): one failed render
            self._executor = None
            return False, "the render process died (out of memory?)"

    async def png(self, asset_id: str, path: str, etag: str, level: int, end: int, ext: str = "png") -> str:
        """Path of the cached render (PNG, or PLY for a shape) of `level`, rendering it first if needed.
        RenderError (from the cache of failures too) when the level cannot be rendered here."""
        name = cache_name(asset_id, etag, level, ext)
        target = os.path.join(self.cache_dir, name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        try:
            async with lock:
                if not os.path.exists(target):
                    failed = await anyio.to_thread.run_sync(self._failure, name)
                    if failed is not None:
                        raise RenderError(failed)
                    async with self._slots:
                        ok, out = await self._render(path, level, end, ext)
                    if not ok:
                        await anyio.to_thread.run_sync(self._store, asset_id, name + FAILED, out.encode())
                        raise RenderError(out)
                    await anyio.to_thread.run_sync(self._store, asset_id, name, out)
        finally:
            if not lock.locked():
                self._locks.pop(name, None)
        return target

    def _failure(self, name: str) -> str | None:
        try:
            with open(os.path.join(self.cache_dir, name + FAILED), "rb") as f:
                return f.read(4096).decode("utf-8", "replace")
        except OSError:
            return None

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
