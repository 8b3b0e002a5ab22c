"""Batch encoding on the local pool: several inputs and folders, -o DIR, --jobs,
per-file failures, resumed reruns (snf.batch, `snf-encode A B DIR -o OUT`)."""
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import synthetic_image
from snf.batch.local import threads_per_job
from snf.batch.plan import PlanError, expand_inputs, finished, plan
from snf.format.container import read

BIN = os.path.dirname(sys.executable)
FAST = ["--widths", "8,16", "--layers", "2", "--steps", "20", "--threads", "1"]


def encode(*args, timeout=180):
    r = subprocess.run([os.path.join(BIN, "snf-encode"), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, (w, h) in enumerate([(20, 16), (16, 12)]):
        Image.fromarray(synthetic_image(w, h, seed=i)).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    single = tmp_path / "single.png"
    Image.fromarray(synthetic_image(12, 12, seed=5)).save(single)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    return folder, single, bad


def test_folder_expansion_and_names(inputs, tmp_path):
    folder, single, _ = inputs
    got = expand_inputs([str(folder), str(single)])
    assert [os.path.basename(p) for p in got] == ["p0.png", "p1.png", "single.png"]
    assert expand_inputs([str(folder)], grow="temporal") == [str(folder)]  # a video's frames: one input
    items = plan([str(folder), str(single)], str(tmp_path / "out"))
    assert [it.output for it in items] == [str(tmp_path / "out" / n) for n in ("p0.snf", "p1.snf", "single.snf")]
    with pytest.raises(PlanError, match="both"):
        plan([str(single), str(single)], str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlanError, match="no images"):
        expand_inputs([str(tmp_path / "empty")])


def test_threads_shared_over_jobs():
    assert threads_per_job(2, cores=8) == 4 and threads_per_job(3, cores=8) == 2 and threads_per_job(16, cores=2) == 1


def test_batch_jobs_failure_alone_and_resume(inputs, tmp_path):
    folder, single, bad = inputs
    out = tmp_path / "out"
    r = encode(folder, bad, single, "-o", out, "--jobs", "2", *FAST)
    assert r.returncode == 1, r.stderr
    assert sorted(os.listdir(out)) == ["p0.snf", "p1.snf", "single.snf"]  # nothing for bad, no temp files
    assert "FAILED bad" in r.stderr and "not a readable image" in r.stderr
    assert "2 encoded" not in r.stderr and "3 encoded" in r.stderr
    # each output is what a single encode with the same settings writes
    assert (out / "single.snf").read_bytes() == reference(single)
    assert read((out / "p1.snf").read_bytes()).complete

    mtimes = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)}
    os.utime(folder / "p1.png")  # newer input: re-encoded
    r = encode(folder, single, "-o", out, "--jobs", "2", *FAST)
    assert r.returncode == 0, r.stderr
    assert "skipping 2" in r.stderr and "1 encoded" in r.stderr
    assert os.stat(out / "p0.snf").st_mtime_ns == mtimes["p0.snf"]
    assert os.stat(out / "p1.snf").st_mtime_ns != mtimes["p1.snf"]


def reference(png) -> bytes:
    """In-process encode with FAST's settings and one thread, as the batch's workers run it."""
    import torch
    from snf.encode.encoder import compress
    from snf.signals.image import load_image
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return compress(load_image(str(png)), widths=(8, 16), layers=2, steps=20)["bytes"]
    finally:
        torch.set_num_threads(before)


def test_finished_needs_complete_same_settings_newer_output(inputs, tmp_path):
    folder, single, _ = inputs
    item = plan([str(single)], str(tmp_path))[0]
    assert not finished(item, {})
    data = reference(single)
    settings = read(data).header["encoder"]["settings"]
    (tmp_path / "single.snf").write_bytes(data[:-20])  # cut: not complete
    assert not finished(item, settings)
    (tmp_path / "single.snf").write_bytes(data)
    assert finished(item, settings) and not finished(item, {**settings, "bits": 6})
    os.utime(single, ns=(os.stat(item.output).st_mtime_ns + 10**9,) * 2)  # input newer than output
    assert not finished(item, settings)


def test_batch_usage_errors(inputs, tmp_path):
    folder, single, _ = inputs
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args, text in [((folder, "-o", afile), "output folder"),
                       ((single, single, "-o", tmp_path / "o"), "both"),
                       ((folder, "-o", tmp_path / "o2", "--jobs", "0"), "--jobs"),
                       ((folder, "-o", tmp_path / "o3", "--publish-levels"), "not a batch")]:
        r = encode(*args, *FAST)
        assert r.returncode == 2 and text in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
