"""Container 2.0: entropy-coded levels (snf.format.coded), version-1 files still decode,
every prefix and corruption of a 2.0 file is handled at its level, snf-info's bits per parameter."""
import os
import struct

import numpy as np
import pytest
from PIL import Image

import make_golden
from snf.field.arch import Arch
from snf.format import coded, container
from snf.format.container import CHUNK_HEAD, read
from snf.format.quant import QuantError

HERE = os.path.dirname(__file__)


def golden(name="golden"):
    with open(os.path.join(HERE, name, "tiny.snf"), "rb") as f:
        return f.read()


def chunks(data):
    """[(offset, type, level, body)] of a whole file."""
    out, pos = [], container.PREFIX_LEN
    while pos < len(data):
        length, ctype, level = CHUNK_HEAD.unpack_from(data, pos)
        out.append((pos, ctype, level, data[pos + CHUNK_HEAD.size:pos + CHUNK_HEAD.size + length]))
        pos += CHUNK_HEAD.size + length + 4
    return out


def replace_level(data, k, body):
    """The file with level k's data replaced (CRC recomputed: only the payload is wrong)."""
    for pos, ctype, level, old in chunks(data):
        if ctype == b"LEVL" and level == k:
            end = pos + CHUNK_HEAD.size + len(old) + 4
            return data[:pos] + container.chunk(b"LEVL", k, body) + data[end:]
    raise AssertionError("no such level")


@pytest.mark.parametrize("mode", ["progressive", "slimmable", "individual"])
def test_level_round_trip_is_exact(mode):
    arch = Arch((5, 12, 20), layers=3, mode=mode)
    rng = np.random.default_rng(1)
    for k in range(1, arch.levels + 1):
        tensors = [rng.laplace(0, 0.05, b.shape).astype(np.float32) for b in arch.blocks(k)]
        codes = [rng.integers(120, 180, coded.n_codes(b)) for b in arch.blocks(k)]
        payload, deq, stats = coded.encode_level(arch, k, tensors, codes)
        back = coded.decode_level(arch, k, payload)
        assert all(np.array_equal(a, b) and a.dtype == np.float32 for a, b in zip(back, deq))
        for t, d, c, b in zip(tensors, deq, codes, arch.blocks(k)):  # rounding error at most half a step
            step = coded.STEPS[np.maximum(c, coded.min_codes(t, b))]
            assert (np.abs(t - d).reshape(step.size, -1) <= step[:, None] / 2 * 1.0001).all()
        assert len(stats) == len(arch.blocks(k))


def test_steps_are_the_spec_constants():
    assert coded.STEPS[24 * 8] == 1.0 and coded.STEPS[0] == np.float32(2.0 ** -24)
    assert coded.STEPS.view(np.uint32)[24 * 8 + 1] == 0x3F8B95C2
    assert (np.diff(coded.STEPS.astype(np.float64)) > 0).all()


def test_version_1_file_still_decodes():
    """tests/golden-v1/: a 1.0 file (zstd, 8-bit) written before the entropy coder."""
    data = golden("golden-v1")
    assert data[8:10] == b"\x01\x00"
    parsed = read(data)
    assert parsed.error is None and parsed.complete
    for k, pic in enumerate(make_golden.pictures(data), 1):
        want = np.asarray(Image.open(os.path.join(HERE, "golden-v1", f"tiny-level-{k}.png")), dtype=np.int16)
        diff = np.abs(pic.astype(np.int16) - want)
        assert diff.max() <= 1 and np.mean(diff > 0) <= 0.01


def test_golden_is_version_2_and_a_1x_reader_refuses_it(monkeypatch):
    data = golden()
    assert data[8:10] == b"\x02\x00" and read(data).header["quant"]["coding"] == "rans-laplace"
    monkeypatch.setattr(container, "MAJORS", (1,))  # what a 1.x reader knows
    err = read(data).error
    assert "unsupported .snf version 2.0" in str(err)


def test_every_prefix_decodes_its_complete_levels():
    data = golden()
    full = read(data)
    for cut in range(len(data) + 1):
        p = read(data[:cut])
        assert p.levels_complete == sum(e <= cut for e in full.ends)
        for a, b in zip(p.levels, full.levels):
            assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_corrupt_coded_payloads_fail_at_their_level():
    """Bit flips and cuts inside a level's data with a valid CRC: a clear error at that level
    (or other integers), never an exception from read(); earlier levels still decode."""
    data = golden()
    body = [c for c in chunks(data) if c[1] == b"LEVL" and c[2] == 2][0][3]
    outcomes = set()
    for i in range(0, len(body) * 8, 3):
        bad = bytearray(body)
        bad[i // 8] ^= 1 << (i % 8)
        p = read(replace_level(data, 2, bytes(bad)))
        assert p.levels_complete >= 1
        if p.error is not None and p.levels_complete == 1:
            assert p.error.level == 2 and str(p.error).startswith("level 2")
            outcomes.add("error")
        else:
            outcomes.add("decoded")
    assert "error" in outcomes
    for cut in range(len(body)):
        p = read(replace_level(data, 2, body[:cut]))
        assert p.levels_complete == 1 and p.error.level == 2


def test_model_parameter_out_of_range_is_a_clear_error():
    data = golden()
    arch = read(data).arch
    body = bytearray([c for c in chunks(data) if c[1] == b"LEVL" and c[2] == 1][0][3])
    first = arch.blocks(1)[0]
    struct.pack_into("<H", body, coded.n_codes(first), 9000)  # amax of the first block
    p = read(replace_level(data, 1, bytes(body)))
    assert p.levels_complete == 0 and "amax 9000 out of range 0..8191" in str(p.error) and p.error.level == 1
    with pytest.raises(QuantError, match="shorter"):
        coded.decode_level(arch, 1, b"\0\0")


def test_snf_info_bits_per_parameter(tmp_path):
    from snf.cli.info import describe, table
    path = tmp_path / "g.snf"
    path.write_bytes(golden())
    info = describe(str(path))
    for lv in info["levels"]:
        assert lv["bits_per_param"] == round(lv["chunk_bytes"] * 8 / lv["level_params"], 3)
    assert "bits/param" in table(info) and "entropy-coded" in table(info)
