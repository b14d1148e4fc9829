"""The face template every frame is aligned to: mean 68-point positions inside the S x S crop.

Fixed coordinates rather than a 3DMM's mean face: the template decides where the face sits in the
renderer's 256x256 images, so it must not move when the FLAME model is swapped (the procedural
test model and the licensed one differ) and an actor's renderer must keep seeing the same framing.

Geometry, written in "face units" (the distance between the two eye centres = 1; origin midway
between the eye centres; x to the image right, y down; iBUG-68 order; the actor's right eye is
on the image left), from average adult proportions: eye corners at +-0.27 (inner) and +-0.74
(outer), brows about 0.4 above the eye line, nose tip 0.68 and mouth corners 1.22 below it, chin
at 1.82, jaw about 2 units wide. In the crop, one face unit is ``FACE_UNIT * S`` pixels and the
eye-line midpoint sits at (0.5, ``EYE_LINE_Y``) of the crop, which leaves room for the forehead
and hair above and the chin and a bit of neck below (brows at ~0.27 S, chin at ~0.83 S).
"""

from __future__ import annotations

import numpy as np

FACE_UNIT = 0.25  # eye-centre distance as a fraction of the crop size
EYE_LINE_Y = 0.38  # height of the eye line as a fraction of the crop size

_HALF_JAW = [(-1.02, 0.02), (-1.00, 0.30), (-0.96, 0.58), (-0.90, 0.86), (-0.80, 1.12), (-0.65, 1.37),
             (-0.47, 1.58), (-0.25, 1.75)]
_RIGHT_BROW = [(-0.85, -0.28), (-0.70, -0.40), (-0.52, -0.44), (-0.34, -0.42), (-0.16, -0.36)]
_NOSE = [(0.0, -0.08), (0.0, 0.18), (0.0, 0.43), (0.0, 0.68), (-0.28, 0.80), (-0.14, 0.85), (0.0, 0.88),
         (0.14, 0.85), (0.28, 0.80)]
_RIGHT_EYE = [(-0.74, 0.01), (-0.60, -0.08), (-0.42, -0.08), (-0.27, 0.02), (-0.42, 0.07), (-0.60, 0.07)]
_MOUTH_OUTER = [(-0.40, 1.22), (-0.26, 1.13), (-0.10, 1.08), (0.0, 1.10), (0.10, 1.08), (0.26, 1.13),
                (0.40, 1.22), (0.27, 1.33), (0.12, 1.38), (0.0, 1.39), (-0.12, 1.38), (-0.27, 1.33)]
_MOUTH_INNER = [(-0.34, 1.22), (-0.12, 1.19), (0.0, 1.19), (0.12, 1.19), (0.34, 1.22), (0.12, 1.25),
                (0.0, 1.26), (-0.12, 1.25)]


def _mirror(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(-x, y) for x, y in points]


def _face_units() -> np.ndarray:
    jaw = [*_HALF_JAW, (0.0, 1.82), *_mirror(_HALF_JAW)[::-1]]
    brows = _RIGHT_BROW + _mirror(_RIGHT_BROW)[::-1]
    # Left eye: inner corner first (42), upper lid (43, 44) inner to outer, outer corner (45), lower lid.
    right = _RIGHT_EYE
    left = _mirror([right[3], right[2], right[1], right[0], right[5], right[4]])
    pts = np.array(jaw + brows + _NOSE + right + left + _MOUTH_OUTER + _MOUTH_INNER, dtype=np.float64)
    assert pts.shape == (68, 2)
    return pts


TEMPLATE_FACE_UNITS = _face_units()
TEMPLATE_FACE_UNITS.setflags(write=False)


def template_points(crop_size: int = 256) -> np.ndarray:
    """(68, 2) float64 template landmarks in crop pixels (OpenCV convention, pixel centres at integers)."""
    s = float(crop_size)
    origin = np.array([(s - 1.0) * 0.5, EYE_LINE_Y * s - 0.5])
    return origin + TEMPLATE_FACE_UNITS * (FACE_UNIT * s)
