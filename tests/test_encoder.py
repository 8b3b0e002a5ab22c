"""The encoder's options end to end on a tiny image: modes, presets, budgets, bits."""
import numpy as np
import pytest

from snf.format.container import read
from snf.decode.decoder import decompress
from snf.encode.encoder import compress
from snf.signals.image import psnr
from snf.encode.train import PRESETS


@pytest.mark.parametrize("mode", ["progressive", "slimmable", "individual"])
def test_every_mode_round_trips_and_improves(tiny_image, mode):
    r = compress(tiny_image, widths=(6, 12, 18), layers=3, steps=120, lr=3e-3, mode=mode, seed=2)
    parsed = read(r["bytes"])
    assert parsed.arch.mode == mode and parsed.levels_complete == 3
    got = [psnr(decompress(r["bytes"], level=k)["image"], tiny_image) for k in (1, 2, 3)]
    assert got == pytest.approx([lv["psnr"] for lv in r["levels"]], abs=0.006)
    assert got[2] > got[0] + 1.0, got
    if mode == "individual":  # each level is a whole network: the stream repeats what earlier levels sent
        assert parsed.ends[1] - parsed.ends[0] > parsed.ends[0] - parsed.header_end


def test_bits_trade_size_for_quality(tiny_image):
    kw = dict(widths=(8, 16), layers=3, steps=100, lr=3e-3, seed=0)
    r4, r8 = compress(tiny_image, bits=4, **kw), compress(tiny_image, bits=8, **kw)
    assert len(r4["bytes"]) < len(r8["bytes"])
    assert r8["levels"][-1]["psnr"] > r4["levels"][-1]["psnr"]
    assert abs(r8["levels"][-1]["psnr"] - r8["levels"][-1]["psnr_float"]) < 0.5


def test_quality_trades_size_for_error_and_the_file_says_so(tiny_image):
    """--quality: higher gives more bytes and less rounding loss; the decoder sees what the header says."""
    kw = dict(widths=(8, 16), layers=3, steps=100, lr=3e-3, seed=0)
    lo, hi = compress(tiny_image, quality=5, **kw), compress(tiny_image, quality=95, **kw)
    assert len(lo["bytes"]) < len(hi["bytes"])
    loss = lambda r: r["levels"][-1]["psnr_float"] - r["levels"][-1]["psnr"]  # noqa: E731
    assert loss(hi) < loss(lo) and loss(hi) < 0.1
    assert read(hi["bytes"]).header["quant"] == {"coding": "rans-laplace", "quality": 95}
    assert psnr(decompress(hi["bytes"])["image"], tiny_image) == pytest.approx(hi["levels"][-1]["psnr"], abs=0.006)
    assert set(hi["bits_per_param"][0]) == {"first", "hidden", "bias", "out"}


def test_header_leaves_spec_defaults_out_and_reads_back_the_same(tiny_image):
    """A header byte is a level-1 byte: arch and values keys at the spec's defaults, the
    default coords and unset settings are not written; a reader fills the defaults in."""
    r = compress(tiny_image, widths=(6, 12), steps=5, seed=0)
    h = read(r["bytes"]).header
    assert h["arch"] == {"widths": [6, 12]} and "coords" not in h and h["values"] == {"range": [-1, 1]}
    assert None not in h["encoder"]["settings"].values()
    assert read(r["bytes"]).arch == r["arch"] and r["arch"].layers == 5 and r["arch"].w0 == 30.0
    other = compress(tiny_image, widths=(6, 12), layers=3, mode="slimmable", steps=5, seed=0)
    assert read(other["bytes"]).header["arch"] == {"widths": [6, 12], "layers": 3, "mode": "slimmable"}
    assert decompress(r["bytes"])["image"].shape == tiny_image.shape


def test_time_budget_is_spent_across_levels(tiny_image):
    """A time budget trains until the time is spent (a lower bound only: a loaded machine
    breaks any ceiling, and may leave late levels few steps)."""
    r = compress(tiny_image, widths=(6, 12, 18), layers=3, time_budget=1.5, seed=0)
    assert len(r["timing"]["stage_steps"]) == 3 and r["timing"]["stage_steps"][0] >= 1
    assert r["timing"]["stage_ends"][-1] >= 1.5  # the last stage trains until the budget is spent
    assert r["header"]["encoder"]["budget"] == "time" and read(r["bytes"]).levels_complete == 3


def test_time_budget_shares_what_is_left_among_the_remaining_stages():
    from snf.encode.train import Budget
    b = Budget(steps=None, seconds=3.0)
    assert b.stage_seconds([1, 1, 1], 0, 0.0) == pytest.approx(1.0)
    assert b.stage_seconds([1, 1, 2], 1, 1.5) == pytest.approx(0.5)   # overran: later stages get less
    assert b.stage_seconds([1, 1, 2], 2, 2.0) == pytest.approx(1.0)   # the last stage gets all that is left
    assert b.stage_seconds([1, 1], 1, 3.5) == 0.0


def test_paper_preset_trains_full_batch_at_a_constant_rate(tiny_image):
    """What the preset does, seen from the trainer: every pixel in every step, and one
    learning rate (the paper's 2e-4) from the first step to the last."""
    from snf.encode.train import Budget, Trainer
    from snf.field.arch import Arch
    from snf.signals.image import image_samples
    coords, values = image_samples(tiny_image)
    t = Trainer(Arch((4, 8), layers=3), coords, values, PRESETS["paper"], Budget(steps=[5, 5]))
    assert t._indices() is None and t._batch() == tiny_image.shape[0] * tiny_image.shape[1]
    assert {t._lr(f) for f in (0.0, 0.3, 0.99)} == {2e-4}
    r = compress(tiny_image, widths=(4, 8), layers=3, preset="paper", steps=5, seed=0)
    assert r["header"]["encoder"]["preset"] == "paper" and len(r["levels"]) == 2


def test_progress_callback_reports_fractions(tiny_image):
    seen = []
    compress(tiny_image, widths=(4, 8), layers=3, time_budget=1.2, seed=0, progress=seen.append)
    assert seen and all(0 <= s["fraction"] <= 1 for s in seen) and {s["level"] for s in seen} <= {1, 2}


def test_grey_images_have_one_channel(tiny_image):
    grey = tiny_image.mean(axis=2, keepdims=True).astype(np.uint8)
    r = compress(grey, widths=(4, 8), layers=3, steps=60, lr=3e-3, seed=0)
    out = decompress(r["bytes"])
    assert out["image"].shape == (32, 40, 1) and r["header"]["channels"] == 1
