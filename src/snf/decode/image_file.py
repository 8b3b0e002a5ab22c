"""A decoded picture -> the bytes of an image file, in the format its extension names.

Why a module of its own: `snf-decode` accepts any extension Pillow can save, and a
file may hold up to 16 bits a sample (format_spec.md, `values.bit_depth`). Pillow
cannot build 16-bit pictures of more than one channel, so each format goes where
it is written right: PNG through our own writer (8 or 16 bits, snf.decode.png),
PPM/PGM/PNM at 16 bits through a few lines of Netpbm here, TIFF at 16 bits
through tifffile, everything else through Pillow at 8 bits. A format that cannot
hold what is asked (16 bits in a JPEG, alpha in a PPM) is refused in one line
(`FormatError`), before anything is written.
"""
from __future__ import annotations

import io
import os

import numpy as np

DEEP_FORMATS = ("PNG", "TIFF", "PPM")  # Pillow's names of the formats written at 16 bits here
NETPBM_DEEP = (".ppm", ".pgm", ".pnm")  # .pbm is one bit a pixel: never deep
ALPHA_FORMATS = ("PNG", "WEBP", "TIFF", "GIF")  # keep the reveal alpha of a spatially grown level


class FormatError(ValueError):
    """The output format cannot hold this picture as asked: a one-line reason."""


def format_for(path: str) -> str:
    """Pillow's format name for the output's extension (PNG when there is none)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in ("", ".png"):
        return "PNG"
    from PIL import Image
    Image.preinit()  # the common formats; loading every plugin costs ~50 ms of a 0.5 s decode
    if ext not in Image.EXTENSION:
        Image.init()
    fmt = Image.EXTENSION.get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise FormatError(f"{path}: cannot write images with extension {ext}")
    return fmt


def holds_16_bits(path: str, fmt: str) -> bool:
    """Whether this output can be written with 16 bits a sample."""
    if fmt == "PPM":
        return os.path.splitext(path)[1].lower() in NETPBM_DEEP
    return fmt in DEEP_FORMATS


def output_depth(path: str, fmt: str, file_bits: int, asked: int | None) -> int:
    """8 or 16: as asked, else 16 where the file has more than 8 bits and the format holds them."""
    if asked is None:
        return 16 if file_bits > 8 and holds_16_bits(path, fmt) else 8
    if asked not in (8, 16):
        raise FormatError(f"--bit-depth must be 8 or 16, got {asked}")
    if asked == 16 and not holds_16_bits(path, fmt):
        raise FormatError(f"{path}: {fmt} cannot hold 16-bit samples; write .png, .tiff or .ppm, "
                          f"or pass --bit-depth 8")
    return asked


def rescale(samples: np.ndarray, bits_from: int, bits_to: int) -> np.ndarray:
    """Integer samples of `bits_from` bits -> `bits_to` bits (8 or 16), rounded to nearest:
    round(s * (2^to - 1) / (2^from - 1)), exact in integers (half rounds up)."""
    out_type = np.uint8 if bits_to == 8 else np.uint16
    if bits_from == bits_to:
        return samples.astype(out_type, copy=False)
    top_in, top_out = (1 << bits_from) - 1, (1 << bits_to) - 1
    s = samples.astype(np.uint64)
    return ((s * (2 * top_out) + top_in) // (2 * top_in)).astype(out_type)


def image_bytes(img: np.ndarray, path: str, fmt: str, file_bits: int, depth: int,
                reveal_alpha: bool = False) -> bytes:
    """The file's bytes for `img` (uint8/uint16 samples of `file_bits` bits) at `depth` bits.
    `reveal_alpha`: its last channel is only the reveal mask of a spatially grown level,
    dropped where the format holds no alpha."""
    if reveal_alpha and fmt not in ALPHA_FORMATS:
        img = img[..., :-1]
    img = rescale(img, file_bits, depth)
    c = img.shape[2]
    if fmt == "PNG":
        from snf.decode.png import png_bytes
        return png_bytes(img, significant=file_bits if file_bits < depth else None)
    if depth == 16 and fmt == "PPM":
        return _netpbm(img, path)
    if depth == 16 and fmt == "TIFF":
        return _tiff16(img)
    from PIL import Image
    pil = Image.fromarray(img[..., 0] if c == 1 else img)
    buf = io.BytesIO()
    try:
        pil.save(buf, format=fmt)
    except (OSError, ValueError, KeyError) as e:  # Pillow's ways of saying the mode does not fit
        raise FormatError(f"{path}: {fmt} cannot hold a {pil.mode} picture ({e}); write .png") from None
    return buf.getvalue()


def _netpbm(img: np.ndarray, path: str) -> bytes:
    """P5 (grey) or P6 (RGB), 16 bits a sample big-endian (maxval 65535)."""
    h, w, c = img.shape
    magic = {1: b"P5", 3: b"P6"}.get(c)
    if magic is None:
        raise FormatError(f"{path}: Netpbm holds grey or RGB pictures, not {c} channels (alpha); write .png")
    return magic + b"\n%d %d\n65535\n" % (w, h) + img.astype(">u2").tobytes()


def _tiff16(img: np.ndarray) -> bytes:
    """Baseline TIFF, 16 bits a sample, deflate-free (tifffile: Pillow builds no 16-bit colour)."""
    try:
        import tifffile
    except ImportError:
        raise FormatError("16-bit TIFF needs tifffile (pip install tifffile), or pass --bit-depth 8") from None
    c = img.shape[2]
    buf = io.BytesIO()
    kw = {"photometric": "rgb" if c >= 3 else "minisblack"}
    if c in (2, 4):
        kw["extrasamples"] = ["unassalpha"]
    tifffile.imwrite(buf, img[..., 0] if c == 1 else img, **kw)
    return buf.getvalue()
