"""Rate-distortion rounding of a level's weights (RDOQ), with second-order error feedback.

Why: the steps of a level (snf.encode.rd) fix the grid; which of the two nearest
integers each weight takes is still free, and the nearest one is not the best
trade of bytes for error. Each weight is rounded towards zero or away from it,
whichever minimises  distortion + lambda * bits,  where bits come from the
block's Laplace table (the one the coder will use) and the distortion is a
second-order proxy of the output's mean squared error, not the weight's own
error: for the rows of a layer, s_r * d^T H d, with d the row's rounding error,
H = E[x x^T] over a pixel batch of the layer's inputs (a constant 1 for the
bias) and s_r = E[(dy/dz_r)^2] the output's sensitivity to the row's
pre-activation (exact over the channels, as `rd.sensitivity` averages them).
The columns are decided in order and each decision's error is pushed onto the
columns not yet decided through the Cholesky factor of H^-1 (the optimal
compensation under the proxy, as GPTQ / optimal brain quantisation do), so a
weight whose error "barely moves" the output is rounded to the cheaper integer
and its neighbours absorb what it moved. The layers are done in order, each
seeing the inputs that the rounded layers before it give. lambda is the slope
the steps were chosen at (rd: every weight's rounding error eps * MSE / N,
dD/dR = -2 ln2 D). A block keeps plain rounding when that costs less under the
same objective, so the objective never rises.

No format change: the decoder sees integers and steps as before, and the
encoder trains the next level on exactly these integers (coded.encode_level).
Applies to the progressive layout (one row block and one bias per layer and
level); the other modes keep plain rounding.
"""
from __future__ import annotations

import numpy as np
import torch

from snf.field.arch import Arch
from snf.format import coded, entropy
from snf.format.coded import STEPS

# Level k's sample pixels come from a generator seeded seed + SAMPLE_SEED_STRIDE * k: a prime, so
# they are not the pixels rd.sensitivity probes (rd.PROBE_SEED_STRIDE); changing it changes bytes.
SAMPLE_SEED_STRIDE = 7919

DAMP = 0.01        # H += DAMP * mean(diag H) * I (as GPTQ): the batch's H is an estimate
SAMPLES = 16384    # pixel batch for H and the sensitivities


def applies(arch: Arch) -> bool:
    """Only the progressive layout: level k's rows of each layer read every unit, nothing else."""
    return not arch.rule.separate and not arch.rule.lateral and not arch.trains_jointly


def bits_table(q: np.ndarray) -> tuple:
    """(bits per symbol -amax..amax, amax) of the Laplace fitted to these integers."""
    model = entropy.fit(q)
    freq, _ = model.table()
    return -np.log2(freq / entropy.PROB_SCALE), model.amax


def round_rows(m: np.ndarray, steps: np.ndarray, tables: list, col_table: np.ndarray, h: np.ndarray,
               s: np.ndarray, lam: float) -> np.ndarray:
    """Integers for the rows of `m` (R x C, float), column after column with error feedback.

    steps: R x C; tables: [(bits, amax)]; col_table: C ints, the table of each column;
    h: C x C (E[x x^T], damped); s: R row weights; lam: MSE per bit."""
    m = m.astype(np.float64).copy()
    R, C = m.shape
    u_chol = np.linalg.cholesky(np.linalg.inv(h)).T          # upper: H^-1 = U^T U
    q = np.zeros((R, C), dtype=np.int64)
    for c in range(C):
        bits, amax = tables[col_table[c]]
        w, d, ucc = m[:, c], steps[:, c], u_chol[c, c]
        u = w / d
        lo = np.clip(np.trunc(u), -amax, amax).astype(np.int64)             # towards zero
        hi = np.clip(lo + np.sign(u).astype(np.int64), -amax, amax)         # away from zero
        cost_lo = s * (w - lo * d) ** 2 / ucc ** 2 + lam * bits[lo + amax]
        cost_hi = s * (w - hi * d) ** 2 / ucc ** 2 + lam * bits[hi + amax]
        q[:, c] = np.where(cost_hi < cost_lo, hi, lo)
        err = (w - q[:, c] * d) / ucc
        m[:, c + 1:] -= np.outer(err, u_chol[c, c + 1:])
    return q


def rd_cost(w: np.ndarray, q: np.ndarray, steps: np.ndarray, tables: list, col_table: np.ndarray,
            h: np.ndarray, s: np.ndarray, lam: float) -> float:
    """The objective `round_rows` minimises: sum_r s_r d_r^T H d_r + lam * bits."""
    d = w.astype(np.float64) - q * steps
    dist = float((s * np.einsum("rc,cd,rd->r", d, h, d)).sum())
    rate = 0.0
    for j, (bits, amax) in enumerate(tables):
        cols = col_table == j
        qq = np.clip(q[:, cols], -amax, amax)
        rate += float(np.where(np.abs(q[:, cols]) > amax, np.inf, bits[qq + amax]).sum())
    return dist + lam * rate


def damped(x: np.ndarray) -> np.ndarray:
    h = x.T @ x / x.shape[0]
    return h + DAMP * max(float(np.mean(np.diag(h))), 1e-12) * np.eye(h.shape[0])


