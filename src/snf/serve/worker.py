"""Encode worker: `python -m snf.serve.worker DIR JOB_ID`, one process per job.

Training is CPU-bound torch work, so it runs outside the server's event loop
(and is the only server path that imports torch). Progress goes to the SQLite
catalogue; the .snf is written to the job's folder, then linked into DIR in one
step, so readers never see a half-written asset. The worker dies with its server.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys

from snf.serve.catalog import Catalog
from snf.serve.config import Settings

OUTPUT_TMP = "out.snf.tmp"


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


def place(tmp: str, final: str, replace: bool) -> None:
    """Move the finished file into DIR in one step; without `replace`, never clobber."""
    if replace:
        os.replace(tmp, final)
    else:
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise RuntimeError(f"asset {os.path.basename(final)[:-4]} already exists") from None
        os.unlink(tmp)
    fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    # rows queued before settings were one object hold the settings at the top level
    given = p["settings"] if "settings" in p else {k: v for k, v in p.items() if k not in ("threads", "replace", "image")}
    result = encoder.compress(img, EncodeSettings.from_dict(given), quiet=True, progress=progress)
    tmp = os.path.join(folder, OUTPUT_TMP)
    with open(tmp, "wb") as f:
        f.write(result["bytes"])
        f.flush()
        os.fsync(f.fileno())
    place(tmp, os.path.join(settings.root, job["asset_id"] + ".snf"), p.get("replace", False))
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
