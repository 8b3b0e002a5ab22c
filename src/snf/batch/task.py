"""The one function a batch worker runs: input bytes + settings dict -> .snf bytes
(through the encode service, `snf.encode.service`: load, torch set-up, compress).

It takes bytes, not a path, so a worker on another machine needs no shared file
system; it returns bytes, so the output is written (atomically) only by the
submitting side, and a worker that dies mid-job leaves nothing behind.
"""
from __future__ import annotations

import io
import time


class TaskError(Exception):
    """One input's failure, in one line (picklable: it crosses process and network boundaries)."""


class _Named(io.BytesIO):
    """Image bytes that print as their file name in error messages."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name

    def __str__(self) -> str:
        return self.name


def encode_bytes(name: str, data: bytes, settings: dict, threads: int | None = None, device: str | None = None,
                 progress=None) -> dict:
    """Encode one image; returns {"name", "bytes", "levels", "psnr", "sha256", "seconds"}; TaskError on failure."""
    t0 = time.monotonic()
    try:
        from snf.encode import service
        from snf.settings import EncodeSettings
        s = EncodeSettings.from_dict(settings)
        signal = service.load(_Named(data, name), s)
        result = service.encode(signal, s, threads=threads, device=device, progress=progress)
    except Exception as e:  # the input's failure, never the pool's
        text = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        raise TaskError(text if name in text else f"{name}: {text}") from None
    summary = service.summarise(result, signal.kind, time.monotonic() - t0)
    return {"name": name, "bytes": result["bytes"], "levels": summary.levels, "psnr": summary.last["psnr"],
            "sha256": summary.sha256, "seconds": summary.seconds}


def encode_file(name: str, path: str, settings: dict, threads: int | None = None, device: str | None = None,
                progress=None) -> dict:
    """`encode_bytes` on a file this worker can read (the local pool: same machine)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TaskError(f"{name}: {path}: {e.strerror or e}") from None
    return encode_bytes(name, data, settings, threads, device, progress)
