"""Upload-to-encode jobs on a Dask cluster (`snf-serve --scheduler tcp://HOST:PORT`, or
$SNF_SCHEDULER): the job row stays in the shared SQLite catalogue, the encode runs
on whichever worker Dask picks.

The server still bounds what it accepts (upload limits, one pending job per asset
id in the database); how many run at once, where, and what happens when a worker
dies (run again, up to `distributed.scheduler.allowed-failures`) is Dask's. The
task gets the uploaded image's bytes and returns the .snf bytes, so workers need
no access to the asset folder; the server writes the result into the job's
folder and links it into DIR in one step, as a local worker does. The per-job memory
cap of local workers does not apply: a Dask worker's own `--memory-limit` does.
"""
from __future__ import annotations

import logging
import os
import shutil

import anyio

from snf.batch.cluster import TOPIC, explain, remote_encode
from snf.serve.catalog import Catalog
from snf.serve.config import Settings
from snf.serve.placing import deliver
from snf.serve.worker import job_settings

log = logging.getLogger("snf.serve.jobs")


class ClusterJobs:
    """One asynchronous Dask client per server; jobs are futures keyed by job id and run."""

    def __init__(self, settings: Settings, catalog: Catalog):
        self.settings, self.catalog = settings, catalog
        self.client = None
        self.keys = {}      # Dask key -> job id, for progress events
        self.futures = {}   # job id -> future

    async def connect(self):
        if self.client is None:
            from distributed import Client
            self.client = await Client(self.settings.scheduler, asynchronous=True, set_as_default=False,
                                       timeout=30)
            self.client.subscribe_topic(TOPIC, self._on_event)
        return self.client

    def _on_event(self, event) -> None:
        msg = event[1]
        job_id = self.keys.get(msg.get("key"))
        if job_id is not None:
            self.catalog.progress(job_id, min(0.99, msg["fraction"]), msg["text"])

    async def run(self, job: dict) -> None:
        job_id, asset_id, p = job["id"], job["asset_id"], job["params"]
        folder = self.settings.job_dir(job_id)
        try:
            client = await self.connect()
        except (OSError, TimeoutError) as e:
            self.catalog.finish(job_id, "failed", f"cannot reach the Dask scheduler at {self.settings.scheduler}: {e}")
            return
        data = await anyio.to_thread.run_sync(_read, os.path.join(folder, job["input_name"]))
        given = job_settings(p)
        key = f"snf-job-{job_id}-{job['attempts']}"
        self.keys[key] = job_id
        self.catalog.progress(job_id, 0.0, f"submitted to Dask at {self.settings.scheduler}")
        fut = client.submit(remote_encode, asset_id, data, given, p.get("threads"), None, key, key=key, pure=False)
        self.futures[job_id] = fut
        log.info("job %s: encoding %s on Dask (%s)", job_id, asset_id, key)
        try:
            result = await fut
            await anyio.to_thread.run_sync(self._publish, job, result)
        except Exception as e:
            if self.futures.get(job_id) is fut:  # not cancelled by stop()
                self.catalog.finish(job_id, "failed", explain(e, asset_id))
                shutil.rmtree(folder, ignore_errors=True)
            return
        finally:
            self.keys.pop(key, None)
            self.futures.pop(job_id, None)
        last = result
        self.catalog.finish(job_id, "done", message=f"{last['levels']} levels, {len(last['bytes']):,} bytes, "
                                                    f"last level {last['psnr']:.2f} dB (on Dask)")
        shutil.rmtree(folder, ignore_errors=True)

    def _publish(self, job: dict, result: dict) -> None:
        """As a local worker does: written to the job's folder, its hash recorded, linked into DIR."""
        deliver(self.settings, self.catalog, job, result["sha256"], data=result["bytes"])

    async def stop(self) -> None:
        """Cancel what runs (the jobs go back to the queue) and close the client."""
        for job_id, fut in list(self.futures.items()):
            self.futures.pop(job_id, None)
            await fut.cancel()
            self.catalog.requeue(job_id, "re-queued: the server stopped while it ran")
        if self.client is not None:
            await self.client.close()


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()
