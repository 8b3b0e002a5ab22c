"""The growing SIREN: growth, freezing, the fast path's gradients, slimmable accumulation."""
import numpy as np
import pytest
import torch

from snf.field.arch import Arch
from snf.encode.model import BlockSiren
from snf.decode import render
from snf.decode.render import Network, grid
from snf.encode.stage import Autograd, CachedLevel, initial_tables
from snf.encode.train import PRESETS, Budget, Trainer


def grown(arch, levels, seed=0):
    m, g = BlockSiren(arch), torch.Generator().manual_seed(seed)
    for _ in range(levels):
        m.grow(g)
    return m, g


def coords(n=300, d=2, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_dense_layout_matches_blocks():
    arch = Arch((3, 7, 12), layers=4)
    m, _ = grown(arch, 3)
    t = m.dense(3)
    W = t["l2.w"].detach()
    assert W.shape == (12, 12)
    assert torch.all(W[0:3, 3:] == 0) and torch.all(W[3:7, 7:] == 0)  # earlier units never read later ones
    assert sum(p.numel() for p in m.parameters()) == arch.params(3)


@pytest.mark.parametrize("init", ["siren", "zero-out"])
def test_growth_keeps_earlier_levels_and_inits_as_the_paper(init):
    arch = Arch((6, 14, 20), layers=4, init=init)
    m, g = grown(arch, 1)
    x = coords()
    before = m(x, 1).detach()
    m.grow(g)
    assert torch.equal(m(x, 1).detach(), before)
    blocks = dict(zip([b.tensor for b in arch.blocks(2)], m.levels[1]))
    assert torch.all(blocks["l2.w"][:, 6:] == 0) and torch.any(blocks["l2.w"][:, :6] != 0)  # new->new zero
    if init == "zero-out":
        assert torch.all(blocks["out.w"] == 0)
        assert torch.allclose(m(x, 2).detach(), before, atol=1e-6)  # starts at the smaller network
    else:
        assert torch.any(blocks["out.w"] != 0)


def test_cached_fast_path_gradients_equal_autograd():
    arch = Arch((8, 16, 24), layers=4)
    m, g = grown(arch, 0)
    x, t = coords(200), torch.rand(200, 3) * 2 - 1
    tables = initial_tables(arch, x, t)
    idx = torch.arange(0, 200, 3)
    for k in (1, 2, 3):
        m.grow(g)
        for j in range(1, k):
            m.freeze(j)
        fast = CachedLevel(m, k, tables, 64)
        loss = fast.step(idx)
        grads = [p.grad.clone() for p in fast.params]
        fast.close()
        slow = Autograd(m, [k], x, t)
        assert slow.step(idx) == pytest.approx(loss, rel=1e-5)
        for a, p in zip(grads, slow.params):
            assert torch.allclose(a, p.grad, atol=1e-6, rtol=1e-4)
        if k < 3:
            tables = CachedLevel(m, k, tables, 64).extend()


def test_slimmable_step_accumulates_every_width():
    arch = Arch((4, 8, 12), layers=3, mode="slimmable")
    m, _ = grown(arch, 3)
    x, t = coords(100), torch.rand(100, 3)
    Autograd(m, [1, 2, 3], x, t).step(None)
    total = [p.grad.clone() for p in m.parameters()]
    expect = [torch.zeros_like(p) for p in m.parameters()]
    for k in (1, 2, 3):
        m.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(m(x, k), t).backward()
        expect = [e + (p.grad if p.grad is not None else 0) for e, p in zip(expect, m.parameters())]
    for a, b in zip(total, expect):
        assert torch.allclose(a, b, atol=1e-7)
    # the widest level's own blocks only get the widest loss; level-1 blocks get all three
    assert all(p.grad is not None for p in m.levels[0])


KERNELS = ["numpy"] + (["c"] if render._fast is not None else [])


@pytest.mark.parametrize("kernel", KERNELS)
def test_numpy_decoder_matches_torch_model(kernel):
    for mode in ("progressive", "slimmable", "individual"):
        arch = Arch((5, 11, 17), layers=4, mode=mode)
        m, _ = grown(arch, 3, seed=3)
        xy = grid((23, 19))
        levels = [m.level_tensors(k) for k in (1, 2, 3)]
        for k in (1, 2, 3):
            ref = m(torch.from_numpy(xy), k).detach().numpy()
            net = Network(arch, levels, k)
            net.fused = kernel == "c"
            got = net(xy)
            assert np.abs(ref - got).max() < 1e-5, mode


@pytest.mark.skipif(render._fast is None, reason="C kernel not built")
def test_c_kernel_matches_numpy_at_paper_width():
    arch = Arch((30, 69, 110, 151))
    m, _ = grown(arch, 4, seed=4)
    levels = [m.level_tensors(k) for k in (1, 2, 3, 4)]
    for k in (1, 4):
        net = Network(arch, levels, k)
        fused = net.grid((97, 13))
        net.fused = False
        assert np.abs(fused - net.grid((97, 13))).max() < 1e-5
    B = render._fast.BLOCK
    n = 2 * B - 5  # the last block is partial: padded inside the kernel, never written past n
    x, W = np.zeros((n, 2), np.float32), np.zeros((4, 3), np.float32)
    y = np.full((n + 1, 3), 7.0, np.float32)
    fwd = render._fast.forward
    fwd([(0, 4, 3, True, W), (-1, 3, 5, False, np.ones((3, 5), np.float32))], 2, 3, 5, x, y, n, 0, 2)
    assert (y[:n] == 1.0).all() and (y[n] == 7.0).all()  # bias 1 on each output; the row past n untouched
    with pytest.raises(ValueError):
        fwd([(0, 4, 3, True, W)], 2, 3, 5, x, y, n, 0, 3)  # more blocks than n samples fill
    with pytest.raises(ValueError):
        fwd([(0, 4, 3, True, W)], 2, 3, 5, x, y, n + 40, 0, 2)  # n larger than x holds
    with pytest.raises(ValueError):
        fwd([(0, 4, 6, True, np.zeros((4, 6), np.float32))], 2, 3, 5, x, y, n, 0, 2)  # reads past the rows
    with pytest.raises(ValueError):
        fwd([(0, 4, 3, True, W[:2])], 2, 3, 5, x, y, n, 0, 2)  # weights shorter than n x K
    with pytest.raises(ValueError):
        fwd([(2, 4, 3, True, W)], 2, 3, 5, x, y, n, 0, 2)  # writes past the rows


def test_progressive_stage_leaves_earlier_levels_bit_identical(tiny_image):
    from snf.signals.image import image_samples
    arch = Arch((6, 12, 18), layers=3)
    x, v = image_samples(tiny_image)
    trainer = Trainer(arch, x, v, PRESETS["fast"], Budget(steps=[15, 15, 15]), seed=0)
    snaps = {}

    def on_end(levels, model, refit):
        k = levels[-1]
        for j in range(1, k):
            assert all(np.array_equal(a, b) for a, b in zip(snaps[j], model.level_tensors(j))), f"level {j} moved"
        snaps[k] = model.level_tensors(k)

    trainer.run(on_end)
    assert set(snaps) == {1, 2, 3}


def test_short_fit_gains_with_every_level(tiny_encoded):
    psnrs = [lv["psnr"] for lv in tiny_encoded["levels"]]
    assert psnrs[0] > 22 and all(b > a + 1.0 for a, b in zip(psnrs, psnrs[1:])), psnrs


def test_1d_levels_add_higher_frequencies():
    """The seed's 1D check: 10 sines (k = 5..50), widths 10/20/30/40, Adam 1e-4, 150 steps a level."""
    from snf.signals.image import sines_1d
    from snf.encode.train import Preset
    x, y = sines_1d(1024, seed=0)
    arch = Arch((10, 20, 30, 40), layers=3, d_in=1, d_out=1)
    preset = Preset("seed-1d", None, 1e-4, "constant", (150,), (1.0,))
    model = Trainer(arch, x, y, preset, Budget(steps=[150] * 4), seed=0).run(lambda levels, m, refit: None)
    freq = np.fft.rfftfreq(len(x), d=2 / len(x))  # sin(pi k x) sits at k/2 cycles per unit
    high = (freq >= 15) & (freq <= 26)           # k = 30..50
    bands = []
    for k in range(1, 5):
        err = model(torch.from_numpy(x), k).detach().numpy()[:, 0] - y[:, 0]
        bands.append(np.abs(np.fft.rfft(err))[high].sum())
    assert all(b < a for a, b in zip(bands, bands[1:])), bands
    assert bands[-1] < 0.6 * bands[0], bands


def test_grid_rendering_equals_explicit_coordinates():
    arch = Arch((5, 11), layers=3)
    m, _ = grown(arch, 2, seed=5)
    net = Network(arch, [m.level_tensors(1), m.level_tensors(2)], 2)
    for size in [(37, 23), (1, 5), (800, 3)]:
        assert np.array_equal(net.grid(size), net(grid(size))), size


def test_batches_uniform_and_stratified():
    from snf.encode.train import Preset
    x, v = np.zeros((1000, 2), np.float32), np.zeros((1000, 3), np.float32)
    arch = Arch((4, 8))
    preset = Preset("t", 100, 1e-3, "cosine", (1,), (1.0,), sampling=("uniform", "stratified"))
    tr = Trainer(arch, x, v, preset, Budget(steps=[1, 1]))
    tr._level = 1
    uni = tr._indices()
    assert uni.numel() == 100 and torch.all(uni[1:] >= uni[:-1])
    tr._level = 2
    strat = tr._indices()
    assert torch.equal(strat // 10, torch.arange(100))  # exactly one row from each run of 10


@pytest.mark.parametrize("n,batch", [(1000, 100), (1037, 100), (64, 64), (10, 3)])
def test_sweep_order_makes_every_run_of_rows_a_stratified_batch(n, batch):
    from snf.encode.stage import sweep_order
    order = sweep_order(n, batch, torch.Generator().manual_seed(3))
    assert torch.equal(order.sort().values, torch.arange(n))  # a permutation
    stratum = (order.double() * (batch / n)).long()  # the run of rows each entry comes from
    for start in range(0, n - batch + 1, max(1, (n - batch) // 17)):
        got = stratum[start:start + batch].sort().values
        if n % batch == 0:  # equal strata: exactly one row of each
            assert torch.equal(got, torch.arange(batch)), start
        else:  # unequal strata (sizes differ by one): a run spans at most two sweeps
            assert int(torch.bincount(got).max()) <= 2, start


def test_window_step_equals_the_gathered_step_on_the_same_rows():
    """A Window reads its rows of the cached tables in place; the loss and the gradients
    are those of gathering the same rows (also when the window wraps past the last row)."""
    from snf.encode.stage import CachedLevel, Window, initial_tables
    arch = Arch((6, 13, 19), layers=3)
    m, _ = grown(arch, 1, seed=2)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(300, 2, generator=gen) * 2 - 1
    v = torch.rand(300, 3, generator=gen) * 2 - 1
    tables = CachedLevel(m, 1, initial_tables(arch, x, v), 64).extend()
    m.grow(gen)
    m.freeze(1)
    obj = CachedLevel(m, 2, tables, 64)
    for start in (0, 117, 280):  # 280: wraps (rows 280..299, then 0..43)
        w = Window(start, 64)
        loss_w = obj.step(w)
        grads_w = [p.grad.clone() for p in obj.params]
        loss_i = obj.step(w.indices(300, x.device))
        assert loss_w == pytest.approx(loss_i, rel=1e-6)
        for a, b in zip(grads_w, obj.params):
            torch.testing.assert_close(a, b.grad, rtol=1e-5, atol=1e-7)
    assert not torch.equal(torch.tensor(loss_w), torch.tensor(obj.step(Window(5, 64))))


def test_stratified_trainer_reads_windows_of_tables_in_sweep_order():
    """With every stage on every row, the tables keep the rows in sweep order and a
    stratified level draws Windows (no gather); the trained field still fits the signal."""
    from snf.encode.stage import Window
    from snf.encode.train import Preset
    xs, vs = np.meshgrid(np.linspace(-1, 1, 40), np.linspace(-1, 1, 30))
    x = np.stack([xs.ravel(), vs.ravel()], 1).astype(np.float32)
    v = np.stack([np.sin(3 * x[:, 0]), np.cos(2 * x[:, 1]), x[:, 0] * x[:, 1]], 1).astype(np.float32)
    preset = Preset("t", 200, 3e-3, "cosine", (60,), (1.0,), sampling=("uniform", "stratified"))
    tr = Trainer(Arch((8, 16)), x, v, preset, Budget(steps=[60, 60]))
    seen = []
    tr.run(lambda levels, model, refit: seen.append(type(tr._indices())))
    assert tr._swept and seen == [torch.Tensor, Window]
    err = tr.model(torch.from_numpy(x), 2).detach().numpy() - v
    assert float((err ** 2).mean()) < 0.5 * float((v ** 2).mean())
