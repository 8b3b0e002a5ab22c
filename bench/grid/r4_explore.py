"""Round 4 exploration (not the product): which synthesis / grids / training spend bytes better.

A standalone torch model of a progressive grid field, trained level by level on a small
picture (one thread), its bytes counted with the real coder (`snf.format.entropy`: context-
coded latents, Laplace-coded weights on `gridcode.weight_code` steps) and its PSNR after
rounding. Variants:

  --conv N      N residual 3x3 conv blocks (3 -> convw -> 3 channels, edge-replicate padding)
                after each level's sum (the displayed picture of level k is conv_k(y_{k-1} + mlp_k))
  --patch P     train on random P x P crops (latents are local) instead of the whole picture
  --gain G      latents = parameters * G
  --up bicubic  bicubic instead of bilinear upsampling (not in the format)
  --arm H       rate under a learned causal context model (13 neighbours, 2 x H ReLU, Laplace mean
                and scale; as Cool-chic's ARM) trained jointly; its bytes = ideal code length + its
                weights coded as synthesis weights (not in the format)

The rounding schedule is the trainer's (uniform noise, then straight-through rounding of the
latents and the weights for the last --ste share); Adam with cosine decay. It prints each
level's coded bytes, PSNR after rounding, and the progressive-JPEG prefix and best WebP at
the cumulative bytes plus --head (an estimate of the file header) on the same small picture.
Results: bench/grid/RESULTS.md (round 4), logs in bench/grid/round4-explore/.

    OMP_NUM_THREADS=1 python bench/grid/r4_explore.py IMG --levels 6.5.4:12,3:8,2:8 --lams .02,.02,.15 \
        --steps 600 --scale 2
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from snf.encode.grid_model import context_bits
from snf.field.grid import parse_grid_levels
from snf.format import entropy, latentctx
from snf.format.coded import STEPS
from snf.format.gridcode import quantise_weight_coded, weight_code

sys.path.insert(0, os.path.dirname(__file__))
from arm_estimate import OFFS as ARM_OFFS, laplace_bits  # noqa: E402
from grid_bench import jpeg_prefix, webp_at  # noqa: E402

torch.set_num_threads(1)


UP = "bilinear"


def up(g, H, W):
    return F.interpolate(g[None, None], size=(H, W), mode=UP, align_corners=False)[0, 0]


def arm_bits(q, arm):
    """Bits of grid q under a learned causal model (13 neighbours -> MLP -> Laplace mean, log-scale):
    an idealised code length (not the format's coder); the neighbours and the code length of
    `arm_estimate.py`, here differentiable in q."""
    r, c = q.shape
    p = F.pad(q[None, None], (3, 2, 2, 0))[0, 0]
    x = torch.stack([p[2 + dy:2 + dy + r, 3 + dx:3 + dx + c].reshape(-1) for dy, dx in ARM_OFFS], 1)
    h = x
    for i in range(0, len(arm) - 2, 2):
        h = torch.relu(torch.addmm(arm[i + 1], h, arm[i].T))
    o = torch.addmm(arm[-1], h, arm[-2].T)
    return laplace_bits(q.reshape(-1), o[:, 0], o[:, 1])


def exact_bytes(latents, weights):
    """Coded bytes of int latent grids + float weights (with their head bytes), and the dequantised weights."""
    segs, head, deq = [], 0, []
    for q in latents:
        q = q.astype(np.int64)
        m = entropy.fit_context(q)
        head += 4 * latentctx.N_CTX
        segs.append((q, m))
    for a in weights:
        e = weight_code(a)
        q = quantise_weight_coded(a, e)
        deq.append(q.astype(np.float32) * STEPS[e])
        m = entropy.fit(q)
        head += 5
        segs.append((q.ravel(), m))
    return head + len(entropy.encode_segments(segs)), deq


def qw(p):
    with torch.no_grad():
        step = float(STEPS[weight_code(p.detach().numpy())])
    return p + (torch.round(p / step) * step - p).detach()


class Level(torch.nn.Module):
    def __init__(self, factors, fan, hidden, layers, conv, convw, H, W, gain, gen, arm=0):
        super().__init__()
        self.gain = gain
        self.grids = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.zeros(math.ceil(H / (1 << f)), math.ceil(W / (1 << f)))) for f in factors])
        self.log_b = torch.nn.Parameter(torch.zeros(len(factors), latentctx.N_CTX))
        ws = []
        for i in range(layers):
            b = 1 / math.sqrt(fan)
            ws += [torch.nn.Parameter((torch.rand(hidden, fan, generator=gen) * 2 - 1) * b),
                   torch.nn.Parameter(torch.zeros(hidden))]
            fan = hidden
        ws += [torch.nn.Parameter(torch.zeros(3, hidden)), torch.nn.Parameter(torch.zeros(3))]
        self.mlp = torch.nn.ParameterList(ws)
        cs = []
        for i in range(conv):  # 3 -> convw -> 3 residual blocks, last conv zero (start as identity)
            b = 1 / math.sqrt(27)
            cs += [torch.nn.Parameter((torch.rand(convw, 3, 3, 3, generator=gen) * 2 - 1) * b),
                   torch.nn.Parameter(torch.zeros(convw)),
                   torch.nn.Parameter(torch.zeros(3, convw, 3, 3)), torch.nn.Parameter(torch.zeros(3))]
        self.conv = torch.nn.ParameterList(cs)
        self.layers = layers
        self.arm = torch.nn.ParameterList()
        if arm:
            fan = len(ARM_OFFS)
            for _ in range(2):
                self.arm += [torch.nn.Parameter((torch.rand(arm, fan, generator=gen) * 2 - 1) / math.sqrt(fan)),
                             torch.nn.Parameter(torch.zeros(arm))]
                fan = arm
            self.arm += [torch.nn.Parameter(torch.zeros(2, fan)), torch.nn.Parameter(torch.zeros(2))]

    def latents(self):
        return [g * self.gain for g in self.grids]

    def weights(self):
        return list(self.mlp) + list(self.conv)


def softround(x, t):
    """floor(x) + 1/2 + tanh((frac(x) - 1/2) / t) / (2 tanh(1 / 2t)): round(x) as t -> 0, x as t grows."""
    f = torch.floor(x)
    return f + 0.5 * torch.tanh((x - f - 0.5) / t) / math.tanh(1 / (2 * t)) + 0.5


def run_level(lv, feats_prev, base, target, mode, crop=None, hard_w=False, soft=None):
    """feats_prev (C, H, W) upsampled earlier grids, base (3, H, W) previous display. mode: 'noise'|'hard'|'eval';
    soft: (temperature, noise sd) to soft-round in 'noise' mode instead of adding uniform noise."""
    H, W = target.shape[1:]
    qs = []
    for g in lv.latents():
        if mode == "noise" and soft is not None:  # C3's soft rounding: softround(softround(x) + noise)
            t, sd = soft
            qs.append(softround(softround(g, t) + sd * torch.randn_like(g), t))
        elif mode == "noise":
            qs.append(g + (torch.rand_like(g) - 0.5))
        else:
            qs.append(g + (torch.round(g) - g).detach())
    ups = [up(q, H, W) for q in qs]
    feats = torch.cat([feats_prev] + [u[None] for u in ups], 0)
    ws = lv.weights()
    if hard_w:
        ws = [qw(p) for p in ws]
    x, b = feats, base
    if crop is not None:
        y0, x0, P = crop
        pad = len(lv.conv) // 4 * 2
        ya, yb = max(0, y0 - pad), min(H, y0 + P + pad)
        xa, xb = max(0, x0 - pad), min(W, x0 + P + pad)
        x, b = x[:, ya:yb, xa:xb], b[:, ya:yb, xa:xb]
    C, h, w = x.shape
    a = x.reshape(C, -1).T
    for i in range(lv.layers):
        a = torch.relu(torch.addmm(ws[2 * i + 1], a, ws[2 * i].T))
    r = torch.addmm(ws[2 * lv.layers + 1], a, ws[2 * lv.layers].T).T.reshape(3, h, w)
    y = b + r
    cw = ws[2 * lv.layers + 2:]
    for i in range(0, len(cw), 4):
        t = torch.relu(F.conv2d(F.pad(y[None], (1, 1, 1, 1), mode="replicate"), cw[i], cw[i + 1]))
        y = y + F.conv2d(F.pad(t, (1, 1, 1, 1), mode="replicate"), cw[i + 2], cw[i + 3])[0]
    if crop is not None:
        y = y[:, y0 - ya:y0 - ya + P, x0 - xa:x0 - xa + P]
    return y, qs, feats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--levels", default="6.5.4:12,3:8,2:8")
    ap.add_argument("--lams", default=".02,.02,.15")
    ap.add_argument("--steps", default="600")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--conv", type=int, default=0)
    ap.add_argument("--convw", type=int, default=8)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--patch", type=int, default=0)
    ap.add_argument("--gain", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--ste", type=float, default=0.2)
    ap.add_argument("--head", type=int, default=300, help="header bytes added before comparing with JPEG / WebP")
    ap.add_argument("--arm", type=int, default=0, help="train with a learned context model of this width "
                    "(rate = its ideal code length; not in the format)")
    ap.add_argument("--arm-shared", action="store_true", help="one ARM, trained with level 1, frozen and reused")
    ap.add_argument("--save", help="write every level's rounded latent grids to this .npz (for arm_estimate.py)")
    ap.add_argument("--quant", default="noise", help="noise (uniform, then straight-through) | softround "
                    "(C3 / Cool-chic: softround(softround(x, T) + N(0, sd)), T 0.35 -> 0.08, sd 0.22 -> 0.15, "
                    "then straight-through)")
    ap.add_argument("--up", default="bilinear", help="bilinear | bicubic (bicubic: not in the format)")
    a = ap.parse_args()
    global UP
    UP = a.up
    img = Image.open(a.image).convert("RGB")
    if a.scale > 1:
        img = img.resize((img.width // a.scale, img.height // a.scale), Image.LANCZOS)
    arr = np.asarray(img)
    H, W, _ = arr.shape
    target = torch.tensor(arr.astype(np.float32) / 127.5 - 1).permute(2, 0, 1).contiguous()
    grids, hidden = parse_grid_levels(a.levels)
    lams = [float(x) for x in a.lams.split(",")]
    steps = [int(x) for x in a.steps.split(",")]
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    feats = torch.zeros(0, H, W)
    base = torch.zeros(3, H, W)
    total, t_all = 0, time.process_time()
    saved = {}
    N = H * W
    for k, (fs, hd) in enumerate(zip(grids, hidden), 1):
        lam = lams[min(k - 1, len(lams) - 1)]
        n = steps[min(k - 1, len(steps) - 1)]
        lv = Level(fs, feats.shape[0] + len(fs), hd, a.layers, a.conv, a.convw, H, W, a.gain, gen,
                   a.arm if (k == 1 or not a.arm_shared) else 0)
        if a.arm_shared and k > 1:  # level 1's ARM, frozen: later levels code under it and do not resend it
            lv.arm = shared_arm
        params = list(lv.parameters())
        opt = torch.optim.Adam(params, lr=a.lr)
        t0 = time.process_time()
        for s in range(n):
            frac = s / n
            for gr in opt.param_groups:
                gr["lr"] = a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
            hard = frac >= 1 - a.ste
            soft = None
            if a.quant == "softround":
                u = min(1.0, frac / (1 - a.ste))
                soft = (0.35 + (0.08 - 0.35) * u, 0.22 + (0.15 - 0.22) * u)
            crop = None
            if a.patch and a.patch < min(H, W):
                crop = (int(torch.randint(H - a.patch + 1, (1,))), int(torch.randint(W - a.patch + 1, (1,))), a.patch)
            y, qs, _ = run_level(lv, feats, base, target, "hard" if hard else "noise", crop, hard_w=hard, soft=soft)
            t = target if crop is None else target[:, crop[0]:crop[0] + a.patch, crop[1]:crop[1] + a.patch]
            mse = torch.mean((y - t) ** 2)
            if a.arm:
                bits = sum(arm_bits(q, list(lv.arm)) for q in qs)
            else:
                bits = sum(context_bits(q, lb) for q, lb in zip(qs, lv.log_b))
            loss = mse + lam * bits / N
            opt.zero_grad()
            loss.backward()
            opt.step()
        # quantise, count bytes exactly, evaluate
        with torch.no_grad():
            lat = [np.rint(g.detach().numpy()).astype(np.int64) for g in lv.latents()]
            nb, deq = exact_bytes(lat, [p.detach().numpy() for p in lv.weights()])
            if a.arm:  # latents at the ARM's ideal code length instead of grid-ctx; its weights coded as weights
                ctx_lat, _ = exact_bytes(lat, [])
                arm_w, deq_arm = exact_bytes([], [p.detach().numpy() for p in lv.arm])
                if a.arm_shared and k > 1:
                    arm_w = 0
                else:
                    for p_, d_ in zip(lv.arm, deq_arm):
                        p_.copy_(torch.tensor(d_))
                arm_lat = sum(float(arm_bits(torch.tensor(q, dtype=torch.float32), list(lv.arm))) for q in lat) / 8
                print(f"  ARM: latents {arm_lat:.0f} B (+ {arm_w} B of ARM weights) instead of grid-ctx {ctx_lat} B")
                nb = nb - ctx_lat + int(arm_lat) + arm_w
            for g, q in zip(lv.grids, lat):
                g.copy_(torch.tensor(q, dtype=torch.float32) / a.gain)
            for p, d in zip(lv.weights(), deq):
                p.copy_(torch.tensor(d))
            y, _, feats = run_level(lv, feats, base, target, "eval")
            base = y
            out = np.clip(np.rint((y.permute(1, 2, 0).numpy() + 1) * 127.5), 0, 255)
            p = 10 * math.log10(255 ** 2 / np.mean((out - arr) ** 2))
        total += nb
        if a.arm_shared and k == 1:
            shared_arm = lv.arm
            for p_ in shared_arm:
                p_.requires_grad_(False)
        saved.update({f"L{k}_g{j}": q for j, q in enumerate(lat)})
        nz = [int((q != 0).sum()) for q in lat]
        jp = jpeg_prefix(arr, [total + a.head])[0]
        wp = webp_at(arr, total + a.head)
        print(f"L{k} grids {fs} w{hd}: {nb} B (cum {total}) PSNR {p:.2f} jpeg {jp:.2f} webp {wp} nz {nz} "
              f"cpu {time.process_time() - t0:.0f}s", flush=True)
    print(f"TOTAL {total} B cpu {time.process_time() - t_all:.0f}s")
    if a.save:
        np.savez_compressed(a.save, **saved)


if __name__ == "__main__":
    main()