class LevelRounder:
    """RDOQ for level k of a progressive SIREN whose level k holds its trained floats.

    `hidden()` rounds the sine layers (and writes the rounded values into the model,
    layer after layer); `output()` then rounds the output columns (and level 1's
    output bias) as the model holds them (after the encoder's refit). `ints` and
    `codes` are per block, in `arch.blocks(k)` order, for `coded.encode_level`."""

    def __init__(self, model, k: int, codes: list, coords, values, eps: float, seed: int = 0,
                 samples: int = SAMPLES, lam_scale: float = 1.0, feedback: bool = True):
        self.model, self.k, self.arch = model, k, model.arch
        self.blocks = self.arch.blocks(k)
        self.codes = [np.asarray(c, dtype=np.uint8).reshape(-1) for c in codes]
        self.ints = [None] * len(self.blocks)
        self.index = {b.tensor: j for j, b in enumerate(self.blocks)}
        gen = torch.Generator().manual_seed(seed + SAMPLE_SEED_STRIDE * k)
        n = coords.shape[0]
        idx = torch.randperm(n, generator=gen)[:min(samples, n)]
        dev = next(model.parameters()).device
        self.x = torch.as_tensor(coords, dtype=torch.float32)[idx].to(dev)
        y = torch.as_tensor(values, dtype=torch.float32)[idx].to(dev)
        self.s, mse = self._sensitivities(y)
        self.lam = lam_scale * 2.0 * np.log(2) * eps * max(mse, 1e-12) / self.arch.level_params(k)
        self.feedback = feedback  # False: H's diagonal only (no error feedback; for benches)
        self.cost = {}  # tensor -> (plain, rdoq) objective, for benches

    @torch.no_grad()
    def _inputs(self, i: int) -> torch.Tensor:
        """The inputs of sine layer i (i = layers: the output layer) under the model as it is now."""
        t, w0 = self.model.dense(self.k), float(self.arch.w0)
        h = self.x
        for j in range(i):
            h = torch.sin(w0 * torch.addmm(t[f"l{j}.b"], h, t[f"l{j}.w"].T))
        return h

    def _sensitivities(self, y: torch.Tensor) -> tuple:
        """Per sine layer: E over the batch and channels of (dy_c/dz_r)^2 for level k's rows; float MSE."""
        arch, (a, b) = self.arch, self.arch.span(self.k)
        with torch.no_grad():
            t = {name: p.detach() for name, p in self.model.dense(self.k).items()}
        with torch.enable_grad():
            h, zs = self.x, []
            for i in range(arch.layers):
                z = torch.addmm(t[f"l{i}.b"], h, t[f"l{i}.w"].T)
                if not z.requires_grad:
                    z.requires_grad_(True)
                zs.append(z)
                h = torch.sin(float(arch.w0) * z)
            out = torch.addmm(t["out.b"], h, t["out.w"].T)
            s = [np.zeros(b - a) for _ in zs]
            for c in range(arch.d_out):
                grads = torch.autograd.grad(out[:, c].sum(), zs, retain_graph=c < arch.d_out - 1)
                for i, g in enumerate(grads):
                    s[i] += (g[:, a:b].double() ** 2).mean(0).cpu().numpy() / arch.d_out
        mse = float(((out.detach() - y) ** 2).mean())
        return s, mse

    def _round(self, names: list, x: torch.Tensor, s: np.ndarray) -> None:
        """Round blocks `names` (a matrix, then optionally its bias) that share rows and read `x`."""
        params = self.model.levels[self.k - 1]
        js = [self.index[n] for n in names]
        mats, steps, col_table, tables, plain = [], [], [], [], []
        for t_i, j in enumerate(js):
            blk = self.blocks[j]
            w = params[j].detach().cpu().numpy().astype(np.float32)
            q0, codes, _ = coded.quantise_block(w, blk, self.codes[j])
            self.codes[j] = codes
            w2 = w.reshape(blk.shape[0], -1)
            st = np.broadcast_to(STEPS[codes].astype(np.float64)[:, None] if codes.size > 1
                                 else np.float64(STEPS[codes[0]]), w2.shape)
            mats.append(w2)
            steps.append(st)
            plain.append(q0.reshape(w2.shape))
            col_table += [t_i] * w2.shape[1]
            tables.append(bits_table(q0))
        m, st, q0 = np.hstack(mats), np.hstack(steps), np.hstack(plain)
        col_table = np.asarray(col_table)
        xs = x.double().cpu().numpy()
        if len(js) > 1:  # the bias reads a constant 1
            xs = np.hstack([xs, np.ones((xs.shape[0], 1))])
        h = damped(xs)
        q = round_rows(m, st, tables, col_table, h if self.feedback else np.diag(np.diag(h)), s, self.lam)
        before, after = (rd_cost(m, qq, st, tables, col_table, h, s, self.lam) for qq in (q0, q))
        self.cost[names[0]] = (before, after)
        if after > before:  # never worse than plain rounding under the objective
            q = q0
        pos = 0
        with torch.no_grad():
            for j in js:
                blk = self.blocks[j]
                n = blk.shape[1] if len(blk.shape) > 1 else 1
                qj = q[:, pos:pos + n].reshape(blk.shape)
                pos += n
                self.ints[j] = qj
                deq = (qj.astype(np.float32).reshape(self.codes[j].size, -1) * STEPS[self.codes[j]][:, None])
                params[j].copy_(torch.as_tensor(deq.reshape(blk.shape), device=params[j].device))

    def hidden(self) -> list:
        """Round every sine layer's level-k rows and biases; the model then holds them rounded."""
        for i in range(self.arch.layers):
            self._round([f"l{i}.w", f"l{i}.b"], self._inputs(i), self.s[i])
        return self.ints

    def output(self) -> list:
        """Round level k's output columns (and level 1's output bias) as the model holds them."""
        a, b = self.arch.span(self.k)
        x = self._inputs(self.arch.layers)[:, a:b]
        s = np.full(self.arch.d_out, 1.0 / self.arch.d_out)  # the output is the channels' mean MSE
        self._round(["out.w", "out.b"] if self.k == 1 else ["out.w"], x, s)
        return self.ints
