"""Regenerate tests/golden/ (only when format_spec.md changes on purpose):

    python tests/make_golden.py

Writes tiny.snf (a fixed-seed encode of a fixed 24x16 image), tiny-level-K.png
(its decoded levels) and tiny.json (the file's sha256, each level's dequantised
values' sha256, the torch version it was made with). The encoder's floats depend
on the CPU, so a fresh encode elsewhere need not reproduce these bytes: the tests
hold the committed file to its decode, not the encoder to the committed file.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
SETTINGS = dict(widths=(4, 8, 12), layers=3, steps=25, lr=3e-3, seed=0, quality=75)


def golden_image():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from conftest import synthetic_image
    return synthetic_image(24, 16, seed=3)


def encode() -> bytes:
    import torch
    from snf.encode.encoder import compress
    torch.set_num_threads(1)  # one thread: the sums run in one fixed order
    return compress(golden_image(), **SETTINGS)["bytes"]


def pictures(data: bytes) -> list:
    from snf.format.container import read
    from snf.decode.decoder import render_image
    parsed = read(data)
    return [render_image(parsed, k) for k in range(1, parsed.arch.levels + 1)]


def values_digests(data: bytes) -> list:
    """sha256 of each level's dequantised values (float32 little-endian, block order):
    the golden file's parsed values are held to these exactly."""
    import numpy as np
    from snf.format.container import read
    parsed = read(data)
    return [hashlib.sha256(b"".join(np.asarray(t, "<f4").tobytes() for t in lv)).hexdigest()
            for lv in parsed.levels]


def main() -> None:
    import torch
    data = encode()
    os.makedirs(GOLDEN, exist_ok=True)
    with open(os.path.join(GOLDEN, "tiny.snf"), "wb") as f:
        f.write(data)
    from PIL import Image
    for k, pic in enumerate(pictures(data), 1):
        Image.fromarray(pic).save(os.path.join(GOLDEN, f"tiny-level-{k}.png"))
    meta = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "torch": torch.__version__,
            "values_sha256": values_digests(data),
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in SETTINGS.items()}}
    with open(os.path.join(GOLDEN, "tiny.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
