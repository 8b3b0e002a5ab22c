"""One grid encode with a custom recipe (the round-3 coding experiments of bench/grid/RESULTS.md).

    OMP_NUM_THREADS=1 python bench/grid/round3-coding/exp.py IMG GRID LAMS STEPS OUT [BATCHES [LR]]
    e.g. ... kodim03.png 6.5.4:12,3:8,2:8,1:8 0.02,0.02,0.04,0.02 1000 f1.snf none,none,none,98304

LAMS, STEPS, BATCHES: per level, comma-separated (the last repeats; 'none' = whole picture).
Prints per-level cumulative bytes and PSNR (quantised, and float before quantisation).
"""
import sys, time, json, dataclasses
import torch
torch.set_num_threads(1)
from snf.encode import encoder, presets
from snf.settings import EncodeSettings
from snf.signals.image import load_image
img_path, grid, lams, steps, out = sys.argv[1:6]
lams = tuple(float(x) for x in lams.split(","))
steps = tuple(int(x) for x in steps.split(","))
kw = dict(lam=lams, steps=steps)
if len(sys.argv) > 6:
    kw["batch"] = tuple(None if x == "none" else int(x) for x in sys.argv[6].split(","))
if len(sys.argv) > 7:
    kw["lr"] = float(sys.argv[7])
encoder.GRID_PRESET = dataclasses.replace(presets.GRID_PRESET, **kw)
img = load_image(img_path)
s = EncodeSettings(field="grid", grid=grid)
t0 = time.process_time(); w0 = time.time()
r = encoder.compress(img, s, quiet=True)
open(out, "wb").write(r["bytes"])
from snf.format.container import read
p = read(r["bytes"])
print(out, grid, lams, steps, f"cpu {time.process_time()-t0:.0f}s wall {time.time()-w0:.0f}s")
st = r["timing"]["stage_seconds"]
for k, (e, lv) in enumerate(zip(p.ends, r["levels"]), 1):
    print(f"  L{k} bytes {e} psnr {lv['psnr']} (float {lv['psnr_float']}) stage {st[k-1]:.0f}s wall")
