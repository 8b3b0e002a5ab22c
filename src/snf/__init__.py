"""snf: streamable neural fields as an image codec.

    from snf import compress, decompress
    out = compress(img, steps=200, quiet=False)   # img: uint8 (H, W, C); steps: a short run
    pic = decompress(out["bytes"][:4000])          # any prefix decodes to its best complete level

Decoding needs numpy only; `compress` imports torch when called. The error classes a
caller may catch are importable from here without importing either:
`SnfError` (a malformed or truncated stream), `DecodeError` (a request the file cannot
satisfy: a level it does not hold, a bad size), `SettingsError` (an encode setting out of
range), `SignalError` (an input image that cannot be read or encoded).
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "compress", "decompress", "register_pillow",
           "SnfError", "DecodeError", "SettingsError", "SignalError"]

_ERRORS = {  # name -> module: imported on first use, so `import snf` stays light
    "SnfError": "snf.format.container",
    "DecodeError": "snf.decode.decoder",
    "SettingsError": "snf.settings",
    "SignalError": "snf.signals.image",
}


def __getattr__(name: str):
    if name in _ERRORS:
        import importlib
        return getattr(importlib.import_module(_ERRORS[name]), name)
    raise AttributeError(f"module 'snf' has no attribute {name!r}")


def compress(img, settings=None, *, quiet: bool = True, device: str | None = None, progress=None,
             publish=None, **settings_kw) -> dict:
    """Encode a uint8 image array (H, W, C), C in 1..4, into .snf bytes (needs torch).

    settings: a `snf.settings.EncodeSettings`, or None for the defaults; keyword arguments
        named like its fields (`steps=200`, `quality=50`, `widths="12,24"`, `field="grid"`,
        `deadline=0`, ...) build or override one. They decide the bytes: the same image,
        settings and seed give the same bytes (unless a `time_budget` or a cut by the
        `deadline` intervenes; a cut is recorded per level as `steps_asked`).
    quiet: False prints a progress bar and one line per level on stderr.
    device: a torch device ("cpu", "cuda"); default cuda when present.
    progress: called with a dict (level, levels, step, psnr, fraction, text) at most
        twice a second.
    publish: called with the bytes of a valid prefix file after each level but the last.

    Returns a dict: "bytes" (the file), "header", "levels" (per level: "psnr" in dB of the
    decoded 8-bit picture, "psnr_float" before quantisation, "steps"), "timing".
    Raises `SettingsError` for a bad setting, `SignalError` for an image it cannot encode.
    """
    from snf.encode.encoder import compress as _compress
    return _compress(img, settings, quiet=quiet, device=device, progress=progress, publish=publish,
                     **settings_kw)


def decompress(data: bytes, level: int | None = None, size: tuple | None = None, crop: bool = False) -> dict:
    """Decode .snf bytes, a whole file or any prefix of one (numpy only).

    level: the level to render (default: the highest complete one).
    size: (width, height) to render at (the field is continuous; default: the stored size).
    crop: a spatially grown file renders only its revealed columns.

    Returns a dict: "image" (uint8 H x W x C), "level" (the level rendered),
    "levels_complete", "levels" (how many the whole file has), "header", "stopped"
    (why the bytes ended early, or None). Raises `DecodeError` for a level the bytes do
    not hold or a bad size, `SnfError` for bytes that are not an .snf stream.
    """
    from snf.decode.decoder import decompress as _decompress
    return _decompress(data, level=level, size=size, crop=crop)


def register_pillow() -> None:
    """Make `PIL.Image.open` read .snf files (one frame per complete level)."""
    from snf.decode.pillow_plugin import register
    register()
