"""Procedural meshes: stand-ins for the face model in tests, benchmarks and demos.

Both are wound counter-clockwise seen from outside in a right-handed y-up frame, like FLAME, so
normals.vertex_normals gives outward normals.
"""

from __future__ import annotations

import numpy as np


def uv_sphere(n_lat: int = 50, n_lon: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere: ((n_lat - 2) * n_lon + 2, 3) float32 vertices and (2 * (n_lat - 2) * n_lon, 3) int32 faces.

    ``n_lat`` counts the latitude lines pole to pole, both poles included (one vertex each).
    The default has 4,802 vertices and 9,600 faces, about FLAME's 5,023 and 9,976.
    """
    if n_lat < 3 or n_lon < 3:
        raise ValueError(f"a sphere needs n_lat >= 3 and n_lon >= 3, got {n_lat}, {n_lon}")
    theta = np.linspace(0.0, np.pi, n_lat)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, n_lon, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0.0, 1.0, 0.0]], ring, [[0.0, -1.0, 0.0]]]).astype(np.float32)
    rings = n_lat - 2
    j = np.arange(n_lon)
    jn = (j + 1) % n_lon
    top = np.stack([np.zeros(n_lon, int), 1 + j, 1 + jn], axis=1)
    i = np.arange(rings - 1)[:, None]
    a = 1 + i * n_lon + j
    b = 1 + i * n_lon + jn
    c = a + n_lon
    d = b + n_lon
    band = np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)], axis=1).reshape(-1, 3)
    south = len(verts) - 1
    last = 1 + (rings - 1) * n_lon
    bottom = np.stack([np.full(n_lon, south), last + jn, last + j], axis=1)
    faces = np.concatenate([top, band, bottom]).astype(np.int32)
    return verts, faces


def grid(n: int, size: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat square of n x n vertices in the z = 0 plane, facing +z: (vertices, faces, uvs in [0,1])."""
    if n < 2:
        raise ValueError(f"a grid needs n >= 2, got {n}")
    u = np.linspace(0.0, 1.0, n)
    uu, vv = np.meshgrid(u, u, indexing="xy")
    verts = np.stack([(uu - 0.5) * size, (0.5 - vv) * size, np.zeros_like(uu)], -1).reshape(-1, 3)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)], axis=1).reshape(-1, 3)
    uvs = np.stack([uu, vv], -1).reshape(-1, 2)
    return verts.astype(np.float32), faces.astype(np.int32), uvs.astype(np.float32)


def to_pixels(model: np.ndarray, width: int, height: int, scale: float, rotation: np.ndarray | None = None,
              offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Orthographic projection of y-up model vertices (..., V, 3) into the image frame.

    x -> right, y -> down, depth = -z (the camera looks down -z), so a face turned to the camera
    (z towards the viewer) is nearest. The mesh centre lands at the image centre plus ``offset``.
    """
    v = np.asarray(model, np.float64)
    if rotation is not None:
        v = v @ np.asarray(rotation, np.float64).T
    out = np.empty_like(v)
    out[..., 0] = width / 2.0 + offset[0] + scale * v[..., 0]
    out[..., 1] = height / 2.0 + offset[1] - scale * v[..., 1]
    out[..., 2] = -scale * v[..., 2]
    return out.astype(np.float32)


def rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
