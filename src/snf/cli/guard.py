"""What `snf-encode` checks so that it never destroys an input or writes a surprise:
an output that is one of the inputs, an output name that does not say .snf, and a file
larger than the input's own lossless PNG (torch-free; issue 27)."""
from __future__ import annotations

import io
import os

from snf.cli.common import UsageError

SUFFIX = ".snf"


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(output: str, inputs: list, force: bool = False) -> None:
    """UsageError (exit 2, before any work) for an output that is one of the inputs (even with
    --force: the input would be gone), or one not named *.snf without --force."""
    for path in inputs:
        if os.path.exists(output) and _same(output, path):
            raise UsageError(f"{output}: is the input {path}; give another output name (-o NAME.snf)")
    if not output.lower().endswith(SUFFIX) and not force:
        raise UsageError(f"{output}: the output is an .snf file, so its name should end in {SUFFIX} "
                         f"(--force writes it anyway)")


def png_bytes(img) -> int:
    """The size of the picture as a lossless PNG (Pillow, its default compression)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(buf, format="PNG")
    return buf.tell()


def larger_than_png(img, n_bytes: int) -> str | None:
    """A warning when `n_bytes` of .snf exceed the picture's own lossless PNG, else None."""
    png = png_bytes(img)
    if n_bytes <= png:
        return None
    return (f"warning: the .snf file ({n_bytes:,} bytes) is larger than this picture as a lossless PNG "
            f"({png:,} bytes); lower --quality or give fewer/narrower --widths")
