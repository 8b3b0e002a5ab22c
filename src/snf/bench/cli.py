"""`snf-bench paper | rd | figures`: one command per comparison a reader may want to rerun.

Results go under --out (default snf-bench-results/<command>-<time>/), with a
run.json sidecar (exact command, versions, machine); the tables are printed on
stdout and saved as tables.md; progress goes to stderr unless --quiet.
"""
from __future__ import annotations

import argparse
import os
import sys

from snf.bench.results import BenchError, make_out, write_sidecar
from snf.format.container import write_atomic
from snf.progress import Bar


def _budget(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < v <= 86400:
        raise argparse.ArgumentTypeError("budget must be in (0, 86400] seconds")
    return v


def _steps(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of steps, got {text!r}") from None
    if not 1 <= v <= 1_000_000:
        raise argparse.ArgumentTypeError("steps must be 1..1000000")
    return v


def _table(text: str) -> int:
    if text.strip() not in ("1", "2", "3", "4"):
        raise argparse.ArgumentTypeError(f"expected a table number 1-4, got {text!r}")
    return int(text)


def _resolution(text: str) -> int:
    v = _steps(text)
    if not 16 <= v <= 512:
        raise argparse.ArgumentTypeError("resolution must be 16..512")
    return v


def _frames(text: str) -> tuple:
    from snf.signals.image import SignalError
    from snf.signals.video import parse_frames
    try:
        return parse_frames(text)
    except SignalError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _methods(text: str) -> tuple:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    bad = [x for x in names if x not in ("individual", "slimmable", "progressive")]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"methods are individual, slimmable, progressive; got {text!r}")
    return names


def _factor(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a factor, got {text!r}") from None
    if not 0 < v <= 4:
        raise argparse.ArgumentTypeError("expected a factor in (0, 4]")
    return v


def _scale(text: str) -> float:
    v = _factor(text)
    if v > 1:
        raise argparse.ArgumentTypeError("--scale downscales: expected a factor in (0, 1]")
    return v


def _images_and_budget(p: argparse.ArgumentParser, budget_help: str, steps_note: str) -> None:
    """--images, and --budget or --steps: how `paper` and `rd` are told what to train on and for how long."""
    p.add_argument("--images", default=".", help="folder of images (default: current folder)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--budget", type=_budget, help=budget_help)
    g.add_argument("--steps", type=_steps, help="training steps per level instead of a time budget " + steps_note)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snf-bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", help="results folder (default: snf-bench-results/<command>-<time>/)")
    common.add_argument("--quiet", action="store_true", help="no progress on stderr")
    common.add_argument("--threads", type=int, help="CPU threads for training (default: all cores; 1 on a "
                        "busy shared machine, where threads waiting on each other stall every step)")
    a = sub.add_parser("paper", parents=[common], help="the seed's Tables 1-4: individual, slimmable, "
                       "progressive at the seed's widths under one budget, on photos, meshes and a video; "
                       "resumable (finished encodes in --out are kept)")
    a.add_argument("--table", type=_table, action="append", help="run only this table (1 spectral, 2 SDF, "
                   "3 spatial, 4 temporal; repeatable; default: every table whose input is given)")
    a.add_argument("--images", help="folder of photos for Tables 1 and 3 (Table 3 takes the first 8)")
    a.add_argument("--max-images", type=_steps, help="use only the first N photos (by name)")
    a.add_argument("--meshes", nargs="+", metavar="MESH", help="Table 2: meshes or oriented point clouds")
    a.add_argument("--mc-resolution", type=_resolution, default=128,
                   help="Table 2: marching-cubes grid per side for the meshes and Chamfer (default 128)")
    a.add_argument("--video", help="Table 4: a video file or a folder of frames")
    a.add_argument("--frames", type=_frames, help="Table 4: frames START:STOP of the video (from 0; e.g. 0:32)")
    a.add_argument("--scale", type=_scale, default=1.0, help="downscale each photo (Tables 1, 3) or frame "
                   "(Table 4) by this factor (Lanczos; e.g. 0.5; stated in the table)")
    g = a.add_mutually_exclusive_group()
    g.add_argument("--budget", type=_budget, help="seconds of training per method per input (default scales "
                   "with samples: 10 s for 128x96, at most 200 s)")
    g.add_argument("--steps", type=_steps, help="training steps per level instead of a time budget "
                   "(slimmable: one joint stage of that many)")
    a.add_argument("--methods", type=_methods, help="comma-separated: run only these of individual, slimmable, "
                   "progressive (default: all the table has)")
    a.add_argument("--widths-scale", type=_factor, default=1.0, help="scale the seed's widths by this factor "
                   "(a CPU budget for Tables 2 and 4; stated in the table; default 1)")
    a.add_argument("--batch", type=_steps, help="Tables 2 and 4: samples per step (overrides the preset)")
    a.add_argument("--preset", default="fast", choices=("fast", "paper"),
                   help="training recipe; paper on a GPU (--device cuda) without --budget runs the seed's "
                   "50,000 steps a level")
    a.add_argument("--device", help="torch device for training (e.g. cuda; default cpu)")
    r = sub.add_parser("rd", parents=[common], help="rate-distortion against JPEG, WebP, JPEG 2000, JPEG XL, AVIF "
                       "and the progressive-JPEG prefix; CompressAI JSON, BD-rates, PNG plot")
    _images_and_budget(r, "seconds per snf encode (default scales with pixels: 15 s for 128x96, at most "
                       "200 s)", "(deterministic: same bytes on any machine load)")
    r.add_argument("--values", help="comma-separated --quality values to measure, for each field family that "
                   "takes --quality (default: 25,50,75); a family that takes neither --quality nor --bits "
                   "(grid) is measured once at its own recipe, and the run says so; with two or more values "
                   "a family also gets a whole-file curve (its last levels) and BD-rates for it")
    r.add_argument("--fields", help="comma-separated field families to measure (e.g. latent; default: every "
                   "family); the others are said to be left out")
    f = sub.add_parser("figures", parents=[common], help="the seed's figures for one image: per-level "
                       "reconstructions and spectra, PSNR per step for both growth inits, residuals, "
                       "loss landscape")
    f.add_argument("image", nargs="?", help="an image file (or --from a paper run)")
    f.add_argument("--from", dest="from_", metavar="RUN", help="draw the seed's Fig. 4-8 from a `snf-bench paper` "
                   "run's folder (its --out): spectra and strips per level, SDF meshes, video residuals")
    f.add_argument("--input", help="with --from: which input of each table to draw (default: the first by name)")
    f.add_argument("--mesh-resolution", type=_resolution, default=96, help="with --from: marching-cubes grid "
                   "per side for the mesh renders (default 96)")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--budget", type=_budget, help="seconds per encode (default scales with pixels)")
    g.add_argument("--steps", type=_steps, help="training steps per level instead of a time budget")
    f.add_argument("--landscape-size", type=int, default=32, help="side of the downscaled picture the "
                   "loss landscape is computed on (default 32)")
    c = sub.add_parser("compare", help="one static, self-contained HTML page: an snf file beside the "
                       "progressive-JPEG prefix, the best WebP and JPEG XL at equal bytes (byte slider, split or "
                       "side by side, zoom); opens from disk, no server")
    c.add_argument("image", help="the original picture (PNG, ...)")
    c.add_argument("-o", "--output", required=True, help="the HTML file to write")
    c.add_argument("--snf", help="the snf file of that picture (default: IMAGE with .snf for its extension)")
    c.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def compare(args) -> int:
    """`snf-bench compare IMAGE -o page.html`: no results folder, one file."""
    from snf.bench.compare import CompareError, load_original, static_page
    from snf.format.container import SnfError
    snf_path = args.snf or os.path.splitext(args.image)[0] + ".snf"
    for path in (args.image, snf_path):
        if not os.path.isfile(path):
            raise BenchError(f"{path}: no such file" + ("" if args.snf or path != snf_path else
                                                          " (give the snf file of the picture with --snf)"))
    try:
        img = load_original(args.image)
        with open(snf_path, "rb") as f:
            data = f.read()
        if not args.quiet:
            print("snf-bench: encoding the JPEG, WebP and JPEG XL files to compare with...", file=sys.stderr)
        page = static_page(os.path.splitext(os.path.basename(snf_path))[0], data, img)
    except (CompareError, SnfError) as e:
        raise BenchError(str(e)) from None
    write_atomic(args.output, page)
    print(f"{args.output}: {len(page):,} bytes; open it in a browser")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    try:
        return compare(args) if args.command == "compare" else _run(args, argv)
    except BenchError as e:
        print(f"snf-bench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snf-bench: interrupted", file=sys.stderr)
        return 130


def _run(args, argv: list) -> int:
    from snf.signals.image import SignalError
    from snf.settings import SettingsError
    if args.command == "figures":
        if (args.image is None) == (args.from_ is None):
            raise BenchError("figures takes an image file or --from a paper run's folder (one of them)")
        if args.image is not None and not os.path.isfile(args.image):
            raise BenchError(f"{args.image}: no such file")
        if args.from_ is not None and not os.path.isdir(args.from_):
            raise BenchError(f"--from {args.from_}: not a folder")
    if getattr(args, "images", None) is not None:
        from snf.bench.results import list_images
        list_images(args.images)  # fail before creating the output folder
    if args.command == "paper":
        from snf.bench.paper import tables_to_run
        tables_to_run(args)
        for p in (args.meshes or []) + ([args.video] if args.video else []):
            if not os.path.exists(p):
                raise BenchError(f"{p}: no such file")
        if args.device and args.device.startswith("cuda"):
            import torch
            if not torch.cuda.is_available():
                raise BenchError(f"--device {args.device}: no CUDA device here")
    if args.threads is not None:
        if not 1 <= args.threads <= 1024:
            raise BenchError("--threads must be 1..1024")
        from snf.encode.runtime import set_threads
        set_threads(args.threads)
    out = make_out(args.out, args.command)
    bar = Bar(quiet=args.quiet)

    def say(text: str) -> None:
        """A note the reader must see (a skipped metric or codec): stdout, also with --quiet."""
        bar.line("")  # clears a half-drawn progress line (no-op when quiet)
        print(text, flush=True)
    try:
        if args.command == "paper":
            from snf.bench import paper
            res = paper.run(args, out, bar, say)
            text = "\n".join(paper.table(doc) for doc in res.values())
            extra = {"files": [doc["file"] for doc in res.values()]}
        elif args.command == "rd":
            from snf.bench import rd
            res = rd.run(args, out, bar, say)
            text = rd.tables(res, out)
            extra = {"files": [f"{s}.json" for s in res["files"]], "plots": [os.path.basename(p) for p in res["pngs"]],
                     "budgets_s": res["budgets"]}
        else:
            if args.from_ is not None:
                from snf.bench import paper_figures as figures
            else:
                from snf.bench import figures
            res = figures.run(args, out, bar, say)
            text = "\n".join(f"- {os.path.basename(p)}: {what}" for p, what in res.items()) + "\n"
            extra = {"files": [os.path.basename(p) for p in res]}
    except (SettingsError, SignalError) as e:
        raise BenchError(str(e)) from None
    write_atomic(os.path.join(out, "tables.md"), text.encode(), durable=False)
    write_sidecar(out, args.command, argv, extra)
    print(text)
    print(f"results in {out}/ (tables.md, run.json, " + ", ".join(extra["files"][:6])
          + (", ..." if len(extra["files"]) > 6 else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
