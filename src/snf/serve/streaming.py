"""Send an .snf file chunk by chunk, optionally paced, without buffering it.

The file's framing (10-byte prefix, then length-prefixed chunks) is walked from
the chunk heads alone, so the body is cut at chunk boundaries: each level's
chunk goes out the moment it is read. `?kbps=` paces the bytes on a schedule
(slices of about 1/5 s), asynchronously, so many slow streams need no threads.

A body never mixes two versions of a file: the open descriptor is checked
(size, mtime, ctime) after each segment is read, and the body ends short if the
file changed in place (a file replaced by rename is no concern: the descriptor
still reads the old one). A short body tells the client (Content-Length).
"""
from __future__ import annotations

import asyncio
import bisect
import os
from dataclasses import dataclass, field

import anyio

from snf.format.container import CHUNK_HEAD, CHUNK_OVERHEAD, PREFIX_LEN, SIGNATURE, T_END, T_LEVEL

PIECE = 256 << 10          # most bytes read at once
INLINE_READ = 64 << 10     # reads up to this size run on the event loop (page cache, no thread hop)
TICKS_PER_SECOND = 5       # pacing granularity: a paced stream sends at most 5 pieces a second
                           # (1,000 streams at 20 a second cost the event loop 20,000 sends a second)


@dataclass
class Frames:
    """Chunk boundaries of a file, and where each level's chunk ends."""
    cuts: list = field(default_factory=list)      # file offsets at chunk boundaries
    level_ends: dict = field(default_factory=dict)
    valid: bool = False                           # the framing parsed up to an end chunk


WALK_WINDOW = 1 << 20   # bytes read at once while walking chunk heads


def walk_frames(fd: int, size: int) -> Frames:
    """Read only the chunk heads to find the boundaries. Heads are parsed from windows of
    WALK_WINDOW bytes, so a file of millions of tiny chunks costs a few reads, not one each
    (callers run this in a worker thread and keep the result per file version)."""
    frames = Frames()
    if os.pread(fd, len(SIGNATURE), 0) != SIGNATURE:
        return frames
    pos = PREFIX_LEN
    frames.cuts.append(pos)
    win, win_at = b"", 0
    unpack = CHUNK_HEAD.unpack_from
    while pos + CHUNK_HEAD.size <= size:
        if pos + CHUNK_HEAD.size > win_at + len(win):
            win_at, win = pos, os.pread(fd, WALK_WINDOW, pos)
            if len(win) < CHUNK_HEAD.size:
                break
        length, ctype, level = unpack(win, pos - win_at)
        pos += length + CHUNK_OVERHEAD
        if pos > size:
            break
        if not 97 <= ctype[0] <= 122:  # ancillary chunks need no cut of their own: they ride with the next piece
            frames.cuts.append(pos)
        if ctype == T_LEVEL:
            frames.level_ends.setdefault(level, pos)
        elif ctype == T_END:
            frames.valid = True
            break
    return frames


def segments(start: int, stop: int, cuts: list, piece: int = PIECE):
    """Split [start, stop) at chunk boundaries (`cuts`, ascending) and at most `piece` bytes."""
    bounds = cuts[bisect.bisect_right(cuts, start):bisect.bisect_left(cuts, stop)] + [stop]
    a = start
    for b in bounds:
        while a < b:
            n = min(piece, b - a)
            yield a, a + n
            a += n


async def read_at(fd: int, offset: int, n: int) -> bytes:
    if n <= INLINE_READ:
        return os.pread(fd, n, offset)
    return await anyio.to_thread.run_sync(os.pread, fd, n, offset)


def identity(st: os.stat_result) -> tuple:
    """What changes when a file is written in place."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


async def body(fd: int, start: int, stop: int, cuts: list, kbps: int | None = None, on_close=None):
    """Yield bytes [start, stop) of the open file `fd` (closed at the end, even on cancel)."""
    try:
        same = identity(os.fstat(fd))
        loop = asyncio.get_running_loop()
        rate = kbps * 1000 / 8 if kbps else None
        tick = max(1, int(rate / TICKS_PER_SECOND)) if rate else None
        t0, sent = loop.time(), 0
        for a, b in segments(start, stop, cuts):
            data = await read_at(fd, a, b - a)
            if identity(os.fstat(fd)) != same:
                return  # written in place while we read: end short rather than mix two versions
            if rate is None:
                if data:
                    yield data
            else:
                for i in range(0, len(data), tick):
                    delay = t0 + sent / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent += min(tick, len(data) - i)
                    yield data[i:i + tick]
            if len(data) < b - a:
                return  # the file shrank: the short body tells the client
    finally:
        if on_close is None:
            os.close(fd)
        else:
            on_close()


class Closer:
    """Run a cleanup once: from the body's end, or from the response if the body never ran."""

    def __init__(self, *actions):
        self.actions = actions

    def __call__(self) -> None:
        actions, self.actions = self.actions, ()
        for action in actions:
            action()
