"""The viewer's JavaScript, run by Node (node:test), from pytest: CI runs only pytest.

tests/viewer/*.test.mjs import the viewer's ES modules (src/snf/viewer/, which has a
package.json saying "type": "module") and read the conformance vectors in
tests/vectors/, the same files tests/test_vectors.py reads.
"""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed (.ci/run installs it)")
def test_viewer_modules_under_node():
    r = subprocess.run([NODE, "--test", "tests/viewer/"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-40:])
    assert r.returncode == 0, tail
    assert "# fail 0" in r.stdout and "# pass 0" not in r.stdout, tail
