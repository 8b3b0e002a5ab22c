"""Shapes as signed distance fields: oriented surface samples of a mesh or point cloud.

A shape is normalised into the cube [-0.9, 0.9]^3 (centre of its bounding box at
the origin, longest half-side 0.9) so that the field's domain [-1, 1]^3 holds it
with a margin; the header keeps the transform, so decoded meshes come back in the
input's units. Loading and sampling use trimesh (the `sdf` extra); Chamfer
distance uses scipy's cKDTree.
"""
from __future__ import annotations

import os

import numpy as np

from snf.signals.image import SignalError

MESH_EXTENSIONS = (".ply", ".obj", ".stl", ".off", ".glb", ".gltf")
MARGIN = 0.9
SURFACE_SAMPLES = 100_000
MAX_POINTS = 5_000_000


def is_shape_path(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in MESH_EXTENSIONS or path.lower().endswith(".xyz")


def load_shape(path: str, samples: int = SURFACE_SAMPLES, seed: int = 0) -> tuple:
    """A mesh (faces: sampled uniformly by area, face normals) or an oriented point cloud
    (a PLY with per-vertex normals, or .xyz rows 'x y z nx ny nz') -> (points, normals)."""
    if not os.path.exists(path):
        raise SignalError(f"{path}: no such file")
    if path.lower().endswith(".xyz"):
        try:
            arr = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as e:
            raise SignalError(f"{path}: not an .xyz point cloud ({e})") from None
        if arr.shape[1] != 6:
            raise SignalError(f"{path}: an oriented point cloud needs 6 numbers a row (x y z nx ny nz)")
        return _checked(path, arr[:, :3], arr[:, 3:])
    try:
        import trimesh
    except ImportError:
        raise SignalError("fitting shapes needs trimesh: pip install 'snf[sdf]'") from None
    try:
        obj = trimesh.load(path, force="mesh", process=False)
    except Exception as e:
        raise SignalError(f"{path}: not a readable mesh ({e.__class__.__name__})") from None
    faces = getattr(obj, "faces", None)
    if faces is not None and len(faces):
        return mesh_samples(obj, samples, seed)
    normals = getattr(obj, "vertex_normals", None)
    attrs = getattr(obj, "metadata", {}).get("_ply_raw", {}).get("vertex", {}).get("data")
    if attrs is not None and all(n in attrs.dtype.names for n in ("nx", "ny", "nz")):
        normals = np.stack([attrs["nx"], attrs["ny"], attrs["nz"]], 1)
    else:
        raise SignalError(f"{path}: a point cloud needs per-vertex normals (nx, ny, nz)")
    return _checked(path, np.asarray(obj.vertices), np.asarray(normals))


def mesh_samples(mesh, samples: int = SURFACE_SAMPLES, seed: int = 0) -> tuple:
    """Points uniformly on a trimesh surface (by area) and their face normals."""
    import trimesh
    pts, face = trimesh.sample.sample_surface(mesh, samples, seed=seed)
    return _checked("mesh", np.asarray(pts), np.asarray(mesh.face_normals)[face])


def _checked(path: str, pts: np.ndarray, normals: np.ndarray) -> tuple:
    if len(pts) < 16:
        raise SignalError(f"{path}: too few surface points ({len(pts)})")
    if len(pts) > MAX_POINTS:
        raise SignalError(f"{path}: {len(pts)} points exceed the limit of {MAX_POINTS}")
    if not (np.isfinite(pts).all() and np.isfinite(normals).all()):
        raise SignalError(f"{path}: points or normals are not finite")
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    if (lengths < 1e-12).any():
        raise SignalError(f"{path}: some normals are zero")
    return pts.astype(np.float64), (normals / lengths).astype(np.float64)


def normalisation(points: np.ndarray) -> dict:
    """The transform stored in the header: input = center + scale * field coordinates."""
    lo, hi = points.min(0), points.max(0)
    half = float((hi - lo).max()) / 2
    return {"center": [float(v) for v in (lo + hi) / 2], "scale": (half / MARGIN) if half > 0 else 1.0}


def to_field(points: np.ndarray, transform: dict) -> np.ndarray:
    return ((points - np.asarray(transform["center"])) / transform["scale"]).astype(np.float32)


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric Chamfer distance: mean nearest-neighbour distance a->b plus b->a."""
    from scipy.spatial import cKDTree
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    da, _ = cKDTree(b).query(a, workers=1)
    db, _ = cKDTree(a).query(b, workers=1)
    return float(da.mean() + db.mean())
