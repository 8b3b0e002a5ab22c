"""What one training step computes: the objectives behind the single trainer.

`Autograd` serves every mode (slimmable: the loss summed over all widths, one
update; individual and progressive: one level). `CachedLevel` is the progressive
fast path: during stage k the frozen units never change, so their activations
on every training sample are computed once, kept in one row-major table, and a
step gathers a batch of rows and runs forward and backward by hand for the new
units only (no autograd graph, no per-step allocation).
"""
from __future__ import annotations

import math

import torch

from snf.encode.model import BlockSiren

HALF_PI = math.pi / 2
# targets for rows a stage fits outside its own region (`Preset.unrevealed_fill`,
# `Preset.individual_fill`), on the values' [-1, 1] scale: "zero" is mid grey; "black" is
# the seed code's zero fill, which it applies on a [0, 1] scale ("signal": the true values)
FILLS = {"zero": 0.0, "black": -1.0}


def filled_target(values: torch.Tensor, lo: int, hi: int, fill: str) -> torch.Tensor:
    """`values` with every row outside lo..hi replaced by the fill (a copy; "signal": `values`)."""
    if fill == "signal":
        return values
    out = torch.full_like(values, FILLS[fill])
    out[lo:hi] = values[lo:hi]
    return out


class Autograd:
    """Mean-squared error of the listed levels, summed, through autograd."""

    def __init__(self, model: BlockSiren, levels: list, coords: torch.Tensor, values: torch.Tensor):
        self.model, self.levels = model, levels
        self.coords, self.values = coords, values
        self.params = [p for k in self._trained(levels) for p in model.levels[k - 1]]

    def _trained(self, levels: list) -> list:
        return self.model.arch.trained_levels(levels, self.model.grown)

    def step(self, idx: torch.Tensor | None) -> float:
        x = self.coords if idx is None else self.coords.index_select(0, idx)
        t = self.values if idx is None else self.values.index_select(0, idx)
        loss = sum(torch.nn.functional.mse_loss(self.model(x, k), t) for k in self.levels)
        for p in self.params:
            p.grad = None
        loss.backward()
        return float(loss.detach()) / len(self.levels)

    def close(self) -> None:
        pass


class Window:
    """A batch that is `size` consecutive rows of the tables from row `start` (wrapping).

    Why: gathering a random batch's rows of the cached tables (16,384 rows of up to 600
    bytes) took a quarter of a step's CPU time at level 4. When the tables are stored in
    `sweep_order`, any run of consecutive rows is a stratified batch already, so a step
    reads its rows in place: no gather, no copy."""

    def __init__(self, start: int, size: int):
        self.start, self.size = int(start), int(size)

    def rows(self, tables: list):
        """The batch as views of the tables, or None when it wraps past the last row."""
        end = self.start + self.size
        if end > tables[0].shape[0]:
            return None
        return [t[self.start:end] for t in tables]

    def indices(self, n: int, device) -> torch.Tensor:
        return (torch.arange(self.start, self.start + self.size, device=device) % n)


