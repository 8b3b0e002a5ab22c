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

from snf.serve.catalog import Catalog
from snf.serve.config import Settings

OUTPUT_TMP = "out.snf.tmp"
JOB_KEYS = ("threads", "replace", "image", "memory_mb", "estimate_mb", "publish")  # job params that are not encode settings


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


def place(tmp: str, final: str, replace: bool, sha256: str | None = None) -> None:
    """Move the finished file into DIR in one step; without `replace`, never clobber
    (but a file already there with this output's hash is this job's own, placed by an
    earlier run that died before saying so: done, not a failure)."""
    if replace:
        os.replace(tmp, final)
    else:
        try:
            os.link(tmp, final)
        except FileExistsError:
            from snf.serve.jobs import file_sha256
            if sha256 is None or file_sha256(final) != sha256:
                raise RuntimeError(f"asset {os.path.basename(final)[:-4]} already exists") from None
        os.unlink(tmp)
    fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def keep_original(settings: Settings, job: dict, img) -> str:
    """`DIR/ID.png` beside the asset: the picture that was uploaded (lossless), which the compare
    page (`/compare/ID`) measures every codec against. Written atomically; returns its path."""
    from PIL import Image
    from snf.format.container import write_atomic
    import io
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
        write_atomic(self.final, prefix)
        self.count += 1
        self.last = hashlib.sha256(prefix).hexdigest()

    def withdraw(self) -> None:
        from snf.serve.jobs import file_sha256
        if self.last and file_sha256(self.final) == self.last:
            os.unlink(self.final)
            if not self.had_png and os.path.exists(self.png):
                os.unlink(self.png)


def encode(settings: Settings, catalog: Catalog, job: dict) -> str:
    from snf.signals.image import load_image
    p, folder = job["params"], settings.job_dir(job["id"])
    img = load_image(os.path.join(folder, job["input_name"]))
    catalog.progress(job["id"], 0.0, "loading torch")
    import torch
    if p.get("threads"):
        torch.set_num_threads(p["threads"])
    from snf.encode import encoder

    def progress(state: dict) -> None:
        catalog.progress(job["id"], min(0.99, state["fraction"]), state["text"])

    from snf.settings import EncodeSettings
    from snf.serve.limits import cache_budget_bytes
    # rows queued before settings were one object hold the settings at the top level
    given = p["settings"] if "settings" in p else {k: v for k, v in p.items() if k not in JOB_KEYS}
    enc = EncodeSettings.from_dict(given)
    cache = cache_budget_bytes(img.shape[0] * img.shape[1], enc, p["memory_mb"]) if p.get("memory_mb") else None
    final = os.path.join(settings.root, job["asset_id"] + ".snf")
    published = Published(settings, job, img) if p.get("publish") else None
    try:
        result = encoder.compress(img, enc, quiet=True, progress=progress, cache_limit=cache,
                                  publish=published.level if published else None)
    except BaseException:
        if published:
            published.withdraw()
        raise
    tmp = os.path.join(folder, OUTPUT_TMP)
    with open(tmp, "wb") as f:
        f.write(result["bytes"])
        f.flush()
        os.fsync(f.fileno())
    sha = hashlib.sha256(result["bytes"]).hexdigest()
    catalog.set_output(job["id"], sha)  # before placing: a crash after it is then recognisable
    if published is None:
        keep_original(settings, job, img)
    # once a prefix of ours holds the name, the whole file replaces it
    place(tmp, final, p.get("replace", False) or bool(published and published.count), sha)
    last = result["levels"][-1]
    return f"{len(result['levels'])} levels, {len(result['bytes']):,} bytes, last level {last['psnr']:.2f} dB"


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
