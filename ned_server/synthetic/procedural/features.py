"""Where the procedural head's features are, as frontal curves (x, y in metres, FLAME frame).

The eye openings, the mouth slit, the lip borders, the brows and the 51 static iBUG-68 points
are all defined here once; the mesh puts vertices exactly on them, the rig and the blend shapes
move them, the landmark embedding points at them and the texture paints them. Eyes and brows
are described for the subject's left side (+x) and mirrored.

Eye curves use s in [-1, 1] from the medial (inner) corner to the lateral (outer) one; the mouth
uses s in [-1, 1] from the subject's right corner (-x, image left) to the left one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ned_server.synthetic.procedural.surface import EYE_CENTRE

# ----------------------------------------------------------------------------- eyes
EYE_HALF_WIDTH = 0.0123
EYE_UPPER = 0.0055
EYE_LOWER = 0.0046
EYE_TILT = 0.0010  # the lateral corner sits a little higher
EYE_X_SHIFT = 0.0002  # fissure centre slightly lateral of the pupil
EYE_Y_SHIFT = -0.0006
EYE_S = np.linspace(-1.0, 1.0, 19)  # contains +-1/3 (landmarks) exactly
UPPER_LID_ROWS = (0.0, 0.0012, 0.0026, 0.0045)
LOWER_LID_ROWS = (0.0, 0.0012, 0.0028)


def eye_x(s: npt.ArrayLike, side: npt.ArrayLike) -> np.ndarray:
    """x of eye-curve parameter s for side +1 (left eye, +x) or -1 (right eye)."""
    return np.asarray(side) * (EYE_CENTRE[0] + EYE_X_SHIFT + np.asarray(s) * EYE_HALF_WIDTH)


def eye_upper_y(s: npt.ArrayLike) -> np.ndarray:
    s = np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0)
    return EYE_CENTRE[1] + EYE_Y_SHIFT + EYE_TILT * s + EYE_UPPER * (1 - s * s) ** 0.75 * (1 - 0.18 * s)


def eye_lower_y(s: npt.ArrayLike) -> np.ndarray:
    s = np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0)
    return EYE_CENTRE[1] + EYE_Y_SHIFT + EYE_TILT * s - EYE_LOWER * (1 - s * s) ** 0.85 * (1 + 0.12 * s)


def eye_s_of_x(x: npt.ArrayLike, side: npt.ArrayLike) -> np.ndarray:
    return (np.asarray(side) * np.asarray(x) - EYE_CENTRE[0] - EYE_X_SHIFT) / EYE_HALF_WIDTH


def eye_outline(side: float) -> tuple[np.ndarray, np.ndarray]:
    """(upper (N, 2), lower (N, 2)) frontal points of one eye opening, ordered by s (corners shared)."""
    x = eye_x(EYE_S, side)
    return np.column_stack([x, eye_upper_y(EYE_S)]), np.column_stack([x, eye_lower_y(EYE_S)])


# ----------------------------------------------------------------------------- mouth
MOUTH_Y = -0.0505
MOUTH_HALF_WIDTH = 0.0245
MOUTH_GAP = 0.0005  # half the slit's opening at rest
MOUTH_CURVE = 0.0005
MOUTH_S = np.linspace(-1.0, 1.0, 25)  # contains 0, +-1/2 and +-7/12, +-4/12 (landmarks)
UPPER_LIP_ROWS = (0.0, 0.3, 0.62, 1.0)  # fractions of the upper vermilion height
LOWER_LIP_ROWS = (0.0, 0.3, 0.62, 1.0)
LIP_SKIN_OFFSET = 0.0030  # one row of skin just outside each vermilion border


def mouth_x(s: npt.ArrayLike) -> np.ndarray:
    return np.asarray(s) * MOUTH_HALF_WIDTH


def mouth_line_y(s: npt.ArrayLike) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    return MOUTH_Y + MOUTH_CURVE * s * s


def slit_half_gap(s: npt.ArrayLike) -> np.ndarray:
    s = np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0)
    return MOUTH_GAP * (1 - s * s) ** 0.5


def upper_lip_height(s: npt.ArrayLike) -> np.ndarray:
    """Height of the upper vermilion above the slit: Cupid's bow peaks near s = +-1/3."""
    s = np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0)
    a = np.abs(s)
    return (
        0.0074 * (1 - s * s) ** 0.55 + 0.0010 * np.exp(-(((a - 0.33) / 0.12) ** 2)) - 0.0006 * np.exp(-((s / 0.1) ** 2))
    )


