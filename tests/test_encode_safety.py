"""`snf-encode` never destroys an input and refuses what cannot work before any training
(issue 27, item 1); it warns when its file is larger than the input's own PNG."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

BIN = os.path.dirname(sys.executable)
QUICK = ["--steps", "1", "--widths", "4,8", "--threads", "1"]


def _encode(*args, cwd=None):
    return subprocess.run([os.path.join(BIN, "snf-encode"), *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.fixture
def small_png(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "small.png"
    Image.fromarray((rng.random((16, 24, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_an_output_that_is_the_input_is_refused_and_the_input_kept(small_png, tmp_path):
    victim = tmp_path / "victim.png"
    shutil.copy(small_png, victim)
    before = victim.read_bytes()
    for extra in ([], ["--force"]):  # --force allows a name, never the loss of an input
        r = _encode(str(victim), "-o", str(victim), *QUICK, *extra)
        assert r.returncode == 2 and "is the input" in r.stderr and "Traceback" not in r.stderr
        assert victim.read_bytes() == before
    link = tmp_path / "link.snf"  # the same file under another name
    os.symlink(victim, link)
    r = _encode(str(victim), "-o", str(link), *QUICK)
    assert r.returncode == 2 and victim.read_bytes() == before


def test_an_output_not_named_snf_needs_force(small_png, tmp_path):
    out = tmp_path / "x.png"
    r = _encode(str(small_png), "-o", str(out), *QUICK)
    assert r.returncode == 2 and ".snf" in r.stderr and "--force" in r.stderr and not out.exists()
    r = _encode(str(small_png), "-o", str(out), *QUICK, "--force", "--quiet")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] == b"\x89SNF"


def test_a_picture_too_small_is_refused_before_training_with_the_minimum(tmp_path):
    one = tmp_path / "one.png"
    Image.fromarray(np.full((1, 1, 3), 90, np.uint8)).save(one)
    r = _encode(str(one), "-o", str(tmp_path / "one.snf"))
    assert r.returncode == 2 and "too small" in r.stderr and "at least" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "one.snf").exists()


def test_a_file_larger_than_the_inputs_png_is_said(tmp_path):
    flat = tmp_path / "flat.png"  # a flat picture: its PNG is tiny, any field is larger
    Image.fromarray(np.full((16, 24, 3), 90, np.uint8)).save(flat)
    r = _encode(str(flat), "-o", str(tmp_path / "flat.snf"), *QUICK, "--quiet")
    assert r.returncode == 0 and "larger than this picture as a lossless PNG" in r.stderr


def test_field_grid_refuses_the_sirens_options():
    r = _encode("any.png", "-o", "any.snf", "--field", "grid", "--widths", "10,20")
    assert r.returncode == 2 and "--widths applies to the siren field only" in r.stderr
