"""The fixed-step deadline: it shortens stages only on a machine too slow for them, and
leaves the steps (so the bytes) alone on one fast enough."""
import itertools

import pytest
import torch

from snf.encode import train as train_mod
from snf.encode.train import PRESETS, Budget, Trainer
from snf.field.arch import Arch
from snf.settings import DEFAULT_DEADLINE, EncodeSettings, SettingsError
from snf.signals.image import image_samples


def _train(monkeypatch, tiny_image, tick, deadline):
    """Two 60-step stages with a fake clock that advances `tick` s at every reading
    (or `tick(n)` s at the n-th reading)."""
    clock = itertools.count()
    now = [0.0]

    def monotonic():
        n = next(clock)
        now[0] += tick(n) if callable(tick) else tick
        return now[0]
    monkeypatch.setattr(train_mod.time, "monotonic", monotonic)
    x, v = image_samples(tiny_image)
    t = Trainer(Arch((6, 12), layers=3), x, v, PRESETS["fast"], Budget(steps=[60, 60], deadline=deadline), seed=0)
    model = t.run(lambda levels, model, refit: None)
    return t, [p.detach().clone() for level in model.levels for p in level]


def test_a_fast_machine_trains_every_step_and_the_same_weights(monkeypatch, tiny_image):
    free, w_free = _train(monkeypatch, tiny_image, 1e-4, None)
    held, w_held = _train(monkeypatch, tiny_image, 1e-4, 60.0)  # ~0.02 s of fake time a stage: fits
    assert free.stage_steps == held.stage_steps == [60, 60] and held.shortened == []
    assert all(torch.equal(a, b) for a, b in zip(w_free, w_held))


def test_a_slow_machine_shortens_stages_to_end_near_the_deadline(monkeypatch, tiny_image):
    t, _ = _train(monkeypatch, tiny_image, 0.05, 6.0)  # a few clock readings a step: ~0.15 s a step
    assert [lv for lv, _, _ in t.shortened] == [1, 2]
    assert all(done < asked == 60 for _, done, asked in t.shortened)
    assert t.stage_steps == [done for _, done, _ in t.shortened]
    assert sum(t.stage_seconds) < 6.0 * 1.25  # within the deadline, give or take the probe


def test_deadline_setting_defaults_and_rules():
    assert EncodeSettings().deadline_on == DEFAULT_DEADLINE  # the fast preset's own steps
    assert EncodeSettings(steps=100).deadline_on is None  # steps asked for: all of them
    assert EncodeSettings(preset="paper").deadline_on is None
    assert EncodeSettings(deadline=0).deadline_on is None
    assert EncodeSettings(steps=100, deadline="30").deadline_on == 30.0
    assert "deadline" not in EncodeSettings().header_record()  # unset: the header leaves it out
    with pytest.raises(SettingsError):
        EncodeSettings(deadline=-1)
    with pytest.raises(SettingsError):
        EncodeSettings(deadline=30, time_budget=60)


def test_a_machine_that_turns_busy_after_the_probe_still_ends_by_the_deadline(monkeypatch, tiny_image):
    # fast through level 1's probe (20 % in), then ten times slower: the probe alone would let
    # the stage run far past its cap (issue 27: a stage cut at 20 % ran minutes over)
    t, _ = _train(monkeypatch, tiny_image, lambda n: 0.005 if n < 40 else 0.05, 6.0)
    assert t.shortened and t.shortened[0][0] == 1
    assert t.stage_ends[-1] <= 6.0 + 0.2  # the whole, to within a step or two of fake time
    assert all(asked == 60 for _, _, asked in t.shortened)  # the steps first asked, once per level



