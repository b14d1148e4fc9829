"""Pupils from inverse intensity inside each eye contour, and blinks from the eyelid aperture.

Pupils (as in the paper): inside the polygon of an eye's six landmarks the iris and pupil are the
darkest pixels; the pupil centre is the mass centre of the darkest ``dark_fraction`` of them, each
weighted by how much darker it is than that threshold. The polygon is first shrunk towards the
eye's centre by ``lid_margin``: the landmarks sit on the lash lines, and the lashes and the lids'
shadows are as dark as the iris, so a full polygon pulls the centre away from the light (by a
pixel and more on the synthetic actor's 18 px eyes, against a few tenths once shrunk).
The eye region is resampled to a fixed width first, so the polygon edge and the centre are
sub-pixel on a small plate, and a 4K eye costs no more than a small one.

Blinks: the eye's aperture is the mean lid distance over the eye's width (landmarks 37-41 and
38-40 over 36-39; the same on the other eye). A shot's open eye is a high percentile of its
apertures, so an actor with narrow eyes is not read as half-closed; blink = 0 at that aperture,
1 at ``closed_ratio`` of it or less, linear between, averaged over both eyes. This reads the
landmarks only, so it works the same with any 3DMM (the fitted model's eyelids follow the same
landmarks).
"""

from __future__ import annotations

import cv2
import numpy as np

from ned_server.tracking.config import EyesConfig

RIGHT_EYE = slice(36, 42)  # the actor's right eye (image left in a frontal view)
LEFT_EYE = slice(42, 48)
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
_SHIFT = 4  # fillPoly sub-pixel bits


def _pupil(image: np.ndarray, eye: np.ndarray, config: EyesConfig) -> np.ndarray:
    eye = np.asarray(eye, dtype=np.float64)
    centre = eye.mean(axis=0)
    width = float(np.linalg.norm(eye[0] - eye[3]))
    if not np.isfinite(width) or width < 1.0:
        return centre
    f = config.eye_width_px / width
    margin = 0.15 * width
    x0, y0 = eye.min(axis=0) - margin
    x1, y1 = eye.max(axis=0) + margin
    cw, ch = max(int(np.ceil((x1 - x0) * f)) + 1, 2), max(int(np.ceil((y1 - y0) * f)) + 1, 2)
    to_crop = np.array([[f, 0.0, -f * x0], [0.0, f, -f * y0]])
    luma = np.asarray(image, dtype=np.float32)[..., :3] @ LUMA
    patch = cv2.warpAffine(luma, to_crop, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    poly = (centre + (1.0 - config.lid_margin) * (eye - centre) - [x0, y0]) * f
    mask = np.zeros((ch, cw), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(poly * (1 << _SHIFT)).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    inside = mask.astype(bool)
    if inside.sum() < 4:
        return centre  # a closed eye: no pupil to see
    values = patch[inside]
    threshold = np.quantile(values, config.dark_fraction)
    # Darker counts more; the small floor keeps a flat dark patch (every pixel at the threshold) as
    # its own centroid instead of dropping it.
    weights = np.where(values <= threshold, threshold - values + 1e-3, 0.0)
    vs, us = np.nonzero(inside)
    u = float((us * weights).sum() / weights.sum())
    v = float((vs * weights).sum() / weights.sum())
    return np.array([x0 + u / f, y0 + v / f])


def find_pupils(image: np.ndarray, landmarks: np.ndarray, config: EyesConfig | None = None) -> np.ndarray:
    """(2, 2) pupil centres in plate pixels: the actor's right eye (points 36-41) first."""
    config = config or EyesConfig()
    pts = np.asarray(landmarks, dtype=np.float64)
    return np.stack([_pupil(image, pts[RIGHT_EYE], config), _pupil(image, pts[LEFT_EYE], config)]).astype(
        np.float32)


def eye_aperture(landmarks: np.ndarray) -> np.ndarray:
    """(..., 2) lid opening over eye width for each eye, from (..., 68, 2) landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    out = []
    for s in (36, 42):
        width = np.linalg.norm(pts[..., s, :] - pts[..., s + 3, :], axis=-1)
        lids = (np.linalg.norm(pts[..., s + 1, :] - pts[..., s + 5, :], axis=-1)
                + np.linalg.norm(pts[..., s + 2, :] - pts[..., s + 4, :], axis=-1))
        out.append(lids / (2.0 * np.maximum(width, 1e-6)))
    return np.stack(out, axis=-1)


def blink_signal(landmarks: np.ndarray, tracked: np.ndarray, config: EyesConfig | None = None) -> np.ndarray:
    """(T,) blink weight in [0, 1] (0 open, 1 closed) from (T, 68, 2) landmarks; 0 where untracked."""
    config = config or EyesConfig()
    tracked = np.asarray(tracked, dtype=bool)
    blink = np.zeros(len(tracked), dtype=np.float32)
    if not tracked.any():
        return blink
    aperture = eye_aperture(np.asarray(landmarks)[tracked])  # (n, 2)
    open_ = np.percentile(aperture, config.open_percentile, axis=0)  # per eye
    open_ = np.maximum(open_, 1e-6)
    closure = (1.0 - aperture / open_) / max(1.0 - config.closed_ratio, 1e-6)
    blink[tracked] = np.clip(closure, 0.0, 1.0).mean(axis=1)
    return blink
