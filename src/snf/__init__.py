"""snf: streamable neural fields as an image codec.

Decoding needs numpy only; `snf.encode.encoder` (training) imports torch lazily.
"""
__version__ = "0.1.0"

__all__ = ["__version__", "compress", "decompress", "register_pillow"]


def compress(*args, **kwargs):
    """Encode an image array; see `snf.encode.encoder.compress` (needs torch)."""
    from snf.encode.encoder import compress as _compress
    return _compress(*args, **kwargs)


def decompress(*args, **kwargs):
    """Decode .snf bytes (any prefix); see `snf.decode.decoder.decompress`."""
    from snf.decode.decoder import decompress as _decompress
    return _decompress(*args, **kwargs)


def register_pillow():
    """Make `PIL.Image.open` read .snf files (one frame per complete level)."""
    from snf.decode.pillow_plugin import register
    register()
