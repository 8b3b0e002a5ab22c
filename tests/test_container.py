"""The container: round trip, every prefix, every bit flip, fuzzing, limits."""
import struct
import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snf.format import container
from snf.format.container import CHUNK_HEAD, Parser, SnfError, read
from snf.decode.decoder import DecodeError, decompress, pick_level, render_image


@pytest.fixture(scope="module")
def data(tiny_encoded):
    return tiny_encoded["bytes"]


@pytest.fixture(scope="module")
def full(data):
    parsed = read(data)
    assert parsed.error is None and parsed.complete
    return parsed, [render_image(parsed, k) for k in range(1, parsed.arch.levels + 1)]


def test_round_trip_matches_encoder_metrics(tiny_encoded, tiny_image, full):
    from snf.signals.image import psnr
    parsed, pictures = full
    assert parsed.header == tiny_encoded["header"]
    for k, pic in enumerate(pictures, 1):
        assert pic.shape == tiny_image.shape
        assert psnr(pic, tiny_image) == pytest.approx(parsed.header["levels"][k - 1]["psnr"], abs=0.006)


def test_every_prefix_decodes_its_complete_levels(data, full):
    parsed, pictures = full
    for cut in range(len(data) + 1):
        p = read(data[:cut])
        have = sum(1 for e in parsed.ends if e <= cut)
        assert p.levels_complete == have, cut
        if have < parsed.arch.levels:
            assert p.error is not None and isinstance(p.error, SnfError)
        assert p.complete == (cut >= parsed.ends[-1] + container.CHUNK_OVERHEAD)
        for k in range(1, have + 1):
            assert all(np.array_equal(a, b) for a, b in zip(p.levels[k - 1], parsed.levels[k - 1]))
        if have:
            assert np.array_equal(decompress(data[:cut])["image"], pictures[have - 1])
        else:
            with pytest.raises(SnfError):
                decompress(data[:cut])


def test_incremental_feed_reports_levels_as_they_complete(data, full):
    parsed, _ = full
    parser, seen = Parser(), []
    for i in range(0, len(data), 7):
        for k in parser.feed(data[i:i + 7]):
            seen.append((k, parser.offset))
    assert [k for k, _ in seen] == [1, 2, 3]
    assert all(off - 7 < end <= off for (_, off), end in zip(seen, parsed.ends))
    assert parser.finish().complete


def test_every_single_bit_flip_is_caught_at_its_chunk(data, full):
    """CRC-32 catches every one-bit error: a flip anywhere but the minor version stops
    reading at the chunk that holds it, every level before it still complete."""
    parsed, _ = full
    K, ends = parsed.arch.levels, parsed.ends
    body = data[: ends[-1] + CHUNK_HEAD.size + 4]  # through the end chunk
    for pos in range(len(body)):
        have = sum(1 for e in ends if e <= pos)
        for bit in range(8):
            bad = bytearray(body)
            bad[pos] ^= 1 << bit
            p = read(bytes(bad), decode=False)  # the CRC is checked either way
            if pos == 9:  # the minor version: a newer minor reads the same
                assert p.error is None and p.complete and p.levels_complete == K
                continue
            assert not p.complete and p.levels_complete == have, (pos, bit, str(p.error))
            if have == K:  # in the end chunk: a length that runs on reads as a file cut after its levels
                assert p.error is None or p.error.level is None, (pos, bit)
                continue
            assert p.error is not None, (pos, bit)
            assert p.error.level == (have + 1 if pos >= parsed.header_end and have < K else None), (pos, bit)
    p = read(body[:ends[0]] + bytes([body[ends[0]] ^ 1]) + body[ends[0] + 1:])
    assert all(np.array_equal(a, b) for a, b in zip(p.levels[0], parsed.levels[0]))


