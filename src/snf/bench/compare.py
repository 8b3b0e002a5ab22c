"""What an snf file is compared with at equal bytes, for the compare page (`/compare/{id}`)
and its static twin (`snf-bench compare IMAGE -o page.html`).

For one original picture this makes, once:
- the progressive JPEGs whose prefixes are the project's "progressive-JPEG prefix at N
  bytes" (`snf.bench.codecs.ProgressiveJpeg`: Pillow, qualities 5..95). The page cuts each
  file at the slider's byte count, appends an EOI marker and lets the browser decode it
  (libjpeg then shows the cut scan as far as it goes, exactly as Pillow does; measured on
  kodim03: the same PSNR to 0.001 dB), and keeps the best. Any byte count works, no
  server round trip per slider step;
- whole WebP files at qualities 0..100 in steps of 5 (the best one that fits in N bytes is
  shown), with their PSNR measured here (Pillow/libwebp);
- whole JPEG XL files at a ladder of distances when `imagecodecs` has libjxl; browsers do
  not decode JPEG XL, so the page gets each one's decoded picture (lossless) and its size.

The page measures every pane's PSNR itself, from the pixels it shows against the original
(the tests check that against the numbers here). torch-free.
"""
from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
from PIL import Image

from snf.bench.codecs import JPEG_QUALITIES, available
from snf.bench.metrics import psnr

WEBP_QUALITIES = tuple(range(0, 101, 5))
JXL_DISTANCES = (15.0, 12.0, 10.0, 8.0, 6.0, 5.0, 4.0, 3.0, 2.5, 2.0, 1.5, 1.0, 0.7, 0.5)
JXL_EFFORT = 7       # libjxl's default effort


class CompareError(ValueError):
    """The comparison cannot be made (no original, or one of another size): one line for users."""


def load_original(path: str) -> np.ndarray:
    """The original as 8-bit RGB (alpha dropped, grey spread to three channels)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise CompareError(f"{os.path.basename(path)}: not a readable image ({e})") from None


def check_size(img: np.ndarray, width: int, height: int) -> None:
    h, w = img.shape[:2]
    if (w, h) != (width, height):
        raise CompareError(f"the original is {w}x{h} but the asset is {width}x{height}: not the same picture")


def _encode(img: np.ndarray, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(img).save(b, format=fmt, **kw)
    return b.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def lossless_png(img: np.ndarray) -> bytes:
    return _encode(img, "PNG", compress_level=6)


def lossless_webp(img: np.ndarray) -> bytes:
    """A smaller lossless container than PNG for pictures embedded in the static page."""
    return _encode(img, "WEBP", lossless=True, quality=50, method=2)


def make_variants(img: np.ndarray) -> tuple:
    """(table, files): the comparison table (JSON-able, no picture bytes) and
    {name: (bytes, media type)} of every file the page loads (names as the table gives them)."""
    files = {"original.png": (lossless_png(img), "image/png")}
    jpeg = []
    for q in JPEG_QUALITIES:
        data = _encode(img, "JPEG", quality=q, progressive=True)
        name = f"jpeg-q{q}.jpg"
        files[name] = (data, "image/jpeg")
        jpeg.append({"quality": q, "bytes": len(data), "file": name})
    webp = []
    for q in WEBP_QUALITIES:
        data = _encode(img, "WEBP", quality=q, method=6)
        name = f"webp-q{q}.webp"
        files[name] = (data, "image/webp")
        webp.append({"quality": q, "bytes": len(data), "psnr": round(psnr(img, _decode(data)), 4), "file": name})
    why = available("jpegxl")
    jxl = None
    if why is None:
        import imagecodecs
        jxl = []
        for d in JXL_DISTANCES:
            data = bytes(imagecodecs.jpegxl_encode(img, distance=d, effort=JXL_EFFORT))
            rec = np.asarray(imagecodecs.jpegxl_decode(data), dtype=np.uint8)[..., :3]
            name = f"jxl-d{d:g}.png"
            files[name] = (lossless_png(rec), "image/png")
            jxl.append({"distance": d, "bytes": len(data), "psnr": round(psnr(img, rec), 4), "file": name})
    h, w = img.shape[:2]
    table = {"width": w, "height": h, "original": "original.png",
             "jpeg": jpeg, "webp": webp, "jxl": jxl, "jxl_note": why,
             "about": {"jpeg": "progressive JPEG prefix: the best of Pillow's progressive JPEGs at qualities "
                                "5..95 cut at N bytes (libjpeg shows a cut file as far as it goes)",
                       "webp": "the best whole WebP file (Pillow/libwebp, qualities 0..100 step 5, method 6) "
                               "of at most N bytes",
                       "jxl": "the best whole JPEG XL file (imagecodecs/libjxl, effort 7) of at most N bytes",
                       "snf": "the last snf level whose bytes all fit in N bytes"}}
    return table, files


def snf_levels(data: bytes) -> dict:
    """The snf side of the table: file size, level ends and each level's encode-time PSNR."""
    from snf.format.container import read
    parsed = read(data, decode=False)
    levels = parsed.header.get("levels") or []
    return {"bytes": len(data), "ends": list(parsed.ends),
            "psnr_at_encode": [lv.get("psnr") for lv in levels][:len(parsed.ends)],
            "signal": parsed.header.get("signal")}


