"""The latent-grid field family: layout and limits, prefixes, numpy vs torch, old readers, corruption."""
import importlib.util
import os
import struct
import sys
import zlib

import msgpack
import numpy as np
import pytest

from snf.decode.decoder import decompress, render_image
from snf.field.grid import GridArch, GridArchError, axis_taps, parse_grid_levels
from snf.format import container, gridcode
from snf.format.container import CHUNK_HEAD, SnfError, read
from snf.settings import EncodeSettings, SettingsError

GRID = "3.2:6,1:8,0:8"


@pytest.fixture(scope="module")
def grid_encoded(tiny_image):
    from snf.encode.encoder import compress
    return compress(tiny_image, field="grid", grid=GRID, steps=12, seed=3)


def test_layout_and_payload_order():
    arch = GridArch(*parse_grid_levels(GRID), layers=2, d_out=3)
    size = (40, 32)
    assert arch.levels == 3 and arch.inputs(1) == 2 and arch.inputs(3) == 4
    assert arch.grid_shapes(1, size) == [(4, 5), (8, 10)]
    names = [t.name for t in arch.tensors(2, size)]
    assert names == ["grid2.0", "syn2.l0.w", "syn2.l0.b", "syn2.l1.w", "syn2.l1.b", "syn2.out.w", "syn2.out.b"]
    assert arch.tensors(2, size)[1].shape == (8, 3)  # reads the 3 grids of levels 1 and 2
    assert gridcode.payload_size(arch, 2, size) == 16 * 20 + sum(t.size + 4 for t in arch.tensors(2, size)[1:])
    assert GridArch.from_dict(arch.to_dict()) == arch


@pytest.mark.parametrize("grids,hidden,why", [
    ((), (), "levels"), (((11,),), (8,), "log2"), (((1,),), (129,), "width"),
    (((1,) * 9,), (8,), "grids"), (((1,), (2,)), (8,), "one synthesis width"),
])
def test_limits(grids, hidden, why):
    with pytest.raises(GridArchError, match=why):
        GridArch(grids, hidden)


def test_latent_count_checked_before_allocation():
    arch = GridArch(((0,), (0,)), (8, 8))
    with pytest.raises(GridArchError, match="exceed the limit"):
        arch.check_size((65536, 1024))
    header = {"field": "grid", "signal": "image", "size": [65536, 1024], "channels": 3,
              "arch": arch.to_dict(), "values": {"range": [-1.0, 1.0], "bit_depth": 8}}
    with pytest.raises(SnfError, match="exceed the limit"):
        container.validate_header(header, 3)


def test_settings():
    s = EncodeSettings(field="grid", grid="4.3:8,1:12")
    assert s.grid_arch(3).hidden == (8, 12)
    for bad in ("x", "4.3:8,1", "4:500", "11:8"):
        with pytest.raises(SettingsError, match="grid"):
            EncodeSettings(field="grid", grid=bad)
    with pytest.raises(SettingsError, match="field"):
        EncodeSettings(field="voxels")
    with pytest.raises(SettingsError, match="siren field only"):
        EncodeSettings(field="grid", preset="paper")


def test_taps_match_torch_bilinear():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    from snf.decode.grid_render import upsample
    for size in ((21, 13), (7, 5), (3, 2)):
        ref = torch.nn.functional.interpolate(torch.tensor(g)[None, None], size=size[::-1], mode="bilinear",
                                              align_corners=False)[0, 0].numpy()
        np.testing.assert_allclose(upsample(g, size), ref, atol=1e-5)
    i0, i1, t = axis_taps(4, 2)
    assert list(i0) == [0, 0, 0, 1] and list(i1) == [1, 1, 1, 1] and t[0] == 0 and t[-1] == 0


def test_round_trip_every_prefix(grid_encoded, tiny_image):
    from snf.signals.image import psnr
    data = grid_encoded["bytes"]
    assert data[8:10] == bytes(container.VERSION)
    full = read(data)
    assert full.error is None and full.complete
    pics = [render_image(full, k) for k in range(1, 4)]
    for k, pic in enumerate(pics, 1):
        assert psnr(pic, tiny_image) == pytest.approx(grid_encoded["levels"][k - 1]["psnr"], abs=0.006)
    ends = [0] + full.ends
    for cut in sorted({e + d for e in ends for d in (-1, 0, 1)} | {len(data)}):
        if not 0 <= cut <= len(data):
            continue
        p = read(data[:cut])
        have = p.levels_complete
        assert have == sum(1 for e in full.ends if e <= cut)
        if have:
            np.testing.assert_array_equal(decompress(data[:cut])["image"], pics[have - 1])
    # continuous: any size renders
    assert decompress(data, size=(17, 9))["image"].shape == (9, 17, 3)


