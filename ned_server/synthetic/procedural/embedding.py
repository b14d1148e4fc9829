"""The procedural head's landmark embedding (DECA layout) and FLAME_masks-style regions.

Static points 17..67 are vertices placed on the features (features.static_landmarks_frontal).
The jaw contour 0..16 is found per yaw bin the way such contours are meant: rotate the head by
the bin's yaw, cast rays in the image plane from a point under the nose at fixed angles, and take
the farthest lower-face vertex along each ray (the visible outline of cheek, jaw and chin).
Each landmark is stored as (a triangle containing the vertex, one-hot barycentric weights).
"""

from __future__ import annotations

import numpy as np

from ned_server.face3d.landmark_embedding import NUM_CONTOUR, NUM_YAW_BINS, LandmarkEmbedding, bin_yaw_deg
from ned_server.synthetic.procedural import features as ft
from ned_server.synthetic.procedural.mesh import (
    PART_LEFT_EYE,
    PART_MOUTH,
    PART_NECK,
    PART_RIGHT_EYE,
    PART_SKIN,
    HeadMesh,
)
from ned_server.synthetic.procedural.rig import neck_angle


def _face_of_vertex(faces: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each vertex id: a triangle containing it and the one-hot barycentric weights."""
    first = -np.ones(faces.max() + 1, np.int64)
    corner = np.zeros(faces.max() + 1, np.int64)
    for k in (2, 1, 0):
        first[faces[:, k]] = np.arange(faces.shape[0])
        corner[faces[:, k]] = k
    fid = first[vertices]
    if (fid < 0).any():
        raise RuntimeError("landmark vertex belongs to no triangle")
    bary = np.zeros((*vertices.shape, 3), np.float64)
    np.put_along_axis(bary, corner[vertices][..., None], 1.0, axis=-1)
    return fid, bary


def contour_candidates(mesh: HeadMesh) -> np.ndarray:
    """Skin vertices that may carry a jaw-contour landmark: the lower face in front of the ears,
    away from the throat, the nose and the lips."""
    p = mesh.vertices
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    ok = (mesh.part == PART_SKIN) & (z > -0.012) & (y < 0.012) & (neck_angle(p) > 0.25)
    nose = (np.abs(x) < 0.024) & (y > -0.032) & (z > 0.055)
    lips = (np.abs(x) < 0.032) & (np.abs(y - ft.MOUTH_Y) < 0.016) & (z > 0.05)
    return np.flatnonzero(ok & ~nose & ~lips)


def contour_vertices(mesh: HeadMesh, yaw_deg: float, window_deg: float = 5.0) -> np.ndarray:
    """(17,) vertex ids of the visible jaw contour when the head is turned by ``yaw_deg``."""
    cand = contour_candidates(mesh)
    a = np.radians(yaw_deg)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    q = mesh.vertices[cand] @ rot.T
    c = ft.CONTOUR_CENTRE @ rot.T
    rel = q[:, :2] - c[:2]
    ang = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
    out = np.zeros(NUM_CONTOUR, np.int64)
    for j, target in enumerate(ft.CONTOUR_ANGLES_DEG):
        diff = np.abs((ang - target + 180.0) % 360.0 - 180.0)
        w = window_deg
        sel = diff < w
        while sel.sum() < 3:
            w *= 1.5
            sel = diff < w
        direction = np.array([np.cos(np.radians(target)), np.sin(np.radians(target))])
        reach = rel[sel] @ direction
        off = np.abs(rel[sel] @ np.array([-direction[1], direction[0]]))
        out[j] = cand[np.flatnonzero(sel)[np.argmax(reach - 0.6 * off)]]
    return out


def landmark_embedding(mesh: HeadMesh) -> LandmarkEmbedding:
    faces = mesh.faces
    sf, sb = _face_of_vertex(faces, mesh.static_landmarks)
    dyn_v = np.stack([contour_vertices(mesh, bin_yaw_deg(i)) for i in range(NUM_YAW_BINS)])
    df, db = _face_of_vertex(faces, dyn_v)
    ff = np.concatenate([df[0], sf])
    fb = np.concatenate([db[0], sb])
    return LandmarkEmbedding(
        static_faces=sf,
        static_bary=sb.astype(np.float32),
        dynamic_faces=df,
        dynamic_bary=db.astype(np.float32),
        full_faces=ff,
        full_bary=fb.astype(np.float32),
    )


def regions(mesh: HeadMesh) -> dict[str, np.ndarray]:
    """FLAME_masks.pkl-style regions (vertex index arrays) plus ``mouth_interior`` (ours only)."""
    p = mesh.vertices
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    skin = mesh.part == PART_SKIN
    na = neck_angle(p)
    face = skin & (z > 0.004) & (y < 0.094) & (np.abs(x) < 0.07) & (na > 0.3)
    s = np.clip(np.abs(x) / ft.MOUTH_HALF_WIDTH, 0, 1)
    line = ft.mouth_line_y(s)
    corners = np.hypot(np.abs(x) - ft.MOUTH_HALF_WIDTH, y - line) < 0.0035  # the commissures
    lips = (
        skin
        & (z > 0.05)
        & (
            corners
            | (
                (np.abs(x) <= ft.MOUTH_HALF_WIDTH)
                & (y <= line + ft.upper_lip_height(s) + 0.0008)
                & (y >= line - ft.lower_lip_height(s) - 0.0008)
            )
        )
    )
    regions_out: dict[str, np.ndarray] = {}

    def eye_region(side: float) -> np.ndarray:
        return skin & (((x - side * 0.031) / 0.023) ** 2 + ((y - 0.031) / 0.018) ** 2 < 1.0) & (z > 0.03)

    left_eye, right_eye = eye_region(1.0), eye_region(-1.0)
    brows = skin & (np.abs(np.abs(x) - 0.036) < 0.026) & (np.abs(y - ft.brow_y(np.abs(x))) < 0.006) & (z > 0.03)
    forehead = skin & (z > 0.01) & (y > ft.brow_y(np.abs(x)) + 0.004) & (y < 0.105) & (np.abs(x) < 0.06)
    nose = skin & (np.abs(x) < 0.022) & (y > -0.031) & (y < 0.034) & (z > 0.058)
    neck = (mesh.part == PART_NECK) | (skin & (na < 0.3))
    scalp = skin & ((y > 0.095) | (z < -0.03)) & (na > 0.3)
    ears = {
        side: skin & (np.linalg.norm(p - np.array([side * 0.075, 0.005, -0.015]), axis=1) < 0.03)
        for side in (1.0, -1.0)
    }
    boundary = mesh.neck_rings[-1]
    regions_out.update(
        {
            "face": np.flatnonzero(face),
            "lips": np.flatnonzero(lips),
            "left_eye_region": np.flatnonzero(left_eye),
            "right_eye_region": np.flatnonzero(right_eye),
            "eye_region": np.flatnonzero(left_eye | right_eye | brows),
            "left_eyeball": np.flatnonzero(mesh.part == PART_LEFT_EYE),
            "right_eyeball": np.flatnonzero(mesh.part == PART_RIGHT_EYE),
            "forehead": np.flatnonzero(forehead),
            "nose": np.flatnonzero(nose),
            "neck": np.flatnonzero(neck),
            "scalp": np.flatnonzero(scalp),
            "boundary": np.asarray(boundary, np.int64),
            "left_ear": np.flatnonzero(ears[1.0]),
            "right_ear": np.flatnonzero(ears[-1.0]),
            "mouth_interior": np.flatnonzero(mesh.part == PART_MOUTH),
        }
    )
    return regions_out
