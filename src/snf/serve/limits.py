"""Bounds that keep one server alive under hostile load: memory, descriptors, paced streams.

Each bound answers early and cheaply (413, 429 or 503 with `Retry-After`) instead
of letting a request take memory or descriptors it would only give back in
minutes. The figures are `Settings` fields (serve/config.py); why each one has
its value is in serve/README.md, "Limits".
"""
from __future__ import annotations

import errno
import logging
import resource
import time

from fastapi import HTTPException

# Encoder memory, measured on CPU torch 2.13, default settings, one thread (peak RSS of
# encoder.compress, bench/RESULTS.md "Server and viewer"): without the activation cache
# 395 MiB at 64x64, 648 at 512x512, 743 at 1024x1024 (a fixed part: interpreter, torch,
# the model, one 16,384-row batch; then about 126 bytes a pixel: image, coordinates,
# targets). With the cache, 1,502 MiB at 512x512: it costs about 1.7x what
# snf.encode.stage.cache_bytes counts (the tables and their temporaries).
ENCODER_BASE_MB = 640
ENCODER_BYTES_PER_PIXEL = 160
CACHE_OVERHEAD = 1.8
# Address space a worker may map beyond its resident limit: torch maps its libraries and
# thread stacks without touching them (measured VmPeak - VmHWM: about 530 MiB).
ADDRESS_SPACE_SLACK_MB = 1024
DESCRIPTORS_PER_CONNECTION = 2   # the socket, and the file a stream reads
SPARE_DESCRIPTORS = 64           # catalogue, logs, listening socket, renders


def cache_row_bytes(settings, d_out: int = 3) -> int:
    """Bytes per pixel of the frozen-level activation cache at the widest stage."""
    from snf.field.arch import Arch
    arch = settings.arch(d_in=2, d_out=d_out) if hasattr(settings, "arch") else settings
    assert isinstance(arch, Arch)
    return 4 * (arch.d_in + 2 * arch.d_out + (arch.layers - 1) * arch.widths[-1])


def encoder_memory_mb(pixels: int, settings, cache: bool = False) -> int:
    """Estimated peak resident memory of one encode (MiB); `cache` adds the full activation cache."""
    per_pixel = ENCODER_BYTES_PER_PIXEL + (CACHE_OVERHEAD * cache_row_bytes(settings) if cache else 0)
    return ENCODER_BASE_MB + -(-int(pixels * per_pixel) // (1 << 20))


def check_encoder_memory(pixels: int, settings, limit_mb: int) -> int:
    """413 if even the cache-less encode would need more than `limit_mb`; else the estimate (MiB)."""
    need = encoder_memory_mb(pixels, settings)
    if need > limit_mb:
        raise HTTPException(413, f"encoding {pixels} pixels needs about {need} MiB, above this server's "
                                 f"encoder limit of {limit_mb} MiB")
    return need


def cache_budget_bytes(pixels: int, settings, limit_mb: int) -> int:
    """The activation cache (as the trainer counts it) a worker may build: what its memory
    limit leaves after the cache-less encode, over the cache's measured overhead."""
    return max(0, int(((limit_mb - encoder_memory_mb(pixels, settings)) << 20) / CACHE_OVERHEAD))


def limit_address_space(limit_mb: int) -> None:
    """Cap this process's address space (a worker), so a wrong estimate fails one job, not the host."""
    cap = (limit_mb + ADDRESS_SPACE_SLACK_MB) << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def raise_descriptor_limit(connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards what `connections` need; returns the connections it allows."""
    need = connections * DESCRIPTORS_PER_CONNECTION + SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return connections
    return max(1, min(connections, (soft - SPARE_DESCRIPTORS) // DESCRIPTORS_PER_CONNECTION))


def busy(retry_after: int, what: str, status: int = 503) -> HTTPException:
    return HTTPException(status, what, headers={"Retry-After": str(retry_after)})


def out_of_descriptors(e: OSError) -> bool:
    return e.errno in (errno.EMFILE, errno.ENFILE)


class Slots:
    """A counter of things running at once (paced streams), refused past `cap`."""

    def __init__(self, cap: int):
        self.cap, self.used = cap, 0

    def take(self) -> bool:
        if self.used >= self.cap:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        self.used -= 1


class OncePerIncident(logging.Filter):
    """Let one record of a kind through per incident: a burst of accept() failures
    (EMFILE) is one log line, then one line saying how many followed, not a traceback each."""

    def __init__(self, quiet_seconds: float = 10.0):
        super().__init__()
        self.quiet_seconds = quiet_seconds
        self._last = {}     # key -> (time of last record, records suppressed)

    @staticmethod
    def key(record: logging.LogRecord) -> str | None:
        msg = record.getMessage()
        if "out of system resource" in msg or "Too many open files" in msg:
            return "descriptors"
        if msg.startswith("socket.send() raised exception"):  # asyncio: writes after a client left
            return "closed-writes"
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, OSError) and out_of_descriptors(exc):
            return "descriptors"
        return None

    def filter(self, record: logging.LogRecord) -> bool:
        key = self.key(record)
        if key is None:
            return True
        now = time.monotonic()
        last, hidden = self._last.get(key, (None, 0))
        if last is not None and now - last < self.quiet_seconds:
            self._last[key] = (now, hidden + 1)
            return False
        self._last[key] = (now, 0)
        what = {"descriptors": "out of file descriptors: refusing connections for now",
                "closed-writes": "writes to connections the clients had closed"}[key]
        record.msg = what + " (one line per incident" + (f"; {hidden} more before this one" if hidden else "") + ")"
        record.args, record.exc_info, record.exc_text = (), None, None
        return True
