"""The local engine: a process pool (concurrent.futures), N encodes at once.

Each worker process gets `threads` torch threads, so N jobs use about the
machine's cores and not N times them. Workers are spawned, not forked: torch's
thread pools do not survive a fork. Progress comes back on one queue.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from snf.batch.task import encode_file

_progress_q = None


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Cores shared out over the jobs, at least one each."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def _init(q, threads: int) -> None:
    global _progress_q
    _progress_q = q
    os.environ["OMP_NUM_THREADS"] = str(threads)  # before torch loads in this process


def _run(name: str, path: str, settings: dict, threads: int, device) -> dict:
    def progress(state: dict) -> None:
        _progress_q.put((name, state["fraction"]))
    return encode_file(name, path, settings, threads, device, progress)


class LocalEngine:
    def __init__(self, jobs: int, threads: int | None = None, device: str | None = None):
        self.jobs = jobs
        self.threads = threads or threads_per_job(jobs)
        self.device = device

    def describe(self) -> str:
        return f"{self.jobs} local process(es), {self.threads} torch thread(s) each"

    def run(self, items: list, settings: dict, on_progress, on_done) -> None:
        """Encode `items`; call on_progress(name, fraction) and on_done(item, result, error) as they come."""
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()  # handed to each worker as it starts
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_init,
                                 initargs=(q, self.threads)) as pool:
            pending = {pool.submit(_run, it.name, it.source, settings, self.threads, self.device): it
                       for it in items}
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(q, on_progress)
                for fut in done:
                    item = pending.pop(fut)
                    try:
                        on_done(item, fut.result(), None)
                    except BrokenProcessPool:
                        on_done(item, None, "a worker process died (killed or out of memory)")
                    except Exception as e:  # TaskError: the input's own failure
                        on_done(item, None, str(e))


def _drain(q, on_progress) -> None:
    while True:
        try:
            name, fraction = q.get_nowait()
        except (queue.Empty, EOFError, OSError):
            return
        on_progress(name, fraction)
