"""The latent field family (format_spec.md section 11): integer ARM bit-exact in numpy, plain
Python and C; conformance vectors; a tiny encode decoded at every level and every prefix;
bad input charged to its level; hard limits before allocation; settings."""
import json
import os

import msgpack
import numpy as np
import pytest

from snf.decode.decoder import decompress, render_image
from snf.field import latent as L
from snf.format import container as C, latentcode as lc
from snf.format.container import Parser, SnfError, read
from snf.settings import EncodeSettings, SettingsError

HERE = os.path.join(os.path.dirname(__file__), "vectors", "latent")
with open(os.path.join(HERE, "manifest.json")) as f:
    MANIFEST = json.load(f)


def _bytes(sub, name):
    with open(os.path.join(HERE, sub, name + ".snf"), "rb") as f:
        return f.read()


def _random_arm(rng, width=7, layers=3, big=False):
    arch = L.LatentArch(((1,), (0,)), arm=(width, layers))
    ws = []
    for t in arch.arm_tensors():
        hi = L.WEIGHT_MAX if big else 400
        ws.append(rng.integers(-hi, hi + 1, t.shape).astype(np.int64))
    return ws


def test_integer_arm_numpy_python_agree_including_saturation():
    rng = np.random.default_rng(0)
    for big in (False, True):
        arm = _random_arm(rng, big=big)
        ctx = rng.integers(-L.LATENT_MAX, L.LATENT_MAX + 1, (300, L.N_CONTEXT))
        ctx[:100] = rng.integers(-3, 4, (100, L.N_CONTEXT))
        pred, s = L.arm_int(ctx, arm)
        for i in range(0, 300, 7):
            assert L.arm_int_one(ctx[i].tolist(), [w.tolist() for w in arm]) == (pred[i], s[i])
        assert abs(pred).max() <= L.LATENT_MAX and 0 <= s.min() and s.max() < L.N_SCALES
    # floor, not truncation, in the shifts: a negative sum rounds down
    arm = [np.zeros((1, L.N_CONTEXT), np.int64), np.zeros(1, np.int64), np.zeros((2, 1), np.int64),
           np.array([-129, -129])]
    assert L.arm_int(np.zeros((1, L.N_CONTEXT), np.int64), arm) == (np.array([-1]), np.array([0]))


@pytest.mark.skipif(lc._fast is None, reason="C decoder not built")
def test_c_and_python_decoders_agree_on_random_grids():
    rng = np.random.default_rng(1)
    arch = L.LatentArch(((3, 2), (1,), (0,)), syn=(4,), conv=1, arm=(5, 2))
    size = (21, 13)
    ws = [rng.normal(0, 0.5, t.shape).astype(np.float32) for t in arch.weight_tensors()]
    ws[len(arch.arm_tensors()) - 1][:] = [0.2, 30.0]
    wpart, deq = lc.encode_weights(arch, ws)
    arm = lc.arm_weights(deq, arch)
    grids = [np.rint(rng.laplace(0, 4, s)).astype(np.int64) for s in arch.grid_shapes(size)]
    grids[-1][3, 4] = -4095
    parent, payloads = None, []
    for k in range(1, 4):
        a, b = arch.grid_range(k)
        payloads.append(lc.encode_level(arch, k, size, grids[a:b], arm, parent, wpart if k == 1 else b""))
        parent = grids[b - 1]
    fast, got = lc._fast, {}
    try:
        for name, impl in (("c", fast), ("py", None)):
            lc._fast = impl
            earlier = []
            for k in range(1, 4):
                earlier.append(lc.decode_level(arch, k, size, payloads[k - 1], earlier))
            got[name] = earlier
    finally:
        lc._fast = fast
    flat = [g for lv in got["c"] for g in lv]
    assert all(np.array_equal(x, y) for x, y in zip(flat, [g for lv in got["py"] for g in lv]))
    assert all(np.array_equal(x, g) for x, g in zip(flat[-len(grids):], grids))
    # the same bytes cut short: both decoders refuse them the same way
    for impl in (fast, None):
        lc._fast = impl
        try:
            with pytest.raises(lc.LatentCodeError, match="truncated|end"):
                lc.decode_level(arch, 3, size, payloads[2][:-2], got["c"][:2])
        finally:
            lc._fast = fast


