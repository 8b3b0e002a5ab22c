"""snf.decode.png: the decoder's own PNG writer reads back exactly, in every colour type."""
import io

import numpy as np
import pytest
from PIL import Image

from snf.decode.png import png_bytes


@pytest.mark.parametrize("channels,mode", [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (37, 61)])
def test_png_reads_back_identical_pixels(channels, mode, shape):
    rng = np.random.default_rng(channels * 100 + shape[0])
    img = rng.integers(0, 256, shape + (channels,), dtype=np.uint8)
    img[..., 0] = np.arange(shape[1], dtype=np.uint8)[None, :] * 3  # smooth part: Sub filter pays there
    for pieces in (1, 2, 3):
        got = Image.open(io.BytesIO(png_bytes(img, pieces=pieces)))
        got.load()  # decodes every IDAT byte: a bad CRC, Adler-32 or deflate stream raises here
        assert got.mode == mode and got.size == (shape[1], shape[0])
        arr = np.asarray(got)
        assert np.array_equal(arr.reshape(img.shape), img)


def test_png_compresses_a_smooth_picture_and_refuses_bad_arrays():
    y, x = np.mgrid[0:64, 0:96]
    img = np.stack([x * 2, y * 3, (x + y)], axis=2).astype(np.uint8)
    assert len(png_bytes(img)) < img.size // 10
    with pytest.raises(ValueError):
        png_bytes(img.astype(np.float32))
    with pytest.raises(ValueError):
        png_bytes(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError):
        png_bytes(np.zeros((0, 4, 3), np.uint8))
