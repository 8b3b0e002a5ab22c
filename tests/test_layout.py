"""The package's boundaries: decoding, serving and fetching never import torch; the
viewer ships as package data; the viewer's constants are generated from Python."""
import fnmatch
import os
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIEWER = os.path.join(ROOT, "src", "snf", "viewer")

TORCH_FREE = {
    "decoder": "import snf, snf.decode.decoder, snf.decode.render, snf.decode.pillow_plugin, snf.format.container, "
               "snf.format.quant, snf.field.arch, snf.cli.decode, snf.cli.info, snf.settings; "
               "snf.register_pillow()",
    "server": "from snf.serve.app import create_app; import snf.serve.cli, snf.serve.worker, snf.serve.cluster_jobs",
    "batch": "import snf.cli.encode, snf.batch.plan, snf.batch.run, snf.batch.local, snf.batch.cluster",
    "client": "import snf.fetch.fetch, snf.fetch.stream",
}


@pytest.mark.parametrize("part", sorted(TORCH_FREE))
def test_never_imports_torch(part):
    code = TORCH_FREE[part] + "\nimport sys\nbad = sorted(m for m in sys.modules if m == 'torch' or " \
        "m.startswith('torch.') or m.startswith('snf.encode'))\nprint(','.join(bad))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"importing the {part} loaded {r.stdout.strip()}"


def test_viewer_files_ship_as_package_data():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        globs = tomllib.load(f)["tool"]["setuptools"]["package-data"]["snf.viewer"]
    files = []
    for folder, dirs, names in os.walk(VIEWER):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        files += [os.path.relpath(os.path.join(folder, n), VIEWER) for n in names if not n.endswith((".py", ".pyc"))]
    assert "viewer.html" in files and "snf-constants.js" in files
    missed = [p for p in files if not any(fnmatch.fnmatch(p, g) and p.count("/") == g.count("/") for g in globs)]
    assert missed == [], f"not shipped with the package: {missed}"


def test_js_constants_are_generated_from_python():
    from snf.viewer import constants
    with open(constants.PATH, encoding="utf-8") as f:
        assert f.read() == constants.render(), "run: python -m snf.viewer.constants"


def test_no_mode_name_comparisons_outside_the_arch():
    """Mode behaviour lives in snf/field/arch.py's MODE_RULES (and the generated JS copy)."""
    offenders = []
    for folder, _, names in os.walk(os.path.join(ROOT, "src", "snf")):
        for n in names:
            if n.endswith((".py", ".js")) and n not in ("arch.py", "snf-constants.js"):
                with open(os.path.join(folder, n), encoding="utf-8") as f:
                    for i, line in enumerate(f, 1):
                        if any(s in line for s in ('mode == "', 'mode != "', 'mode === "', 'mode !== "')):
                            offenders.append(f"{n}:{i}")
    assert offenders == []
