"""snf-decode's output files: 16-bit PNG for deep files (8-bit on request), and every
extension it accepts either written (read back equal) or refused in one line, exit 2."""
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from snf.cli.decode import main
from snf.decode.decoder import render_image
from snf.decode.image_file import rescale
from snf.decode.png import png_bytes
from snf.format.container import read_path

VECTORS = os.path.join(os.path.dirname(__file__), "vectors", "good")
DEEP = os.path.join(VECTORS, "rule-samples-16bit.snf")  # bit_depth 16, 3 channels
SHALLOW = os.path.join(VECTORS, "progressive-b8-c3.snf")


def read_png(data: bytes) -> tuple:
    """(bit depth, samples (H, W, C)) of a non-interlaced PNG of Sub/None-filtered rows, read
    here (Pillow reads 16-bit colour PNGs down to 8 bits)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, sbit = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"sBIT":
            sbit = body
        pos += 12 + n
    c = {0: 1, 4: 2, 2: 3, 6: 4}[ctype]
    bpp = c * depth // 8
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
    assert set(rows[:, 0]) <= {0, 1}
    raw = rows[:, 1:].reshape(h, w, bpp).astype(np.uint32)
    sub = rows[:, 0] == 1
    raw[sub] = np.cumsum(raw[sub], axis=1) % 256  # undo Sub: running sum of each byte position
    raw = raw.astype(np.uint8)
    out = raw.view(">u2").reshape(h, w, c) if depth == 16 else raw.reshape(h, w, c)
    return depth, out.astype(np.uint16), sbit


def decode(argv, capsys) -> tuple:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return e.value.code, out.err


def test_deep_file_decodes_to_16_bit_png_and_8_bit_on_request(tmp_path, capsys):
    want = render_image(read_path(DEEP), 3)
    assert want.dtype == np.uint16 and want.max() > 255  # the vector really uses 16 bits
    code, _ = decode([DEEP, "-o", tmp_path / "a.png"], capsys)
    assert code == 0
    depth, got, sbit = read_png((tmp_path / "a.png").read_bytes())
    assert depth == 16 and sbit is None and np.array_equal(got, want)
    code, _ = decode([DEEP, "-o", tmp_path / "b.png", "--bit-depth", "8"], capsys)
    depth, got8, _ = read_png((tmp_path / "b.png").read_bytes())
    assert code == 0 and depth == 8
    assert np.array_equal(got8, np.round(want / 257.0).astype(np.uint16))
    code, _ = decode([SHALLOW, "-o", tmp_path / "c.png", "--bit-depth", "16"], capsys)
    depth, got16, _ = read_png((tmp_path / "c.png").read_bytes())
    assert code == 0 and depth == 16
    assert np.array_equal(got16, render_image(read_path(SHALLOW), read_path(SHALLOW).levels_complete).astype(np.uint16) * 257)


def test_12_bit_samples_scale_to_16_with_sbit():
    s = np.array([[[0, 1, 2048, 4095]]], np.uint16).reshape(1, 4, 1)
    assert rescale(s, 12, 16).ravel().tolist() == [0, 16, 32776, 65535]
    assert rescale(s, 12, 8).ravel().tolist() == [0, 0, 128, 255]
    depth, got, sbit = read_png(png_bytes(rescale(s, 12, 16), significant=12))
    assert depth == 16 and sbit == bytes([12]) and got.ravel().tolist() == [0, 16, 32776, 65535]


@pytest.mark.parametrize("ext", ["tiff", "tif", "ppm", "pgm", "pnm"])
def test_deep_file_to_16_bit_formats(ext, tmp_path, capsys):
    want = render_image(read_path(DEEP), 3)
    out = tmp_path / f"a.{ext}"
    code, err = decode([DEEP, "-o", out], capsys)
    assert code == 0, err
    data = out.read_bytes()
    if ext.startswith("tif"):
        import tifffile
        got = tifffile.imread(io.BytesIO(data))
    else:
        assert data.startswith(b"P6\n4 3\n65535\n")
        got = np.frombuffer(data[len(b"P6\n4 3\n65535\n"):], ">u2").reshape(3, 4, 3)
    assert got.dtype.itemsize == 2 and np.array_equal(got, want)


def test_every_accepted_extension_writes_or_refuses_in_one_line(tmp_path, capsys):
    """Each extension Pillow can save, from a deep RGB file and an 8-bit RGBA one: exit 0 and a
    file Pillow opens, or exit 2, one line, nothing written."""
    Image.init()
    exts = sorted(e for e, f in Image.EXTENSION.items() if f in Image.SAVE)
    rgba = os.path.join(VECTORS, "progressive-b8-c4.snf")
    written = 0
    for src in (DEEP, rgba):
        for ext in exts:
            out = tmp_path / f"x{ext}"
            code, err = decode([src, "-o", out, "--quiet"], capsys)
            if code == 0:
                assert out.exists() and err == ""
                if Image.EXTENSION[ext] not in ("PDF", "EPS", "PALM", "MPO", "XBM"):
                    Image.open(out).load()
                written += 1
                out.unlink()
            else:
                assert code == 2 and not out.exists(), (ext, err)
                assert err.count("\n") == 1 and "snf-decode: error:" in err and "Traceback" not in err, err
    assert written >= len(exts)  # most formats take RGB


def test_16_bits_refused_where_the_format_cannot_hold_them(tmp_path, capsys):
    for ext in ("jpg", "webp", "bmp", "pbm"):
        code, err = decode([DEEP, "-o", tmp_path / f"x.{ext}", "--bit-depth", "16"], capsys)
        assert code == 2 and "cannot hold 16-bit" in err and not (tmp_path / f"x.{ext}").exists()
    code, _ = decode([DEEP, "-o", tmp_path / "x.jpg"], capsys)  # unasked: 8 bits, as JPEG holds
    assert code == 0 and Image.open(tmp_path / "x.jpg").mode == "RGB"
