"""Encode jobs: queue in SQLite, run each in a worker process, recover after a crash.

The runner is an asyncio task in the server: it claims queued jobs (exactly
`workers` at once: a slot is taken when a job is claimed, not when its process
starts), starts `python -m snf.serve.worker DIR JOB`, and fails a job whose
worker dies without saying why. On start, jobs a crash left `running` are
re-queued (their input is still there) until `max_attempts`, then failed, unless
their output is already in place with the hash the worker recorded (then done);
on a clean shutdown the running ones are stopped and re-queued without counting
the interrupted run as an attempt.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import time

from snf.serve.catalog import Catalog, server_id
from snf.serve.cluster_jobs import ClusterJobs
from snf.serve.config import Settings
from snf.serve.placing import output_in_place

log = logging.getLogger("snf.serve.jobs")
POLL_SECONDS = 2.0
STALE_SECONDS = 600.0  # a job of a server on another host, silent this long, is taken as orphaned


def job_view(job: dict) -> dict:
    """The JSON of `GET /v1/jobs/{id}`."""
    out = {k: job[k] for k in ("id", "state", "progress", "message", "error", "asset_id", "attempts",
                               "created", "started", "finished", "updated")}
    out["params"] = {k: v for k, v in job["params"].items() if k != "threads"}
    out["url"] = f"/v1/jobs/{job['id']}"
    out["asset_url"] = f"/v1/assets/{job['asset_id']}" if job["state"] == "done" else None
    return out


def _is_our_worker(pid: int, job_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return b"snf.serve.worker" in argv and job_id.encode() in argv


def owner_alive(owner: str | None, updated: float) -> bool:
    """Whether the server that claimed a job still runs (other servers may share DIR)."""
    host, _, pid = (owner or "").rpartition(":")
    if not host or not pid.isdigit():
        return False
    if host != server_id().rpartition(":")[0]:
        return time.time() - updated < STALE_SECONDS  # cannot look at another host's processes
    if int(pid) == os.getpid():
        return False  # our own past self cannot hold a job: it is us, starting
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"snf" in f.read()
    except OSError:
        return False


def recover(settings: Settings, catalog: Catalog) -> tuple:
    """Deal with jobs left `running` by a server that died: done, re-queue or fail. Returns counts.
    Jobs of another live server on the same folder are left alone."""
    requeued = failed = 0
    for job in catalog.running():
        if owner_alive(job.get("owner"), job["updated"]):
            continue
        if job["pid"] and _is_our_worker(job["pid"], job["id"]):
            os.kill(job["pid"], signal.SIGTERM)  # an orphan of the dead server
        if output_in_place(settings, job):  # died between placing the file and saying so
            catalog.finish(job["id"], "done", message="done (output found in place after a restart)")
            shutil.rmtree(settings.job_dir(job["id"]), ignore_errors=True)
            continue
        has_input = os.path.isfile(os.path.join(settings.job_dir(job["id"]), job["input_name"] or ""))
        if has_input and job["attempts"] < settings.max_attempts:
            catalog.requeue(job["id"], f"re-queued: interrupted by a server restart (run {job['attempts']})")
            requeued += 1
        else:
            why = "input missing" if not has_input else f"{job['attempts']} runs"
            catalog.finish(job["id"], "failed", f"interrupted by a server restart ({why}); upload it again")
            shutil.rmtree(settings.job_dir(job["id"]), ignore_errors=True)
            failed += 1
    return requeued, failed


class JobRunner:
    def __init__(self, settings: Settings, catalog: Catalog):
        self.settings, self.catalog = settings, catalog
        self.wake = asyncio.Event()
        self.procs = {}
        self.active = set()   # claimed jobs, from the claim until their task ends
        self._task = None
        self._stopping = False
        self.cluster = None
        if settings.scheduler:  # encodes run on Dask; how many at once is the cluster's business
            self.cluster = ClusterJobs(settings, catalog)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="snf-job-runner")

    async def _loop(self) -> None:
        while not self._stopping:
            while self.cluster is not None or len(self.active) < self.settings.workers:
                job = self.catalog.claim_next()
                if job is None:
                    break
                self.active.add(job["id"])  # the slot is taken now, before the process exists
                asyncio.create_task(self._run(job), name=f"snf-job-{job['id']}")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except asyncio.TimeoutError:
                pass

    async def _run(self, job: dict) -> None:
        try:
            await self._run_one(job)
        finally:
            self.active.discard(job["id"])
            self.wake.set()

    async def _run_one(self, job: dict) -> None:
        if self.cluster is not None:
            return await self.cluster.run(job)
        job_id = job["id"]
        env = {**os.environ, "SNF_SERVER_PID": str(os.getpid())}
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "snf.serve.worker", self.settings.root, job_id, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        except OSError as e:
            self.catalog.finish(job_id, "failed", f"cannot start the encode worker: {e}")
            return
        self.procs[job_id] = proc
        self.catalog.set_pid(job_id, proc.pid)
        log.info("job %s: encoding %s (worker pid %d)", job_id, job["asset_id"], proc.pid)
        try:
            err = await proc.stderr.read()
            rc = await proc.wait()
        finally:
            self.procs.pop(job_id, None)
            self.wake.set()
        if self._stopping:
            return
        if rc != 0 and output_in_place(self.settings, self.catalog.job(job_id)):
            self.catalog.finish(job_id, "done", message="done (output in place)")
        elif rc != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()
            why = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
            if self.catalog.finish(job_id, "failed", f"encode worker died ({why})" + (f": {tail[-1]}" if tail else "")):
                shutil.rmtree(self.settings.job_dir(job_id), ignore_errors=True)
        final = self.catalog.job(job_id)
        log.info("job %s: %s%s", job_id, final["state"], f" ({final['error']})" if final["error"] else "")

    async def stop(self) -> None:
        """Stop the workers and put their jobs back in the queue for the next start."""
        self._stopping = True
        self.wake.set()
        for job_id, proc in list(self.procs.items()):
            if proc.returncode is None:
                proc.terminate()
            self.catalog.requeue(job_id, "re-queued: the server stopped while it ran", counted=False)
        for proc in list(self.procs.values()):
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
        if self.cluster is not None:
            await self.cluster.stop()
        if self._task:
            self._task.cancel()
