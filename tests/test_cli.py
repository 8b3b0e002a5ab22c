"""The commands as a user runs them: exit codes, one-line errors, no half-written files."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

BIN = os.path.dirname(sys.executable)


def cli(name, *args, timeout=120):
    r = subprocess.run([os.path.join(BIN, name), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture(scope="module")
def snf_file(tmp_path_factory, tiny_png):
    out = tmp_path_factory.mktemp("cli") / "t.snf"
    r = cli("snf-encode", tiny_png, "-o", out, "--widths", "8,16,24", "--layers", "3", "--steps", "30", "--quiet")
    assert r.returncode == 0 and r.stderr == ""
    return out


def test_encode_is_deterministic_and_info_reports_levels(snf_file, tiny_png, tmp_path):
    again = tmp_path / "again.snf"
    cli("snf-encode", tiny_png, "-o", again, "--widths", "8,16,24", "--layers", "3", "--steps", "30", "--quiet")
    assert again.read_bytes() == snf_file.read_bytes()
    info = json.loads(cli("snf-info", snf_file, "--json").stdout)
    assert (info["width"], info["height"], info["levels_complete"]) == (40, 32, 3)
    assert [lv["level"] for lv in info["levels"]] == [1, 2, 3]
    assert info["levels"][-1]["bytes"] < os.path.getsize(snf_file)
    assert all(lv["psnr"] > 10 for lv in info["levels"])
    assert "level" in cli("snf-info", snf_file).stdout


def test_decode_levels_and_sizes(snf_file, tmp_path):
    out = tmp_path / "o.png"
    r = cli("snf-decode", snf_file, "-o", out, "--level", 2)
    assert r.returncode == 0 and "level 2 of 3" in r.stderr
    assert Image.open(out).size == (40, 32)
    r = cli("snf-decode", snf_file, "-o", tmp_path / "big.png", "--size", "80x64")
    assert r.returncode == 0 and Image.open(tmp_path / "big.png").size == (80, 64)


def test_partial_file_decodes_highest_complete_level(snf_file, tmp_path):
    info = json.loads(cli("snf-info", snf_file, "--json").stdout)
    part = tmp_path / "part.snf"
    part.write_bytes(snf_file.read_bytes()[: info["levels"][1]["bytes"] + 5])
    r = cli("snf-decode", part, "-o", tmp_path / "p.png")
    assert r.returncode == 0 and "level 2 of 3" in r.stderr and "1..2" in r.stderr
    r = cli("snf-decode", part, "-o", tmp_path / "p3.png", "--level", 3)
    assert r.returncode == 2 and not (tmp_path / "p3.png").exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "level 3" in r.stderr


def _bad_cases(tmp_path, tiny_png, snf_file):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    return [
        ("snf-encode", [text, "-o", tmp_path / "a.snf", "--steps", 1], "not a readable image", tmp_path / "a.snf"),
        ("snf-encode", [tmp_path / "missing.png", "-o", tmp_path / "b.snf"], "no such file", tmp_path / "b.snf"),
        ("snf-encode", [tiny_png, "-o", tmp_path / "c.snf", "--mode", "magic"], "--mode 'magic' is not supported", tmp_path / "c.snf"),
        ("snf-encode", [tiny_png, "-o", tmp_path / "d.snf", "--bits", 2], "--bits", tmp_path / "d.snf"),
        ("snf-encode", [tiny_png, "-o", tmp_path / "e.snf", "--widths", "30,20"], "increasing", tmp_path / "e.snf"),
        ("snf-encode", [tiny_png, "-o", "/nonexistent/dir/x.snf"], "does not exist", None),
        ("snf-decode", [text, "-o", tmp_path / "f.png"], "not an .snf", tmp_path / "f.png"),
        ("snf-decode", [snf_file, "-o", tmp_path / "g.png", "--size", "100000x100000"], "size", tmp_path / "g.png"),
        ("snf-decode", [snf_file, "-o", tmp_path / "h.png", "--level", 9], "does not exist", tmp_path / "h.png"),
        ("snf-decode", [snf_file, "-o", tmp_path / "i.xyz"], "extension", tmp_path / "i.xyz"),
        ("snf-info", [text], "not an .snf", None),
        ("snf-info", [tmp_path / "nothing.snf"], "No such file", None),
    ]


def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, tiny_png, snf_file):
    for name, args, message, output in _bad_cases(tmp_path, tiny_png, snf_file):
        r = cli(name, *args)
        assert r.returncode == 2, (name, args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, (name, r.stderr)
        assert output is None or not output.exists()


def test_unwritable_output_fails_before_training(tmp_path, tiny_png):
    for target in ("/proc/x.snf", tmp_path / "notes.txt" / "x.snf"):
        (tmp_path / "notes.txt").write_text("a file, not a folder")
        r = cli("snf-encode", tiny_png, "-o", target, "--steps", 100000)
        assert r.returncode == 2 and ("not writable" in r.stderr or "does not exist" in r.stderr), r.stderr


def test_pillow_plugin_opens_levels(snf_file, tmp_path):
    import snf as codec
    codec.register_pillow()
    with Image.open(snf_file) as im:
        assert im.format == "SNF" and im.n_frames == 3 and im.tell() == 2 and im.info["level"] == 3
        top = np.asarray(im.convert("RGB"))
        im.seek(0)
        low = np.asarray(im.convert("RGB"))
        assert im.info["level"] == 1 and top.shape == low.shape == (32, 40, 3)
    ref = tmp_path / "ref.png"
    cli("snf-decode", snf_file, "-o", ref, "--level", 1)
    assert np.array_equal(low, np.asarray(Image.open(ref)))


def test_grid_field_through_every_command(tmp_path, tiny_png):
    """snf-encode --field grid, then snf-info, snf-decode --level/--size (a corrupt level
    reported at its level, earlier ones still written) and the Pillow plugin."""
    f = tmp_path / "g.snf"
    r = cli("snf-encode", tiny_png, "-o", f, "--field", "grid", "--grid", "3.2:6,1:6", "--steps", "10", "--quiet")
    assert r.returncode == 0 and r.stderr == ""
    info = json.loads(cli("snf-info", f, "--json").stdout)
    assert info["levels_complete"] == 2 and [lv["level"] for lv in info["levels"]] == [1, 2]
    r = cli("snf-decode", f, "-o", tmp_path / "1.png", "--level", 1, "--size", "20x16")
    assert r.returncode == 0 and Image.open(tmp_path / "1.png").size == (20, 16)
    import snf as codec
    from snf.format.container import read
    codec.register_pillow()
    with Image.open(f) as im:
        assert im.n_frames == 2 and np.asarray(im.convert("RGB")).shape == (32, 40, 3)
    bad = bytearray(f.read_bytes())
    bad[read(bytes(bad)).ends[1] - 6] ^= 0xFF  # inside level 2's chunk
    (tmp_path / "bad.snf").write_bytes(bytes(bad))
    r = cli("snf-decode", tmp_path / "bad.snf", "-o", tmp_path / "b.png")
    assert "decoded level 1 of 2" in r.stderr and "levels 1..1 of 2" in r.stderr and (tmp_path / "b.png").exists()
