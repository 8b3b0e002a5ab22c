"""Encode speed: CPU cost of one training step per level of the SIREN's fast path, at the seed
widths (30/69/110/151), 768x512 rows, batch 16,384, random weights and targets (the cost does
not depend on them): ms per step per level, wall and CPU.

    python bench/step_cost.py [--threads 2] [--steps 100] [--prof]

Each level trains as the encoder does: the frozen levels' activations cached
(`stage.CachedLevel`), rows in sweep order, each later-level step reading a stratified batch
in place (`stage.Window`). --prof: a torch profile of 20 level-4 steps by operator. The
README's "ms per training step" row and the deadline's stage shares come from this.
"""
import argparse
import time

import torch

from snf.field.arch import arch_for_signal
from snf.encode.model import BlockSiren
from snf.encode.stage import CachedLevel, Window, initial_tables, sweep_order

BATCH = 16384
SIZE = (768, 512)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    p.add_argument("--steps", type=int, default=100, help="timed steps a level (default: %(default)s)")
    p.add_argument("--prof", action="store_true", help="profile 20 level-4 steps by operator")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    arch = arch_for_signal("image", (30, 69, 110, 151), 3)
    n = SIZE[0] * SIZE[1]
    g = torch.Generator().manual_seed(0)
    order = sweep_order(n, BATCH, g)
    coords = (torch.rand(n, 2, generator=g) * 2 - 1)[order]
    values = (torch.rand(n, 3, generator=g) * 2 - 1)[order]
    model = BlockSiren(arch)
    tables = initial_tables(arch, coords, values)
    for k in range(1, arch.levels + 1):
        model.grow(g)
        for j in range(1, k):
            model.freeze(j)
        level = CachedLevel(model, k, tables, BATCH)
        opt = torch.optim.Adam(level.params, lr=1e-4, fused=True)
        if k == 1:  # level 1 draws uniform batches (the trainer gathers them)
            batches = [torch.randint(n, (BATCH,), generator=g) for _ in range(4)]
        else:
            batches = [Window(int(torch.randint(n - BATCH, (1,), generator=g)), BATCH) for _ in range(4)]
        for i in range(5):  # warm-up
            level.step(batches[i % 4])
            opt.step()
        t, c = time.perf_counter(), time.process_time()
        for i in range(args.steps):
            level.step(batches[i % 4])
            opt.step()
        wall, cpu = (time.perf_counter() - t) / args.steps, (time.process_time() - c) / args.steps
        print(f"level {k}: {wall * 1e3:.1f} ms/step wall, {cpu * 1e3:.1f} ms cpu", flush=True)
        if k == arch.levels and args.prof:
            from torch.profiler import profile
            with profile(record_shapes=True) as prof:
                for i in range(20):
                    level.step(batches[i % 4])
                    opt.step()
            print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25))
        if k < arch.levels:
            tables = level.extend()
        level.close()


if __name__ == "__main__":
    main()
