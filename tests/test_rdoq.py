"""Rate-distortion rounding (snf.encode.rdoq): it lowers the objective it minimises against
nearest-integer rounding, it is deterministic, and the file holds exactly the integers the
next level trained on."""
import numpy as np
import pytest
import torch

import snf.encode.train as train_mod
from snf.encode import rd, rdoq
from snf.encode.encoder import compress
from snf.encode.model import BlockSiren
from snf.field.arch import Arch
from snf.format import coded
from snf.format.container import read
from snf.settings import EncodeSettings, SettingsError
from snf.signals.image import image_samples


def _block(seed: int, rows: int = 12, cols: int = 20, scale: float = 6.0):
    rng = np.random.default_rng(seed)
    steps = np.broadcast_to(2.0 ** rng.uniform(-1, 1, (rows, 1)), (rows, cols))
    w = rng.laplace(0, scale, (rows, cols)) * steps
    x = rng.normal(size=(4000, cols)) @ rng.normal(size=(cols, cols)) * 0.3 + rng.normal(size=cols)
    h = rdoq.damped(x)
    q0 = np.rint(w / steps).astype(np.int64)
    tables = [rdoq.bits_table(q0)]
    s = rng.uniform(0.5, 2.0, rows)
    lam = 0.2 * float(np.mean(s[:, None] * steps ** 2 * np.diag(h)[None, :]))  # near the RD slope
    return w, steps, q0, tables, np.zeros(cols, dtype=int), h, s, lam


@pytest.mark.parametrize("seed", range(4))
def test_rounding_lowers_the_objective_against_nearest_integers(seed):
    w, steps, q0, tables, col, h, s, lam = _block(seed)
    q = rdoq.round_rows(w, steps, tables, col, h, s, lam)
    plain = rdoq.rd_cost(w, q0, steps, tables, col, h, s, lam)
    ours = rdoq.rd_cost(w, q, steps, tables, col, h, s, lam)
    assert ours < plain, (ours, plain)
    # the error feedback alone (no rate term): a much smaller output error than nearest integers
    qf = rdoq.round_rows(w, steps, tables, col, h, s, 0.0)
    dist = lambda q: rdoq.rd_cost(w, q, steps, tables, col, h, s, 0.0)  # noqa: E731
    assert dist(qf) < 0.8 * dist(q0), (dist(qf), dist(q0))
    # with a diagonal H there is no feedback: each weight takes its own cheaper neighbour,
    # so the objective cannot rise for any input
    hd = np.diag(np.diag(h))
    qd = rdoq.round_rows(w, steps, tables, col, hd, s, lam)
    assert np.all(np.abs(qd - w / steps) < 1.0)
    assert rdoq.rd_cost(w, qd, steps, tables, col, hd, s, lam) <= rdoq.rd_cost(w, q0, steps, tables, col, hd, s, lam)
    assert not np.array_equal(qd, q0), "the rate term moved nothing"


def _trained_level(tiny_image):
    arch = Arch((6, 12), layers=3)
    coords, values = image_samples(tiny_image)
    model = BlockSiren(arch)
    model.grow(torch.Generator().manual_seed(0))
    sens, mse = rd.sensitivity(model, 1, coords, values)
    codes = rd.rd_codes(arch, 1, sens, mse, rd.eps_of_quality(20))
    return arch, model, coords, values, codes


def test_level_rounder_is_deterministic_and_never_worse_per_layer(tiny_image):
    arch, model, coords, values, codes = _trained_level(tiny_image)
    floats = model.level_tensors(1)
    runs = []
    for _ in range(2):
        model.set_level(1, floats)
        r = rdoq.LevelRounder(model, 1, codes, coords, values, rd.eps_of_quality(20), seed=3)
        r.hidden()
        r.output()
        runs.append(([q.copy() for q in r.ints], [c.copy() for c in r.codes], dict(r.cost)))
        assert all(after <= before for before, after in r.cost.values()), r.cost
    (a, ca, _), (b, cb, _) = runs
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and all(np.array_equal(x, y) for x, y in zip(ca, cb))
    # the model now holds exactly the integers times their steps
    for blk, q, c, p in zip(arch.blocks(1), a, ca, model.levels[0]):
        want = (q.astype(np.float32).reshape(c.size, -1) * coded.STEPS[c][:, None]).reshape(blk.shape)
        np.testing.assert_array_equal(p.detach().numpy(), want)


def test_file_holds_the_integers_the_next_level_trained_on(tiny_image, monkeypatch):
    seen, floats = {}, {}
    real_run = train_mod.Trainer.run

    def run(self, on_stage_end):
        def wrapped(levels, model, refit):
            for k in levels:
                floats[k] = model.level_tensors(k)
            on_stage_end(levels, model, refit)
            for k in levels:
                seen[k] = model.level_tensors(k)  # what the next stages train on top of
        return real_run(self, wrapped)
    monkeypatch.setattr(train_mod.Trainer, "run", run)
    codes, real_encode = {}, coded.encode_level

    def encode_level(arch, k, tensors, cc, *a, **kw):
        out = real_encode(arch, k, tensors, cc, *a, **kw)
        codes[k] = [coded.block_codes(t, b, c) if q is None else c
                    for t, b, c, q in zip(tensors, arch.blocks(k), cc, (a or (None,))[0] or [None] * len(cc))]
        return out
    monkeypatch.setattr(coded, "encode_level", encode_level)
    kw = dict(widths=(6, 12), layers=3, steps=30, lr=3e-3, seed=0, quality=20)
    r = compress(tiny_image, **kw)
    parsed = read(r["bytes"])
    assert parsed.levels_complete == 2
    moved = 0
    for k in (1, 2):
        for blk, got, want, f in zip(r["arch"].blocks(k), parsed.levels[k - 1], seen[k], floats[k]):
            np.testing.assert_array_equal(got, want)
        # rdoq acted: some hidden integer is not the nearest one to its float
        for blk, got, f, c in zip(r["arch"].blocks(k), parsed.levels[k - 1], floats[k], codes[k]):
            if blk.tensor.startswith("l1.w"):
                steps = coded.STEPS[c].astype(np.float64)[:, None]
                q_file = np.rint(got.reshape(c.size, -1) / steps)
                np.testing.assert_array_equal((q_file.astype(np.float32) * coded.STEPS[c][:, None]).reshape(got.shape), got)
                moved += int((q_file != np.rint(f.reshape(c.size, -1) / steps)).sum())
    assert moved > 0


def test_rdoq_is_a_quality_setting():
    assert EncodeSettings().rdoq_on and not EncodeSettings(rdoq=False).rdoq_on
    assert not EncodeSettings(bits=8).rdoq_on
    with pytest.raises(SettingsError):
        EncodeSettings(bits=8, rdoq=True)
    assert "rdoq" not in EncodeSettings().header_record()
    assert EncodeSettings(rdoq="off").header_record()["rdoq"] is False
