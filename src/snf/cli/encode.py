"""snf-encode IMAGE -o OUT.snf: train a streamable field and write its levels."""
from __future__ import annotations

import argparse
import sys

from snf.cli.common import UsageError, check_output_path, run

PROG = "snf-encode"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Encode an image as a streamable neural field: each level's parameter delta is a "
                    "quantised chunk, so any prefix of the file decodes. The same input, settings and seed "
                    "give the same bytes on the same machine, except with --time-budget (wall-clock stops).")
    p.add_argument("image", help="input image (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", required=True, help="output .snf file (written atomically)")
    p.add_argument("--widths", default="30,69,110,151", help="cumulative hidden width per level (default: %(default)s)")
    p.add_argument("--mode", default="progressive", help="progressive | slimmable | individual (default: %(default)s)")
    p.add_argument("--grow", default="spectral", help="growth mode: spectral (default)")
    p.add_argument("--bits", type=int, default=8, help="quantisation bits for weights, 4..16 (default: %(default)s)")
    p.add_argument("--preset", default="fast", help="fast (CPU, default) | paper (the seed's recipe, for GPUs)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="training steps per level (overrides the preset)")
    budget.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help="wall-clock seconds for all training, split across levels; NOT deterministic")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--layers", type=int, default=5, help="sine layers (default: %(default)s)")
    p.add_argument("--init", default="siren", help="growth init: siren (paper) | zero-out (new output columns zero)")
    p.add_argument("--qat", action=argparse.BooleanOptionalAction, default=None,
                   help="quantisation-aware training: the last 15%% of each stage's steps run at the "
                        "quantised values (straight-through), then the output columns are re-solved for "
                        "the quantised units (default: on at 4 bits or fewer, where it pays)")
    p.add_argument("--lr", type=float, help="learning rate (overrides the preset)")
    p.add_argument("--batch", type=int, help="samples per step (overrides the preset)")
    p.add_argument("--threads", type=int, help="CPU threads for training (default: all cores)")
    p.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return p


def check(args) -> None:
    from snf.field.arch import GROWS, MODES, Arch, parse_widths
    from snf.format.quant import check_bits
    from snf.encode.train import PRESETS
    if args.mode not in MODES:
        raise UsageError(f"unsupported mode {args.mode!r} (choose {', '.join(MODES)})")
    if args.grow not in GROWS:
        raise UsageError(f"unsupported growth {args.grow!r} (choose {', '.join(GROWS)})")
    if args.grow != "spectral":
        raise UsageError(f"--grow {args.grow} is not implemented yet; only spectral growth is")
    if args.preset not in PRESETS:
        raise UsageError(f"unknown preset {args.preset!r} (choose {', '.join(PRESETS)})")
    check_bits(args.bits)
    Arch(parse_widths(args.widths), layers=args.layers, mode=args.mode, init=args.init)
    if args.steps is not None and not 1 <= args.steps <= 10_000_000:
        raise UsageError("--steps must be at least 1")
    if args.time_budget is not None and not 0 < args.time_budget <= 7 * 86400:
        raise UsageError("--time-budget must be a positive number of seconds")
    if args.batch is not None and args.batch < 1:
        raise UsageError("--batch must be at least 1")
    if args.lr is not None and not 0 < args.lr < 1:
        raise UsageError("--lr must be in (0, 1)")
    check_output_path(args.output)


def body(argv) -> int:
    args = parser().parse_args(argv)
    check(args)
    from snf.field.arch import parse_widths
    from snf.format.container import write_atomic
    from snf.signals.image import load_image
    img = load_image(args.image)
    try:
        import torch
    except ImportError:
        raise UsageError("encoding needs torch: pip install 'snf[encode]' (torch==2.13.0 on CPU)") from None
    torch.set_num_threads(args.threads or torch.get_num_threads())
    from snf.encode.encoder import compress
    result = compress(img, widths=parse_widths(args.widths), mode=args.mode, bits=args.bits,
                      preset=args.preset, steps=args.steps, time_budget=args.time_budget, seed=args.seed,
                      layers=args.layers, init=args.init, quiet=args.quiet, device=args.device,
                      lr=args.lr, batch=args.batch, qat=args.qat)
    write_atomic(args.output, result["bytes"])
    if not args.quiet:
        h, w = img.shape[:2]
        last = result["levels"][-1]
        print(f"wrote {args.output}: {len(result['levels'])} levels, {len(result['bytes']):,} bytes, "
              f"{len(result['bytes']) * 8 / (w * h):.3f} bpp, last level {last['psnr']:.2f} dB", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