def lower_lip_height(s: npt.ArrayLike) -> np.ndarray:
    s = np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0)
    return 0.0092 * (1 - s * s) ** 0.65


# ----------------------------------------------------------------------------- brows and nose
BROW_X = np.array([0.057, 0.047, 0.037, 0.027, 0.016])  # outer -> inner (subject's left brow)


def brow_y(abs_x: npt.ArrayLike) -> np.ndarray:
    ax = np.asarray(abs_x, dtype=np.float64)
    return 0.0470 + 0.0068 * np.exp(-(((ax - 0.040) / 0.018) ** 2)) - 0.002 * np.clip((ax - 0.05) / 0.01, 0, 1)


NOSE_BRIDGE = np.array([[0.0, 0.0315], [0.0, 0.0190], [0.0, 0.0060], [0.0, -0.0095]])  # 27..30
NOSE_BASE = np.array(
    [[-0.0120, -0.0225], [-0.0062, -0.0252], [0.0, -0.0262], [0.0062, -0.0252], [0.0120, -0.0225]]
)  # 31..35

# Jaw contour (0..16): rays from this frontal centre at these angles (degrees, y up) in a frontal view.
CONTOUR_CENTRE = np.array([0.0, -0.020, 0.05])
CONTOUR_ANGLES_DEG = 161.0 + np.arange(17) * (218.0 / 16.0)


def static_landmarks_frontal() -> np.ndarray:
    """(51, 2) frontal positions of iBUG points 17..67 (all are mesh vertices)."""
    pts: list[np.ndarray] = []
    # 17-21 right brow, image left -> right (outer -> inner); 22-26 left brow inner -> outer.
    for ax in BROW_X:
        pts.append(np.array([-ax, brow_y(ax)]))
    for ax in BROW_X[::-1]:
        pts.append(np.array([ax, brow_y(ax)]))
    pts.extend(NOSE_BRIDGE)
    pts.extend(NOSE_BASE)
    # 36-41 right eye (side -1): outer corner, upper lateral/medial thirds, inner corner, lower medial/lateral.
    third = 1.0 / 3.0
    for side, order in (
        (-1.0, ((1, "c"), (third, "u"), (-third, "u"), (-1, "c"), (-third, "l"), (third, "l"))),
        (1.0, ((-1, "c"), (-third, "u"), (third, "u"), (1, "c"), (third, "l"), (-third, "l"))),
    ):
        for s, which in order:
            y = eye_upper_y(s) if which in ("u", "c") else eye_lower_y(s)
            pts.append(np.array([float(eye_x(s, side)), float(y)]))
    # 48 outer right corner, 49-53 upper border, 54 outer left corner, 55-59 lower border.
    corner = 1.045
    pts.append(np.array([mouth_x(-corner), mouth_line_y(1.0)]))
    for s in (-7 / 12, -4 / 12, 0.0, 4 / 12, 7 / 12):
        pts.append(np.array([mouth_x(s), mouth_line_y(s) + upper_lip_height(s)]))
    pts.append(np.array([mouth_x(corner), mouth_line_y(1.0)]))
    for s in (7 / 12, 4 / 12, 0.0, -4 / 12, -7 / 12):
        pts.append(np.array([mouth_x(s), mouth_line_y(s) - lower_lip_height(s)]))
    # 60 inner right corner, 61-63 upper inner, 64 inner left corner, 65-67 lower inner.
    pts.append(np.array([mouth_x(-1.0), mouth_line_y(-1.0)]))
    for s in (-0.5, 0.0, 0.5):
        pts.append(np.array([mouth_x(s), mouth_line_y(s) + slit_half_gap(s)]))
    pts.append(np.array([mouth_x(1.0), mouth_line_y(1.0)]))
    for s in (0.5, 0.0, -0.5):
        pts.append(np.array([mouth_x(s), mouth_line_y(s) - slit_half_gap(s)]))
    out = np.array(pts, dtype=np.float64)
    assert out.shape == (51, 2)
    return out
