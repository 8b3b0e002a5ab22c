"""Prototype: progressive latent grids + residual per-level MLP, whole-image steps."""
import math, sys, time
import numpy as np, torch, torch.nn.functional as F
from PIL import Image
torch.set_num_threads(2)
torch.manual_seed(0)
img = np.asarray(Image.open(sys.argv[1]).convert("RGB"), np.float32) / 255.0
H, W, _ = img.shape
target = torch.tensor(img).permute(2, 0, 1)[None]  # 1,3,H,W
# levels: (grid downsample factors, hidden, lambda, steps)
LEVELS = eval(sys.argv[2])
UP = sys.argv[3] if len(sys.argv) > 3 else "bilinear"

def lap_bits(y, log_s):
    s = torch.exp(log_s)
    def cdf(v):
        return 0.5 + 0.5 * torch.sign(v) * (1 - torch.exp(-v.abs() / s))
    p = (cdf(y + 0.5) - cdf(y - 0.5)).clamp_min(1e-9)
    return -torch.log2(p).sum()

class Level(torch.nn.Module):
    def __init__(self, scales, n_in_prev, hidden):
        super().__init__()
        self.grids = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1, 1, math.ceil(H / s), math.ceil(W / s))) for s in scales])
        self.logs = torch.nn.Parameter(torch.zeros(len(scales)))
        n_in = n_in_prev + len(scales)
        self.l1 = torch.nn.Conv2d(n_in, hidden, 1)
        self.l2 = torch.nn.Conv2d(hidden, hidden, 1)
        self.out = torch.nn.Conv2d(hidden, 3, 1)
        torch.nn.init.zeros_(self.out.weight); torch.nn.init.zeros_(self.out.bias)
    def feats(self, mode):
        fs, bits = [], 0
        for g, ls in zip(self.grids, self.logs):
            if mode == "noise":
                q = g + (torch.rand_like(g) - 0.5)
            elif mode == "ste":
                q = g + (torch.round(g) - g).detach()
            else:
                q = torch.round(g)
            bits = bits + lap_bits(q, ls)
            fs.append(F.interpolate(q, size=(H, W), mode=UP, align_corners=False) if q.shape[-1] != W else q)
        return fs, bits

def run():
    levels, feats_frozen, base = [], [], torch.full_like(target, 0.5)
    total_bytes = 0
    for li, (scales, hidden, lam, steps) in enumerate(LEVELS):
        lv = Level(scales, len(feats_frozen), hidden)
        gp = list(lv.grids) + [lv.logs]
        wp = list(lv.l1.parameters()) + list(lv.l2.parameters()) + list(lv.out.parameters())
        opt = torch.optim.Adam([{"params": gp, "lr": 1e-2}, {"params": wp, "lr": 5e-3}])
        t0 = time.time()
        for st in range(steps):
            frac = st / steps
            mode = "noise" if frac < 0.8 else "ste"
            for g, lr0 in zip(opt.param_groups, (1e-2, 5e-3)):
                g["lr"] = lr0 * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95 + 0.05)
            fs, bits = lv.feats(mode)
            x = torch.cat(feats_frozen + fs, 1)
            h = F.gelu(lv.l1(x)); h = F.gelu(lv.l2(h))
            y = base + lv.out(h)
            mse = F.mse_loss(y, target)
            loss = mse + lam * bits / (H * W)
            opt.zero_grad(); loss.backward(); opt.step()
            if st % 200 == 0:
                print(f"  L{li+1} st {st} psnr {-10*math.log10(mse.item()):.2f} bytes {bits.item()/8:.0f} {time.time()-t0:.0f}s", flush=True)
        with torch.no_grad():
            fs, bits = lv.feats("hard")
            x = torch.cat(feats_frozen + fs, 1)
            h = F.gelu(lv.l1(x)); h = F.gelu(lv.l2(h))
            y = base + lv.out(h)
            yq = torch.round(y.clamp(0, 1) * 255) / 255
            mse = F.mse_loss(yq, target)
            nw = sum(p.numel() for p in wp)
            lat = bits.item() / 8
            total_bytes += lat + nw * 1.0  # ~8 bits/weight guess
            print(f"LEVEL {li+1}: psnr {-10*math.log10(mse.item()):.2f} latent {lat:.0f} B weights {nw} cum~{total_bytes:.0f} B  nz {[int((torch.round(g)!=0).sum()) for g in lv.grids]} time {time.time()-t0:.0f}s", flush=True)
            feats_frozen = feats_frozen + [f.detach() for f in fs]
            base = y.detach()
run()