# -- the static page -----------------------------------------------------------------------

def data_uri(data: bytes, media: str) -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def static_page(name: str, snf_bytes: bytes, img: np.ndarray) -> bytes:
    """One self-contained HTML file: the compare page's script and style inline, every picture
    and file as a data: URI (the snf levels decoded here by the numpy decoder, losslessly)."""
    from snf.decode.decoder import decompress
    from snf.viewer import STATIC_DIR
    info = snf_levels(snf_bytes)
    if info["signal"] != "image":
        raise CompareError(f"{name}: holds a {info['signal']}; the comparison is for images")
    check_size(img, img.shape[1], img.shape[0])
    table, files = make_variants(img)
    h, w = img.shape[:2]
    levels = []
    for k in range(1, len(info["ends"]) + 1):
        rec = np.asarray(decompress(snf_bytes, level=k)["image"])
        if rec.shape[:2] != (h, w):
            raise CompareError(f"the original is {w}x{h} but the snf file is {rec.shape[1]}x{rec.shape[0]}")
        rec = rec if rec.ndim == 3 else rec[..., None]
        rgb = np.repeat(rec[..., :1], 3, -1) if rec.shape[-1] in (1, 2) else rec[..., :3]
        levels.append({"level": k, "end": info["ends"][k - 1],
                       "file": data_uri(lossless_webp(rgb.astype(np.uint8)), "image/webp")})
    for entry in [*table["jpeg"], *table["webp"], *(table["jxl"] or [])]:
        data, media = files[entry["file"]]
        if media == "image/png":   # decoded JPEG XL pictures: lossless WebP is about 30% smaller
            data, media = lossless_webp(_decode(data)), "image/webp"
        entry["file"] = data_uri(data, media)
    table["original"] = data_uri(lossless_webp(img), "image/webp")
    table["snf"] = {**info, "levels": levels}
    table["id"] = name
    with open(os.path.join(STATIC_DIR, "compare.html"), encoding="utf-8") as f:
        page = f.read()
    with open(os.path.join(STATIC_DIR, "compare.js"), encoding="utf-8") as f:
        script = f.read()
    blob = json.dumps(table, separators=(",", ":")).replace("</", "<\\/")
    page = page.replace('<script type="application/json" id="compare-data"></script>',
                        f'<script type="application/json" id="compare-data">{blob}</script>')
    page = page.replace('<script src="/static/compare.js"></script>', f"<script>{script}</script>")
    page = page.replace('<script type="module" src="/static/compare-stream.js"></script>', "")
    return page.encode("utf-8")
