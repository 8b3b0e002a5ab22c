"""snf-decode IN.snf -o OUT.png [--level K] [--size WxH] [--crop]

A video decodes to a folder of frames (and video.mp4 when imageio-ffmpeg is
installed); a signed distance field to a mesh (PLY, OBJ, STL, OFF, GLB by extension).
"""
from __future__ import annotations

import argparse
import os
import sys

# Decoding runs its own tiles in parallel: one BLAS thread each (set before numpy loads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from snf.cli.common import UsageError, check_output_path, run

PROG = "snf-decode"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Decode an .snf file, or any prefix of one: an image to "
                                "an image file, a video to a folder of frames, a signed distance field to a mesh. "
                                "Without --level it renders the highest complete level and says which.")
    p.add_argument("input", help=".snf file (a partial download is fine)")
    p.add_argument("-o", "--output", required=True,
                   help="output image (format from the extension; PNG if none); for a video, a folder "
                        "(frame_0001.png, ..., and video.mp4 when ffmpeg is available); for a shape, a mesh "
                        "file (.ply, .obj, .stl, .off, .glb)")
    p.add_argument("--level", type=int, help="level to render (exit code 2 if the file does not hold it)")
    p.add_argument("--size", help="render at another size, WIDTHxHEIGHT (the field is continuous); "
                                  "for a shape, the marching-cubes grid per side, N")
    p.add_argument("--crop", action="store_true",
                   help="spatially grown image: write only the revealed stripes (default: the whole canvas, "
                        "unrevealed pixels transparent)")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), dest="bit_depth",
                   help="bits a sample in the output (default: 16 where the file holds more than 8 and the "
                        "format can (.png, .tiff, .ppm/.pgm/.pnm), else 8)")
    p.add_argument("--no-mp4", action="store_true", help="video: write the frames only")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def body(argv) -> int:
    args = parser().parse_args(argv)
    from snf.format.container import read_path, write_atomic
    from snf.decode.decoder import parse_size, pick_level, render_image

    framed = read_path(args.input, decode=False)  # the framing first: kind of output, level, cost
    k = pick_level(framed, args.level)              # (raises the reason when there is no header)
    signal = framed.header["signal"]
    if signal == "video":
        return _decode_video(args, framed, k, parse_size(args.size) if args.size else None)
    if signal == "sdf":
        return _decode_sdf(args, framed, k)
    size = parse_size(args.size) if args.size else None
    check_output_path(args.output)
    from snf.decode.image_file import FormatError, format_for, image_bytes, output_depth
    bits = signal_bits(framed)
    try:
        fmt = format_for(args.output)
        depth = output_depth(args.output, fmt, bits, args.bit_depth)
    except FormatError as e:
        raise UsageError(str(e)) from None
    parsed, k = load(args.input, framed, k, args.level, size)
    img = render_image(parsed, k, size, crop=args.crop)
    try:
        data = image_bytes(img, args.output, fmt, bits, depth, reveal_alpha=img.shape[2] > parsed.header["channels"])
    except FormatError as e:
        raise UsageError(str(e)) from None
    write_atomic(args.output, data, durable=False)
    if not args.quiet:
        total = parsed.arch.levels
        note = "" if parsed.levels_complete == total else f"; file holds levels 1..{parsed.levels_complete} of {total}"
        print(f"decoded level {k} of {total} to {args.output}{note}", file=sys.stderr)
    return 0


def signal_bits(parsed) -> int:
    """The file's bits a sample (values.bit_depth, 8 when absent)."""
    return parsed.header["values"].get("bit_depth", 8)


def load(path: str, framed, k: int, asked: int | None, size=None) -> tuple:
    """Check level k's render against the cost model's hard limits (format_spec.md 5.1) from the
    header alone, then decode levels 1..k only: nothing past k is dequantised or allocated.
    -> (parsed, level to render): without --level, one below k if level k's payload fails."""
    from snf.format.container import read_path
    from snf.format.cost import check
    from snf.decode.decoder import pick_level
    check(framed.header, framed.arch, k, size)
    parsed = read_path(path, upto=k)
    return parsed, pick_level(parsed, asked)


def _report(args, parsed, k: int, what: str) -> None:
    if not args.quiet:
        total = parsed.arch.levels
        note = "" if parsed.levels_complete == total else f"; file holds levels 1..{parsed.levels_complete} of {total}"
        print(f"decoded level {k} of {total} to {what}{note}", file=sys.stderr)


def _decode_video(args, framed, k: int, size) -> int:
    import os
    from snf.decode.video import render_frames, write_frames
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"{args.output}: a video decodes to a folder, and this is a file")
    check_output_path(args.output, directory=True)
    parsed, k = load(args.input, framed, k, args.level, size)
    frames = render_frames(parsed, k, size)
    bits = signal_bits(parsed)
    depth = args.bit_depth or (16 if bits > 8 else 8)
    written = write_frames(args.output, frames, parsed.header.get("fps"), mp4=not args.no_mp4,
                           bits=bits, depth=depth)
    mp4 = " and video.mp4" if written and written[-1].endswith(".mp4") else ""
    _report(args, parsed, k, f"{args.output}/ ({len(frames)} frames{mp4})")
    return 0


def _decode_sdf(args, framed, k: int) -> int:
    import os
    from snf.format.container import write_atomic
    from snf.decode.decoder import DecodeError
    ext = os.path.splitext(args.output)[1].lower().lstrip(".")
    if ext not in ("ply", "obj", "stl", "off", "glb"):
        raise UsageError(f"{args.output}: a shape decodes to a mesh file: .ply, .obj, .stl, .off or .glb")
    res = None
    if args.size:
        try:
            res = int(args.size.lower().split("x")[0])
        except ValueError:
            raise DecodeError(f"size for a shape is the grid per side, N; got {args.size!r}") from None
    check_output_path(args.output)
    try:
        from snf.decode.sdf import extract_mesh, mesh_bytes, resolution_for, sdf_grid
        import skimage  # noqa: F401
    except ImportError:
        raise UsageError("decoding shapes needs scikit-image and trimesh: pip install 'snf[sdf]'") from None
    parsed, k = load(args.input, framed, k, args.level, (resolution_for(framed.header, res),))
    verts, faces = extract_mesh(sdf_grid(parsed, k, res), parsed.header.get("transform"))
    write_atomic(args.output, mesh_bytes(verts, faces, ext), durable=False)
    _report(args, parsed, k, f"{args.output} ({len(verts)} vertices, {len(faces)} faces)")
    return 0


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
