"""The cluster engine: Dask distributed runs the encodes (`--scheduler tcp://HOST:PORT`
or $SNF_SCHEDULER).

Why Dask: it is plain Python (pip-installable, no CUDA or JVM), a scheduler and
workers are two commands (`dask scheduler`, `dask worker tcp://...`), and it
already does what a batch needs -- placement, a worker's death noticed and its
task run again elsewhere (up to `distributed.scheduler.allowed-failures`, then
`KilledWorker`), and pub/sub events that carry progress back. So snf keeps no
queue, scheduler or retry logic of its own. (Ray would do too; it is a far
heavier install for what is here one function call per image.)

Each task gets the input's bytes and returns the .snf bytes (snf.batch.task):
workers need no shared storage, and only the submitting side writes outputs,
atomically, so a worker killed mid-job leaves nothing half-written.
"""
from __future__ import annotations

import os
import queue
import threading
import uuid

from snf.batch.task import TaskError, encode_bytes

TOPIC = "snf-progress"   # Dask event topic: {"name", "key", "fraction", "pid", "worker"}


class ClusterError(Exception):
    """No Dask installed, or no scheduler at the address: one line for users."""


def remote_encode(name: str, data: bytes, settings: dict, threads: int | None, device: str | None,
                  key: str | None = None) -> dict:
    """Runs on a Dask worker: encode, with progress as events on TOPIC."""
    from distributed import get_worker
    worker = get_worker()
    if not threads and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"])  # Dask's nannies set 1 by default (pre-spawn-environ)
    if not threads:  # the worker's cores shared out over the tasks it runs at once
        slots = getattr(getattr(worker, "state", None), "nthreads", None) or getattr(worker, "nthreads", 1) or 1
        threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
                      // slots)
    pid = os.getpid()

    def progress(state: dict) -> None:
        worker.log_event(TOPIC, {"name": name, "key": key, "fraction": state["fraction"], "pid": pid,
                                 "worker": worker.address, "text": state["text"]})
    return encode_bytes(name, data, settings, threads, device, progress)


def connect(address: str, timeout: float = 10):
    """A Dask client for `address`; ClusterError if Dask is missing or nothing answers."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("a scheduler needs Dask: pip install 'snf[cluster]'") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {e}") from None


def explain(e: BaseException, name: str) -> str:
    """One line for a task that did not return."""
    from distributed import KilledWorker
    if isinstance(e, TaskError):
        return str(e)
    if isinstance(e, KilledWorker):
        import dask
        n = dask.config.get("distributed.scheduler.allowed-failures")
        return (f"{name}: the Dask worker running it died {n + 1} time(s) (killed or out of memory); "
                f"Dask gave up (distributed.scheduler.allowed-failures = {n})")
    text = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
    return f"{name}: {e.__class__.__name__}: {text}"


class ClusterEngine:
    def __init__(self, address: str | None = None, threads: int | None = None, device: str | None = None,
                 client=None):
        self.client = client or connect(address)
        self._own = client is None
        self.threads, self.device = threads, device

    def describe(self) -> str:
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        slots = sum(w.get("nthreads", 1) for w in workers.values())
        return f"Dask at {self.client.scheduler.address} ({len(workers)} worker(s), {slots} slot(s))"

    def run(self, items: list, settings: dict, on_progress, on_done) -> None:
        events, finished = queue.Queue(), threading.Event()
        self.client.subscribe_topic(TOPIC, lambda ev: events.put(ev[1]))
        pending = {}
        try:
            for it in items:
                try:
                    with open(it.source, "rb") as f:
                        data = f.read()
                except OSError as e:
                    on_done(it, None, f"{it.name}: {it.source}: {e.strerror or e}")
                    continue
                key = f"snf-encode-{it.name}-{uuid.uuid4().hex[:8]}"
                fut = self.client.submit(remote_encode, it.name, data, settings, self.threads, self.device, key,
                                         key=key, pure=False)
                fut.add_done_callback(lambda _: finished.set())
                pending[fut] = it
            while pending:
                finished.wait(0.5)
                finished.clear()
                _drain(events, on_progress)
                for fut in [f for f in pending if f.done()]:
                    item = pending.pop(fut)
                    try:
                        result = fut.result()
                    except Exception as e:
                        on_done(item, None, explain(e, item.name))
                    else:
                        on_done(item, result, None)
        finally:
            for fut in pending:
                fut.cancel()
            self.client.unsubscribe_topic(TOPIC)

    def close(self) -> None:
        if self._own:
            self.client.close()


def _drain(events: queue.Queue, on_progress) -> None:
    while True:
        try:
            msg = events.get_nowait()
        except queue.Empty:
            return
        on_progress(msg["name"], msg["fraction"])
