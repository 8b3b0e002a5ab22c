"""The viewer's JS latent decoder and renderer (snf-latent.js, render-latent-js.js through
snf-parse.js), run by Node on a real encode, against Python: the same integers bit for bit
(weights and every latent of every level), pictures within one 8-bit step of numpy at the
stored size and another, and a damaged level charged to it with earlier levels kept."""
import base64
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
import { renderLatent } from "./render-latent-js.js";
import { toRGBA } from "./snf-image.js";
const data = new Uint8Array(readFileSync(process.argv[2]));
const sizes = JSON.parse(process.argv[3]);
const p = new Parser();
for (let i = 0; i < data.length; i += 7) p.feed(data.subarray(i, i + 7));
p.finish();
const hex = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
const out = { error: p.error ? p.error.message : null, errorLevel: p.error ? p.error.level : null,
              kind: p.error ? p.error.kind : null, values: [], renders: [] };
for (let k = 1; k <= p.levels.length; k++) {
  out.values.push(p.levels[k - 1].map(({ values }) => hex(values)).join(""));
  out.renders.push(sizes.map(([w, h]) => Buffer.from(toRGBA(renderLatent(p.arch, p.levels, k, w, h), p.arch.d_out,
    p.header.values.range, 8)).toString("base64")));
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    d = tmp_path_factory.mktemp("viewer")
    shutil.copytree(VIEWER, d / "v", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (d / "v" / "run.js").write_text(SCRIPT)
    return d / "v"


def random_file(size=(45, 37), seed=11, arch=None) -> bytes:
    """A latent file built without training (snf.format.latentcode's encoder on random weights and
    Laplace latents): the reference encoder's default shape (synthesis [16, 16], 2 conv layers, ARM
    12 x 2, several grids in level 1), sides no factor divides, latents of every size up to 900 and
    an ARM whose predictions and scale indices vary with the context."""
    from snf.field import latent as L
    from snf.format import container as C, latentcode as lc
    arch = arch or L.LatentArch(((4, 3), (2,), (1,), (0,)), syn=(16, 16), conv=2, arm=(12, 2), d_out=3)
    rng = np.random.default_rng(seed)
    ws = []
    for t in arch.weight_tensors():
        a = rng.uniform(-0.5, 0.5, t.shape)
        if t.name == "arm.out.b":
            a = np.array([0.3, 24.0])
        if t.name == "arm.out.w":
            a[1] *= 6
        ws.append(a.astype(np.float32))
    wpart, deq = lc.encode_weights(arch, ws)
    arm = lc.arm_weights(deq, arch)
    grids = [np.rint(rng.laplace(0, 3.0 / (g + 1), s)).astype(np.int64) for g, s in enumerate(arch.grid_shapes(size))]
    grids[min(2, len(grids) - 1)][3, 4], grids[-1][7, 9] = 900, -611
    payloads, parent = [], None
    for k in range(1, arch.levels + 1):
        a, b = arch.grid_range(k)
        payloads.append(lc.encode_level(arch, k, size, grids[a:b], arm, parent, wpart if k == 1 else b""))
        parent = grids[b - 1]
    header = {"field": "latent", "signal": "image", "size": list(size), "channels": arch.d_out, "arch": arch.to_dict(),
              "values": {"range": [-1, 1]}}
    return C.build(header, payloads, meta={"levels": [{}] * arch.levels})


def odd_arch():
    """The other corners of the limits: no hidden layer and no conv, one output; and the widest."""
    from snf.field import latent as L
    return [L.LatentArch(((3,), (1, 0)), syn=(), conv=0, arm=(3, 1), d_out=1),
            L.LatentArch(((5, 4, 3), (2,), (1,), (0,)), syn=(40, 24, 8), conv=4, arm=(32, 4), d_out=4)]


@pytest.fixture(scope="module", params=["random", "trained", "bare", "widest"])
def encoded(request):
    if request.param == "random":
        return random_file()
    if request.param in ("bare", "widest"):
        return random_file(size=(45, 37), seed=13, arch=odd_arch()[request.param == "widest"])
    from snf.encode.encoder import compress
    from snf.settings import EncodeSettings
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:40, 0:56]
    img = np.stack([xx * 4, yy * 6, 128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 4.0)], -1) + rng.integers(0, 30, (40, 56, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return compress(img, EncodeSettings(field="latent", steps=12, quality=90))["bytes"]


def run_js(node_dir, data: bytes, sizes) -> dict:
    f = node_dir / "in.snf"
    f.write_bytes(data)
    r = subprocess.run(["node", str(node_dir / "run.js"), str(f), json.dumps(sizes)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_js_decodes_the_same_integers_and_renders_within_one_step(node_dir, encoded):
    parsed = read(encoded)
    assert parsed.error is None and parsed.arch.levels >= 2
    size = parsed.header["size"]
    if size == [45, 37]:  # the random files: every level holds latents other than zero
        assert all(np.any(np.asarray(lv[-1])) for lv in parsed.levels)
    sizes = [size, [31, 45]]
    out = run_js(node_dir, encoded, sizes)
    assert out["error"] is None and len(out["values"]) == parsed.arch.levels
    for k in range(1, parsed.arch.levels + 1):
        want = b"".join(np.asarray(a, "<f4").tobytes() for a in parsed.levels[k - 1]).hex()
        assert out["values"][k - 1] == want, f"level {k}: the JS decoder's integers differ from Python's"
        for (w, h), b64 in zip(sizes, out["renders"][k - 1]):
            ref = render_image(parsed, k, (w, h)).astype(int).reshape(h, w, -1)
            js = np.frombuffer(base64.b64decode(b64), np.uint8).astype(int).reshape(h, w, 4)
            js = js[..., :1] if ref.shape[2] == 1 else js[..., :ref.shape[2]]
            assert np.abs(js - ref).max() <= 1, f"level {k} at {w}x{h}"
    if size == [45, 37]:  # levels differ: matching each is not matching a constant
        first, last = (render_image(parsed, k).astype(int) for k in (1, parsed.arch.levels))
        assert np.abs(first - last).max() > 10


def test_a_damaged_level_is_charged_to_it_and_earlier_levels_decode(node_dir, encoded):
    parsed = read(encoded)
    bad = bytearray(encoded)
    bad[parsed.ends[0] + 12] ^= 0x10  # inside level 2's chunk: its CRC fails
    out = run_js(node_dir, bytes(bad), [[8, 6]])
    assert (out["kind"], out["errorLevel"], len(out["values"])) == ("corrupt", 2, 1)
    cut = run_js(node_dir, encoded[:parsed.ends[1] - 3], [[8, 6]])
    assert (cut["kind"], cut["errorLevel"], len(cut["values"])) == ("truncated", 2, 1)
