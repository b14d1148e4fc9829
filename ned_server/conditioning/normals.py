"""Per-vertex normals of a triangle mesh, for the shaded shape image.

Area-weighted: each vertex gets the sum of cross(v1 - v0, v2 - v0) of its faces (length = twice
the face's area), normalised. That is the smooth normal DECA-style renderers shade with, and it
needs no adjacency structure beyond one sparse vertex-by-face incidence product for all frames.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def incidence(faces: np.ndarray, n_vertices: int) -> sparse.csr_matrix:
    """(V, F) matrix with a 1 where vertex v is a corner of face f."""
    n_faces = faces.shape[0]
    rows = faces.reshape(-1)
    cols = np.repeat(np.arange(n_faces), 3)
    return sparse.csr_matrix((np.ones(rows.shape[0], np.float32), (rows, cols)), shape=(n_vertices, n_faces))


def face_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(B, F, 3) un-normalised face normals cross(v1 - v0, v2 - v0) of (B, V, 3) vertices."""
    v0 = verts[:, faces[:, 0]]
    return np.cross(verts[:, faces[:, 1]] - v0, verts[:, faces[:, 2]] - v0)


def vertex_normals(verts: np.ndarray, faces: np.ndarray,
                   incidence_matrix: sparse.csr_matrix | None = None) -> np.ndarray:
    """(B, V, 3) unit normals of (B, V, 3) vertices; a vertex of no (or only degenerate) faces gets (0, 0, -1).

    In the image frame (x right, y down, z depth), a mesh wound counter-clockwise seen from
    outside (FLAME's convention in its y-up model frame) gets outward normals, n.z < 0 facing the
    camera: the change of frame is a rotation, which keeps cross products.
    """
    b, n_vertices, _ = verts.shape
    m = incidence(faces, n_vertices) if incidence_matrix is None else incidence_matrix
    fn = face_normals(verts.astype(np.float64), faces)  # (B, F, 3)
    summed = m @ fn.transpose(1, 0, 2).reshape(faces.shape[0], b * 3)  # (V, B*3)
    n = summed.reshape(n_vertices, b, 3).transpose(1, 0, 2)
    length = np.linalg.norm(n, axis=2, keepdims=True)
    out = np.where(length > 0, n / np.where(length > 0, length, 1.0), np.array([0.0, 0.0, -1.0]))
    return out.astype(np.float32)


def displaced_normals(verts: np.ndarray, faces: np.ndarray, normals: np.ndarray, displacement: np.ndarray,
                      incidence_matrix: sparse.csr_matrix | None = None) -> np.ndarray:
    """Normals of the surface moved by ``displacement`` (B or 1, V) pixels along ``normals``.

    The geometry drawn stays the coarse one: only its shading shows the detail, as in DECA's
    detailed shape images.
    """
    moved = verts + displacement[..., None] * normals
    return vertex_normals(moved, faces, incidence_matrix)
