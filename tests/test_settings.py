"""One settings object: validation, and the CLI, the upload form and the job row derived from it."""
import argparse

import pytest

from snf.settings import DEFAULT_QUALITY, PRESET_NAMES, EncodeSettings, SettingsError


def test_defaults_and_round_trip_through_the_job_row():
    s = EncodeSettings()
    assert s.widths is None and s.widths_for(768 * 512) == s.widths_for(None) == (30, 69, 110, 151)
    assert s.mode == "progressive" and s.bits is None
    assert s.quality is None and s.quality_on == DEFAULT_QUALITY and not s.qat_on
    assert EncodeSettings.from_dict(s.to_dict()) == s
    t = EncodeSettings.from_dict({"widths": "8,16", "bits": "6", "steps": "12", "qat": "true", "lr": "0.002"})
    assert (t.widths, t.bits, t.steps, t.qat, t.lr) == ((8, 16), 6, 12, True, 0.002)


@pytest.mark.parametrize("bad, words", [
    ({"bits": 2}, "bits must be"), ({"widths": "30,20"}, "increasing"), ({"mode": "x"}, "mode 'x'"),
    ({"steps": 0}, "steps must be"), ({"steps": 5, "time_budget": 3}, "not both"), ({"lr": 2}, "lr must"),
    ({"layers": "5.5"}, "layers must be an integer"), ({"time_budget": "nan"}, "finite"),
    ({"preset": "turbo"}, "preset 'turbo'"), ({"qat": "maybe"}, "true or false"), ({"colour": 1}, "unknown setting"),
    ({"quality": 101}, "quality must be 0..100"), ({"quality": "high"}, "quality must be an integer"),
    ({"quality": 50, "bits": 8}, "do not go together"), ({"qat": True, "signal": "sdf"}, "qat needs --bits"), ({"bits": 15}, "bits must"),
])
def test_bad_settings_are_one_clear_error(bad, words):
    with pytest.raises(SettingsError, match=words):
        EncodeSettings.from_dict(bad)


def test_qat_default_depends_on_bits():
    assert EncodeSettings(bits=4).qat_on and not EncodeSettings(bits=5).qat_on
    assert EncodeSettings(bits=8, qat=True).qat_on and not EncodeSettings(bits=4, qat=False).qat_on
    # with --quality (the default): off unless asked, then at the rate-distortion steps
    assert not EncodeSettings().qat_on and EncodeSettings(qat=True).qat_on and EncodeSettings(quality=40, qat=True).qat_on


def test_header_record_leaves_unset_options_out():
    r = EncodeSettings(steps=20).header_record()
    assert r["steps"] == 20 and "bits" not in r and "time_budget" not in r and "lr" not in r
    assert EncodeSettings.from_dict(r).header_record() == r


def test_quality_short_flag_and_bits_mode():
    p = argparse.ArgumentParser()
    EncodeSettings.add_arguments(p)
    s = EncodeSettings.from_args(p.parse_args(["-q", "40"]))
    assert s.quality == 40 and s.quality_on == 40
    assert EncodeSettings.from_args(p.parse_args(["--quality", "90"])).quality_on == 90
    b = EncodeSettings(bits=6)
    assert b.quality_on is None and not b.qat_on
    assert "quality" in EncodeSettings.form_fields()


def test_cli_options_and_form_fields_are_the_settings():
    p = argparse.ArgumentParser()
    EncodeSettings.add_arguments(p)
    args = p.parse_args(["--widths", "8,16", "--time-budget", "9", "--no-qat", "--init", "zero-out"])
    s = EncodeSettings.from_args(args)
    assert (s.widths, s.time_budget, s.qat, s.init) == ((8, 16), 9.0, False, "zero-out")
    with pytest.raises(SystemExit):  # steps and a time budget exclude each other on the command line
        p.parse_args(["--steps", "3", "--time-budget", "9"])
    form = EncodeSettings.form_fields()
    assert {"widths", "mode", "bits", "qat", "init", "layers", "preset", "steps", "time_budget"} <= set(form)
    assert EncodeSettings.from_form({"layers": "3", "init": "zero-out", "seed": ""}) == \
        EncodeSettings(layers=3, init="zero-out")
    assert EncodeSettings.for_cli("time_budget must be x") == "--time-budget must be x"


def test_preset_names_match_the_trainers_presets():
    from snf.encode.presets import PRESETS
    assert tuple(PRESETS) == PRESET_NAMES


def test_default_widths_and_steps_fit_the_picture():
    s = EncodeSettings()
    assert s.widths_for(192 * 128) == (16, 32) and len(s.widths_for(64 * 48)) == 2
    assert s.fitted_recipe(768 * 512) == (None, None)  # the preset's own recipe from 512x384 up
    steps, batch = s.fitted_recipe(192 * 128)
    assert steps and batch and batch < 16384
    assert EncodeSettings(steps=5).fitted_recipe(192 * 128)[0] is None  # what was asked wins
    assert EncodeSettings(widths="8,16").fitted_recipe(192 * 128) == (None, None)
    assert "widths" not in s.header_record()  # unset: a rerun with the same settings compares equal


def test_a_picture_too_small_for_the_field_is_refused_with_the_minimum():
    with pytest.raises(SettingsError, match="1 pixel: too small .* at least 18"):
        EncodeSettings().check_pixels(1)
    EncodeSettings().check_pixels(18)
    EncodeSettings(field="grid").check_pixels(1)  # the grid field fits any picture
