"""The viewer's JS grid decoder (snf-grid.js through snf-parse.js), run by Node, against numpy."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from snf.decode.decoder import render_image
from snf.format.container import read

VIEWER = Path(__file__).resolve().parent.parent / "src" / "snf" / "viewer"

SCRIPT = """
import { readFileSync } from "node:fs";
import { Parser } from "./snf-parse.js";
import { renderGrid } from "./render-grid-js.js";
import { toRGBA } from "./snf-image.js";
const data = new Uint8Array(readFileSync(process.argv[2]));
const [w, h] = JSON.parse(process.argv[3]);
const p = new Parser();
p.feed(data);
const out = { error: p.error ? p.error.message : null, errorLevel: p.error ? p.error.level : null, levels: [] };
for (let k = 1; k <= p.levels.length; k++) {
  const v = renderGrid(p.arch, p.levels, k, w, h);
  const rgba = toRGBA(v, p.arch.d_out, p.header.values.range, 8);
  out.levels.push(Array.from(rgba));
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    d = tmp_path_factory.mktemp("viewer")
    shutil.copytree(VIEWER, d / "v", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (d / "v" / "package.json").write_text('{"type": "module"}')
    (d / "v" / "run.js").write_text(SCRIPT)
    return d / "v"


def run_js(node_dir, data: bytes, size) -> dict:
    f = node_dir / "in.snf"
    f.write_bytes(data)
    r = subprocess.run(["node", str(node_dir / "run.js"), str(f), json.dumps(list(size))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_js_matches_numpy_every_level_any_size(node_dir, tiny_image):
    from snf.encode.encoder import compress
    enc = compress(tiny_image, field="grid", grid="3.2:6,1:8,0:8", steps=12, seed=3)
    parsed = read(enc["bytes"])
    for size in ((40, 32), (23, 11)):
        out = run_js(node_dir, enc["bytes"], size)
        assert out["error"] is None and len(out["levels"]) == 3
        for k, rgba in enumerate(out["levels"], 1):
            js = np.array(rgba, np.int16).reshape(size[1], size[0], 4)[..., :3]
            ref = render_image(parsed, k, size).astype(np.int16)
            assert np.abs(js - ref).max() <= 1
    # a corrupt level-2 chunk: level 1 still decodes, the error names level 2
    bad = bytearray(enc["bytes"])
    bad[parsed.ends[0] + 12] ^= 1
    out = run_js(node_dir, bytes(bad), (40, 32))
    assert len(out["levels"]) == 1 and out["errorLevel"] == 2 and "corrupt" in out["error"]
