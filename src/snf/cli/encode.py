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
    p.add_argument("image", metavar="input", help="input image (PNG, JPEG, ...); with --grow temporal or "
                   "--signal video a video file (mp4, ...) or a folder of frames (sorted numerically); "
                   "a mesh (.ply, .obj, .stl, .off, .glb) or oriented point cloud (.xyz, PLY with normals) "
                   "is fitted as a signed distance field")
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


def signal_of_input(path: str, settings: EncodeSettings) -> str:
    """What an input is: the one place that decides (a folder is one video's frames only when
    the encode is a video's; otherwise a folder is a batch of images, which this command
    does not take yet)."""
    import os
    from snf.signals.sdf import is_shape_path
    from snf.signals.video import VIDEO_EXTENSIONS
    if settings.signal is not None or settings.grow == "temporal":
        kind = settings.kind
    elif is_shape_path(path):
        kind = "sdf"
    elif path.lower().endswith(VIDEO_EXTENSIONS):
        kind = "video"
    else:
        kind = "image"
    if os.path.isdir(path) and kind != "video":
        raise UsageError(f"{path}: is a folder; to encode its frames as one video pass --grow temporal "
                         "(or --signal video)")
    if kind != settings.kind:
        try:
            settings.with_(signal=kind)  # the kind against --grow and the rest
        except SettingsError as e:
            raise UsageError(EncodeSettings.for_cli(str(e))) from None
    return kind


def body(argv) -> int:
    args = parser().parse_args(argv)
    settings = check(args)
    kind = signal_of_input(args.image, settings)
    from snf.format.container import write_atomic
    if kind == "video":
        from snf.signals.video import load_video
        signal, fps = load_video(args.image)
    elif kind == "sdf":
        from snf.signals.sdf import load_shape
        signal = load_shape(args.image, seed=settings.seed)
    else:
        from snf.signals.image import load_image
        signal = load_image(args.image)
    try:
        import torch
    except ImportError:
        raise UsageError("encoding needs torch: pip install 'snf[encode]' (torch==2.13.0 on CPU)") from None
    torch.set_num_threads(args.threads or torch.get_num_threads())
    from snf.encode import encoder
    run_args = {"quiet": args.quiet, "device": args.device}
    if kind == "video":
        result = encoder.compress_video(signal, settings, fps=fps, **run_args)
    elif kind == "sdf":
        result = encoder.compress_sdf(*signal, settings, **run_args)
    else:
        result = encoder.compress(signal, settings, **run_args)
    write_atomic(args.output, result["bytes"])
    if not args.quiet:
        samples = 1
        for n in result["header"]["size"]:
            samples *= n
        last = result["levels"][-1]
        figure = f"{last['psnr']:.2f} dB" if "psnr" in last else f"Chamfer {last['chamfer']}"
        print(f"wrote {args.output}: {kind}, {len(result['levels'])} levels, {len(result['bytes']):,} bytes, "
              f"{len(result['bytes']) * 8 / samples:.3f} bits per sample, last level {figure}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
