"""Conformance vectors (tests/vectors/, format_spec.md section 7) through the Python reader.

tests/viewer/vectors.test.mjs runs the same files through the JavaScript reader
(tests/test_viewer_node.py runs it under pytest), so the two readers are held to
one manifest: same levels, same exact dequantised values, samples within +-1,
and the same error kind and level for every bad file.
"""
import json
import os

import numpy as np
import pytest

from snf.decode.decoder import decompress, render_image
from snf.format.container import ERROR_KINDS, Parser, SnfError, read
from snf.field.arch import MODES

HERE = os.path.join(os.path.dirname(__file__), "vectors")
with open(os.path.join(HERE, "manifest.json")) as f:
    MANIFEST = json.load(f)


def _bytes(sub: str, name: str) -> bytes:
    with open(os.path.join(HERE, sub, name + ".snf"), "rb") as f:
        return f.read()


def test_every_mode_bits_and_channel_count_has_a_vector():
    want = {f"{m}-b{b}-c{c}" for m in MODES for b in (4, 8, 12, 16) for c in (1, 2, 3, 4)}
    assert want <= set(MANIFEST["good"])
    assert {v["kind"] for v in MANIFEST["bad"].values()} == set(ERROR_KINDS)


@pytest.mark.parametrize("name", sorted(MANIFEST["good"]))
def test_good_vector(name):
    want = MANIFEST["good"][name]
    p = read(_bytes("good", name))
    assert p.error is None and p.complete == want["complete"]
    assert p.levels_complete == want["levels"]
    w, h = want["size"]
    for k in range(1, want["levels"] + 1):
        got = b"".join(np.asarray(t, "<f4").tobytes() for t in p.levels[k - 1])
        assert got.hex() == want["values"][k - 1], f"level {k}: dequantised values differ"
        dt = "<u2" if want["bit_depth"] > 8 else "u1"
        expect = np.frombuffer(bytes.fromhex(want["samples"][k - 1]), dt).astype(np.int32)
        pic = render_image(p, k).astype(np.int32)
        assert pic.shape == (h, w, want["channels"])
        assert np.abs(pic.ravel() - expect).max() <= 1, f"level {k}: samples beyond the spec's +-1"


@pytest.mark.parametrize("name", sorted(MANIFEST["bad"]))
def test_bad_vector(name):
    want = MANIFEST["bad"][name]
    data = _bytes("bad", name)
    expect = (want["kind"], want["level"], want["levels_complete"], want["complete"])
    p = read(data)
    assert isinstance(p.error, SnfError), name
    assert (p.error.kind, p.error.level, p.levels_complete, p.complete) == expect, str(p.error)
    parser = Parser()  # fed in 5-byte pieces, as from a network: the same outcome
    for i in range(0, len(data), 5):
        parser.feed(data[i:i + 5])
    q = parser.finish()
    assert (q.error.kind, q.error.level, q.levels_complete, q.complete) == expect, str(q.error)
    assert "\n" not in str(p.error)
    if p.levels_complete:  # what did arrive still decodes
        assert decompress(data)["level"] == p.levels_complete
        render_image(p, p.levels_complete)
    else:
        with pytest.raises(SnfError):
            decompress(data)


def _cli(main, argv) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code


def test_snf_decode_follows_the_reader_rules(tmp_path, capsys):
    """A file cut after its last level decodes (exit 0); a file that holds no level is one
    line on stderr and exit 2, nothing written; snf-info never crashes on a bad file."""
    from snf.cli import decode as cli_decode, info as cli_info
    out = tmp_path / "o.png"
    assert _cli(cli_decode.main, [os.path.join(HERE, "good", "rule-no-end-chunk.snf"), "-o", str(out)]) == 0
    assert out.exists()
    capsys.readouterr()
    for name, want in sorted(MANIFEST["bad"].items()):
        path = os.path.join(HERE, "bad", name + ".snf")
        bad_out = tmp_path / f"{name}.png"
        rc = _cli(cli_decode.main, [path, "-o", str(bad_out), "--quiet"])
        err = capsys.readouterr().err
        if want["levels_complete"]:
            assert rc == 0 and bad_out.exists(), (name, err)
        else:
            assert rc == 2 and not bad_out.exists() and err.count("\n") == 1, (name, err)
        assert _cli(cli_info.main, [path, "--json"]) in (0, 2), name
        assert "Traceback" not in capsys.readouterr().err
