"""An edit measured on its output, as a reviewer would: the composites re-tracked by a landmarker.

The server's QC report measures the edit on the fitted 3D face; these measure what a compositor
gets, the face plates merged over the plates, with the same 68-point landmarker the server uses on
this machine (FAN when its weights are there, else dlib's offline predictor), run on the originals
and on the outputs. Shared by the demo's test and tests/bench/real_footage.py so the two cannot
measure "the corners rose" differently.

All figures are in units of the inter-ocular distance (IOD), so they compare across resolutions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ned_plugin.exr import decode_exr
from ned_server.tracking.detection import LandmarkDetector

INNER_LIPS = ((61, 67), (62, 66), (63, 65))  # upper and lower inner-lip points, iBUG-68


def iod(points: np.ndarray) -> np.ndarray:
    """Distance between the eye centres of (..., 68, 2) landmarks."""
    return np.linalg.norm(points[..., 36:42, :].mean(-2) - points[..., 42:48, :].mean(-2), axis=-1)


def mouth_measures(points: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame of (T, 68, 2) landmarks, in IOD units: inner-lip opening, mouth width, and the corners'
    height above the lips' centre line (image y is down, so a positive height is a raised corner)."""
    d = iod(points)
    opening = np.mean([np.linalg.norm(points[:, a] - points[:, b], axis=-1) for a, b in INNER_LIPS], axis=0)
    width = np.linalg.norm(points[:, 48] - points[:, 54], axis=-1)
    centre_y = 0.5 * (points[:, 51, 1] + points[:, 57, 1])
    corners = centre_y - 0.5 * (points[:, 48, 1] + points[:, 54, 1])
    return {"opening": opening / d, "width": width / d, "corners": corners / d}


def detect_all(detector: LandmarkDetector, frames: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 68, 2) landmarks of the largest face per display-referred frame, and (T,) found."""
    out = np.zeros((len(frames), 68, 2), np.float64)
    found = np.zeros(len(frames), bool)
    for i, img in enumerate(frames):
        faces = detector.detect(i, img)
        if faces:
            best = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
            out[i], found[i] = best.landmarks, True
    return out, found


def composite(plate_exr: bytes, background_linear: np.ndarray) -> np.ndarray:
    """A face plate (premultiplied, its data window cropped to the face) merged over the linear plate."""
    if not plate_exr:
        return background_linear
    frame = decode_exr(plate_exr)
    full = frame.full_frame(0.0).astype(np.float32)
    rgb, alpha = full[..., :3], full[..., 3:4] if full.shape[2] > 3 else np.ones_like(full[..., :1])
    return rgb + background_linear * (1.0 - alpha)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side does not move (a still mouth follows nothing)."""
    if len(a) < 2 or a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class EditMeasures:
    """One take against its original, over the frames where both faces were found."""

    frames_compared: int
    output_faces_found_fraction: float
    speech_correlation: float  # inner-lip opening over time, output against original
    mouth_width_change: float  # output minus original, mean over frames
    corner_height_change: float  # output minus original, mean over frames: > 0 raised (a smile)


def measure_edit(original: np.ndarray, original_found: np.ndarray, output: np.ndarray,
                 output_found: np.ndarray) -> EditMeasures:
    """Compare the landmarks of a take's composites with the original's (both from ``detect_all``)."""
    both = original_found & output_found
    o, m = mouth_measures(original[both]), mouth_measures(output[both])
    n = int(both.sum())
    return EditMeasures(
        frames_compared=n,
        output_faces_found_fraction=float(output_found.mean()) if len(output_found) else 0.0,
        speech_correlation=corr(o["opening"], m["opening"]) if n > 2 else float("nan"),
        mouth_width_change=float((m["width"] - o["width"]).mean()) if n else float("nan"),
        corner_height_change=float((m["corners"] - o["corners"]).mean()) if n else float("nan"),
    )


def face_region(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the convex hull of one frame's 68 landmarks, the brows lifted by a third of the
    eye-to-brow height so the forehead's lower band (what a brow raise moves) is in it."""
    pts = np.asarray(points, np.float64).copy()
    brows = pts[17:27]
    lift = 0.33 * (pts[36:48, 1].mean() - brows[:, 1].mean())
    pts = np.concatenate([pts, brows - [0.0, lift]])
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    return mask.astype(bool)


def high_frequency_energy(srgb: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared Laplacian of the luminance (Rec. 709 weights) of an sRGB frame in [0, 1], over ``mask``."""
    y = (np.asarray(srgb, np.float64) @ np.array([0.2126, 0.7152, 0.0722]) * 255.0).astype(np.float32)
    return float((cv2.Laplacian(y, cv2.CV_32F) ** 2)[mask].mean())


def sharpness_ratio(original: np.ndarray, output: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> float:
    """High-frequency energy of the output's face over the original's, on the frames where the original's
    face was found (its landmarks give the region in both): 1 keeps the plate's detail, a 64-px
    neural face blown up to a 480-px plate gives a few tenths. NaN when no face was found."""
    ratios = []
    for t in np.flatnonzero(found):
        region = face_region(landmarks[t], original.shape[1:3])
        base = high_frequency_energy(original[t], region)
        if region.any() and base > 0:
            ratios.append(high_frequency_energy(output[t], region) / base)
    return float(np.mean(ratios)) if ratios else float("nan")