def test_a_cut_is_recorded_in_the_file_and_shown_by_snf_info(tiny_image, tmp_path):
    from snf import compress
    from snf.cli.info import describe, table
    out = compress(tiny_image, widths=(4, 8), layers=3, steps=400, deadline=0.02)  # far too short
    cut = [lv for lv in out["header"]["levels"] if "steps_asked" in lv]
    assert cut and all(lv["steps"] < lv["steps_asked"] == 400 for lv in cut)
    path = tmp_path / "cut.snf"
    path.write_bytes(out["bytes"])
    text = table(describe(str(path)))
    assert "of 400 steps (cut by the encoder's --deadline" in text
    whole = compress(tiny_image, widths=(4, 8), layers=3, steps=20, deadline=0)  # no deadline: no record
    assert not any("steps_asked" in lv for lv in whole["header"]["levels"])


def test_an_overrun_that_quantising_alone_makes_is_foreseen_and_said(monkeypatch, tiny_image):
    # each stage's quantisation (the callback) takes 5 s of fake time: with a 6 s deadline the
    # second stage cannot even be quantised in time, and the trainer says so after the first
    x, v = image_samples(tiny_image)
    now = [0.0]
    monkeypatch.setattr(train_mod.time, "monotonic", lambda: now[0])

    def quantise(levels, model, refit):
        now[0] += 5.0
    t = Trainer(Arch((6, 12), layers=3), x, v, PRESETS["fast"], Budget(steps=[20, 20], deadline=6.0), seed=0)
    t.run(quantise)
    assert t.overrun == pytest.approx(4.0)  # 5 s needed, 1 s left
    free = Trainer(Arch((6, 12), layers=3), x, v, PRESETS["fast"], Budget(steps=[20, 20], deadline=60.0), seed=0)
    free.run(quantise)
    assert free.overrun == 0.0 and free.stage_steps == [20, 20]


# -- the up-front check (issue 27.3): the promise is kept, or said to be unkeepable before training

def _fake_clock(monkeypatch, tick):
    """A machine whose every clock reading costs `tick` s (the probe, steps and quantising alike):
    slow or busy by construction, whatever the real machine does."""
    now = [0.0]

    def monotonic():
        now[0] += tick
        return now[0]
    monkeypatch.setattr(train_mod.time, "monotonic", monotonic)
    return now


@pytest.mark.parametrize("quiet", [False, True])
def test_a_deadline_this_machine_cannot_keep_is_said_before_training(monkeypatch, capsys, tiny_png, tmp_path, quiet):
    from snf.cli.common import run
    from snf.cli.encode import PROG, body
    from snf.cli.info import describe
    _fake_clock(monkeypatch, 0.2)  # a few readings a step: about half a second a step
    out = tmp_path / "late.snf"
    argv = [tiny_png, "-o", str(out), "--widths", "4,8", "--layers", "3", "--steps", "400", "--deadline", "0.5"]
    assert run(PROG, body, argv + ["--quiet"] * quiet) == 0
    err = capsys.readouterr().err
    warn = err.find("snf: the --deadline of 0.5 s cannot be kept on this machine now:")
    assert warn >= 0 and "--deadline 0 trains every step" in err
    assert err.count("cannot be kept") == 1  # one line, not again after level 1
    if not quiet:  # before any of level 1's progress or summary
        first = err.find("level 1")
        assert 0 <= warn < first
    else:
        assert "level 1" not in err
    levels = describe(str(out))["levels"]
    assert all(lv["steps_asked"] == 400 and lv["steps"] < 400 for lv in levels)


