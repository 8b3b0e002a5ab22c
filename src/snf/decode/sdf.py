"""Decoding a signed distance field: sample the level on a grid, extract the zero level
set by marching cubes (scikit-image), and write a mesh (PLY through trimesh).

Needs the `sdf` extra; the rest of the decoder does not.
"""
from __future__ import annotations

import numpy as np

from snf.format.container import Parsed
from snf.decode.render import render_field

MAX_RESOLUTION = 512
MIN_RESOLUTION = 8   # marching cubes on fewer points per side finds no useful surface


def resolution_for(header: dict, resolution: int | None = None) -> int:
    """The marching-cubes grid per side: the one asked for, else the header's size[0] raised to
    MIN_RESOLUTION (a header may store any side; the surface needs a few points)."""
    from snf.decode.decoder import DecodeError
    if resolution is not None:
        r = int(resolution)
        if not MIN_RESOLUTION <= r <= MAX_RESOLUTION:
            raise DecodeError(f"resolution must be {MIN_RESOLUTION}..{MAX_RESOLUTION}, got {r}")
        return r
    return min(MAX_RESOLUTION, max(MIN_RESOLUTION, int(header["size"][0])))


def sdf_grid(parsed: Parsed, level: int, resolution: int | None = None) -> np.ndarray:
    """Field values of level k on an R^3 grid over [-1, 1]^3, array dims (z, y, x). The render's
    cost (R^3 samples) is checked against the format's hard limits before anything is allocated."""
    from snf.decode.decoder import DecodeError
    from snf.format.cost import CostError, check
    h = parsed.header
    if h["signal"] != "sdf":
        raise DecodeError(f"this file holds a {h['signal']} signal, not a signed distance field")
    r = resolution_for(h, resolution)
    try:
        check(h, parsed.arch, level, (r,))
    except CostError as e:
        raise DecodeError(str(e)) from None
    values, _ = render_field(parsed.arch, parsed.levels, level, (r, r, r))
    return values[..., 0]


def extract_mesh(grid: np.ndarray, transform: dict | None = None) -> tuple:
    """Marching cubes at 0 -> (vertices (V, 3) as x, y, z in the input's units, faces (F, 3)).
    A field with no zero crossing gives an empty mesh."""
    from skimage.measure import marching_cubes
    r = grid.shape[0]
    if not (grid.min() < 0 < grid.max()):
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    step = 2.0 / (r - 1)
    verts, faces, _, _ = marching_cubes(grid, level=0.0, spacing=(step, step, step),
                                       gradient_direction="ascent")  # negative inside
    verts = verts[:, ::-1] - 1.0  # (z, y, x) from 0 -> (x, y, z) in [-1, 1]
    faces = faces[:, ::-1]        # reversing the axes mirrors: keep outward winding
    if isinstance(transform, dict):  # validated with the header (format_spec.md section 2)
        verts = np.asarray(transform["center"], np.float64) + float(transform["scale"]) * verts
    return verts, faces


def mesh_bytes(verts: np.ndarray, faces: np.ndarray, file_type: str = "ply") -> bytes:
    """A mesh file's bytes (PLY binary by default; any type trimesh exports)."""
    import trimesh
    mesh = trimesh.Trimesh(vertices=verts, faces=faces, process=False)
    data = mesh.export(file_type=file_type)
    return data.encode() if isinstance(data, str) else data


def surface_points(verts: np.ndarray, faces: np.ndarray, n: int = 30_000, seed: int = 0) -> np.ndarray:
    """Points uniformly on an extracted surface (for Chamfer distance); none if it is empty."""
    if len(faces) == 0:
        return np.zeros((0, 3))
    import trimesh
    mesh = trimesh.Trimesh(vertices=verts, faces=faces, process=False)
    pts, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(pts)
