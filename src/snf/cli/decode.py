"""snf-decode IN.snf -o OUT.png [--level K] [--size WxH]"""
from __future__ import annotations

import argparse
import io
import os
import sys

# Decoding runs its own tiles in parallel: one BLAS thread each (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from snf.cli.common import UsageError, check_output_path, run

PROG = "snf-decode"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Decode an .snf file, or any prefix of one, to an image. "
                                "Without --level it renders the highest complete level and says which.")
    p.add_argument("input", help=".snf file (a partial download is fine)")
    p.add_argument("-o", "--output", required=True, help="output image (format from the extension; PNG if none)")
    p.add_argument("--level", type=int, help="level to render (exit code 2 if the file does not hold it)")
    p.add_argument("--size", help="render at another size, WIDTHxHEIGHT (the field is continuous)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def body(argv) -> int:
    args = parser().parse_args(argv)
    from snf.format.container import read_path, write_atomic
    from snf.decode.decoder import parse_size, pick_level, render_image, to_pil

    size = parse_size(args.size) if args.size else None
    check_output_path(args.output)
    fmt = _format_for(args.output)
    parsed = read_path(args.input)
    k = pick_level(parsed, args.level)
    img = render_image(parsed, k, size)
    buf = io.BytesIO()
    opts = {"compress_level": 1} if fmt == "PNG" else {}  # fast zlib: 6x faster, about 25% larger
    to_pil(img).save(buf, format=fmt, **opts)
    write_atomic(args.output, buf.getvalue(), durable=False)
    if not args.quiet:
        total = parsed.arch.levels
        note = "" if parsed.levels_complete == total else f"; file holds levels 1..{parsed.levels_complete} of {total}"
        print(f"decoded level {k} of {total} to {args.output}{note}", file=sys.stderr)
    return 0


def _format_for(path: str) -> str:
    from PIL import Image
    ext = os.path.splitext(path)[1].lower()
    if not ext:
        return "PNG"
    Image.preinit()  # the common formats; loading every plugin costs ~50 ms of a 0.5 s decode
    if ext not in Image.EXTENSION:
        Image.init()
    fmt = Image.EXTENSION.get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"{path}: cannot write images with extension {ext}")
    return fmt


def main(argv=None) -> int:
    code = run(PROG, body, argv)
    if argv is None:  # run as a command: the output file is renamed into place by now
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """Flush and leave without the interpreter's teardown of ~300 modules: 30 ms of a
    0.5 s decode, and decoders run in loops. Nothing registered at exit needs to run."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
