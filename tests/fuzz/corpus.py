"""A deterministic fuzz corpus of .snf files with valid CRCs (issue 26).

Seeds: conformance vectors of every kind (raw and entropy-coded SIREN, grid), and the
small crafted files of tests/hostile.py. Mutations, each keeping every CRC valid so the
reader gets past the framing: a header value replaced by a hostile one (wrong type,
integral or fractional float, NaN, huge, control characters, deep nesting, bin/ext),
bytes of one chunk's data changed, chunks dropped, repeated or swapped, the file cut.
`python tests/fuzz/corpus.py DIR [N]` writes one out for other tools.
"""
from __future__ import annotations

import os
import random
import struct
import sys

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors", "good")
sys.path.insert(0, os.path.dirname(HERE))

from snf.format import container as C  # noqa: E402

SEEDS = ("progressive-b8-c3", "slimmable-b4-c1", "individual-b12-c4", "progressive-b16-c2",
         "rule-ancillary-chunks", "grid-c3", "grid-ctx-c2")

HOSTILE_VALUES = [0, -1, 1, 2, 3, 4, 5, 8, 16, 17, 4096, 4097, 65536, 65537, 2 ** 31, 2 ** 53, -2 ** 40,
                  0.0, 1.0, 2.0, 3.0, 1.5, -0.5, 1e300, float("inf"), float("nan"), True, False, None,
                  "", "raw", "rans-laplace", "image", "sdf", "video", "\x1b[31m\x07", "\u202eevil", "x" * 300,
                  [], [1], [1, 2], [1, 2, 3], [64.0, 48.0], [2048] * 16, [[1]], {}, {"a": 1}, b"bin",
                  msgpack.ExtType(3, b"x")]


def chunks(data: bytes) -> list:
    """(type, level, body) of each whole chunk after the prefix."""
    out, pos = [], C.PREFIX_LEN
    while pos + C.CHUNK_HEAD.size <= len(data):
        length, ctype, level = C.CHUNK_HEAD.unpack_from(data, pos)
        end = pos + C.CHUNK_HEAD.size + length + 4
        if end > len(data):
            break
        out.append((ctype, level, data[pos + C.CHUNK_HEAD.size:end - 4]))
        pos = end
    return out


def join(prefix: bytes, parts: list) -> bytes:
    return prefix + b"".join(C.chunk(t, lv, body) for t, lv, body in parts)


def _paths(v, path=()):
    """Every path inside a header tree (maps and lists alike), at most 8 deep."""
    yield path
    if len(path) >= 8:
        return
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v[:64]):
            yield from _paths(x, path + (i,))


def _replace(tree, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {k: (_replace(x, rest, value) if k == head else x) for k, x in tree.items()}
    return [(_replace(x, rest, value) if i == head else x) for i, x in enumerate(tree)]


def mutate(data: bytes, rng: random.Random) -> bytes:
    prefix, parts = data[:C.PREFIX_LEN], chunks(data)
    if not parts:
        return data + C.chunk(C.T_END, 0, b"")
    op = rng.randrange(7)
    header = None
    if op <= 1:
        try:
            header = msgpack.unpackb(parts[0][2], raw=False, strict_map_key=False)
        except Exception:  # a mutant whose first chunk no longer holds a header: change bytes instead
            op = 2
    if op <= 1:  # a header value replaced
        path = rng.choice(list(_paths(header)))
        value = rng.choice(HOSTILE_VALUES)
        if rng.random() < 0.1:  # or nested deep
            for _ in range(rng.choice((63, 64, 65, 200))):
                value = [value]
        header = _replace(header, path, value)
        parts[0] = (C.T_HEAD, 0, msgpack.packb(header, use_bin_type=True))
        return join(prefix, parts)
    if op == 2:  # bytes inside one chunk's data changed, CRC fixed
        i = rng.randrange(len(parts))
        body = bytearray(parts[i][2])
        for _ in range(rng.choice((1, 1, 2, 8))):
            if body:
                body[rng.randrange(len(body))] = rng.randrange(256)
        parts[i] = (parts[i][0], parts[i][1], bytes(body))
        return join(prefix, parts)
    if op == 3:  # a chunk dropped, repeated or two swapped
        i, j = rng.randrange(len(parts)), rng.randrange(len(parts))
        how = rng.randrange(3)
        if how == 0:
            del parts[i]
        elif how == 1:
            parts.insert(j, parts[i])
        else:
            parts[i], parts[j] = parts[j], parts[i]
        return join(prefix, parts)
    if op == 4:  # a chunk's level field or type changed
        i = rng.randrange(len(parts))
        t, lv, body = parts[i]
        if rng.random() < 0.5:
            lv = rng.choice((0, 1, 2, 3, 17, 65535))
        else:
            t = rng.choice((b"HEAD", b"LEVL", b"SEND", b"WHAT", b"anci", b"l3v!"))
        parts[i] = (t, lv, body)
        return join(prefix, parts)
    if op == 5:  # cut anywhere
        return data[:rng.randrange(len(data) + 1)]
    # a level's body cut or grown by a byte
    i = rng.randrange(len(parts))
    t, lv, body = parts[i]
    parts[i] = (t, lv, body[:-1] if body and rng.random() < 0.5 else body + bytes([rng.randrange(256)]))
    return join(prefix, parts)


def seeds() -> dict:
    out = {}
    for name in SEEDS:
        with open(os.path.join(VECTORS, name + ".snf"), "rb") as f:
            out[name] = f.read()
    from hostile import small_cases
    out.update(small_cases())
    return out


def corpus(n: int = 600, seed: int = 26) -> dict:
    """name -> bytes: the seeds, then n mutants (deterministic)."""
    rng = random.Random(seed)
    base = seeds()
    out = {f"seed-{k}": v for k, v in base.items()}
    names = sorted(base)
    for i in range(n):
        src = rng.choice(names)
        data = base[src]
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            data = mutate(data, rng)
        out[f"m{i:04d}-{src}"] = data
    return out


def write(folder: str, n: int = 600) -> list:
    os.makedirs(folder, exist_ok=True)
    names = []
    for name, data in corpus(n).items():
        with open(os.path.join(folder, name + ".snf"), "wb") as f:
            f.write(data)
        names.append(name)
    return names


if __name__ == "__main__":
    write(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 600)
