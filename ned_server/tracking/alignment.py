"""Per-frame similarity alignment of the plate to the face template (Umeyama with scale).

Only landmarks that move with the head and not with speech or expression drive the fit: the eye
corners and the nose, plus the brows at a small weight (they rise with surprise). Jaw contour and
mouth points are left out, or every syllable would shift the crop. The per-frame transforms are
then smoothed over time in a form where averaging makes sense (crop centre in the plate, log scale,
angle), so the aligned crop does not shimmer, while the zero-lag filter keeps it on a moving head.

A matrix ``A`` (2x3, float64) maps plate pixels to aligned-crop pixels, OpenCV convention (pixel
centres at integer coordinates): ``cv2.warpAffine(frame, A, (S, S))`` cuts the aligned crop, and
``cv2.invertAffineTransform(A)`` puts a rendered crop back.
"""

from __future__ import annotations

import numpy as np

from ned_server.tracking.config import AlignmentConfig, SmoothingConfig
from ned_server.tracking.smoothing import fill_untracked, smooth_track
from ned_server.tracking.template import template_points

EYE_CORNERS = (36, 39, 42, 45)
NOSE = tuple(range(27, 36))
BROWS = tuple(range(17, 27))


def stable_points(config: AlignmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Landmark indices used for the alignment and their weights."""
    idx = np.array(EYE_CORNERS + NOSE + BROWS)
    weights = np.array([1.0] * (len(EYE_CORNERS) + len(NOSE)) + [config.brow_weight] * len(BROWS))
    keep = weights > 0
    return idx[keep], weights[keep]


def umeyama(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares similarity (rotation, uniform scale, translation) src -> dst, as (2, 3).

    Umeyama (1991): the rotation from the SVD of the weighted cross-covariance, with the reflection
    removed; the scale from the singular values over the source variance.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = w @ src
    mu_d = w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    var_s = float(w @ (xs**2).sum(axis=1))
    if var_s <= 1e-12:
        raise ValueError("cannot align: the landmarks are all at one point")
    u, d, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(d) @ fix)) / var_s
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def _to_params(A: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(cx, cy, log scale, angle): where the crop centre falls in the plate, and the crop's zoom/roll."""
    lin = A[:, :2]
    scale = np.sqrt(abs(np.linalg.det(lin)))
    angle = np.arctan2(lin[1, 0], lin[0, 0])
    plate_centre = np.linalg.solve(lin, centre - A[:, 2])
    return np.array([plate_centre[0], plate_centre[1], np.log(scale), angle])


def _from_params(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    scale, angle = np.exp(p[2]), p[3]
    lin = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([lin, (centre - lin @ p[:2])[:, None]])


def align_frames(landmarks: np.ndarray, tracked: np.ndarray, config: AlignmentConfig,
                 smoothing: SmoothingConfig | None = None) -> np.ndarray:
    """(T, 2, 3) float64 plate -> crop similarities for (T, 68, 2) landmarks.

    Untracked frames get the nearest tracked frame's matrix (a valid, invertible placeholder);
    with no tracked frame at all, every frame gets the identity.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    tracked = np.asarray(tracked, dtype=bool)
    n = len(landmarks)
    out = np.tile(np.eye(2, 3), (n, 1, 1))
    if not tracked.any():
        return out
    idx, weights = stable_points(config)
    template = template_points(config.crop_size)[idx]
    centre = np.full(2, (config.crop_size - 1) * 0.5)
    params = np.zeros((n, 4))
    for t in np.flatnonzero(tracked):
        params[t] = _to_params(umeyama(landmarks[t, idx], template, weights), centre)
    rows = np.flatnonzero(tracked)
    params[rows, 3] = np.unwrap(params[rows, 3])
    if smoothing is not None:
        face_px = float(np.median(config.crop_size * np.exp(-params[rows, 2]))) * 0.25  # plate px per face
        scaled = params.copy()
        scaled[:, 2:] *= face_px  # one unit of log-scale/angle ~ one face size of motion
        scaled = smooth_track(scaled, tracked, face_px, smoothing, group=2)
        scaled[:, 2:] /= face_px
        params = scaled
    for t in rows:
        out[t] = _from_params(params[t], centre)
    return fill_untracked(out, tracked)

