import numpy as np
import pytest

from snf.field.arch import Arch
from snf.format.quant import (QuantError, check_bits, decode_level, default_quant, dequantise, encode_level,
                             payload_size, quantise)


@pytest.mark.parametrize("bits", [4, 8, 12, 16])
def test_error_within_half_a_step(bits):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((7, 13)) * rng.uniform(0.01, 2, (7, 1))).astype(np.float32)
    q, scale = quantise(w, bits, per_row=True)
    back = dequantise(q, scale, per_row=True)
    assert np.all(np.abs(back - w) <= scale[:, None] / 2 + 1e-7)
    assert q.dtype == (np.int8 if bits <= 8 else np.int16)
    assert np.abs(q).max() <= (1 << (bits - 1)) - 1


def test_row_scales_beat_one_scale_on_uneven_rows():
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((20, 50)) * np.geomspace(0.01, 1, 20)[:, None]).astype(np.float32)
    err_row = np.abs(dequantise(*quantise(w, 8, True), True) - w).mean()
    err_one = np.abs(dequantise(*quantise(w, 8, False), False) - w).mean()
    assert err_row < 0.5 * err_one


def test_zero_rows_survive():
    q, s = quantise(np.zeros((3, 4), np.float32), 8, True)
    assert np.all(dequantise(q, s, True) == 0)


def test_level_payload_round_trip():
    arch = Arch((4, 9), layers=3, mode="slimmable")
    quant = default_quant(6)
    rng = np.random.default_rng(2)
    for k in (1, 2):
        tensors = [rng.standard_normal(b.shape).astype(np.float32) for b in arch.blocks(k)]
        payload, deq = encode_level(arch, k, tensors, quant)
        assert len(payload) == payload_size(arch, k, quant)
        back = decode_level(arch, k, payload, quant)
        for a, b in zip(deq, back):
            assert np.array_equal(a, b)
        with pytest.raises(QuantError):
            decode_level(arch, k, payload[:-1], quant)


@pytest.mark.parametrize("bits", [3, 17, 0])
def test_bits_range(bits):
    with pytest.raises(QuantError):
        check_bits(bits)
