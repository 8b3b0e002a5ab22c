"""Batch encoding on a real Dask cluster (distributed.LocalCluster, worker processes):
the CLI through `--scheduler`, and workers killed mid-job on a progress event."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from conftest import synthetic_image
from test_batch import FAST, reference

distributed = pytest.importorskip("distributed", reason="the cluster extra: pip install 'snf[cluster]'")
import dask  # noqa: E402

from snf.batch.cluster import TOPIC, ClusterEngine  # noqa: E402
from snf.batch.plan import plan  # noqa: E402
from snf.batch.run import Batch  # noqa: E402
from snf.format.container import read  # noqa: E402
from snf.settings import EncodeSettings  # noqa: E402

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def cluster():
    """One worker process with two slots; a task is given up after its worker dies twice."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                      dashboard_address=None, worker_dashboard_address=None) as c:
            yield c


def pngs(folder, names):
    folder.mkdir(exist_ok=True)
    for i, n in enumerate(names):
        Image.fromarray(synthetic_image(16 + 4 * i, 12, seed=i)).save(folder / f"{n}.png")
    return folder


def test_cli_batch_through_scheduler(cluster, tmp_path):
    src = pngs(tmp_path / "in", ["a", "b", "c"])
    out = tmp_path / "out"
    r = subprocess.run([os.path.join(BIN, "snf-encode"), str(src), "-o", str(out), *FAST],
                       env={**os.environ, "SNF_SCHEDULER": cluster.scheduler_address},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Dask at" in r.stderr and "3 encoded" in r.stderr
    assert sorted(os.listdir(out)) == ["a.snf", "b.snf", "c.snf"]
    assert (out / "b.snf").read_bytes() == reference(src / "b.png")  # same bytes as a local encode
    r = subprocess.run([os.path.join(BIN, "snf-encode"), str(src), "-o", str(out), *FAST, "--scheduler",
                        cluster.scheduler_address, "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == ""  # all finished: nothing submitted


def killer(cluster, rule):
    """A second client on the progress topic: SIGKILL the worker process that reports
    a job, when rule(name, runs seen so far) says so. Returns (client, pids per name, kills)."""
    pids, kills, lock = {}, [], threading.Lock()

    def on_event(event):
        msg = event[1]
        with lock:
            seen = pids.setdefault(msg["name"], [])
            if msg["pid"] in seen:
                return
            seen.append(msg["pid"])
            if rule(msg["name"], len(seen)):
                kills.append(msg["pid"])
                os.kill(msg["pid"], signal.SIGKILL)

    watcher = distributed.Client(cluster.scheduler_address, set_as_default=False)
    watcher.subscribe_topic(TOPIC, on_event)
    return watcher, pids, kills


def run_batch(cluster, src, out) -> Batch:
    settings = EncodeSettings(widths=(8, 16), layers=2, steps=300)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    try:
        b = Batch(plan([str(src)], str(out)), settings.with_(qat=settings.qat_on).to_dict(), quiet=True,
                  stream=open(os.devnull, "w"))
        b.code = b.run(ClusterEngine(client=client, threads=1))
    finally:
        client.close()
    return b


def test_worker_killed_mid_job_is_retried(cluster, tmp_path):
    """The worker is killed on the job's first progress event: Dask runs the job again on
    the restarted worker process and it completes; nothing else is written."""
    src, out = pngs(tmp_path / "in", ["victim"]), tmp_path / "out"
    out.mkdir()
    watcher, pids, kills = killer(cluster, lambda name, runs: runs == 1)
    try:
        b = run_batch(cluster, src, out)
    finally:
        watcher.close()
    assert b.code == 0 and not b.failed, b.failed
    assert len(pids["victim"]) == 2 and kills == pids["victim"][:1]  # killed mid-job, then run again
    assert os.listdir(out) == ["victim.snf"]
    assert read((out / "victim.snf").read_bytes()).complete


def test_worker_killed_every_run_fails_clearly(cluster, tmp_path):
    """Killed on every run: after allowed-failures + 1 deaths Dask gives up; the batch
    reports that file as failed, in one line, and writes nothing for it."""
    src, out = pngs(tmp_path / "in", ["doomed"]), tmp_path / "out"
    out.mkdir()
    watcher, pids, kills = killer(cluster, lambda name, runs: True)
    try:
        b = run_batch(cluster, src, out)
    finally:
        watcher.close()
    assert b.code == 1 and not b.ok
    [(item, error)] = b.failed
    assert item.name == "doomed" and "died 2 time(s)" in error and "allowed-failures = 1" in error
    assert len(kills) == 2 and os.listdir(out) == []


def test_server_upload_jobs_run_on_the_cluster(cluster, tmp_path):
    """snf-serve --scheduler: an uploaded image is encoded by a Dask worker, with progress
    in the job, and the asset appears whole."""
    import httpx
    from snf_serve_fixtures import TOKEN, Served
    folder = pngs(tmp_path / "assets", [])
    src = pngs(tmp_path / "in", ["up"])
    server = Served(folder, TOKEN, "--scheduler", cluster.scheduler_address)
    try:
        with open(src / "up.png", "rb") as f:
            r = httpx.post(f"{server.base}/v1/assets", headers={"authorization": f"Bearer {TOKEN}"},
                           files={"file": ("up.png", f, "image/png")}, data={"widths": "8,16", "steps": "20"})
        assert r.status_code == 202, r.text
        url = server.base + r.json()["url"]
        for _ in range(600):
            job = httpx.get(url).json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["state"] == "done" and "on Dask" in job["message"], job
        data = httpx.get(f"{server.base}/v1/assets/up/stream").content
        assert read(data).complete and read(data).header["encoder"]["settings"]["steps"] == 20
    finally:
        server.stop()
