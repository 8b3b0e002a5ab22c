"""Alpha and grey channels: what the loader keeps, and that every output path keeps it too."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from snf import compress, decompress, register_pillow
from snf.signals.image import load_image

from conftest import synthetic_image

BIN = os.path.dirname(sys.executable)


def _rgba(h=16, w=20, opaque=False):
    """Smooth colours (a small field can fit them) with an alpha ramp, or opaque."""
    alpha = np.full((h, w, 1), 255, np.uint8) if opaque else \
        np.broadcast_to(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], (h, w, 1))
    return np.concatenate([synthetic_image(w, h), alpha], axis=2)


@pytest.mark.parametrize("mode,channels", [("RGBA", 4), ("LA", 2)])
def test_loader_keeps_real_alpha(tmp_path, mode, channels):
    src = Image.fromarray(_rgba()).convert(mode)
    src.save(tmp_path / "a.png")
    arr = load_image(str(tmp_path / "a.png"))
    assert arr.shape == (16, 20, channels)
    assert np.array_equal(arr, np.asarray(src))


def test_loader_drops_opaque_alpha_and_reads_palette_transparency(tmp_path):
    Image.fromarray(_rgba(opaque=True)).save(tmp_path / "o.png")
    assert load_image(str(tmp_path / "o.png")).shape == (16, 20, 3)
    pal = Image.new("P", (20, 16))
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    pal.putdata([i % 4 for i in range(20 * 16)])
    pal.save(tmp_path / "p.png", transparency=0)  # palette entry 0 is transparent
    arr = load_image(str(tmp_path / "p.png"))
    assert arr.shape[2] == 4 and arr[..., 3].min() == 0 and arr[..., 3].max() == 255


def test_rgba_round_trip_through_every_reader(tmp_path):
    img = _rgba()
    out = compress(img, widths=(8, 16), layers=3, steps=150, lr=3e-3, seed=0)
    assert out["header"]["channels"] == 4 and out["arch"].d_out == 4
    pic = decompress(out["bytes"])["image"]
    assert pic.shape == img.shape
    # the field learned alpha: far closer than its mean (a ramp is 64 off on average)
    assert np.abs(pic[..., 3].astype(int) - img[..., 3]).mean() < 12
    path = tmp_path / "a.snf"
    path.write_bytes(out["bytes"])
    r = subprocess.run([os.path.join(BIN, "snf-decode"), str(path), "-o", str(tmp_path / "o.png"), "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "o.png").mode == "RGBA"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), pic)
    register_pillow()
    with Image.open(path) as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im), pic)
    r = subprocess.run([os.path.join(BIN, "snf-decode"), str(path), "-o", str(tmp_path / "o.jpg")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "RGBA" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.jpg").exists()


def test_closed_pipe_is_quiet(tiny_encoded, tmp_path):
    path = tmp_path / "t.snf"
    path.write_bytes(tiny_encoded["bytes"])
    r_fd, w_fd = os.pipe()
    os.close(r_fd)  # the reader is gone before the command writes a byte
    try:
        p = subprocess.run([os.path.join(BIN, "snf-info"), str(path)], stdout=w_fd, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    finally:
        os.close(w_fd)
    assert p.returncode == 1 and p.stderr == ""
