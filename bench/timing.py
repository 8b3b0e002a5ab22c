"""What the benchmarks time the same way: a warmed-up median, and the naive torch
forward that decode speed is measured against (the acceptance check's baseline)."""
from __future__ import annotations

import statistics
import time


def median_time(fn, reps: int) -> float:
    """Median wall time of `reps` calls, after one call to warm up."""
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def naive_forward_seconds(arch, width: int, size: tuple, reps: int = 3) -> float:
    """A dense SIREN of `width` as plain nn.Linear layers over every pixel of `size`."""
    import torch
    x = torch.rand(size[0] * size[1], arch.d_in) * 2 - 1
    layers = [torch.nn.Linear(arch.d_in, width)] + [torch.nn.Linear(width, width) for _ in range(arch.layers - 1)]
    out = torch.nn.Linear(width, arch.d_out)

    def f():
        with torch.no_grad():
            h = x
            for lay in layers:
                h = torch.sin(arch.w0 * lay(h))
            return out(h)
    return median_time(f, reps)