def test_numpy_decoder_matches_torch(grid_encoded, tiny_image):
    torch = pytest.importorskip("torch")
    from snf.encode.grid_model import GridField, GridLevel
    parsed = read(grid_encoded["bytes"])
    arch, (w, h) = parsed.arch, parsed.header["size"]
    model = GridField(arch, (w, h))
    gen = torch.Generator().manual_seed(0)
    values = torch.zeros(w * h, 3)
    prev = None
    for k in range(1, arch.levels + 1):
        model.grow(gen)
        model.set_level(k, parsed.levels[k - 1])
        obj = GridLevel(model, k, values, 0.0, prev=prev)
        prev = obj.extend()
        ref = parsed and render_image(parsed, k).astype(int)
        y = np.clip(np.rint((prev[1].numpy() + 1) * 127.5), 0, 255).reshape(h, w, 3)
        assert np.abs(y - ref).max() <= 1


@pytest.mark.parametrize("commit,message", [
    ("e2c2dfd", "unsupported .snf version 2.0"),        # the 1.0 reader (before must-understand keys)
    ("3ca7d35", "needs grid-rans"),                      # the 2.0 reader without this family
    ("2a673a0", "needs grid-rans"),                      # the grid family's first revision (zstd payloads)
    ("7e66fa7", "needs grid-ctx"),                       # grid-rans without context-coded latents
])
def test_old_reader_refuses(grid_encoded, tmp_path, commit, message):
    """Readers before entropy-coded grid levels refuse a grid file, reading nothing: a 1.x
    reader by its version, a 2.x reader by the must-understand `requires` key (format_spec.md
    2.1), whether or not it knows the grid family's first revision. Each runs
    from its own commit's source tree, in a fresh interpreter."""
    import subprocess
    here = str(__import__("pathlib").Path(__file__).parent.parent)  # the repository root
    tree = subprocess.run(["git", "archive", commit, "src/snf"], capture_output=True, cwd=here)
    if tree.returncode != 0:
        pytest.skip("git history not available")
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=tree.stdout, check=True)
    (tmp_path / "grid.snf").write_bytes(grid_encoded["bytes"])
    code = ("import sys; from snf.format.container import read; "
            "p = read(open(sys.argv[1], 'rb').read()); "
            "print(p.header is None, getattr(p.error, 'kind', '-'), p.error)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "grid.snf")], capture_output=True, text=True,
                         cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(tmp_path / "src")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True ") and message in out.stdout
    assert commit == "e2c2dfd" or " unsupported " in out.stdout


def test_unknown_field_family_refused(grid_encoded):
    data = grid_encoded["bytes"]
    length = struct.unpack(">I", data[10:14])[0]
    header = msgpack.unpackb(data[10 + CHUNK_HEAD.size:10 + CHUNK_HEAD.size + length])
    header["field"] = "octree"
    body = msgpack.packb(header)
    bad = data[:10] + container.chunk(b"HEAD", 0, body) + data[10 + CHUNK_HEAD.size + length + 4:]
    p = read(bad)
    assert p.header is None and "unknown field family 'octree'" in str(p.error)


def test_corrupt_grid_chunk_reported_at_its_level(grid_encoded):
    data = bytearray(grid_encoded["bytes"])
    full = read(bytes(data))
    start = full.ends[1]  # level 3's chunk starts here
    data[start + CHUNK_HEAD.size + 3] ^= 0x40
    p = read(bytes(data))
    assert p.levels_complete == 2 and p.error.level == 3 and "corrupt" in str(p.error)
    assert decompress(bytes(data))["level"] == 2
    # a chunk whose CRC is right but whose payload has the wrong length: reported at its level
    good = bytes(grid_encoded["bytes"])
    s1 = full.header_end
    bad = good[:s1] + container.chunk(b"LEVL", 1, zlib.compress(b"x")[:0] or b"\x00") + good[full.ends[0]:]
    p = read(bad)
    assert p.levels_complete == 0 and p.error.level == 1


def test_publish_gives_growing_prefixes_with_the_final_level_chunks(tiny_image, grid_encoded):
    """compress(publish=...) on the grid family: after each level but the last, a valid
    prefix file (no end chunk) whose level chunks are the final file's, byte for byte."""
    from snf.encode.encoder import compress
    pre = []
    out = compress(tiny_image, field="grid", grid=GRID, steps=12, seed=3, publish=pre.append)
    assert out["bytes"] == grid_encoded["bytes"]  # publishing does not change the result
    final = read(out["bytes"])
    assert len(pre) == final.arch.levels - 1
    for k, data in enumerate(pre, 1):
        p = read(data)
        assert p.error.kind == "truncated" and not p.complete and p.levels_complete == k
        for j in range(1, k + 1):
            mine = data[p.ends[j - 2] if j > 1 else p.header_end:p.ends[j - 1]]
            theirs = out["bytes"][final.ends[j - 2] if j > 1 else final.header_end:final.ends[j - 1]]
            assert mine == theirs


def test_first_revision_grid_file_still_decodes():
    """A grid file of the family's first revision (zstd payloads, no `requires`; written by
    commit 2a673a0's encoder) decodes to the pictures that revision's reader rendered."""
    from pathlib import Path
    d = Path(__file__).parent / "golden-grid-v1"
    parsed = read((d / "tiny-grid.snf").read_bytes())
    assert parsed.error is None and "requires" not in parsed.header
    want = np.load(d / "tiny-grid-levels.npy")
    for k in (1, 2, 3):
        assert np.abs(render_image(parsed, k).astype(int) - want[k - 1].astype(int)).max() <= 1


def test_grid_rans_file_without_contexts_still_decodes():
    """A grid file of the second revision (requires grid-rans only: one Laplace per latent grid;
    written by commit 7e66fa7's encoder) decodes to the pictures that revision's reader rendered."""
    from pathlib import Path
    d = Path(__file__).parent / "golden-grid-v2"
    parsed = read((d / "tiny-grid.snf").read_bytes())
    assert parsed.error is None and parsed.header["requires"] == ["grid-rans"]
    want = np.load(d / "tiny-grid-levels.npy")
    for k in (1, 2, 3):
        assert np.abs(render_image(parsed, k).astype(int) - want[k - 1].astype(int)).max() <= 1


def test_encoder_writes_context_coded_latents(grid_encoded):
    h = grid_encoded["header"]
    assert h["requires"] == [gridcode.FEATURE, gridcode.FEATURE_CTX]
    # grid-ctx without grid-rans is not a layout: refused at the header
    bad = dict(h, requires=[gridcode.FEATURE_CTX])
    with pytest.raises(SnfError, match="grid-ctx without grid-rans") as e:
        container.validate_header(bad)
    assert e.value.kind == "header"


def _ctx_level(seed=5, size=(150, 110)):
    arch = GridArch(*parse_grid_levels(GRID), layers=2, d_out=3)
    rng = np.random.default_rng(seed)
    arrays = []
    for t in arch.tensors(1, size):
        if t.kind == "latent":  # smooth, sparse where small, signed: what a rate term leaves
            y, x = np.mgrid[0:t.shape[0], 0:t.shape[1]]
            v = 6 * np.sin(x / 5 + rng.random() * 6) * np.cos(y / 7) + rng.normal(0, 0.5, t.shape)
            arrays.append((v * (np.abs(v) > 2.5)).astype(np.float32))
        else:
            arrays.append(rng.normal(0, 0.4, t.shape).astype(np.float32))
    arrays[0][0, 0] = -4000.0  # a tail latent near the context limit
    return arch, size, arrays


def test_gridcode_context_round_trip_and_bad_data():
    """grid-ctx levels (section 9.3): the decoder sees exactly the encoder's values; the context
    models code these latents in fewer bytes than one Laplace a grid; every cut, every single-bit
    flip of the stream and random bytes give a GridCodeError or values, never another exception
    (or a hang); C and Python decoders agree on all of it."""
    from snf.format import entropy
    arch, size, arrays = _ctx_level()
    payload, deq = gridcode.encode_level(arch, 1, size, arrays, ctx=True)
    got = gridcode.decode_level(arch, 1, size, payload, ctx=True)
    assert all(np.array_equal(a, b) for a, b in zip(got, deq))
    assert got[0][0, 0] == -4000.0 and np.array_equal(got[1], np.rint(arrays[1]))
    plain, _ = gridcode.encode_level(arch, 1, size, arrays)
    assert len(payload) < len(plain)
    assert gridcode.head_size(arch, 1, size, ctx=True) - gridcode.head_size(arch, 1, size) == 12 * 2
    with pytest.raises(gridcode.GridCodeError, match="beyond ±4095"):
        gridcode.encode_level(arch, 1, size, [np.full_like(arrays[0], 4096)] + arrays[1:], ctx=True)

    def outcome(data):
        try:
            return ("ok", [a.tobytes() for a in gridcode.decode_level(arch, 1, size, data, ctx=True)])
        except gridcode.GridCodeError as e:
            return ("error", str(e))
    fast = entropy._fast
    rng = np.random.default_rng(9)
    hs = gridcode.head_size(arch, 1, size, ctx=True)
    cases = [payload[:cut] for cut in range(0, len(payload), 7)] + [payload + b"\0"]
    for i in rng.choice((len(payload) - hs) * 8, 100, replace=False):
        bad = bytearray(payload)
        bad[hs + i // 8] ^= 1 << (i % 8)
        cases.append(bytes(bad))
    cases += [payload[:hs] + rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
              for _ in range(40)]
    want = outcome(payload)
    for n, data in enumerate(cases):
        c = outcome(data)
        if data != payload:
            assert c[0] == "error" or c[1] != want[1]
        if fast is not None and n % 4 == 0:  # the Python decoder on a quarter of them (it is slow)
            entropy._fast = None
            try:
                assert outcome(data) == c
            finally:
                entropy._fast = fast
    for cut in range(len(payload)):
        with pytest.raises(gridcode.GridCodeError):
            gridcode.decode_level(arch, 1, size, payload[:cut], ctx=True)


def test_context_rule_numpy_torch_and_decoder_agree():
    """The one context rule (snf.format.latentctx) as the encoder (numpy), the rate term (torch)
    and the decoder (through a round trip of a grid with negative odd sums: trunc, not floor)."""
    import torch
    from snf.encode.grid_model import context, context_bits
    from snf.format import entropy, latentctx
    rng = np.random.default_rng(3)
    q = rng.integers(-5, 6, (9, 13)) * (rng.random((9, 13)) < 0.6)
    pred, bucket = latentctx.context(q)
    tp, tb = context(torch.as_tensor(q, dtype=torch.float32))
    assert np.array_equal(tp.numpy().astype(np.int64), pred) and np.array_equal(tb.numpy(), bucket)
    assert pred[0, 1] == int(q[0, 0] / 2) and bucket.max() == 3 and bucket.min() == 0
    m = entropy.fit_context(q)
    data = entropy.encode_segments([(q, m)])
    assert np.array_equal(entropy.decode_segments(data, [(q.size, m)])[0].reshape(q.shape), q)
    # the rate term, its scales fitted, is within 15 % of what the coder spends on the grid
    q = rng.integers(-6, 7, (40, 50)) * (np.abs(np.sin(np.arange(50) / 6))[None, :] > 0.5)
    q = np.cumsum(q, 0) // 3
    log_b = torch.zeros(latentctx.N_CTX, requires_grad=True)
    opt = torch.optim.Adam([log_b], lr=0.1)
    tq = torch.as_tensor(q, dtype=torch.float32)
    for _ in range(150):
        opt.zero_grad()
        bits = context_bits(tq, log_b)
        bits.backward()
        opt.step()
    coded = entropy.fit_context(q).bits(q)
    assert abs(float(bits.detach()) - coded) < 0.15 * coded


def test_gridcode_round_trip_exact_and_every_cut_refused():
    """Entropy-coded grid levels (section 9.3): the decoder sees exactly the encoder's float32
    values (latents the integers, weights float32(q) * STEPS[e]); every cut of the payload and
    a stray byte after the stream are payload errors, never a wrong picture."""
    arch = GridArch(*parse_grid_levels(GRID), layers=2, d_out=3)
    size = (61, 45)
    rng = np.random.default_rng(5)
    arrays = [rng.laplace(0, 3, t.shape).astype(np.float32) if t.kind == "latent"
              else rng.normal(0, 0.4, t.shape).astype(np.float32) for t in arch.tensors(1, size)]
    arrays[0][0, 0] = -900.0  # a tail latent
    payload, deq = gridcode.encode_level(arch, 1, size, arrays)
    got = gridcode.decode_level(arch, 1, size, payload)
    assert all(np.array_equal(a, b) for a, b in zip(got, deq))
    assert got[0][0, 0] == -900.0 and np.array_equal(got[1], np.rint(arrays[1]))
    w = got[2]  # a weight tensor: within half a step of the float, the step about peak / 31
    step = np.abs(arrays[2]).max() / gridcode.WEIGHT_LEVELS
    assert np.abs(w - arrays[2]).max() <= step * 1.1 / 2 + 1e-7
    assert len(payload) < 0.7 * payload_raw_bytes(arch, size)  # Laplace(3) latents: about 4 bits, not 8
    for cut in range(len(payload)):
        with pytest.raises(gridcode.GridCodeError):
            gridcode.decode_level(arch, 1, size, payload[:cut])
    with pytest.raises(gridcode.GridCodeError):
        gridcode.decode_level(arch, 1, size, payload + b"\0")


def payload_raw_bytes(arch, size):
    return gridcode.payload_size(arch, 1, size)
