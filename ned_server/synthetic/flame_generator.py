"""A small FLAME-format head model, built procedurally (the licensed FLAME file cannot ship here).

``generate_tiny_flame(seed)`` returns every array of the model in FLAME's layout plus what the
synthetic actor needs to texture it (per-vertex UVs, part labels, a weld map of coincident
duplicate vertices). The mesh layout is fixed; ``seed`` only draws the random (unnamed) blend
shape components. See ``face3d.procedural`` for how each piece is made and ``face3d.assets`` for
the files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ned_server.face3d.landmark_embedding import LandmarkEmbedding
from ned_server.synthetic.config import TinyFlameConfig
from ned_server.synthetic.procedural import bases, embedding, rig
from ned_server.synthetic.procedural.mesh import PART_NAMES, PART_NECK, HeadMesh, build_head_mesh


@dataclass
class TinyFlame:
    """All arrays of the procedural model (FLAME names where FLAME has them)."""

    v_template: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3)
    shapedirs: np.ndarray  # (V, 3, S + E)
    posedirs: np.ndarray  # (V, 3, 36)
    j_regressor: np.ndarray  # (5, V)
    weights: np.ndarray  # (V, 5)
    parents: list[int]
    landmarks: LandmarkEmbedding
    masks: dict[str, np.ndarray]
    uvs: np.ndarray  # (V, 2) u right, v up
    part: np.ndarray  # (V,) index into PART_NAMES
    weld: np.ndarray  # (V,) representative of coincident duplicates (for smooth normals)
    shape_components: int
    expression_components: int


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, weld: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted unit normals; duplicates listed in ``weld`` share one normal (no shading seam)."""
    fn = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    idx = faces if weld is None else weld[faces]
    vn = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(vn, idx[:, k], fn)
    if weld is not None:
        vn = vn[weld]
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _tube_heights(mesh: HeadMesh) -> np.ndarray:
    """Distance of each neck-tube vertex below the neck opening (0 elsewhere)."""
    h = np.zeros(mesh.vertices.shape[0])
    top_y = mesh.vertices[mesh.neck_rings[0], 1].mean()
    tube = mesh.part == PART_NECK
    h[tube] = np.maximum(top_y - mesh.vertices[tube, 1], 0.0)
    for ring in mesh.neck_rings:
        h[ring] = max(top_y - mesh.vertices[ring, 1].mean(), 0.0)
    return h


_MESH_CACHE: dict[float, HeadMesh] = {}


def head_mesh(detail: float = 1.0) -> HeadMesh:
    """The template mesh and its feature bookkeeping (built once per process)."""
    if detail not in _MESH_CACHE:
        _MESH_CACHE[detail] = build_head_mesh(detail=1.2 * detail)
    return _MESH_CACHE[detail]


def generate_tiny_flame(seed: int = 0, config: TinyFlameConfig | None = None) -> TinyFlame:
    cfg = config or TinyFlameConfig()
    mesh = head_mesh(cfg.detail)
    rng = np.random.default_rng(seed)
    normals = vertex_normals(mesh.vertices, mesh.faces, mesh.weld)
    heights = _tube_heights(mesh)
    ring_heights = np.array([heights[r].mean() for r in mesh.neck_rings])
    weights = rig.skinning(mesh, ring_heights)
    reg = rig.joint_regressor(mesh)
    posedirs = rig.pose_correctives(mesh, weights)
    shape = bases.shape_basis(mesh, normals, cfg.shape_components, rng, heights)
    expr = bases.expression_basis(mesh, normals, cfg.expression_components, rng)
    return TinyFlame(
        v_template=mesh.vertices.astype(np.float32),
        faces=mesh.faces.astype(np.int64),
        shapedirs=np.concatenate([shape, expr], 2).astype(np.float32),
        posedirs=posedirs.astype(np.float32),
        j_regressor=reg,
        weights=weights.astype(np.float32),
        parents=list(rig.PARENTS),
        landmarks=embedding.landmark_embedding(mesh),
        masks=embedding.regions(mesh),
        uvs=mesh.uvs.astype(np.float32),
        part=mesh.part,
        weld=mesh.weld,
        shape_components=cfg.shape_components,
        expression_components=cfg.expression_components,
    )


__all__ = ["PART_NAMES", "TinyFlame", "generate_tiny_flame", "head_mesh", "vertex_normals"]
