"""CPU cost of the fast path's training steps at the seed widths (random weights and
targets, 768x512 rows, batch 16,384): ms per step per level, wall and CPU.

--win: the tables in sweep order and stratified batches read in place (`stage.Window`, the
trainer's way since round 4); without it every level gathers its batch (round 3's way).
--prof: a torch profile of 20 level-4 steps by operator.

python bench/rd/step_cost.py THREADS [--win] [--prof]
"""
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
from snf.field.arch import arch_for_signal
from snf.encode.model import BlockSiren
from snf.encode.stage import CachedLevel, initial_tables, Window, sweep_order
arch = arch_for_signal("image", (30, 69, 110, 151), 3)
N = 768 * 512
g = torch.Generator().manual_seed(0)
coords = torch.rand(N, 2) * 2 - 1
values = torch.rand(N, 3) * 2 - 1
m = BlockSiren(arch)
W = '--win' in sys.argv
if W:
    o = sweep_order(N, 16384, g); coords = coords[o]; values = values[o]
tables = initial_tables(arch, coords, values)
for k in range(1, 5):
    m.grow(g)
    for j in range(1, k):
        m.freeze(j)
    obj = CachedLevel(m, k, tables, 16384)
    opt = torch.optim.Adam(obj.params, lr=1e-4, fused=True)
    idx_all = [((torch.arange(16384, dtype=torch.float64) * (N / 16384) + torch.rand(16384, generator=g, dtype=torch.float64) * (N / 16384)).long().clamp_(max=N - 1)) for _ in range(4)]
    if W and k > 1: idx_all = [Window(int(torch.randint(N - 16384, (1,), generator=g)), 16384) for _ in range(4)]
    for i in range(5):
        obj.step(idx_all[i % 4]); opt.step()
    n = 100
    t = time.perf_counter(); c = time.process_time()
    for i in range(n):
        obj.step(idx_all[i % 4]); opt.step()
    dt = (time.perf_counter() - t) / n; dc = (time.process_time() - c) / n
    print(f"level {k}: {dt*1e3:.1f} ms/step wall, {dc*1e3:.1f} ms cpu", flush=True)
    if k == 4 and "--prof" in sys.argv:
        from torch.profiler import profile
        with profile(record_shapes=True) as p:
            for i in range(20):
                obj.step(idx_all[i % 4]); opt.step()
        print(p.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25))
    if k < 4:
        tables = obj.extend()
    obj.close()
