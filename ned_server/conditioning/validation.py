"""Shape and value checks of the mesh inputs, with messages that say what was expected."""

from __future__ import annotations

import numpy as np

from ned_server.conditioning.config import ConditioningError


def check_size(width: int, height: int) -> tuple[int, int]:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 1 <= v <= 16384:
            raise ConditioningError(f"image {name} {v!r} must be a whole number of pixels from 1 to 16384")
    return int(width), int(height)


def check_vertices(verts_px: np.ndarray) -> np.ndarray:
    """(B, V, 3) float32 pixel-space vertices (a single (V, 3) frame is accepted as B = 1)."""
    v = np.asarray(verts_px)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[2] != 3 or v.shape[0] < 1 or v.shape[1] < 3:
        raise ConditioningError(
            f"vertices must be (frames, vertices, 3) = (x px, y px, depth), got shape {np.shape(verts_px)}")
    if not np.issubdtype(v.dtype, np.number):
        raise ConditioningError(f"vertices must be numbers, got dtype {v.dtype}")
    v = np.ascontiguousarray(v, dtype=np.float32)
    if not np.isfinite(v).all():
        raise ConditioningError("vertices contain NaN or infinite values; every vertex needs a finite position")
    return v


def check_faces(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """(F, 3) int32 triangle indices, each in [0, n_vertices)."""
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] < 1:
        raise ConditioningError(f"faces must be (triangles, 3) vertex indices, got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise ConditioningError(f"faces must be integer vertex indices, got dtype {f.dtype}")
    if f.min() < 0 or f.max() >= n_vertices:
        raise ConditioningError(
            f"face indices must be in [0, {n_vertices}) for a mesh of {n_vertices} vertices, "
            f"got {int(f.min())}..{int(f.max())}")
    if f.shape[0] >= 1 << 24:
        raise ConditioningError(f"{f.shape[0]} faces: at most {(1 << 24) - 1} are supported")
    return np.ascontiguousarray(f, dtype=np.int32)


def check_per_vertex(values: np.ndarray, name: str, frames: int, n_vertices: int, channels: int | None) -> np.ndarray:
    """(frames or 1, V, C) float32; (V, C) is taken as shared by all frames. ``channels`` None = any."""
    a = np.asarray(values)
    if a.ndim == 2:
        a = a[None]
    want = "C" if channels is None else str(channels)
    if a.ndim != 3 or a.shape[1] != n_vertices or a.shape[0] not in (1, frames) or a.shape[2] < 1 \
            or (channels is not None and a.shape[2] != channels):
        shapes = f"(1, {n_vertices}, {want}) or ({n_vertices}, {want})" if frames == 1 \
            else f"({frames} or 1, {n_vertices}, {want})"
        raise ConditioningError(
            f"{name} must be {shapes} per-vertex values for {frames} frame(s) of a {n_vertices}-vertex mesh, "
            f"got shape {np.shape(values)}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ConditioningError(f"{name} contain NaN or infinite values")
    return a


def check_vertex_mask(mask: np.ndarray | None, name: str, n_vertices: int) -> np.ndarray:
    """(V,) bool; None means no vertex is in the mask."""
    if mask is None:
        return np.zeros(n_vertices, bool)
    m = np.asarray(mask)
    if m.shape != (n_vertices,):
        raise ConditioningError(f"{name} must be one flag per vertex, shape ({n_vertices},), got {m.shape}")
    return m.astype(bool)
