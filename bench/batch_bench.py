"""Batch encode wall times: the same inputs with `--jobs N` (local pool) and through a
Dask LocalCluster of N single-slot workers (`--scheduler`).

    python bench/batch_bench.py --images ../shared/data/kodak --small 3 --steps 30 --jobs 2

Inputs: every image in --images plus --small generated 64x48 ones; outputs and
timings go to a temporary folder; prints one line per engine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

BIN = os.path.dirname(sys.executable)


def small(path: str, seed: int) -> None:
    y, x = np.mgrid[0:48, 0:64] / 64
    rng = np.random.default_rng(seed)
    img = np.stack([0.5 + 0.4 * np.sin((6 + seed) * x + 3 * y), 0.5 + 0.4 * np.cos(9 * y - 2 * x),
                    0.5 + 0.3 * np.sin(15 * x * y)], -1) + 0.03 * rng.standard_normal((48, 64, 3))
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(path)


def timed(args: list, env=None) -> float:
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(BIN, "snf-encode"), *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"failed: {r.stderr.strip().splitlines()[-1:]}")
    return time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", required=True)
    p.add_argument("--small", type=int, default=3)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="snf-batch-bench-")
    src = os.path.join(work, "in")
    shutil.copytree(a.images, src)
    for i in range(a.small):
        small(os.path.join(src, f"small{i}.png"), i)
    n = len(os.listdir(src))
    common = ["--steps", str(a.steps), "--quiet"]
    t = timed([src, "-o", os.path.join(work, "out-jobs"), "--jobs", str(a.jobs), *common])
    print(f"--jobs {a.jobs}: {n} images in {t:.1f} s (steps {a.steps} per level)")
    from distributed import LocalCluster
    t0 = time.monotonic()
    with LocalCluster(n_workers=a.jobs, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        up = time.monotonic() - t0
        t = timed([src, "-o", os.path.join(work, "out-dask"), "--scheduler", c.scheduler_address, *common])
    print(f"Dask LocalCluster ({a.jobs} workers x 1 slot): {n} images in {t:.1f} s "
          f"(+{up:.1f} s to start the cluster)")
    same = all(open(os.path.join(work, "out-jobs", f), "rb").read() == open(os.path.join(work, "out-dask", f), "rb").read()
               for f in os.listdir(os.path.join(work, "out-jobs")))
    print(f"outputs identical between the two engines: {same}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
