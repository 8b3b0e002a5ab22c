"""The classical codecs snf is measured against, each as bytes -> 8-bit picture.

JPEG and WebP come from Pillow; JPEG 2000, JPEG XL and AVIF from `imagecodecs` (its
wheel bundles OpenJPEG, libjxl and libavif). A codec missing from the installed build is
reported by `available()` with the reason, and the benchmark goes on without it.

Progressive competitors, measured at a given number of bytes:
- `ProgressiveJpeg`: the progressive-JPEG prefix at N bytes, defined as the best
  PSNR that the first N bytes of any progressive JPEG of the picture (Pillow,
  qualities 5..95) decode to; libjpeg shows a truncated progressive file as far
  as it goes, so this is what a browser shows after N bytes.
- `LayeredJpeg2000`: a JPEG 2000 codestream with quality layers (LRCP order,
  packet lengths in PLT markers), cut after whole layers: the cut's tile-part
  length is rewritten and an EOC marker appended, which is what a JPIP-style
  server sends. OpenJPEG refuses a cut inside a packet, so only layer ends count.
- JPEG XL progressive passes: imagecodecs' decoder needs the whole codestream
  (it reports "need more input" on any prefix), so they are reported as not
  measurable here rather than guessed.
"""
from __future__ import annotations

import contextlib
import io
import struct

import numpy as np
from PIL import Image, ImageFile

from snf.bench.metrics import psnr

JPEG_QUALITIES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95)  # also the prefix family
WEBP_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
J2K_PSNR_TARGETS = (22, 25, 28, 31, 34, 37, 40, 44)   # imagecodecs' `level` for JPEG 2000 is a PSNR goal
JXL_DISTANCES = (12.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.5)
AVIF_QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)  # imagecodecs' avif_encode level (libavif quality)
J2K_LAYER_RATES = (640, 320, 160, 80, 40, 20, 10, 5)  # compression ratios of the quality layers