def test_corrupt_level_reported_by_level_and_earlier_levels_kept(data, full):
    parsed, pictures = full
    bad = bytearray(data)
    bad[(parsed.ends[0] + parsed.ends[1]) // 2] ^= 0x5A
    p = read(bytes(bad))
    assert p.levels_complete == 1 and p.error.level == 2 and "corrupt" in str(p.error)
    assert np.array_equal(render_image(p, 1), pictures[0])
    with pytest.raises(DecodeError, match="level 2"):
        pick_level(p, 2)


@pytest.mark.parametrize("blob,message", [
    (b"", "empty"), (b"\x89SN", "truncated"), (b"GIF89a" + b"\0" * 40, "not an .snf"),
    (container.SIGNATURE + b"\x03\x00" + b"\0" * 20, "version"),
])
def test_foreign_or_truncated_headers_are_one_clear_error(blob, message):
    p = read(blob)
    assert p.header is None and message in str(p.error)


def _file_with_header(header: dict) -> bytes:
    return container.SIGNATURE + bytes(container.VERSION) + container.chunk(container.T_HEAD, 0, msgpack.packb(header))


@pytest.mark.parametrize("change,message", [
    ({"size": [70000, 10]}, "bad size"), ({"size": [60000, 60000]}, "exceed"),
    ({"arch": {"widths": [10, 9000]}}, "width"), ({"arch": {"widths": [4], "layers": 99}}, "sine layers"),
    ({"quant": {"bits": 40, "bits_small": 8, "scale": "row"}}, "bits"), ({"signal": "sound"}, "signal"),
])
def test_limits_are_checked_from_the_header(tiny_encoded, change, message):
    header = dict(tiny_encoded["header"], **change)
    p = read(_file_with_header(header))
    assert p.header is None and message in str(p.error)


def test_oversized_chunk_refused_before_buffering(tiny_encoded):
    head = _file_with_header(tiny_encoded["header"])
    huge = struct.pack(">I4sH", container.MAX_CHUNK_BYTES + 1, b"LEVL", 1)
    p = read(head + huge)
    assert "exceeds" in str(p.error) and p.levels_complete == 0


def test_unknown_ancillary_chunk_is_skipped_critical_is_not(data, full):
    parsed, _ = full
    cut = parsed.ends[0]
    extra = container.chunk(b"meta", 0, b"hello")
    p = read(data[:cut] + extra + data[cut:])
    assert p.error is None and p.levels_complete == 3
    p = read(data[:cut] + container.chunk(b"WHAT", 0, b"") + data[cut:])
    assert p.levels_complete == 1 and "critical" in str(p.error)


def test_decompression_bomb_bounded(tiny_encoded):
    import zstandard
    head = _file_with_header(tiny_encoded["header"])
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (8 << 20))
    p = read(head + container.chunk(container.T_LEVEL, 1, bomb))
    assert p.levels_complete == 0 and p.error.level == 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=600),
                 st.binary(max_size=600).map(lambda b: container.SIGNATURE + bytes(container.VERSION) + b)))
def test_fuzz_random_bytes_are_one_clear_error(blob):
    p = read(blob)
    assert p.levels_complete == 0 and isinstance(p.error, SnfError) and p.error.kind in container.ERROR_KINDS
    with pytest.raises(SnfError):
        decompress(blob)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("xid")),
                    min_size=1, max_size=6))
def test_fuzz_mutations_of_a_real_file(data, full, ops):
    """Edits anywhere: levels whose chunks lie wholly before the first edit decode exactly as
    before; the decoder renders the highest complete level or raises one SnfError."""
    parsed, pictures = full
    blob, first = bytearray(data), len(data)
    for pos, val, op in ops:
        pos %= len(blob) + 1
        if op == "x" and pos < len(blob):
            blob[pos] ^= val or 1
        elif op == "i":
            blob[pos:pos] = bytes([val])
        elif op == "d" and pos < len(blob):
            del blob[pos]
        else:
            continue
        first = min(first, pos)
    p = read(bytes(blob))
    intact = sum(1 for e in parsed.ends if e <= first) if first >= parsed.header_end else 0
    assert p.levels_complete >= intact
    for k in range(1, intact + 1):
        assert all(np.array_equal(a, b) for a, b in zip(p.levels[k - 1], parsed.levels[k - 1]))
    if p.levels_complete:
        out = decompress(bytes(blob))
        assert out["level"] == p.levels_complete and out["image"].shape[:2] == pictures[0].shape[:2]
        if out["level"] <= intact:
            assert np.array_equal(out["image"], pictures[out["level"] - 1])
    else:
        with pytest.raises(SnfError):
            decompress(bytes(blob))


def test_crc_covers_type_level_and_data():
    c = container.chunk(b"LEVL", 3, b"abc")
    assert struct.unpack(">I", c[-4:])[0] == zlib.crc32(b"LEVL\x00\x03abc")


def test_write_atomic_leaves_the_permissions_open_would(tmp_path):
    import os
    new = tmp_path / "new.snf"
    container.write_atomic(str(new), b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~mask
    old = tmp_path / "old.png"
    old.write_bytes(b"y")
    old.chmod(0o640)
    container.write_atomic(str(old), b"z", durable=False)
    assert old.read_bytes() == b"z" and old.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".snf-")] == []
