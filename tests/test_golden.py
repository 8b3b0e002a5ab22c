"""Golden file: the committed bytes parse to the committed dequantised values exactly
and decode to the committed pixels within the spec's tolerance (format_spec.md
section 7: one step per sample), on any machine.

The encoder is held only to what it does in one run: its floats depend on the CPU
(torch picks other kernels with other instruction sets), so its bytes are compared
with a second encode in the same process, never with a file made elsewhere."""
import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

import make_golden
from snf.format.container import VERSION, read

HERE = os.path.join(os.path.dirname(__file__), "golden")


@pytest.fixture(scope="module")
def golden():
    with open(os.path.join(HERE, "tiny.snf"), "rb") as f:
        data = f.read()
    with open(os.path.join(HERE, "tiny.json")) as f:
        return data, json.load(f)


def test_golden_file_parses_to_its_values_exactly(golden):
    data, meta = golden
    assert hashlib.sha256(data).hexdigest() == meta["sha256"], "tests/golden/tiny.snf was edited"
    parsed = read(data)
    assert parsed.error is None and parsed.complete and data[8:10] == bytes(VERSION)
    assert parsed.header["arch"]["widths"] == [4, 8, 12]
    assert make_golden.values_digests(data) == meta["values_sha256"]


def test_golden_file_decodes_to_its_pixels_within_one_step(golden):
    data, _ = golden
    for k, pic in enumerate(make_golden.pictures(data), 1):
        want = np.asarray(Image.open(os.path.join(HERE, f"tiny-level-{k}.png")), dtype=np.int16)
        assert pic.shape == want.shape
        assert np.abs(pic.astype(np.int16) - want).max() <= 1, f"level {k} decodes differently"


def test_same_seed_same_bytes_within_a_run():
    fresh = make_golden.encode()
    assert fresh == make_golden.encode(), "two encodes in one process differ"
    parsed = read(fresh)
    assert parsed.error is None and parsed.complete and parsed.header["encoder"]["seed"] == 0
