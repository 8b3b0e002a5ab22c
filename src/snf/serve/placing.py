"""A job's finished file: written atomically in the job's folder, its hash recorded in
the catalogue, then linked into DIR in one step; and recognised there after a crash.

Shared by the local worker process (`snf.serve.worker`), the Dask jobs
(`snf.serve.cluster_jobs`) and the job runner's crash recovery (`snf.serve.jobs`).
"""
from __future__ import annotations

import hashlib
import os

from snf.format.container import write_atomic

OUTPUT_NAME = "out.snf"  # the finished file in the job's folder, before it is placed into DIR


def file_sha256(path: str) -> str | None:
    """The hex SHA-256 of a file, or None if it cannot be read."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while piece := f.read(1 << 20):
                sha.update(piece)
    except OSError:
        return None
    return sha.hexdigest()


def asset_path(settings, job: dict) -> str:
    return os.path.join(settings.root, job["asset_id"] + ".snf")


def output_in_place(settings, job: dict) -> bool:
    """True if the job's asset is in DIR with the hash its worker recorded before placing it."""
    want = job.get("output_sha256")
    return bool(want) and file_sha256(asset_path(settings, job)) == want


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
            if sha256 is None or file_sha256(final) != sha256:
                raise RuntimeError(f"asset {os.path.basename(final)[:-4]} already exists") from None
        os.unlink(tmp)
    fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def output_path(settings, job: dict) -> str:
    """Where a job's finished file is written before it is placed."""
    return os.path.join(settings.job_dir(job["id"]), OUTPUT_NAME)


def deliver(settings, catalog, job: dict, sha256: str, data: bytes | None = None) -> None:
    """Put a job's output (at `output_path`, or `data` written there atomically first) into
    DIR: its hash recorded before placing (a crash after that is recognisable), then placed."""
    out = output_path(settings, job)
    if data is not None:
        write_atomic(out, data)
    catalog.set_output(job["id"], sha256)
    place(out, asset_path(settings, job), job["params"].get("replace", False), sha256)
