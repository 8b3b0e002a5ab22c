"""Golden file: the committed bytes decode to the committed pixels, and a fresh
encode with the same seed gives the same bytes (format and encoder both stable)."""
import hashlib
import json
import os

import pytest

import make_golden
from snf.codec.container import VERSION, read

HERE = os.path.join(os.path.dirname(__file__), "golden")


@pytest.fixture(scope="module")
def golden():
    with open(os.path.join(HERE, "tiny.snf"), "rb") as f:
        data = f.read()
    with open(os.path.join(HERE, "tiny.json")) as f:
        return data, json.load(f)


def test_golden_bytes_and_pixels(golden):
    data, meta = golden
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    parsed = read(data)
    assert parsed.error is None and parsed.complete and data[8:10] == bytes(VERSION)
    assert parsed.header["arch"]["widths"] == [4, 8, 12]
    assert make_golden.pixel_hashes(data) == meta["levels"], "decoder output changed: format_spec.md says how"


def test_same_seed_same_bytes(golden):
    import torch
    data, meta = golden
    fresh = make_golden.encode()
    assert fresh == make_golden.encode(), "two encodes in one process differ"
    if torch.__version__ != meta["torch"]:
        pytest.skip(f"golden bytes made with torch {meta['torch']}, this is {torch.__version__}")
    assert fresh == data, "encoder output changed: regenerate with tests/make_golden.py only if intended"
