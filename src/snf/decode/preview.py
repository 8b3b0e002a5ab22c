"""One file per decoded level, for clients without a decoder of their own: what the
server's level route serves and what snf-fetch writes.

image: a PNG (a spatially grown level: the whole canvas, unrevealed stripes
transparent); video: a PNG strip of up to 16 of the level's frames, side by side;
sdf: a PLY mesh (marching cubes on the header's grid; needs the `sdf` extra).
"""
from __future__ import annotations

import io

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
    """-> (bytes, extension) of level `level`'s preview file."""
    from snf.decode.decoder import DecodeError, render_image, to_pil
    signal = parsed.header["signal"]
    if signal == "image":
        return _png(to_pil(render_image(parsed, level))), "png"
    if signal == "video":
        from snf.decode.video import frame_strip, render_frames
        return _png(to_pil(frame_strip(render_frames(parsed, level)))), "png"
    if signal == "sdf":
        from snf.decode.sdf import extract_mesh, mesh_bytes, sdf_grid
        verts, faces = extract_mesh(sdf_grid(parsed, level), parsed.header.get("transform"))
        return mesh_bytes(verts, faces, "ply"), "ply"
    raise DecodeError(f"no renderer for a {signal} signal")


def _png(pil) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()
