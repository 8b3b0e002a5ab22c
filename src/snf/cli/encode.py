"""snf-encode IMAGE -o OUT.snf: train a streamable field and write its levels."""
from __future__ import annotations

import argparse
import sys

from snf.cli.common import UsageError, check_output_path, run
from snf.settings import EncodeSettings, SettingsError

PROG = "snf-encode"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Encode an image as a streamable neural field: each level's parameter delta is a "
                    "quantised chunk, so any prefix of the file decodes. The same input, settings and seed "
                    "give the same bytes on the same machine, except with --time-budget (wall-clock stops).")
    p.add_argument("image", help="input image (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", required=True, help="output .snf file (written atomically)")
    EncodeSettings.add_arguments(p)
    p.add_argument("--threads", type=int, help="CPU threads for training (default: all cores)")
    p.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def check(args) -> EncodeSettings:
    """Every setting validated before any work (one line on a bad one)."""
    try:
        settings = EncodeSettings.from_args(args)
    except SettingsError as e:
        raise UsageError(EncodeSettings.for_cli(str(e))) from None
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError("--threads must be 1..1024")
    check_output_path(args.output)
    return settings


def body(argv) -> int:
    args = parser().parse_args(argv)
    settings = check(args)
    from snf.format.container import write_atomic
    from snf.signals.image import load_image
    img = load_image(args.image)
    try:
        import torch
    except ImportError:
        raise UsageError("encoding needs torch: pip install 'snf[encode]' (torch==2.13.0 on CPU)") from None
    torch.set_num_threads(args.threads or torch.get_num_threads())
    from snf.encode.encoder import compress
    result = compress(img, settings, quiet=args.quiet, device=args.device)
    write_atomic(args.output, result["bytes"])
    if not args.quiet:
        h, w = img.shape[:2]
        last = result["levels"][-1]
        print(f"wrote {args.output}: {len(result['levels'])} levels, {len(result['bytes']):,} bytes, "
              f"{len(result['bytes']) * 8 / (w * h):.3f} bpp, last level {last['psnr']:.2f} dB", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
