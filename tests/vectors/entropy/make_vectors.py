"""Regenerate the entropy-coding conformance vectors (only when format_spec.md section 7
or 3.2 changes on purpose):  python tests/vectors/entropy/make_vectors.py

streams.json: rANS streams with their segment models and the integers they decode to;
tables.json: model tables (frequencies); bad.json: streams a decoder must refuse;
levels.json: the step codes and integers of every level of tests/golden/tiny.snf.
Python (tests/test_entropy.py) and JavaScript (tests/viewer/entropy.test.mjs) both check them."""
import json
import os

import numpy as np

from snf.format import coded, entropy
from snf.format.container import read
from snf.format.entropy import Laplace

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "golden", "tiny.snf")


def case(name, arrays):
    segs = [(np.asarray(a, np.int64), entropy.fit(a)) for a in arrays]
    data = entropy.encode_segments(segs)
    return {"name": name, "segments": [{"n": int(a.size), "amax": m.amax, "ratio": m.ratio} for a, m in segs],
            "data": data.hex(), "ints": [a.tolist() for a, _ in segs]}


def main():
    rng = np.random.default_rng(2024)
    lap = lambda n, s: np.rint(rng.laplace(0, s, n)).astype(np.int64)  # noqa: E731
    streams = [
        case("empty", [np.zeros(0, np.int64)]),
        case("zeros (amax 0 reads no byte)", [np.zeros(40, np.int64)]),
        case("one symbol", [np.array([3])]),
        case("peaked", [lap(500, 0.4)]),
        case("wide", [lap(400, 300.0)]),
        case("edge of range", [np.array([entropy.MAX_AMAX, -entropy.MAX_AMAX, 0, 1, -1])]),
        case("three segments", [lap(200, 2.0), np.zeros(17, np.int64), lap(300, 25.0)]),
    ]
    tables = [{"amax": a, "ratio": r, "freq": Laplace(a, r).table()[0].tolist()}
              for a, r in [(0, 0), (1, 32768), (4, 0), (6, 65535), (20, 50000), (300, 65000), (8191, 65535)]]
    good = bytes.fromhex(streams[3]["data"])
    seg = streams[3]["segments"]
    bad = [
        {"why": "truncated", "segments": seg, "data": good[:-1].hex(), "error": "truncated"},
        {"why": "trailing byte", "segments": seg, "data": (good + b"\0").hex(), "error": "does not end"},
        {"why": "short", "segments": seg, "data": good[:3].hex(), "error": "shorter"},
        {"why": "bad initial state", "segments": seg, "data": ("00000000" + good[4:].hex()), "error": "invalid state"},
        {"why": "amax out of range", "segments": [{"n": 1, "amax": entropy.MAX_AMAX + 1, "ratio": 0}],
         "data": good.hex(), "error": "amax"},
    ]
    data = open(GOLDEN, "rb").read()
    parsed = read(data, decode=False)
    arch, levels = parsed.arch, []
    starts = [parsed.header_end] + parsed.ends[:-1]
    for k, (a, b) in enumerate(zip(starts, parsed.ends), 1):
        body = data[a + 10:b - 4]
        pos, codes, segs = 0, [], []
        for blk in arch.blocks(k):
            n = coded.n_codes(blk)
            codes.append(list(body[pos:pos + n]))
            pos += n
            model, pos = entropy.read_model(body, pos)
            segs.append((blk.size, model))
        ints = entropy.decode_segments(body[pos:], segs)
        vals = coded.decode_level(arch, k, body)
        levels.append({"level": k, "codes": codes, "ints": [q.tolist() for q in ints],
                       "values_f32_hex": [np.asarray(v, "<f4").tobytes().hex() for v in vals]})
    out = {"streams": streams, "tables": tables, "bad": bad}
    for name, obj in [("streams.json", streams), ("tables.json", tables), ("bad.json", bad),
                      ("levels.json", {"file": "tests/golden/tiny.snf", "levels": levels})]:
        with open(os.path.join(HERE, name), "w") as f:
            json.dump(obj, f, separators=(",", ":"))
    print({k: len(v) for k, v in out.items()}, "levels", len(levels))


if __name__ == "__main__":
    main()