@pytest.mark.parametrize("name", sorted(MANIFEST["good"]))
def test_good_latent_vector(name):
    want = MANIFEST["good"][name]
    p = read(_bytes("good", name))
    assert p.error is None and p.complete == want["complete"] and p.levels_complete == want["levels"]
    w, h = want["size"]
    for k in range(1, want["levels"] + 1):
        got = b"".join(np.asarray(t, "<f4").tobytes() for t in p.levels[k - 1])
        assert got.hex() == want["values"][k - 1], f"level {k}: decoded values differ"
        expect = np.frombuffer(bytes.fromhex(want["samples"][k - 1]), "u1").astype(np.int32)
        pic = render_image(p, k).astype(np.int32)
        assert pic.shape == (h, w, want["channels"])
        assert np.abs(pic.ravel() - expect).max() <= 1


def test_good_latent_vector_with_the_python_reference_decoder():
    fast = lc._fast
    lc._fast = None
    try:
        test_good_latent_vector("latent-c3")
    finally:
        lc._fast = fast


@pytest.mark.parametrize("name", sorted(MANIFEST["bad"]))
def test_bad_latent_vector(name):
    want = MANIFEST["bad"][name]
    data = _bytes("bad", name)
    expect = (want["kind"], want["level"], want["levels_complete"], want["complete"])
    p = read(data)
    assert (p.error.kind, p.error.level, p.levels_complete, p.complete) == expect, str(p.error)
    parser = Parser()
    for i in range(0, len(data), 7):
        parser.feed(data[i:i + 7])
    q = parser.finish()
    assert (q.error.kind, q.error.level, q.levels_complete) == expect[:3]
    if p.levels_complete:  # what did arrive still decodes
        assert decompress(data)["level"] == p.levels_complete


def test_hard_limits_refuse_before_allocating():
    h = {"field": "latent", "signal": "image", "size": [16384, 16384], "channels": 3,
         "arch": {"grids": [[1], [0]], "d_out": 3}, "values": {"range": [-1, 1]}}
    with pytest.raises(SnfError) as e:  # 2^28 + 2^26 latents: refused from the header alone
        C.validate_header(h)
    assert e.value.kind == "header" and "latents exceed" in str(e.value)
    with pytest.raises(SnfError) as e:
        C.validate_header(dict(h, size=[64, 64], arch={"grids": [[1], [0]], "d_out": 3, "arm": [8, 9]}))
    assert e.value.kind == "header"
    with pytest.raises(SnfError) as e:
        C.validate_header(h, major=1)
    assert e.value.kind == "header"


