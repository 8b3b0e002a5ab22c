"""The entropy coder (snf.format.entropy): exact round trips, C and Python decoders agree,
the model's table is what the spec says, and bad streams fail cleanly (fuzzed)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from snf.format import entropy as E
from snf.format.entropy import EntropyError, Laplace


def laplace_ints(n, scale, seed=0, amax=None):
    rng = np.random.default_rng(seed)
    q = np.rint(rng.laplace(0, scale, n)).astype(np.int64)
    return np.clip(q, -amax, amax) if amax else q


@pytest.fixture(params=["c", "python"])
def decoder(request, monkeypatch):
    if request.param == "c":
        if E._fast is None:
            pytest.skip("C decoder not built")
    else:
        monkeypatch.setattr(E, "_fast", None)
    return request.param


def test_table_sums_to_scale_and_is_symmetric():
    for amax, ratio in [(0, 0), (1, 0), (5, 30000), (100, 64000), (8191, 65535), (8191, 0), (3, 65535)]:
        freq, cum = Laplace(amax, ratio).table()
        assert freq.sum() == E.PROB_SCALE and cum[-1] == E.PROB_SCALE and cum[0] == 0
        assert (freq >= 1).all() and (freq == freq[::-1]).all()
        assert (np.diff(freq[amax:]) <= 0).all()  # non-increasing in |q|


def test_table_by_hand():
    # amax 1, ratio 32768: weights 2^24, 2^23, 2^23; total 2^25; spare 32765
    freq, cum = Laplace(1, 32768).table()
    f1 = 1 + (2 ** 23 * 32765) // 2 ** 25
    f0 = 1 + (2 ** 24 * 32765) // 2 ** 25
    f0 += 32768 - (f0 + 2 * f1)
    assert freq.tolist() == [f1, f0, f1] and cum.tolist() == [0, f1, f1 + f0, 32768]


@pytest.mark.parametrize("scale", [0.3, 2.0, 40.0, 900.0])
def test_round_trip(decoder, scale):
    q = laplace_ints(5000, scale, amax=E.MAX_AMAX)
    m = E.fit(q)
    data = E.encode(q, m)
    assert np.array_equal(E.decode(data, q.size, m), q)
    # the coder comes within a few bytes of the model's cost
    assert abs(len(data) - (m.bits(q) / 8 + 4)) < 8


def test_fit_beats_neighbours_and_entropy_is_close():
    q = laplace_ints(20000, 3.0, seed=1)
    m = E.fit(q)
    for r in (m.ratio - 50, m.ratio + 50):
        assert m.bits(q) <= Laplace(m.amax, r).bits(q)
    _, counts = np.unique(q, return_counts=True)
    p = counts / counts.sum()
    h = -(counts * np.log2(p)).sum()
    assert m.bits(q) < 1.03 * h  # Laplace data: the one-parameter model is near its entropy


def test_segments_share_one_stream(decoder):
    a, b, c = laplace_ints(300, 1.0, 2), np.zeros(50, np.int64), laplace_ints(700, 60.0, 3)
    segs = [(a, E.fit(a)), (b, E.fit(b)), (c, E.fit(c))]
    data = E.encode_segments(segs)
    out = E.decode_segments(data, [(x.size, m) for x, m in segs])
    assert all(np.array_equal(o, x) for o, (x, _) in zip(out, segs))
    assert E.fit(b) == Laplace(0, 0) and len(E.encode(b, Laplace(0, 0))) == 4  # zeros cost nothing


def test_empty_and_out_of_range():
    assert E.decode(E.encode([], Laplace(0, 0)), 0, Laplace(0, 0)).size == 0
    with pytest.raises(EntropyError, match="beyond"):
        E.encode([5], Laplace(4, 100))
    with pytest.raises(EntropyError, match="amax"):
        Laplace(E.MAX_AMAX + 1, 0)
    with pytest.raises(EntropyError, match="ratio"):
        Laplace(3, 65536)
    with pytest.raises(EntropyError, match="beyond the coder"):
        E.fit([E.MAX_AMAX + 1])


def _py(data, n, m):
    """The pure-Python reference decoder on one segment."""
    return E._decode_py(data, [(n, 1, 0, 1)], [(m.amax, m.ratio)], n)


def test_c_and_python_agree_on_random_models():
    if E._fast is None:
        pytest.skip("C decoder not built")
    rng = np.random.default_rng(7)
    for t in range(20):
        amax = int(rng.integers(0, 300))
        q = np.clip(np.rint(rng.laplace(0, rng.uniform(0.1, 80), 400)), -amax, amax).astype(np.int64)
        m = Laplace(amax, int(rng.integers(0, 65536)))
        data = E.encode(q, m)
        py = _py(data, q.size, m)
        assert np.array_equal(py, q) and np.array_equal(E.decode(data, q.size, m), q)


def _outcome(data, n, m):
    try:
        return ("ok", E.decode(data, n, m).tolist())
    except EntropyError as e:
        return ("error", str(e))


def test_fuzz_prefixes_flips_random(decoder):
    """Every prefix, every single-bit flip of a short stream, and random bytes: an
    EntropyError or integers, never another exception or a hang; C and Python agree."""
    q = laplace_ints(120, 4.0, seed=5)
    m = E.fit(q)
    data = E.encode(q, m)
    for cut in range(len(data)):
        with pytest.raises(EntropyError):
            E.decode(data[:cut], q.size, m)
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        _outcome(bytes(bad), q.size, m)
    rng = np.random.default_rng(11)
    for t in range(300):
        blob = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        _outcome(blob, int(rng.integers(0, 200)), Laplace(int(rng.integers(0, 50)), int(rng.integers(0, 65536))))


def test_fuzz_c_matches_python():
    if E._fast is None:
        pytest.skip("C decoder not built")
    rng = np.random.default_rng(12)
    for t in range(300):
        blob = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        n, m = int(rng.integers(0, 60)), Laplace(int(rng.integers(0, 20)), int(rng.integers(0, 65536)))
        c = _outcome(blob, n, m)
        try:
            py = ("ok", _py(blob, n, m).tolist())
        except EntropyError as e:
            py = ("error", str(e))
        assert c == py


# ---------------------------------------------------------------- shared conformance vectors

VECTORS = os.path.join(os.path.dirname(__file__), "vectors", "entropy")


def _vec(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def test_vectors_tables_and_streams(decoder):
    """tests/vectors/entropy/: the same tables and integers the JavaScript test checks."""
    for t in _vec("tables.json"):
        assert Laplace(t["amax"], t["ratio"]).table()[0].tolist() == t["freq"]
    for c in _vec("streams.json"):
        segs = [(s["n"], Laplace(s["amax"], s["ratio"])) for s in c["segments"]]
        got = E.decode_segments(bytes.fromhex(c["data"]), segs)
        assert [g.tolist() for g in got] == c["ints"], c["name"]
        assert E.encode_segments([(np.array(i, np.int64), m) for i, (_, m) in zip(c["ints"], segs)]).hex() == c["data"]
    for b in _vec("bad.json"):
        with pytest.raises(EntropyError, match=b["error"]):
            segs = [(s["n"], Laplace(s["amax"], s["ratio"])) for s in b["segments"]]
            E.decode_segments(bytes.fromhex(b["data"]), segs)


def test_vectors_golden_levels(decoder):
    from snf.format.container import read
    lv = _vec("levels.json")
    with open(os.path.join(os.path.dirname(__file__), "..", lv["file"]), "rb") as f:
        parsed = read(f.read())
    assert parsed.error is None
    for want in lv["levels"]:
        got = [np.asarray(v, "<f4").tobytes().hex() for v in parsed.levels[want["level"] - 1]]
        assert got == want["values_f32_hex"]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is not installed")
def test_javascript_decoder_matches_vectors():
    """Runs tests/viewer/entropy.test.mjs: the viewer's decoder on the same vectors."""
    root = os.path.join(os.path.dirname(__file__), "..")
    r = subprocess.run(["node", "--test", os.path.join("tests", "viewer", "entropy.test.mjs")], cwd=root,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
