"""Schemathesis against snf-serve's /openapi.json: every declared response, no 5xx, `--checks all`.

Bounded by example count with a fixed seed, so the run is the same each time. The
server gets the upload token (so the form parser is fuzzed too) and an encoder
memory limit of 1 MiB, so no fuzzed upload ever starts an encode (413 instead).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytest.register_assert_rewrite("snf_serve_fixtures")
from snf_serve_fixtures import BIN, TOKEN, Served  # noqa: E402

pytest_plugins = ["snf_serve_fixtures"]
CONFIG = Path(__file__).parent / "data" / "schemathesis.toml"


def test_schemathesis_finds_no_failures(snf_assets, tmp_path):
    st = BIN / "st" if (BIN / "st").exists() else shutil.which("st")
    if st is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    folder = tmp_path / "fuzzed"
    folder.mkdir()
    (folder / "demo.snf").write_bytes(snf_assets["raw"])
    served = Served(folder, TOKEN, "--max-encode-mb", "1")
    try:
        r = subprocess.run([str(st), "--config-file", str(CONFIG), "run", served.base + "/openapi.json",
                            "--checks", "all", "--max-examples", "4", "--seed", "13",
                            "--phases", "coverage,fuzzing", "--header", f"Authorization: Bearer {TOKEN}",
                            "--no-color"], capture_output=True, text=True, timeout=900)
    finally:
        served.stop()
    out = r.stdout + r.stderr
    assert r.returncode == 0 and " passed" in out, out[-4000:]
    assert "Traceback" not in served.log.read_text()