@pytest.fixture(scope="module")
def tiny():
    from snf.encode.encoder import compress
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:24, 0:32]
    img = np.stack([xx * 7, yy * 9, (xx + yy) * 4], -1) + rng.integers(0, 40, (24, 32, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    res = compress(img, EncodeSettings(field="latent", steps=12, quality=90))
    return img, res


def test_tiny_encode_decodes_at_every_level_and_prefix(tiny, tmp_path):
    img, res = tiny
    data = res["bytes"]
    p = read(data)
    assert p.error is None and p.complete and p.levels_complete == res["arch"].levels == 3
    assert res["header"]["field"] == "latent" and "encoder" not in res["header"]
    assert p.meta["levels"] == res["levels"]  # the informative figures travel in the meta chunk
    from snf.signals.image import psnr
    for k in range(1, 4):
        out = decompress(data, level=k)["image"]
        assert out.shape == img.shape
        assert abs(psnr(img.reshape(-1, 3), out.reshape(-1, 3)) - res["levels"][k - 1]["psnr"]) < 0.02
        cut = decompress(data[:p.ends[k - 1]])  # a prefix decodes to its last whole level
        assert cut["level"] == k and np.array_equal(cut["image"], out)
    big = decompress(data, size=(64, 48))["image"]
    assert big.shape == (48, 64, 3)
    # same settings and seed: the same bytes
    from snf.encode.encoder import compress
    assert compress(img, EncodeSettings(field="latent", steps=12, quality=90))["bytes"] == data


def test_corrupt_level_is_charged_to_it_and_earlier_levels_decode(tiny):
    _, res = tiny
    data = bytearray(res["bytes"])
    p = read(bytes(data))
    data[p.ends[1] + 12] ^= 0x10  # inside level 3's chunk
    q = read(bytes(data))
    assert q.error.kind == "corrupt" and q.error.level == 3 and q.levels_complete == 2
    assert decompress(bytes(data))["level"] == 2


def test_cli_info_and_decode(tiny, tmp_path, capsys):
    from snf.cli import decode as cli_decode, info as cli_info
    _, res = tiny
    path = tmp_path / "t.snf"
    path.write_bytes(res["bytes"])
    with pytest.raises(SystemExit) as e:
        cli_info.main([str(path), "--json"])
    assert e.value.code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["field"] == "latent" and [lv["psnr"] for lv in info["levels"]] == \
        [lv["psnr"] for lv in res["levels"]]
    out = tmp_path / "l2.png"
    with pytest.raises(SystemExit) as e:
        cli_decode.main([str(path), "-o", str(out), "--level", "2", "--size", "40x30", "--quiet"])
    assert e.value.code == 0
    from PIL import Image
    assert Image.open(out).size == (40, 30)


def test_older_reader_refuses_the_family():
    data = _bytes("good", "latent-c3")
    fams = C.FAMILIES
    try:
        C.FAMILIES = ("siren", "grid")
        p = read(data)
    finally:
        C.FAMILIES = fams
    assert p.error.kind == "unsupported" and p.levels_complete == 0


def test_settings():
    s = EncodeSettings(field="latent", quality=30, effort="slow")
    assert s.header_record() == {"field": "latent", "quality": 30, "effort": "slow", "seed": 0}
    for bad in ({"field": "latent", "bits": 8}, {"field": "latent", "grow": "spatial"},
                {"effort": "slow"}, {"field": "latent", "effort": "medium"}):
        with pytest.raises(SettingsError):
            EncodeSettings(**bad)
    assert "effort" not in EncodeSettings().header_record()  # SIREN headers are unchanged


def test_meta_chunk_is_ancillary():
    data = _bytes("good", "latent-c2")
    assert msgpack.unpackb(b"\x80") == {}  # (msgpack present)
    p = read(data)
    assert p.meta == {"levels": [{}, {}]}


def test_pillow_plugin_and_server_render(tiny, tmp_path):
    from PIL import Image
    import snf
    snf.register_pillow()
    from snf.decode.preview import render_level
    _, res = tiny
    path = tmp_path / "t.snf"
    path.write_bytes(res["bytes"])
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (32, 24)
        assert im.info["level"] == 3 and im.info["psnr"] == res["levels"][2]["psnr"]
        im.seek(1)
        im.load()
    data, ext = render_level(read(res["bytes"]), 2)
    assert ext == "png" and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_model_counts_the_latent_family():
    """format_spec.md 5.1: synthesis + convs per pixel, weights + latents of levels 1..k; a
    server budget below them refuses the render before it starts."""
    from snf.format import cost
    from snf.field.latent import LatentArch
    a = LatentArch(grids=((6, 5, 4, 3), (2,), (1,), (0,)))
    assert a.macs() == 7 * 16 + 16 * 16 + 16 * 3 + 2 * 9 * 3 * 3
    weights = sum(t.size for t in a.weight_tensors())
    assert a.params(1, (768, 512)) == weights + 12 * 8 + 16 * 24 + 32 * 48 + 64 * 96
    assert a.params(4, (768, 512)) == a.params(3, (768, 512)) + 768 * 512
    header = {"signal": "image", "size": [768, 512]}
    c = cost.check(header, a, 4)
    assert c.macs == a.macs() * 768 * 512 and c.params == a.params(4, (768, 512))
    with pytest.raises(cost.CostError, match="multiply-adds"):
        cost.check(header, a, 4, budget=cost.Budget(macs=c.macs - 1))



def test_a_hostile_meta_chunk_is_ignored_and_snf_info_stays_strict_json(tmp_path):
    """The meta chunk is informative (section 11.2): a NaN PSNR, a bin value or nesting past
    the header's depth rule must neither reach snf-info's JSON nor make the file unreadable."""
    import subprocess
    import sys
    from snf import compress
    img = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    body = compress(img, field="latent", steps=3)["bytes"]
    head = read(body, decode=False)
    deep = []
    for _ in range(C.MAX_HEADER_DEPTH + 2):
        deep = [deep]
    for meta in ({"levels": [{"psnr": float("nan")}] * head.arch.levels}, {"encoder": b"\x00bin"},
                 {"levels": deep}):
        hostile = body[:head.ends[-1]] + C.chunk(C.T_META, 0, msgpack.packb(meta, use_bin_type=True)) \
            + C.chunk(C.T_END, 0, b"")
        f = tmp_path / "m.snf"
        f.write_bytes(hostile)
        r = subprocess.run([sys.executable, "-c", "from snf.cli.info import main; main()", str(f), "--json"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
        assert info["levels_complete"] == head.arch.levels and info["complete"]
        assert all(lv["psnr"] is None for lv in info["levels"]) and not isinstance(info["encoder"], str)


def test_training_pieces_match_their_reference_operations():
    """The trainer's rewritten pieces (soft rounding, the channels-first synthesis with its
    shifted-mix 3x3 convs) compute what the reference operations do."""
    import torch
    import torch.nn.functional as F
    from snf.encode.conv3x3 import conv3x3
    from snf.encode.latent_model import LatentModel, soft_round
    from snf.field.latent import LatentArch
    y = torch.linspace(-3.2, 3.2, 257)
    off = y[(y - y.floor() - 0.5).abs() > 0.01]  # away from the half-way points
    assert (soft_round(off, 1e-3) - torch.round(off)).abs().max() < 1e-3  # a low temperature: rounding
    assert (soft_round(y, 10.0) - y).abs().max() < 0.01          # a high temperature: the identity
    assert bool((soft_round(y, 0.3)[1:] >= soft_round(y, 0.3)[:-1]).all())  # monotone
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(3, 9, 13, generator=g), torch.randn(3, 3, 3, 3, generator=g), torch.randn(3, generator=g)
    assert torch.allclose(conv3x3(x, w, b), F.conv2d(x[None], w, b, padding=1)[0], atol=1e-5)
    arch = LatentArch(((2,), (1,), (0,)), d_out=3)
    m = LatentModel(arch, (12, 8), seed=1)
    for p in list(m.latents) + list(m.syn):
        p.data.normal_(0, 0.5, generator=g)
    q = m.quantised_latents("round")
    out = m.synthesis(q, 3)
    # the same synthesis in the (N, C) layout with the library's conv
    feats = torch.stack([F.interpolate(t[None, None], size=(8, 12), mode="bilinear", align_corners=False).reshape(-1)
                         for t in q], 1)
    p = list(m.syn)
    h = F.relu(F.linear(F.relu(F.linear(feats, p[0], p[1])), p[2], p[3]))
    img = F.linear(h, p[4], p[5]).T.reshape(1, 3, 8, 12)
    for j in range(arch.conv):
        img = img + F.conv2d(img, p[6 + 2 * j], p[7 + 2 * j], padding=1)
    assert torch.allclose(out, img, atol=1e-4)
    m.temperature = 0.2
    soft = m.quantised_latents("soft", torch.Generator().manual_seed(3))
    assert all((s - t).abs().max() <= 1.0 for s, t in zip(soft, m.latents))  # within noise + rounding of y


def test_small_pictures_get_a_smaller_network_and_more_steps():
    from snf.encode.latent_encoder import EFFORTS, default_arch, default_steps
    small, big = default_arch((192, 128), 3), default_arch((768, 512), 3)
    assert small.grids == ((5, 4, 3), (2,), (1,), (0,)) and big.grids == ((6, 5, 4, 3), (2,), (1,), (0,))
    n = lambda a: sum(t.size for t in a.weight_tensors())  # noqa: E731
    assert n(small) < n(big) / 2
    assert default_steps((192, 128), "fast") > default_steps((768, 512), "fast") == EFFORTS["fast"]["steps"]
    assert default_steps((192, 128), "slow") == EFFORTS["slow"]["steps"]


def test_quality_maps_to_a_falling_rate_weight_with_a_knee_at_90():
    from snf.encode.latent_encoder import lambda_of_quality as lam
    assert all(lam(q) > lam(q + 1) for q in range(100))
    assert lam(0) == pytest.approx(0.1) and lam(90) == pytest.approx(10 ** -3.25)
    assert lam(100) == pytest.approx(10 ** -4.5)          # the top reaches far lower than the line below 90
    assert lam(100) < 10 ** (-1 - 0.025 * 100) / 5


def test_weight_steps_are_chosen_by_rate_and_distortion():
    """A rate weight near zero keeps the finest synthesis step; a huge one the coarsest; each
    choice is a file the reader decodes to the values the encoder rendered."""
    from snf.decode.latent_render import LatentNetwork
    from snf.decode.render import to_samples
    from snf.encode.latent_encoder import WEIGHT_LEVEL_CHOICES, choose_weight_steps
    from snf.field.latent import LatentArch
    arch = LatentArch(((2,), (1,), (0,)), syn=(8,), conv=1, arm=(8, 1), d_out=3)
    rng = np.random.default_rng(4)
    size = (48, 32)
    ws = [rng.normal(0, 0.15, t.shape).astype(np.float32) for t in arch.weight_tensors()]
    grids = [rng.integers(-3, 4, s).astype(np.int64) for s in arch.grid_shapes(size)]
    lat = [g.astype(np.float32) for g in grids]
    values = LatentNetwork(arch, [ws + lat[:1], lat[1:2], lat[2:]], 3).grid(size)
    img = to_samples(values, (-1.0, 1.0)).reshape(size[1], size[0], 3)  # what the float weights make
    fine = choose_weight_steps(arch, ws, grids, img, 1e-12)
    coarse = choose_weight_steps(arch, ws, grids, img, 1e3)
    assert fine[2] == max(WEIGHT_LEVEL_CHOICES) and coarse[2] == min(WEIGHT_LEVEL_CHOICES)
    assert len(coarse[0]) < len(fine[0])
    for wpart, deq, _ in (fine, coarse):
        back, _ = lc.decode_weights(arch, wpart)
        assert all(np.array_equal(a, b) for a, b in zip(back, deq))


def test_levels_merges_the_finest_grids_and_is_recorded():
    from snf.encode.latent_encoder import default_arch
    assert default_arch((768, 512), 3, 1).grids == ((6, 5, 4, 3, 2, 1, 0),)
    assert default_arch((768, 512), 3, 2).grids == ((6, 5, 4, 3), (2, 1, 0))
    assert default_arch((768, 512), 3, 4) == default_arch((768, 512), 3)
    with pytest.raises(ValueError, match="1..4 levels"):
        default_arch((768, 512), 3, 5)
    s = EncodeSettings(field="latent", levels=2)
    assert s.header_record()["levels"] == 2 and "levels" not in EncodeSettings(field="latent").header_record()
    with pytest.raises(SettingsError, match="latent field only"):
        EncodeSettings(levels=2)
    with pytest.raises(SettingsError, match="levels must be"):
        EncodeSettings(field="latent", levels=0)
