"""Skinning weights, joint regressor and pose correctives of the procedural head.

Joints as in FLAME: 0 root (mid neck), 1 neck (top of the spine, where the head nods), 2 jaw
(between the temporo-mandibular joints), 3 left eye (+x), 4 right eye; parents [-1, 0, 1, 1, 1].
Every joint is a convex combination of template vertices (the J_regressor), so it follows the
shape blend shapes as FLAME's do.

The jaw weight is 1 on the lower lip and chin and 0 on the upper lip, with the split along the
mouth slit (upper and lower lips are not connected there), widening towards the cheeks and fading
towards the ears and the throat, which is what makes a jaw rotation open the mouth.
"""

from __future__ import annotations

import numpy as np

from ned_server.synthetic.procedural import features as ft
from ned_server.synthetic.procedural.mesh import (
    NECK_CONE_DEG,
    PART_LEFT_EYE,
    PART_MOUTH,
    PART_NECK,
    PART_RIGHT_EYE,
    PART_SKIN,
    HeadMesh,
    _neck_axis,
)
from ned_server.synthetic.procedural.surface import CENTRE, normalize

PARENTS = [-1, 0, 1, 1, 1]
NUM_JOINTS = 5


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def mouth_line(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y of the mouth line continued towards the jaw joints, width of the jaw/skull blend) at x."""
    ax = np.abs(x)
    s = np.clip(ax / ft.MOUTH_HALF_WIDTH, 0, 1)
    beyond = np.maximum(ax - ft.MOUTH_HALF_WIDTH, 0.0)
    y = ft.mouth_line_y(s) + 0.9 * beyond
    band = 0.0006 + 0.45 * beyond
    return y, band


def neck_angle(points: np.ndarray) -> np.ndarray:
    """Angle (radians) between a point's direction from the head centre and the neck opening's rim."""
    d = normalize(points - CENTRE)
    return np.arccos(np.clip(d @ _neck_axis(), -1, 1)) - np.radians(NECK_CONE_DEG)


def jaw_weight(points: np.ndarray) -> np.ndarray:
    """Jaw skinning weight of skin points (N, 3)."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    line, band = mouth_line(x)
    w1 = smoothstep(0.0, 1.0, (line - y) / band + 0.5)
    w2 = smoothstep(-0.012, 0.022, z)
    w3 = smoothstep(0.02, 0.45, neck_angle(points))
    return w1 * w2 * w3


def skinning(mesh: HeadMesh, tube_heights: np.ndarray) -> np.ndarray:
    v = mesh.vertices
    w = np.zeros((v.shape[0], NUM_JOINTS))
    skin = mesh.part == PART_SKIN
    wj = jaw_weight(v[skin])
    w[skin, 2] = wj
    w[skin, 1] = 1 - wj
    w[mesh.part == PART_LEFT_EYE, 3] = 1.0
    w[mesh.part == PART_RIGHT_EYE, 4] = 1.0
    mouth = mesh.part == PART_MOUTH
    wb = smoothstep(ft.MOUTH_Y + 0.004, ft.MOUTH_Y - 0.004, v[mouth, 1])
    w[mouth, 2] = wb
    w[mouth, 1] = 1 - wb
    for k, ring in enumerate(mesh.neck_rings):
        r = smoothstep(0.01, 0.13, tube_heights[k])
        w[ring, 0] = r
        w[ring, 1] = 1 - r
    seam = (mesh.part == PART_NECK) & (w.sum(1) == 0)  # seam duplicates take their twin's weights
    w[seam] = w[mesh.weld[seam]]
    return w


def _nearest(points: np.ndarray, target: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    idx = np.flatnonzero(mask)
    order = np.argsort(np.linalg.norm(points[idx] - target, axis=1))[:k]
    return idx[order]


def joint_regressor(mesh: HeadMesh) -> np.ndarray:
    """(5, V) rows of convex weights over vertices."""
    v = mesh.vertices
    reg = np.zeros((NUM_JOINTS, v.shape[0]))
    skin = mesh.part == PART_SKIN
    # Root: the middle of the neck.
    ring = mesh.neck_rings[3]
    reg[0, ring] = 1.0 / ring.size
    # Neck: halfway between the neck opening and the skull at ear height (top of the spine).
    top = mesh.neck_rings[0]
    reg[1, top] += 0.5 / top.size
    ears = np.concatenate([_nearest(v, np.array([sx * 0.075, 0.0, -0.03]), skin, 3) for sx in (-1, 1)])
    reg[1, ears] += 0.5 / ears.size
    # Jaw: between the two temporo-mandibular joints.
    tmj = np.concatenate([_nearest(v, np.array([sx * 0.066, -0.006, 0.004]), skin, 2) for sx in (-1, 1)])
    reg[2, tmj] = 1.0 / tmj.size
    for j, part in ((3, PART_LEFT_EYE), (4, PART_RIGHT_EYE)):
        # The eyeball's two poles: their midpoint is the centre whatever the ring layout.
        ids = np.flatnonzero(mesh.part == part)
        front, back = ids[np.argmax(v[ids, 2])], ids[np.argmin(v[ids, 2])]
        reg[j, [front, back]] = 0.5
    return reg


def pose_correctives(mesh: HeadMesh, weights: np.ndarray) -> np.ndarray:
    """(V, 3, 36) pose blend shapes: only the jaw has some (driven by sin of its opening angle).

    When the jaw opens, the lower lip rolls in slightly and the cheeks beside the mouth are drawn
    in; restricted to jaw-weighted vertices so a jaw rotation never moves the skull.
    """
    v = mesh.vertices
    pd = np.zeros((v.shape[0], 3, 36))
    wj = weights[:, 2]
    active = wj > 0
    # Feature index: joint 2 is the 2nd of joints 1..4 -> block 9..17; element (2, 1) of R - I is sin(angle).
    feat = 9 + 2 * 3 + 1
    x, y = v[:, 0], v[:, 1]
    lips = np.exp(-((x / 0.022) ** 2) - ((y - ft.MOUTH_Y + 0.008) / 0.01) ** 2)
    cheeks = np.exp(-(((np.abs(x) - 0.035) / 0.014) ** 2) - ((y - ft.MOUTH_Y) / 0.018) ** 2)
    d = np.zeros_like(v)
    d[:, 2] = -0.004 * lips
    d[:, 0] = -np.sign(x) * 0.004 * cheeks
    d *= (wj * (1 - 0.5 * np.abs(2 * wj - 1)))[:, None] * 2.0  # strongest where partly on the jaw
    d[~active] = 0.0
    pd[:, :, feat] = d
    return pd
