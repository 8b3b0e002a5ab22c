"""One file per decoded level, for clients without a decoder of their own: what the
server's level route serves and what snf-fetch writes.

image: a PNG (a spatially grown level: the whole canvas, unrevealed stripes
transparent); video: a PNG strip of up to 16 of the level's frames, side by side;
sdf: a PLY mesh (marching cubes on the header's grid; needs the `sdf` extra).
"""
from __future__ import annotations

from snf.format.container import Parsed

EXTENSIONS = {"image": "png", "video": "png", "sdf": "ply"}
MEDIA_TYPES = {"png": "image/png", "ply": "application/x-ply"}


def extension(signal: str) -> str:
    """The file type a level of this kind renders to ('png' for kinds without a renderer,
    so their render fails with its reason rather than a missing route)."""
    return EXTENSIONS.get(signal, "png")


def samples_of(parsed: Parsed) -> int:
    """Samples a full render evaluates (for a server's render limit)."""
    n = 1
    for s in parsed.header["size"]:
        n *= s
    return n


def render_level(parsed: Parsed, level: int) -> tuple:
    """-> (bytes, extension) of level `level`'s preview file (PNG at 16 bits for a file of
    more than 8)."""
    from snf.decode.decoder import DecodeError, render_image
    signal = parsed.header["signal"]
    if signal == "image":
        return _png(render_image(parsed, level), parsed), "png"
    if signal == "video":
        from snf.decode.video import frame_strip, render_frames
        return _png(frame_strip(render_frames(parsed, level)), parsed), "png"
    if signal == "sdf":
        from snf.decode.sdf import extract_mesh, mesh_bytes, sdf_grid
        verts, faces = extract_mesh(sdf_grid(parsed, level), parsed.header.get("transform"))
        return mesh_bytes(verts, faces, "ply"), "ply"
    raise DecodeError(f"no renderer for a {signal} signal")


def _png(samples, parsed: Parsed) -> bytes:
    from snf.decode.image_file import rescale
    from snf.decode.png import png_bytes
    bits = parsed.header["values"].get("bit_depth", 8)
    depth = 16 if bits > 8 else 8
    return png_bytes(rescale(samples, bits, depth), significant=bits if bits < depth else None)
