"""sweep.py-style rows from finished .snf files (for sweep_tables.py): per level the
cumulative bytes, PSNR (as the encoder recorded it), steps, and bits per parameter by
tensor kind, recomputed from the file's own integers and models.

python bench/rd/info_rows.py TAG IMAGE.png QUALITY FILE.snf [IMAGE.png QUALITY FILE.snf ...] >> bench/rd/sweep.jsonl
"""
import json
import os
import struct
import sys

import numpy as np

from snf.encode.rd import bits_per_param
from snf.format import entropy
from snf.format.coded import STEPS, n_codes
from snf.format.container import read_path


def level_blocks(arch, k: int, payload: bytes) -> list:
    """Level k's blocks as stored: (block, step codes, model, integers shaped as the block)."""
    pos, heads = 0, []
    for blk in arch.blocks(k):
        codes = np.frombuffer(payload, np.uint8, n_codes(blk), pos)
        pos += codes.size
        model, pos = entropy.read_model(payload, pos)
        heads.append((blk, codes, model))
    ints = entropy.decode_segments(payload[pos:], [(blk.size, m) for blk, _, m in heads])
    return [(blk, c, m, q.reshape(blk.shape)) for (blk, c, m), q in zip(heads, ints)]


def level_payloads(path: str) -> tuple:
    """(parsed file without decoding, {level: LEVL chunk data})."""
    with open(path, "rb") as f:
        data = f.read()
    return read_path(path, decode=False), {lv: d for t, lv, d in chunks(data) if t == b"LEVL"}


def level_stats(arch, k: int, payload: bytes) -> list:
    """Per block: params, exact bits of its integers under its model, side bytes (codes + model)."""
    return [{"tensor": blk.tensor, "params": blk.size, "bits": m.bits(q), "side_bytes": c.size + entropy.MODEL.size}
            for blk, c, m, q in level_blocks(arch, k, payload)]


def chunks(data: bytes):
    """(type, level, data) of every chunk after the signature and version (format_spec.md 1)."""
    pos = 10
    while pos + 10 <= len(data):
        n, ctype, level = struct.unpack_from(">I4sH", data, pos)
        yield ctype, level, data[pos + 10:pos + 10 + n]
        pos += 14 + n


def row(tag: str, image: str, quality: int, path: str) -> dict:
    parsed, payloads = level_payloads(path)
    recorded = dict(enumerate(parsed.header.get("levels") or [], 1))  # the encoder's per-level record
    levels = []
    for k, end in enumerate(parsed.ends, 1):
        rec = recorded.get(k, {})
        levels.append({"level": k, "cum_bytes": end, "psnr": rec.get("psnr"), "psnr_float": rec.get("psnr_float"),
                       "steps": rec.get("steps"),
                       "bits_per_param": bits_per_param(level_stats(parsed.arch, k, payloads[k]))})
    return {"tag": tag, "image": image, "quality": int(quality), "qat": False, "steps": None, "rdoq": True,
            "file": path, "bytes": os.path.getsize(path), "levels": levels}


def main():
    tag, rest = sys.argv[1], sys.argv[2:]
    for i in range(0, len(rest), 3):
        print(json.dumps(row(tag, rest[i], rest[i + 1], rest[i + 2])))


if __name__ == "__main__":
    main()
