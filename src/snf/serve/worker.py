"""Encode worker: `python -m snf.serve.worker DIR JOB_ID`, one process per job.

Training is CPU-bound torch work, so it runs outside the server's event loop
(and is the only server path that imports torch). Progress goes to the SQLite
catalogue; the .snf is written to the job's folder, then linked into DIR in one
step, so readers never see a half-written asset. The worker dies with its server.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sys
import time

from snf.serve.catalog import Catalog
from snf.serve.config import Settings
from snf.serve.placing import deliver, output_path

JOB_KEYS = ("threads", "replace", "image", "memory_mb", "estimate_mb", "publish")  # job params that are not encode settings


def job_settings(params: dict) -> dict:
    """A job row's encode settings (rows queued before settings were one object hold them at the top level)."""
    return params["settings"] if "settings" in params else {k: v for k, v in params.items() if k not in JOB_KEYS}


def die_with_parent() -> None:
    """Linux: get SIGTERM when the server process dies, so no orphan keeps encoding."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    parent = os.environ.get("SNF_SERVER_PID")
    if parent and os.getppid() != int(parent):
        sys.exit(3)  # the server is already gone


def keep_original(settings: Settings, job: dict, img) -> str:
    """`DIR/ID.png` beside the asset: the picture that was uploaded (lossless), which the compare
    page (`/compare/ID`) measures every codec against. Written atomically; returns its path."""
    import io
    from PIL import Image
    from snf.format.container import write_atomic
    buf = io.BytesIO()
    Image.fromarray(img if img.shape[-1] != 1 else img[..., 0]).save(buf, format="PNG")
    path = os.path.join(settings.root, job["asset_id"] + ".png")
    write_atomic(path, buf.getvalue())
    return path


class Published:
    """Levels published while later ones train (upload field `publish_levels`): each valid prefix
    file (header and levels 1..k, no end chunk) replaces `DIR/ID.snf` in one step, so the asset
    is served, growing, from level 1 on. A job that fails takes back what it published."""

    def __init__(self, settings: Settings, job: dict, img):
        self.settings, self.job, self.img = settings, job, img
        self.final = os.path.join(settings.root, job["asset_id"] + ".snf")
        self.png = os.path.join(settings.root, job["asset_id"] + ".png")
        self.had_png = os.path.exists(self.png)
        self.count, self.last = 0, None

    def level(self, prefix: bytes) -> None:
        from snf.format.container import write_atomic
        if self.count == 0:
            keep_original(self.settings, self.job, self.img)
        write_atomic(self.final, prefix, durable=False)
        self.count += 1
        self.last = hashlib.sha256(prefix).hexdigest()

    def withdraw(self) -> None:
        from snf.serve.placing import file_sha256
        if self.last and file_sha256(self.final) == self.last:
            os.unlink(self.final)
            if not self.had_png and os.path.exists(self.png):
                os.unlink(self.png)


def encode(settings: Settings, catalog: Catalog, job: dict) -> str:
    """Encode the job's upload through the encode service, place the file; the job's message.
    With `publish` (upload field `publish_levels`) each level is in DIR as soon as it is made."""
    from snf.encode import service
    from snf.format.container import write_atomic
    from snf.settings import EncodeSettings
    from snf.serve.limits import cache_budget_bytes
    p = job["params"]
    enc = EncodeSettings.from_dict(job_settings(p))
    signal_ = service.load(os.path.join(settings.job_dir(job["id"]), job["input_name"]), enc)
    cache = cache_budget_bytes(signal_.samples, enc, p["memory_mb"]) if p.get("memory_mb") else None
    catalog.progress(job["id"], 0.0, "loading torch")

    def progress(state: dict) -> None:
        catalog.progress(job["id"], min(0.99, state["fraction"]), state["text"])
    img = signal_.args[0]
    published = Published(settings, job, img) if p.get("publish") else None
    t0 = time.monotonic()
    try:
        result = service.encode(signal_, enc, threads=p.get("threads"), progress=progress,
                                publish=published.level if published else None, cache_limit=cache)
    except BaseException:
        if published:
            published.withdraw()
        raise
    write_atomic(output_path(settings, job), result["bytes"])
    summary = service.summarise(result, signal_.kind, time.monotonic() - t0)
    if published is None or not published.count:
        keep_original(settings, job, img)
    # once a prefix of ours holds the name, the whole file replaces it
    placed = {**job, "params": {**p, "replace": True}} if published and published.count else job
    deliver(settings, catalog, placed, summary.sha256)
    return summary.brief()


def main(argv=None) -> int:
    root, job_id = (argv if argv is not None else sys.argv[1:])[:2]
    die_with_parent()
    settings = Settings(root=os.path.realpath(root))
    catalog = Catalog(settings.db_path)
    job = catalog.job(job_id)
    if job is None or job["state"] != "running":
        return 1
    if job["params"].get("memory_mb"):  # a wrong estimate then fails this job, not the host
        from snf.serve.limits import limit_address_space
        limit_address_space(job["params"]["memory_mb"])
    try:
        summary = encode(settings, catalog, job)
    except Exception as e:  # any failure is the job's, in one line
        catalog.finish(job_id, "failed", (str(e).strip().splitlines() or [e.__class__.__name__])[0])
        return 1
    finally:
        shutil.rmtree(settings.job_dir(job_id), ignore_errors=True)
    catalog.finish(job_id, "done", message=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
