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
