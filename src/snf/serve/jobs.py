"""Encode jobs: queue in SQLite, run each in a worker process, recover after a crash.

The runner is an asyncio task in the server: it claims queued jobs (at most
`workers` at once), starts `python -m snf.serve.worker DIR JOB`, and fails a job
whose worker dies without saying why. On start, jobs a crash left `running` are
re-queued (their input is still there) until `max_attempts`, then failed; on a
clean shutdown the running ones are stopped and re-queued.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys

from snf.serve.catalog import Catalog
from snf.serve.config import Settings

log = logging.getLogger("snf.serve.jobs")
POLL_SECONDS = 2.0


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


def recover(settings: Settings, catalog: Catalog) -> tuple:
    """Deal with jobs left `running` by a server that died: re-queue or fail. Returns counts."""
    requeued = failed = 0
    for job in catalog.running():
        if job["pid"] and _is_our_worker(job["pid"], job["id"]):
            os.kill(job["pid"], signal.SIGTERM)  # an orphan of the dead server
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
        self._task = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="snf-job-runner")

    async def _loop(self) -> None:
        while not self._stopping:
            while len(self.procs) < self.settings.workers:
                job = self.catalog.claim_next()
                if job is None:
                    break
                asyncio.create_task(self._run(job), name=f"snf-job-{job['id']}")
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except asyncio.TimeoutError:
                pass

    async def _run(self, job: dict) -> None:
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
        if rc != 0:
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
            self.catalog.requeue(job_id, "re-queued: the server stopped while it ran")
        for proc in list(self.procs.values()):
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
        if self._task:
            self._task.cancel()
