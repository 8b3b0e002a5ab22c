"""Every example of the README (and the Python one of docs/usage.md) runs, against the
shipped sample, and says what its comment says (issue 27, item 6): the byte cut decodes the
level it names, the sizes are what they claim, the Python snippet runs as printed."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _block(path: str, marker: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    after = text.split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


def _lines() -> list:
    """(command, comment) for each line of the README's first-steps block."""
    out = []
    for line in _block("README.md", "readme-examples").splitlines():
        cmd, _, comment = line.partition("#")
        if cmd.strip():
            out.append((cmd.strip(), comment.strip()))
    return out


@pytest.fixture
def cwd(tmp_path):
    """A scratch folder that sees the repository's samples/ (the examples write into their cwd)."""
    os.symlink(os.path.join(ROOT, "samples"), tmp_path / "samples")
    return tmp_path


def _run(cmd: str, cwd, extra: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(["bash", "-c", cmd + extra], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_the_readme_examples_are_these():
    verbs = [shlex.split(cmd)[0] for cmd, _ in _lines()]
    assert verbs == ["snf-info", "head", "snf-decode", "snf-decode", "snf-encode"]


@pytest.mark.parametrize("i", range(4))
def test_each_readme_decode_example_does_what_its_comment_says(i, cwd):
    from PIL import Image
    cmd, comment = _lines()[i]
    r = _run(cmd, cwd)
    assert r.returncode == 0, r.stderr
    if cmd.startswith("snf-info"):
        n = int(re.match(r"(\d+) levels", comment).group(1))
        assert f"{n}/{n} levels complete" in r.stdout
    elif cmd.startswith("head"):
        quoted = re.search(r'"(.*)"', comment).group(1)  # "decoded level 2 of 4"
        assert quoted in r.stderr, r.stderr
    elif "--size" in cmd:
        w, h = map(int, re.search(r"--size (\d+)x(\d+)", cmd).groups())
        assert Image.open(cwd / "big.png").size == (w, h)
    else:
        k = int(re.search(r"--level (\d+)", cmd).group(1))
        assert f"decoded level {k} of" in r.stderr


def test_the_readme_encode_example_runs(cwd):
    """The encode line as printed, with a short budget appended (the full one takes minutes)."""
    cmd, _ = _lines()[4]
    r = _run(cmd, cwd, " --steps 2 --quiet")
    assert r.returncode == 0, r.stderr
    out = shlex.split(cmd)[shlex.split(cmd).index("-o") + 1]
    assert (cwd / out).read_bytes()[:4] == (cwd / "samples" / "kodim03.snf").read_bytes()[:4]


def test_the_python_example_runs_as_printed(cwd, capfd):
    code = _block("docs/usage.md", "python-example")
    os.chdir(cwd)
    scope = {}
    exec(compile(code, "docs/usage.md", "exec"), scope)
    out = scope["out"]
    assert len(out["levels"]) >= 1 and all(lv["psnr"] > 15 for lv in out["levels"])
    pic, part = scope["pic"], scope["part"]
    levels = [int(n) for n in re.findall(r'"level": (\d+)', code)]  # what the comments promise
    assert [pic["level"], part["level"]] == levels
    assert pic["image"].shape == (128, 192, 3) and pic["image"].dtype.name == "uint8"
    assert "level 1/" in capfd.readouterr().err  # quiet=False: progress on stderr


def test_the_shipped_sample_is_the_default_encode_of_the_shipped_image():
    """samples/kodim03.snf: the README's numbers come from this encode (settings as the header says)."""
    from snf.cli.info import describe
    info = describe(os.path.join(ROOT, "samples", "kodim03.snf"))
    assert info["complete"] and (info["width"], info["height"]) == (768, 512)
    from snf.settings import EncodeSettings
    pixels = info["width"] * info["height"]
    made = EncodeSettings.from_dict({k: v for k, v in info["encoder"]["settings"].items() if k != "deadline"})
    assert made.widths_for(pixels) == EncodeSettings().widths_for(pixels)  # the default (fitted) widths
    assert made.with_(widths=None).for_signal("image").header_record() == \
        EncodeSettings().for_signal("image").header_record()  # every other setting the default
    assert not any(lv.get("steps_asked") for lv in info["levels"])  # every step trained
