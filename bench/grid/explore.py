"""Exploration (not the product): train a grid field level by level with a standalone loop, printing per-level
PSNR, the Laplace-model estimate and the zstd bytes of the latents. Used for the design choices in bench/RESULTS.md."""
import math, sys, time, json
import numpy as np, torch, zstandard
from PIL import Image
from snf.field.grid import GridArch, parse_grid_levels
from snf.encode.grid_model import GridField, GridLevel
torch.set_num_threads(1)
path, spec, lams, steps, batch = sys.argv[1], sys.argv[2], eval(sys.argv[3]), eval(sys.argv[4]), int(sys.argv[5])
lr = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-2
img = np.asarray(Image.open(path).convert("RGB"))
H, W, C = img.shape
vals = torch.tensor(img.reshape(-1, C).astype(np.float32) / 127.5 - 1)
g, h = parse_grid_levels(spec)
arch = GridArch(g, h, 2, 3)
model = GridField(arch, (W, H))
gen = torch.Generator().manual_seed(0); torch.manual_seed(0)
prev, cum = None, 0
cctx = zstandard.ZstdCompressor(level=19)
for k in range(1, arch.levels + 1):
    model.grow(gen)
    for j in range(1, k): model.freeze(j)
    obj = GridLevel(model, k, vals, lams[k - 1], prev=prev)
    opt = torch.optim.Adam(obj.params, lr=lr)
    n, t0 = steps[k - 1], time.time()
    for s in range(n):
        frac = s / n
        obj.progress = frac
        for gr in opt.param_groups: gr["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        idx = None if batch == 0 else torch.randint(H * W, (batch,)).sort().values
        mse = obj.step(idx); opt.step()
        if s % 250 == 0: print(f"  L{k} {s} {10*math.log10(4/mse):.2f} dB bits {obj.bits()/8:.0f} B {time.time()-t0:.0f}s", flush=True)
    with torch.no_grad():
        lat_bytes = obj.bits() / 8
        arrs = model.level_tensors(k)
        ng = len(arch.grids[k - 1])
        raw = []
        for i, a in enumerate(arrs):
            if i < ng:
                q = np.clip(np.rint(a), -127, 127); raw.append(q.astype(np.int8).tobytes()); arrs[i] = q.astype(np.float32)
            else:
                step = np.abs(a).max() / 127 if np.abs(a).max() > 0 else 1.0
                q = np.rint(a / step); raw.append(q.astype(np.int8).tobytes()); raw.append(np.float32(step).tobytes()); arrs[i] = (q * step).astype(np.float32)
        model.set_level(k, arrs)
        zb = len(cctx.compress(b"".join(raw[:ng]))); wb = len(cctx.compress(b"".join(raw[ng:])))
        prev = obj.extend()
        y = prev[1]
        out = np.clip(np.rint((y.numpy() + 1) * 127.5), 0, 255)
        mse = np.mean((out - img.reshape(-1, C)) ** 2)
        cum += zb + wb
        nz = [int((torch.round(g) != 0).sum()) for g in model.grids[k - 1]]
        print(f"LEVEL {k}: PSNR {10*math.log10(255**2/mse):.2f} latents laplace {lat_bytes:.0f} B zstd {zb} B weights zstd {wb} B cum {cum} B nz {nz} scales {[round(v,2) for v in model.laplace_scales(k)]} {time.time()-t0:.0f}s", flush=True)
    obj.close()
