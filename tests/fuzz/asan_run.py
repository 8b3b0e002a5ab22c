"""Run under AddressSanitizer (tests/test_asan.py builds the C extensions with
-fsanitize=address,undefined and starts this with LD_PRELOAD=libasan):

    python tests/fuzz/asan_run.py BUILD_DIR CORPUS_DIR

The sanitized `_fastfield` and `_rans` stand in for the built ones (sys.modules), then
the C kernel evaluates networks of random shapes (every width up to 900, widths below
d_in, one to four layers) against the numpy path, takes malformed arguments (each must
be a ValueError, never a write out of bounds), and every file of the fuzz corpus is
read (entropy-coded levels decode in `_rans`). Any sanitizer report aborts the process.
"""
from __future__ import annotations

import importlib.util
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def load(name: str, path: str) -> None:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod


def main(build: str, corpus: str) -> None:
    load("snf.decode._fastfield", os.path.join(build, "_fastfield.so"))
    load("snf.format._rans", os.path.join(build, "_rans.so"))
    import numpy as np
    import hostile
    from snf.decode import render
    from snf.format import entropy
    from snf.format.container import read
    assert render._fast.__file__.startswith(build), render._fast.__file__
    rng = random.Random(26)
    t0 = time.perf_counter()
    kernels = 0
    for i in range(40):
        w = rng.choice([1, 2, 3, 7, 12, 13, 31, 64, 100, 767, 769, 900])
        layers, d_out = rng.randint(1, 4 if w <= 100 else 2), rng.randint(1, 4)
        signal, d_in, size = rng.choice([("image", 2, (rng.randint(1, 9), rng.randint(1, 9))),
                                         ("video", 3, (rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 4)))])
        widths = [w] if w > 400 or rng.random() < 0.5 else sorted(rng.sample(range(1, 2 * w + 3), 2))
        data = hostile.siren(signal, size, widths, layers, d_in=d_in, d_out=d_out, payloads="random")
        p = read(data)
        assert p.error is None, p.error
        for k in range(1, p.arch.levels + 1):
            coords = render.grid(size)
            fused = render.Network(p.arch, p.levels, k)(coords, threads=rng.choice([1, 2]))
            assert fused.shape == (len(coords), d_out) and np.isfinite(fused).all()
            if max(widths) <= 64 and layers <= 2:  # deeper random (not SIREN-scaled) nets amplify float32 order
                os.environ["SNF_NO_C_KERNEL"] = "1"
                ref = render.Network(p.arch, p.levels, k)(coords)
                del os.environ["SNF_NO_C_KERNEL"]
                assert np.allclose(fused, ref, rtol=1e-3, atol=3e-3), (widths, layers, d_in, d_out)
            kernels += 1
    t1 = time.perf_counter()
    f = render._fast.forward
    refused = 0
    for i in range(2000):  # malformed calls: each one a ValueError
        n = rng.randint(0, 70)
        d_in, d_out, rows = rng.randint(-1, 5), rng.randint(-1, 5), rng.randint(-1, 12)
        x = np.zeros((max(n + rng.randint(-3, 3), 0), max(d_in, 1)), np.float32)
        y = np.zeros((max(n + rng.randint(-3, 3), 0), max(d_out, 1)), np.float32)
        groups = []
        for _ in range(rng.randint(0, 4)):
            a, gn, K = rng.randint(-2, 10), rng.randint(-1, 14), rng.randint(-1, 14)
            wlen = max(0, gn * K + rng.randint(-3, 3))
            groups.append((a, gn, K, rng.random() < 0.5, np.ones(wlen, np.float32).tobytes()))
        b0 = rng.randint(-1, 3)
        try:
            f(groups, d_in, d_out, rows, x, y, n, b0, b0 + rng.randint(-1, 4))
        except ValueError:
            refused += 1
    t2 = time.perf_counter()
    files = 0
    for name in sorted(os.listdir(corpus)):
        with open(os.path.join(corpus, name), "rb") as fh:
            read(fh.read())
        files += 1
    assert entropy._fast is sys.modules["snf.format._rans"] and entropy._fast.__file__.startswith(build)
    t3 = time.perf_counter()
    print(f"asan: {kernels} kernel renders ({t1 - t0:.1f} s), {refused}/2000 malformed calls refused "
          f"({t2 - t1:.1f} s), {files} files read ({t3 - t2:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
