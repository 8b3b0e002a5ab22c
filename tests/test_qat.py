"""Quantisation-aware training: the rounding it trains against is the file's, the
floats survive each step, and every mode encodes with it on the same step budget."""
import numpy as np
import pytest
import torch

from snf.field.arch import Arch
from snf.format.container import read
from snf.encode.encoder import compress
from snf.encode.model import BlockSiren
from snf.encode.qat import StraightThrough, fake_quantiser
from snf.format.quant import default_quant, encode_level
from snf.signals.image import image_samples
from snf.encode.stage import Autograd


@pytest.mark.parametrize("bits", [4, 6, 8])
def test_fake_quantiser_rounds_like_the_file(bits):
    arch = Arch((6, 12), layers=3)
    torch.manual_seed(0)
    model = BlockSiren(arch)
    model.grow(torch.Generator().manual_seed(0))
    model.grow(torch.Generator().manual_seed(1))
    quant = default_quant(bits)
    for k in (1, 2):
        floats = model.level_tensors(k)
        _, deq = encode_level(arch, k, floats, quant)
        fq = fake_quantiser(arch, quant)(k, [torch.as_tensor(t) for t in floats])
        for a, b in zip(deq, fq):
            np.testing.assert_allclose(b.numpy(), a, rtol=0, atol=1e-7)


def test_straight_through_step_takes_gradients_at_the_rounded_values(tiny_image):
    arch = Arch((6, 12), layers=3)
    x, v = image_samples(tiny_image)
    x, v = torch.as_tensor(x), torch.as_tensor(v)
    model = BlockSiren(arch)
    model.grow(torch.Generator().manual_seed(0))
    fq = fake_quantiser(arch, default_quant(4))
    before = [p.detach().clone() for p in model.levels[0]]
    st = StraightThrough(Autograd(model, [1], x, v), model, [1], fq)
    loss = st.step(None)
    grads = [p.grad.clone() for p in model.levels[0]]
    assert all(torch.equal(a, b) for a, b in zip(before, model.levels[0])), "floats not restored"
    with torch.no_grad():  # the same step taken directly at the rounded values
        for p, q in zip(model.levels[0], fq(1, list(model.levels[0]))):
            p.copy_(q)
    direct = Autograd(model, [1], x, v)
    assert direct.step(None) == pytest.approx(loss, rel=1e-6)
    for g, p in zip(grads, model.levels[0]):
        torch.testing.assert_close(g, p.grad)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.levels[0])), "4 bits changed nothing"


@pytest.mark.parametrize("mode", ["progressive", "slimmable", "individual"])
def test_qat_encodes_every_mode_on_the_same_steps(tiny_image, mode):
    kw = dict(widths=(6, 12), layers=3, steps=40, lr=3e-3, seed=0, bits=4, mode=mode)
    plain, qat = compress(tiny_image, qat=False, **kw), compress(tiny_image, qat=True, **kw)
    assert qat["timing"]["stage_steps"] == plain["timing"]["stage_steps"]
    assert read(qat["bytes"]).levels_complete == 2
    assert qat["bytes"] != plain["bytes"]
    assert compress(tiny_image, qat=True, **kw)["bytes"] == qat["bytes"]  # still deterministic


def test_qat_is_on_by_default_only_at_4_bits_or_fewer(tiny_image):
    kw = dict(widths=(6, 12), layers=3, steps=30, lr=3e-3, seed=0)
    assert compress(tiny_image, bits=4, **kw)["bytes"] == compress(tiny_image, bits=4, qat=True, **kw)["bytes"]
    assert compress(tiny_image, bits=5, **kw)["bytes"] == compress(tiny_image, bits=5, qat=False, **kw)["bytes"]


def test_rd_fake_quantiser_rounds_like_the_file():
    """Quality mode: the straight-through phase rounds at the steps the file will hold."""
    from snf.encode.qat import RDFakeQuant
    from snf.format import coded
    arch = Arch((6, 12), layers=3)
    torch.manual_seed(0)
    model = BlockSiren(arch)
    model.grow(torch.Generator().manual_seed(0))
    model.grow(torch.Generator().manual_seed(1))
    rng = np.random.default_rng(0)

    def choose(k, m):  # steps near a 64th of each row's peak (any codes the coder's range allows)
        return [coded.min_codes(np.asarray(t), b) + rng.integers(8, 40, coded.n_codes(b)).astype(np.uint8)
                for b, t in zip(arch.blocks(k), m.level_tensors(k))]

    fq = RDFakeQuant(choose)
    fq.prepare([1, 2], model)
    for k in (1, 2):
        floats = model.level_tensors(k)
        _, deq, _ = coded.encode_level(arch, k, floats, fq.codes[k])
        for a, b in zip(deq, fq(k, [torch.as_tensor(t) for t in floats])):
            np.testing.assert_allclose(b.numpy(), a, rtol=0, atol=1e-7)


def test_quality_qat_stage_ends_at_the_steps_it_trained_at(tiny_image, monkeypatch):
    from snf.encode import encoder, qat as qat_mod
    prepared, written = {}, {}
    real_prepare, real_encode = qat_mod.RDFakeQuant.prepare, encoder.coded.encode_level

    def prepare(self, levels, model):
        real_prepare(self, levels, model)
        prepared.update({k: [c.copy() for c in self.codes[k]] for k in levels})

    def encode_level(arch, k, tensors, codes, *a, **kw):
        written[k] = [np.asarray(c).copy() for c in codes]
        return real_encode(arch, k, tensors, codes, *a, **kw)

    monkeypatch.setattr(qat_mod.RDFakeQuant, "prepare", prepare)
    monkeypatch.setattr(encoder.coded, "encode_level", encode_level)
    kw = dict(widths=(6, 12), layers=3, steps=40, lr=3e-3, seed=0, quality=60)
    plain, qat = compress(tiny_image, qat=False, **kw), compress(tiny_image, qat=True, **kw)
    assert sorted(prepared) == [1, 2] and sorted(written) == [1, 2]
    for k in (1, 2):
        assert all(np.array_equal(a, b) for a, b in zip(prepared[k], written[k]))
    assert qat["timing"]["stage_steps"] == plain["timing"]["stage_steps"]
    assert read(qat["bytes"]).levels_complete == 2 and qat["bytes"] != plain["bytes"]
    assert qat["header"]["encoder"]["settings"]["qat"] is True