def test_a_busy_machine_ends_within_the_deadline_plus_the_stated_margin(monkeypatch, tiny_image):
    # every clock reading 0.01 s (a step a few hundredths: the asked steps would take ~40 s),
    # and quantising level k takes quant[k] s: the stated margin is the last level's
    # quantisation less the longest earlier one, plus two steps
    from snf import compress
    from snf.encode import encoder as enc
    now = _fake_clock(monkeypatch, 0.01)
    quant = {1: 0.5, 2: 1.5}
    code_level = enc._SirenCoder.code_level

    def slow_code_level(self, k, model, refit):
        now[0] += quant[k]
        return code_level(self, k, model, refit)
    monkeypatch.setattr(enc._SirenCoder, "code_level", slow_code_level)
    seen = {}
    run = train_mod.Trainer.run

    def spy(self, on_stage_end):
        seen["t"] = self
        seen["start"] = now[0]
        return run(self, on_stage_end)
    monkeypatch.setattr(train_mod.Trainer, "run", spy)
    deadline = 8.0
    out = compress(tiny_image, widths=(6, 12), layers=3, steps=600, deadline=deadline)
    t = seen["t"]
    assert t.outlook["full"] > deadline and t.overrun == 0.0  # too slow for every step, fast enough for fewer
    assert all(p < 600 for p in t.outlook["planned"])
    assert all(lv["steps"] < lv["steps_asked"] == 600 for lv in out["header"]["levels"])
    step = 4 * 0.01  # a step's clock readings, generously
    margin = quant[2] - quant[1] + 2 * step
    assert t.stage_ends[-1] <= deadline + margin
    assert t.stage_ends[-1] > deadline * 0.8  # it used the time it had (not a guard that stops at once)


def test_a_generous_deadline_says_nothing_and_cuts_nothing(monkeypatch, capsys, tiny_image):
    from snf import compress
    _fake_clock(monkeypatch, 1e-4)
    out = compress(tiny_image, widths=(4, 8), layers=3, steps=60, deadline=600.0, quiet=False)
    err = capsys.readouterr().err
    assert "snf:" not in err and "deadline" not in err
    assert not any("steps_asked" in lv for lv in out["header"]["levels"])


@pytest.mark.parametrize("quiet", [False, True])
def test_a_latent_deadline_this_machine_cannot_keep_is_said_before_training(monkeypatch, capsys, tiny_png,
                                                                            tmp_path, quiet):
    from snf.cli.common import run
    from snf.cli.encode import PROG, body
    from snf.cli.info import describe, table
    _fake_clock(monkeypatch, 0.2)  # a slow machine, by construction
    out = tmp_path / "late.snf"
    argv = [tiny_png, "-o", str(out), "--field", "latent", "--steps", "60", "--deadline", "0.5"]
    assert run(PROG, body, argv + ["--quiet"] * quiet) == 0
    err = capsys.readouterr().err
    warn = err.find("snf: the --deadline of 0.5 s cannot be kept on this machine now:")
    assert warn >= 0 and err.count("cannot be kept") == 1
    assert "this machine fits" not in err  # one line: the check at step 20 keeps quiet
    if not quiet:
        assert 0 <= warn < err.find("latent [")  # before the first progress line
    info = describe(str(out))
    done = info["levels"][0]["steps"]  # one model: every level trained the same steps
    assert all(lv["steps"] == done < lv["steps_asked"] == 60 for lv in info["levels"])
    assert f"trained {done} of 60 steps (cut by the encoder's --deadline" in table(info)


def test_the_latent_probe_leaves_the_bytes_alone(tiny_image):
    from snf.encode.latent_encoder import compress_latent
    from snf.settings import EncodeSettings
    free = compress_latent(tiny_image, EncodeSettings(field="latent", steps=20))
    held = compress_latent(tiny_image, EncodeSettings(field="latent", steps=20, deadline=600))  # probed, fits
    assert held["levels"] == free["levels"] and "steps_asked" not in str(held["levels"])
    meta = held["bytes"].rindex(b"meta") - 4  # the payloads before the meta chunk (its settings record differs)
    assert held["bytes"][:meta] == free["bytes"][:meta]


def test_the_margin_is_stated_in_the_help_and_the_docs():
    from pathlib import Path
    from snf.cli.encode import parser
    text = " ".join(parser().format_help().split())
    assert "end within the deadline plus a margin of about the last level's quantisation" in text
    assert "Default 260 with the fast preset's steps" in text  # formatted, not a template
    docs = " ".join((Path(__file__).parent.parent / "docs" / "usage.md").read_text().split())
    assert "end within the deadline plus about the last level's quantisation" in docs
