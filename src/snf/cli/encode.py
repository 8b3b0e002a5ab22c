"""snf-encode IMAGE -o OUT.snf: train a streamable field and write its levels.

Several inputs, a folder, or an existing output folder make a batch:
`snf-encode A B DIR/ -o OUT/ [--jobs N | --scheduler tcp://HOST:PORT]` (snf.batch).
"""
from __future__ import annotations

import argparse
import os
import sys

from snf.cli.common import UsageError, check_output_path, run
from snf.settings import EncodeSettings, SettingsError

PROG = "snf-encode"
SCHEDULER_ENV = "SNF_SCHEDULER"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Encode an image as a streamable neural field: each level's parameter delta is a "
                    "quantised chunk, so any prefix of the file decodes. The same input, settings and seed "
                    "give the same bytes on the same machine, except with --time-budget (wall-clock stops) or "
                    "where the --deadline cut a level short on a slow or busy machine (said on stderr, recorded "
                    "in the file, shown by snf-info; --deadline 0 turns it off). "
                    "The default widths, levels and steps fit the picture's pixel count. "
                    "Several inputs (files or folders of images) make a batch into the folder -o: one "
                    "OUT/NAME.snf each, finished outputs skipped, failures reported per file.")
    p.add_argument("image", metavar="input", nargs="+",
                   help="input image(s) (PNG, JPEG, ...) or folder(s) of images; with --grow temporal or "
                   "--signal video one video file (mp4, ...) or a folder of frames (sorted numerically); "
                   "a mesh (.ply, .obj, .stl, .off, .glb) or oriented point cloud (.xyz, PLY with normals) "
                   "is fitted as a signed distance field")
    p.add_argument("-o", "--output", required=True,
                   help="output .snf file (written atomically); for a batch, the output folder")
    EncodeSettings.add_arguments(p)
    p.add_argument("--threads", type=int, help="CPU threads for training (default: all cores; in a batch, "
                                               "the cores shared out over --jobs)")
    p.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    p.add_argument("--jobs", type=int, help="batch: encodes at once in a local process pool (default: 1)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help=f"batch: run the encodes on this Dask distributed scheduler (default: ${SCHEDULER_ENV} "
                        "if set, else locally); needs pip install 'snf[cluster]'")
    p.add_argument("--publish-levels", action="store_true",
                   help="write OUT after each level as a valid prefix file (replaced atomically), so a "
                        "server streams early levels while later ones train; the last write is the "
                        "whole file, byte for byte what a plain encode writes")
    p.add_argument("--frames", metavar="START:STOP", help="video input: only frames START..STOP-1 (from 0, "
                   "e.g. 0:32; either side may be left out)")
    p.add_argument("--scale", type=float, help="video input: downscale each frame by this factor in (0, 1] "
                   "(Lanczos) as it is read, e.g. 0.5")
    p.add_argument("--force", action="store_true", help="write an output whose name does not end in .snf "
                   "(an output that is one of the inputs is refused even so)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary (failures still print)")
    return p


def check(args) -> EncodeSettings:
    """Every setting validated before any work (one line on a bad one)."""
    try:
        settings = EncodeSettings.from_args(args)
    except SettingsError as e:
        raise UsageError(EncodeSettings.for_cli(str(e))) from None
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError("--threads must be 1..1024")
    if args.jobs is not None and not 1 <= args.jobs <= 1024:
        raise UsageError("--jobs must be 1..1024")
    return settings


def signal_of_input(path: str, settings: EncodeSettings) -> str:
    """What one input is: the one place that decides (a folder is one video's frames only when
    the encode is a video's; otherwise folders make a batch of images, see `is_batch`)."""
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


def is_batch(args) -> bool:
    """A batch: several inputs, a folder (except one video's frames), or an existing output folder."""
    video = (args.grow or "spectral") == "temporal" or args.signal == "video"
    folders = any(os.path.isdir(p) for p in args.image) and not video
    return len(args.image) > 1 or folders or os.path.isdir(args.output) or args.output.endswith(os.sep)


def body(argv) -> int:
    args = parser().parse_args(argv)
    settings = check(args)
    if is_batch(args):
        return batch(args, settings)
    if args.scheduler:
        raise UsageError("--scheduler runs batches: give an output folder with -o")
    kind = signal_of_input(args.image[0], settings)
    cut = video_cut(args, kind)
    check_output_path(args.output)
    from snf.cli.guard import check_output
    check_output(args.output, args.image, args.force)
    from snf.encode.service import encode_file
    source = args.image[0]
    if cut is not None or not args.quiet:  # loaded here: cut, or sized for the time estimate
        source = load_input(source, settings, kind, cut)
        if not args.quiet:
            say_estimate(source, settings, args)
    summary = encode_file(source, args.output, settings, kind=kind, threads=args.threads,
                          device=args.device, quiet=args.quiet, publish_levels=args.publish_levels)
    if summary.warning:  # also with --quiet: the file is not what the user wants
        print(f"{PROG}: {summary.warning}", file=sys.stderr)
    if not args.quiet:
        print(summary.line(args.output), file=sys.stderr)
    return 0


def video_cut(args, kind: str) -> tuple | None:
    """(frames, scale) from --frames and --scale, or None; one line when they do not apply."""
    if args.frames is None and args.scale is None:
        return None
    if kind != "video":
        raise UsageError("--frames and --scale apply to a video input (a video file, or a folder of frames "
                         "with --grow temporal)")
    from snf.signals.image import SignalError
    from snf.signals.video import check_scale, parse_frames
    try:
        frames = parse_frames(args.frames) if args.frames is not None else None
        return frames, check_scale(args.scale if args.scale is not None else 1.0)
    except SignalError as e:
        raise UsageError(f"--{'frames' if 'frames' in str(e) else 'scale'}: {e}") from None


def load_input(path: str, settings: EncodeSettings, kind: str, cut: tuple | None):
    """The input as the encode service's Signal (a video cut to its frames and scale)."""
    from snf.encode.service import Signal, load
    if kind != "video" or cut is None:
        return load(path, settings, kind)
    from snf.signals.video import load_video
    video, fps = load_video(path, frames=cut[0], scale=cut[1])
    return Signal("video", (video,), {"fps": fps})


def say_estimate(signal, settings: EncodeSettings, args) -> None:
    """Before a long job (a video, a shape, a large picture), the training time timed here."""
    samples = signal.samples or len(signal.args[0])  # a shape: its surface samples
    if signal.kind == "image" and samples < LONG_IMAGE_PIXELS:
        return
    from snf.encode.estimate import LONG_JOB_S, describe, estimate_seconds
    from snf.encode.runtime import prepare
    prepare(args.threads, args.device)
    s = settings.for_signal(signal.kind)
    channels = 1 if signal.kind == "sdf" else signal.args[0].shape[-1]
    what = ""
    if signal.kind == "video":
        t, h, w = signal.args[0].shape[:3]
        what = f"{t} frames of {w}x{h}, "
    est = estimate_seconds(s, samples, channels, device=args.device)
    if est["seconds"] >= LONG_JOB_S:
        print(f"{PROG}: {what}{samples:,} samples; {describe(est)}", file=sys.stderr)


LONG_IMAGE_PIXELS = 4 << 20  # pictures below this finish in the preset's few minutes


def batch(args, settings: EncodeSettings) -> int:
    from snf.batch.plan import PlanError, plan
    from snf.batch.run import Batch
    if settings.kind != "image":
        raise UsageError(f"a batch encodes images; encode {'an' if settings.kind == 'sdf' else 'a'} {settings.kind} on its own "
                         "(one input, -o FILE.snf)")
    if args.publish_levels:
        raise UsageError("--publish-levels is for one output file, not a batch")
    out = args.output
    if not os.path.isdir(out):
        if os.path.exists(out):
            raise UsageError(f"{out}: a batch needs an output folder, and this is a file")
        try:
            os.makedirs(out)
        except OSError as e:
            raise UsageError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    check_output_path(out, directory=True)
    try:
        items = plan(args.image, out, settings.grow)
    except PlanError as e:
        raise UsageError(str(e)) from None
    address = args.scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        if args.jobs is not None:
            raise UsageError("--jobs is for the local pool; with a scheduler the cluster decides concurrency")
        from snf.batch.cluster import ClusterEngine, ClusterError
        try:
            engine = ClusterEngine(address, threads=args.threads, device=args.device)
        except ClusterError as e:
            raise UsageError(str(e)) from None
    else:
        from snf.batch.local import LocalEngine
        engine = LocalEngine(min(args.jobs or 1, max(1, len(items))), threads=args.threads, device=args.device)
    resolved = settings.for_signal("image").header_record()  # as the header records it (what ran)
    try:
        return Batch(items, resolved, quiet=args.quiet).run(engine)
    finally:
        close = getattr(engine, "close", None)
        if close:
            close()


def main(argv=None) -> int:
    sys.exit(run(PROG, body, argv))