def sweep_order(n: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """A permutation of n rows under which every run of `batch` consecutive entries holds
    one row of each of `batch` equal runs of the original rows (the strata of stratified
    sampling): sweep s lists, stratum by stratum, each stratum's s-th row in a random order
    of its rows. Tables stored in this order give a stratified batch as a `Window`."""
    batch = max(1, min(int(batch), n))
    stratum = torch.arange(n, dtype=torch.float64).mul_(batch / n).long().clamp_(max=batch - 1)
    shuffled = torch.randperm(n, generator=gen)
    by_stratum = shuffled[torch.argsort(stratum[shuffled], stable=True)]  # strata in order, rows shuffled
    starts = torch.searchsorted(stratum, torch.arange(batch))
    rank = torch.arange(n) - starts[stratum[by_stratum]]
    return by_stratum[torch.argsort(rank * batch + stratum[by_stratum], stable=True)]


class CachedLevel:
    """Progressive stage k with the frozen levels' activations cached per sample.

    The cache is a list of row-major tables: ``head`` = [x | target | frozen
    output], then one table per sine layer i < L-1 holding [frozen units | room
    for level k's units]. A step gathers the batch's rows of each (sorted
    indices, so the gather streams), writes the new units into the room, and so
    every layer's whole input is one contiguous matrix: one GEMM forward, one for
    the weight gradient.
    """

    def __init__(self, model: BlockSiren, k: int, tables: list, batch: int, rows: int | None = None,
                 outside: tuple | None = None):
        arch = model.arch
        self.model, self.k, self.tables = model, k, tables
        # rows 0..active train this stage (spatial/temporal growth: the revealed regions);
        # the tables hold every row, so the next stage's extension covers them all
        self.active = tables[0].shape[0] if rows is None else rows
        # (weight, fill): rows past `active` (not yet revealed) that a batch draws count with
        # this weight against fill targets ("signal": the true values, else `FILLS`), so the
        # frozen units extend sensibly into the regions later levels reveal (see `Outside`)
        self.outside = outside if outside is not None and self.active < self.rows else None
        self.a, self.b = arch.span(k)
        self.n = self.b - self.a
        self.L, self.w0 = arch.layers, float(arch.w0)
        self.di, self.do = arch.d_in, arch.d_out
        self.params = list(model.levels[k - 1])
        for p in self.params:
            p.grad = torch.zeros_like(p)
        self.B = 0
        self._alloc(batch)

    @property
    def rows(self) -> int:
        return self.tables[0].shape[0]

    def _alloc(self, B: int) -> None:
        self.B, dev = B, self.tables[0].device
        shapes = [(B, t.shape[1]) for t in self.tables] + [(B, self.n)] * (self.L + 3) + [(B, self.do)]
        bufs = staggered(shapes, dev)
        self.G = bufs[:len(self.tables)]
        self.z = bufs[len(self.tables):len(self.tables) + self.L]
        self.h, self.dh, self.dz, self.r = bufs[-4:]

    def _in(self, G: list, i: int) -> torch.Tensor:
        """Full input of sine layer i: the coordinates, or all units of layer i-1."""
        return G[0][:, :self.di] if i == 0 else G[i]

    def forward(self, G: list) -> torch.Tensor:
        """Fill batch rows G (gathered, or slices of the tables) with the new units'
        activations, in place; return the level's output for those rows."""
        P, B = self.params, G[0].shape[0]
        h = self.h[:B]
        for i in range(self.L):
            z = self.z[i][:B]
            torch.addmm(P[2 * i + 1], self._in(G, i), P[2 * i].T, out=z)
            z.mul_(self.w0)
            torch.sin(z, out=h)  # contiguous: a strided sin is several times slower
            if i < self.L - 1:
                G[i + 1][:, self.a:].copy_(h)
        y = G[0][:, self.di + self.do:]
        out = torch.addmm(y, h, P[2 * self.L].T)
        return out.add_(P[2 * self.L + 1]) if self.k == 1 else out

    @torch.no_grad()
    def step(self, idx: torch.Tensor | None) -> float:
        """One batch (sorted row indices, or None for every active row): loss, grads filled."""
        if isinstance(idx, Window):
            G = idx.rows(self.tables)
            if G is None:  # the window wraps past the last row: gather it
                return self.step(idx.indices(self.rows, self.tables[0].device))
            B = G[0].shape[0]
            if B > self.B:
                self._alloc(B)
            return self._fit(G, None)
        B = self.active if idx is None else idx.numel()
        if B > self.B:
            self._alloc(B)
        G = [g[:B] for g in self.G]
        for g, t in zip(G, self.tables):
            if idx is None:
                g.copy_(t[:B])
            else:
                torch.index_select(t, 0, idx, out=g)
        return self._fit(G, idx)

    def _fit(self, G: list, idx) -> float:
        """Loss of the batch rows G (their new units' columns are scratch), grads filled."""
        B = G[0].shape[0]
        y = self.forward(G)
        r = self.r[:B]
        torch.sub(y, G[0][:, self.di:self.di + self.do], out=r)
        n_in = B if idx is None or self.outside is None else int(torch.searchsorted(idx, self.active))
        if n_in == B:
            loss = float(r.pow(2).mean())
            r.mul_(2.0 / r.numel())
        else:  # mean squared error over the revealed rows + weight x that over the others
            weight, fill = self.outside
            if fill != "signal":
                torch.sub(y[n_in:], FILLS[fill], out=r[n_in:])
            loss = float(r[:n_in].pow(2).mean())
            r[:n_in].mul_(2.0 / (n_in * self.do))
            r[n_in:].mul_(2.0 * weight / ((B - n_in) * self.do))
        self._backward(G, r)
        return loss

    def _backward(self, G: list, r: torch.Tensor) -> None:
        P, B, j = self.params, r.shape[0], 2 * self.L
        torch.mm(r.T, self.h[:B], out=P[j].grad)
        if self.k == 1:
            torch.sum(r, 0, out=P[j + 1].grad)
        dh, dz = self.dh[:B], self.dz[:B]
        torch.mm(r, P[j], out=dh)
        for i in range(self.L - 1, -1, -1):
            # cos(z) as sin(z + pi/2): torch's cos ran 5x slower than sin in some processes here
            torch.add(self.z[i][:B], HALF_PI, out=dz)
            torch.sin(dz, out=dz)
            dz.mul_(dh).mul_(self.w0)
            torch.mm(dz.T, self._in(G, i), out=P[2 * i].grad)
            torch.sum(dz, 0, out=P[2 * i + 1].grad)
            if i > 0:
                torch.mm(dz, P[2 * i][:, self.a:], out=dh)

    @torch.no_grad()
    def refit_output(self, ridge: float = 1e-6) -> None:
        """Solve level k's output columns (and, at level 1, the output bias) by least
        squares on every sample: the output layer is linear, so given the hidden
        weights this is the exact optimum that Adam only approaches."""
        k, n, lead = self.k, self.n, self.di + self.do
        m = n + (1 if k == 1 else 0)
        A = torch.zeros(m, m, dtype=torch.float64, device=self.tables[0].device)
        rhs = torch.zeros(m, self.do, dtype=torch.float64, device=A.device)
        # the same objective as the steps: revealed rows, and the others at their weight
        parts = [(0, self.active, 1.0 / self.active, None)]  # (rows, weight, fill value: None, the signal)
        if self.outside is not None:
            weight, fill = self.outside
            parts.append((self.active, self.rows, weight / (self.rows - self.active), FILLS.get(fill)))
        for lo, hi, wt, fill in parts:
            for s in range(lo, hi, self.B):
                G = [t[s:min(s + self.B, hi)] for t in self.tables]
                self.forward(G)
                H = self.h[:G[0].shape[0]].double()
                if k == 1:
                    H = torch.cat([H, torch.ones_like(H[:, :1])], 1)
                target = G[0][:, self.di:lead] if fill is None else torch.full_like(G[0][:, lead:], fill)
                resid = (target - G[0][:, lead:]).double()
                A += wt * (H.T @ H)
                rhs += wt * (H.T @ resid)
        A += ridge * torch.trace(A) / m * torch.eye(m, dtype=A.dtype, device=A.device)
        sol = torch.linalg.solve(A, rhs)
        self.params[2 * self.L].copy_(sol[:n].T)
        if k == 1:
            self.params[2 * self.L + 1].copy_(sol[n])

    @torch.no_grad()
    def extend(self) -> list:
        """The tables for stage k+1: this level's (now final) units join the frozen ones."""
        arch, N = self.model.arch, self.rows
        b2 = arch.widths[self.k]
        dev = self.tables[0].device
        nxt = [self.tables[0].clone()] + [torch.empty(N, b2, device=dev) for _ in range(self.L - 1)]
        for s in range(0, N, self.B):
            G = [t[s:s + self.B] for t in self.tables]
            y = self.forward(G)
            nxt[0][s:s + self.B, self.di + self.do:] = y
            for i in range(1, self.L):
                nxt[i][s:s + self.B, :self.b] = G[i]
        return nxt

    def close(self) -> None:
        for p in self.params:
            p.grad = None


def staggered(shapes: list, device, stride: int = 16 + 1024) -> list:
    """Work buffers carved from one block, each start shifted by a different amount.

    Separately allocated large buffers all begin at the same offset within a page,
    so an elementwise op that reads one and writes another hits 4K aliasing and
    cache-set conflicts; on this machine that made some runs 1.8x slower per step.
    """
    sizes = [a * b for a, b in shapes]
    flat = torch.empty(sum(sizes) + stride * len(shapes), device=device)
    out, pos = [], 0
    for j, ((a, b), n) in enumerate(zip(shapes, sizes)):
        pos += (j * stride) % 1024 + 16  # distinct offsets modulo 4 KiB
        out.append(flat[pos:pos + n].view(a, b))
        pos += n
    return out


def initial_tables(arch, coords: torch.Tensor, values: torch.Tensor) -> list:
    """Stage 1's tables: coordinates, targets, a zero frozen output; room for level 1."""
    N, dev = coords.shape[0], coords.device
    head = torch.zeros(N, arch.d_in + 2 * arch.d_out, device=dev)
    head[:, :arch.d_in] = coords
    head[:, arch.d_in:arch.d_in + arch.d_out] = values
    return [head] + [torch.empty(N, arch.widths[0], device=dev) for _ in range(arch.layers - 1)]


def cache_bytes(arch, k: int, rows: int) -> int:
    """Memory the stage-k tables take (to fall back to autograd when too large)."""
    return 4 * rows * (arch.d_in + 2 * arch.d_out + (arch.layers - 1) * arch.widths[k - 1])


class SdfFit:
    """SIREN's signed-distance loss for the listed levels, through autograd (it needs the
    field's gradient with respect to its input, so the cached fast path does not apply).

    Each step takes a batch of oriented surface samples and as many points drawn
    uniformly in [-1, 1]^3: the field is pushed to 0 on the surface (weight 3000),
    its gradient to the surface normal there (100), its gradient norm to 1 everywhere
    (eikonal, 50), and away from 0 off the surface (100 * exp(-100 |f|)), SIREN's weights.
    """

    WEIGHTS = {"surface": 3e3, "normal": 1e2, "eikonal": 5e1, "off": 1e2}

    def __init__(self, model: BlockSiren, levels: list, points: torch.Tensor, normals: torch.Tensor,
                 gen: torch.Generator, batch: int):
        self.model, self.levels = model, levels
        self.points, self.normals, self.gen, self.batch = points, normals, gen, batch
        trained = model.arch.trained_levels(levels, model.grown)
        self.params = [p for k in trained for p in model.levels[k - 1]]

    def step(self, idx: torch.Tensor | None) -> float:
        x_on = self.points if idx is None else self.points.index_select(0, idx)
        n_on = self.normals if idx is None else self.normals.index_select(0, idx)
        m = x_on.shape[0]
        x_off = (torch.rand(m, 3, generator=self.gen) * 2 - 1).to(x_on.device)
        x = torch.cat([x_on, x_off]).requires_grad_(True)
        w, total = self.WEIGHTS, 0.0
        for p in self.params:
            p.grad = None
        for k in self.levels:
            f = self.model(x, k)
            (g,) = torch.autograd.grad(f.sum(), x, create_graph=True)
            loss = (w["surface"] * f[:m].abs().mean()
                    + w["normal"] * (1 - torch.nn.functional.cosine_similarity(g[:m], n_on, dim=1)).mean()
                    + w["eikonal"] * (g.norm(dim=1) - 1).abs().mean()
                    + w["off"] * torch.exp(-100 * f[m:].abs()).mean())
            loss.backward()
            total += float(loss.detach())
        return total / len(self.levels)

    def close(self) -> None:
        for p in self.params:
            p.grad = None