@contextlib.contextmanager
def truncated_ok():
    """Let Pillow decode a cut file as far as it goes (restored afterwards)."""
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _pil_encode(img: np.ndarray, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(img).save(b, format=fmt, **kw)
    return b.getvalue()


# -- whole-file codecs: name -> (settings, encode(img, s) -> bytes, decode(bytes) -> img) ---------

def _imagecodecs():
    import imagecodecs
    return imagecodecs


def _j2k_enc(img, level):
    return bytes(_imagecodecs().jpeg2k_encode(img, level=level))


def _j2k_dec(data):
    return np.asarray(_imagecodecs().jpeg2k_decode(data), dtype=np.uint8)


def _jxl_enc(img, distance):
    return bytes(_imagecodecs().jpegxl_encode(img, distance=distance))


def _jxl_dec(data):
    return np.asarray(_imagecodecs().jpegxl_decode(data), dtype=np.uint8)


def _avif_enc(img, level):
    return bytes(_imagecodecs().avif_encode(img, level=level))


def _avif_dec(data):
    return np.asarray(_imagecodecs().avif_decode(data), dtype=np.uint8)[..., :3]


CODECS = {
    "jpeg": ("quality", JPEG_QUALITIES, lambda img, q: _pil_encode(img, "JPEG", quality=q), _pil_decode),
    "webp": ("quality", WEBP_QUALITIES, lambda img, q: _pil_encode(img, "WEBP", quality=q), _pil_decode),
    "jpeg2000": ("psnr target", J2K_PSNR_TARGETS, _j2k_enc, _j2k_dec),
    "jpegxl": ("distance", JXL_DISTANCES, _jxl_enc, _jxl_dec),
    "avif": ("quality", AVIF_QUALITIES, _avif_enc, _avif_dec),
}

LABELS = {"jpeg": "JPEG (Pillow/libjpeg)", "webp": "WebP (Pillow/libwebp)",
          "jpeg2000": "JPEG 2000 (imagecodecs/OpenJPEG)", "jpegxl": "JPEG XL (imagecodecs/libjxl)",
          "avif": "AVIF (imagecodecs/libavif)"}


def available(name: str) -> str | None:
    """None if the codec works in this install, else why not (one line)."""
    probe = np.zeros((16, 16, 3), np.uint8)
    probe[::2] = 200
    setting, values, enc, dec = CODECS[name]
    try:
        out = dec(enc(probe, values[len(values) // 2]))
        if out.shape != probe.shape:
            return f"{name} decodes to shape {out.shape}"
    except ImportError as e:
        return f"{name} needs a package that is not installed ({e.name})"
    except Exception as e:  # a wheel built without the codec raises its own error type
        return f"{name} is not usable in this install ({e.__class__.__name__}: {str(e)[:100]})"
    return None


def encode_all(name: str, img: np.ndarray) -> list:
    """[(setting, bytes, decoded picture)] over the codec's settings."""
    setting, values, enc, dec = CODECS[name]
    out = []
    for v in values:
        data = enc(img, v)
        out.append((v, data, dec(data)))
    return out


# -- progressive-JPEG prefix ---------------------------------------------------------------

class ProgressiveJpeg:
    """Progressive JPEGs of one picture at qualities 5..95, and their prefixes."""

    def __init__(self, img: np.ndarray, qualities=JPEG_QUALITIES):
        self.img = img
        self.files = [_pil_encode(img, "JPEG", quality=q, progressive=True) for q in qualities]
        self.qualities = tuple(qualities)

    def at(self, n: int):
        """(PSNR, picture, quality) of the best prefix of n bytes, or None if none decodes."""
        best = None
        with truncated_ok():
            for q, f in zip(self.qualities, self.files):
                try:
                    rec = _pil_decode(f[:n])
                except Exception:  # too short to hold the headers and a first scan
                    continue
                if rec.shape != self.img.shape:
                    continue
                p = psnr(self.img, rec)
                if best is None or p > best[0]:
                    best = (p, rec, q)
        return best


# -- JPEG 2000 quality layers --------------------------------------------------------------

class LayeredJpeg2000:
    """One JPEG 2000 codestream with quality layers; `prefixes()` cuts it after each layer."""

    def __init__(self, img: np.ndarray, rates=J2K_LAYER_RATES):
        self.img = img
        self.rates = tuple(rates)
        self.data = _pil_encode(img, "JPEG2000", quality_mode="rates", quality_layers=list(rates),
                                progression="LRCP", irreversible=True, no_jp2=True, plt=True)

    def layer_ends(self) -> list:
        """Byte offset just past each quality layer's packets (single tile, LRCP)."""
        d = self.data
        sot = d.find(b"\xff\x90")
        if sot < 0:
            raise ValueError("no tile-part in the codestream")
        lengths, pos = [], sot + 12
        sod = None
        while pos + 4 <= len(d):
            marker, size = struct.unpack(">HH", d[pos:pos + 4])
            if marker == 0xFF93:  # SOD: packet data follows
                sod = pos + 2
                break
            if marker == 0xFF58:  # PLT: packet lengths, 7 bits a byte, high bit = more
                value = 0
                for byte in d[pos + 5:pos + 2 + size]:
                    value = (value << 7) | (byte & 0x7F)
                    if not byte & 0x80:
                        lengths.append(value)
                        value = 0
            pos += 2 + size
        if sod is None or not lengths or len(lengths) % len(self.rates):
            raise ValueError("no packet lengths (PLT) to cut the layers at")
        per_layer = len(lengths) // len(self.rates)
        ends, at = [], sod
        for l in range(len(self.rates)):
            at += sum(lengths[l * per_layer:(l + 1) * per_layer])
            ends.append(at)
        return ends

    def prefix(self, end: int) -> bytes:
        """The first `end` bytes as a valid codestream: tile-part length fixed, EOC appended."""
        d = bytearray(self.data[:end])
        sot = d.find(b"\xff\x90")
        d[sot + 6:sot + 10] = struct.pack(">I", end - sot)
        return bytes(d) + b"\xff\xd9"

    def prefixes(self) -> list:
        """[(bytes sent, decoded picture)] after each whole layer (bytes include the EOC)."""
        out = []
        for end in self.layer_ends():
            p = self.prefix(end) if end < len(self.data) - 2 else self.data
            out.append((len(p), _j2k_dec(p)))
        return out
