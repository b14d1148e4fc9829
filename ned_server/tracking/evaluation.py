"""Judging a shot's track against a ground truth (the synthetic actor's), each figure beside a baseline.

A figure alone says little (is a 0.14 expression error good?), so every accuracy comes with what a
trivial tracker scores on the same shot: predicting zeros or the shot's true mean expression, the
raw noisy landmarks, the eye's centre for the pupil, one fixed alignment for the whole shot. The
tests bound the ratios; the benchmark prints both.

What landmarks can and cannot tell decides which expression figures mean something. The error of
the 51 coefficients themselves is reported, but with a grain of salt: some components move the 68
points alike (on the procedural model, "eyes wide" and a negative blink both lift the upper lid
points) and many barely move them at all, so different coefficient vectors fit equally well and
the priors choose. ``expression_geometry_mm`` is the error where it matters to the renderer: the
face mesh that the expression (and jaw) make on the neutral identity, fitted against true, in mm
over the vertices an expression can move. ``*_dynamic`` removes each side's shot mean, because a
constant expression and the identity also move the points alike (see fitting.py), while the
changes over time are measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ned_server.face3d.camera import orthographic_to_pixels
from ned_server.tracking.alignment import stable_points
from ned_server.tracking.config import AlignmentConfig
from ned_server.tracking.flame_landmarks import LandmarkFlame
from ned_server.tracking.result import ShotTrack
from ned_server.tracking.smoothing import segments
from ned_server.tracking.template import template_points

OPEN_EYE = 0.3  # truth blink weight below which the pupil is visible enough to be judged


class Truth(Protocol):
    """What is compared (the synthetic actor's SyntheticClip has all of it)."""

    landmarks: np.ndarray  # (T, 68, 2)
    expression51: np.ndarray  # (T, 51)
    pupils: np.ndarray  # (T, 2, 2)
    blink: np.ndarray  # (T,)


@dataclass
class TrackScores:
    fit_error_px: float  # the track's own reprojection error (against the landmarks it was given)
    model_landmark_error_px: float  # the fitted model's landmarks against the true ones
    input_landmark_error_px: float  # baseline: the given (noisy) landmarks against the true ones
    expression_mae: float  # 51-d expression vector
    expression_mae_zeros: float  # baseline: predicting zeros
    expression_mae_true_mean: float  # oracle baseline: the shot's true mean expression every frame
    expression_mae_dynamic: float  # each side minus its own shot mean (baseline: expression_mae_true_mean)
    mean_expression_cosine: float  # cosine of the 50 coefficients' shot means, fitted vs true
    expression_geometry_mm: float  # mesh of expression + jaw on the neutral identity, fitted vs true
    expression_geometry_zeros_mm: float  # baseline: no expression
    expression_geometry_true_mean_mm: float  # oracle baseline: the mesh of the true mean expression
    jaw_mae: float
    jaw_mae_zeros: float  # baseline: the mouth shut
    jaw_mae_true_mean: float  # oracle baseline: the true mean jaw opening every frame
    jaw_correlation: float
    expression_jitter: float  # mean |second difference| over time, fitted 51-d vector
    expression_jitter_truth: float
    expression_geometry_jitter_mm: float  # the same of the expression's mesh (see expression_geometry_mm)
    expression_geometry_jitter_truth_mm: float
    landmark_jitter_model: float  # px, the fitted model's landmarks
    landmark_jitter_smoothed: float  # px, the track's (smoothed) landmarks
    landmark_jitter_input: float  # px, the given noisy landmarks
    landmark_jitter_truth: float
    pupil_error_px: float  # open-eye frames
    pupil_error_eye_centre_px: float  # baseline: the centre of the six eye landmarks
    blink_correlation: float
    alignment_error_px: float  # aligned true stable landmarks to the template, crop pixels
    alignment_motion_px: float  # how much those aligned points still move: distance to their shot mean
    alignment_motion_fixed_px: float  # baseline: the same with the first frame's alignment for the whole shot

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def jitter(values: np.ndarray, tracked: np.ndarray) -> float:
    """Mean |second difference| over time within runs of tracked frames (units of ``values``)."""
    parts = [np.abs(np.diff(values[a:b], 2, axis=0)).reshape(-1) for a, b in segments(tracked) if b - a >= 3]
    return float(np.concatenate(parts).mean()) if parts else 0.0


def model_landmarks(track: ShotTrack, flame: Any) -> np.ndarray:
    """(T, 68, 2) plate pixels of the FLAME model posed by the track's parameters (FLAME's own
    landmark embedding, as the rendering stages see the face)."""
    model = LandmarkFlame(flame, blend_contour=False)
    with torch.no_grad():
        pts = model(torch.as_tensor(track.shape)[None], torch.as_tensor(track.expression),
                    torch.as_tensor(track.pose))
        return orthographic_to_pixels(pts, torch.as_tensor(track.camera), *track.frame_size).numpy()


def expression_meshes(flame: Any, expression51: np.ndarray) -> np.ndarray:
    """(T, V, 3) mm: the mesh of each frame's 51-d expression (jaw opening, coefficients) on the
    neutral identity, head unposed."""
    e = torch.as_tensor(np.asarray(expression51, dtype=np.float32))
    pose = torch.zeros(len(e), 15)
    pose[:, 6] = e[:, 0]
    with torch.no_grad():
        out = flame(torch.zeros(1, flame.n_shape), e[:, 1:], pose)
    return out.vertices.double().numpy() * 1000.0


def expressive_vertices(flame: Any, tolerance_mm: float = 0.01) -> np.ndarray:
    """(V,) bool: the vertices that some expression component or the jaw moves."""
    # No expression, then the jaw opened 0.2 rad, then each coefficient at 1 alone.
    probe = np.concatenate([np.zeros((1, flame.n_exp + 1)), np.diag(np.r_[0.2, np.ones(flame.n_exp)])])
    meshes = expression_meshes(flame, probe)
    return (np.linalg.norm(meshes[1:] - meshes[:1], axis=-1) > tolerance_mm).any(axis=0)


def _mesh_jitter(meshes: np.ndarray, tracked: np.ndarray) -> float:
    """Mean length of each vertex's second difference over time, within runs of tracked frames (mm)."""
    parts = [np.linalg.norm(np.diff(meshes[a:b], 2, axis=0), axis=-1).reshape(-1)
             for a, b in segments(tracked) if b - a >= 3]
    return float(np.concatenate(parts).mean()) if parts else 0.0


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _apply(alignment: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...kj->...ki", alignment[..., :, :2], points) + alignment[..., None, :, 2]


def score_track(track: ShotTrack, truth: Truth, given: np.ndarray, flame: Any,
                alignment: AlignmentConfig | None = None) -> TrackScores:
    """Score ``track`` on its tracked frames; ``given`` (T, 68, 2) are the landmarks it was given."""
    t = np.asarray(track.tracked, dtype=bool)
    gt_lm = np.asarray(truth.landmarks, dtype=np.float64)
    gt51 = np.asarray(truth.expression51, dtype=np.float64)
    fit51 = track.expression51.astype(np.float64)
    model_px = model_landmarks(track, flame)
    fit, gt, given = fit51[t], gt51[t], np.asarray(given, dtype=np.float64)

    dyn_fit, dyn_gt = fit - fit.mean(axis=0), gt - gt.mean(axis=0)
    m_fit, m_gt = fit[:, 1:].mean(axis=0), gt[:, 1:].mean(axis=0)
    cosine = float(m_fit @ m_gt / max(np.linalg.norm(m_fit) * np.linalg.norm(m_gt), 1e-12))

    moving = expressive_vertices(flame)
    mesh_fit_all = expression_meshes(flame, fit51)[:, moving]
    mesh_gt_all = expression_meshes(flame, gt51)[:, moving]
    mesh_fit, mesh_gt = mesh_fit_all[t], mesh_gt_all[t]
    mesh_zero = expression_meshes(flame, np.zeros((1, gt.shape[1])))[:, moving]

    def mesh_error(a: np.ndarray) -> float:
        return float(np.linalg.norm(a - mesh_gt, axis=-1).mean())

    open_eye = t & (np.asarray(truth.blink) < OPEN_EYE)
    pupil_err = np.linalg.norm(track.pupils[open_eye] - truth.pupils[open_eye], axis=-1).mean()
    centres = gt_lm[:, 36:48].reshape(-1, 2, 6, 2).mean(axis=2)
    centre_err = np.linalg.norm(centres[open_eye] - truth.pupils[open_eye], axis=-1).mean()

    cfg = alignment or AlignmentConfig(crop_size=track.crop_size)
    idx, _ = stable_points(cfg)
    template = template_points(track.crop_size)[idx]
    aligned = _apply(track.alignment[t], gt_lm[t][:, idx])
    fixed = _apply(track.alignment[np.flatnonzero(t)[0]], gt_lm[t][:, idx])

    return TrackScores(
        fit_error_px=float(track.fit_error[t].mean()),
        model_landmark_error_px=float(np.linalg.norm(model_px[t] - gt_lm[t], axis=-1).mean()),
        input_landmark_error_px=float(np.linalg.norm(given[t] - gt_lm[t], axis=-1).mean()),
        expression_mae=float(np.abs(fit - gt).mean()),
        expression_mae_zeros=float(np.abs(gt).mean()),
        expression_mae_true_mean=float(np.abs(dyn_gt).mean()),
        expression_mae_dynamic=float(np.abs(dyn_fit - dyn_gt).mean()),
        mean_expression_cosine=cosine,
        expression_geometry_mm=mesh_error(mesh_fit),
        expression_geometry_zeros_mm=mesh_error(mesh_zero),
        expression_geometry_true_mean_mm=mesh_error(mesh_gt.mean(axis=0, keepdims=True)),
        jaw_mae=float(np.abs(fit[:, 0] - gt[:, 0]).mean()),
        jaw_mae_zeros=float(np.abs(gt[:, 0]).mean()),
        jaw_mae_true_mean=float(np.abs(dyn_gt[:, 0]).mean()),
        jaw_correlation=_corr(fit[:, 0], gt[:, 0]),
        expression_jitter=jitter(fit51, t),
        expression_jitter_truth=jitter(gt51, t),
        expression_geometry_jitter_mm=_mesh_jitter(mesh_fit_all, t),
        expression_geometry_jitter_truth_mm=_mesh_jitter(mesh_gt_all, t),
        landmark_jitter_model=jitter(model_px, t),
        landmark_jitter_smoothed=jitter(track.landmarks.astype(np.float64), t),
        landmark_jitter_input=jitter(given, t),
        landmark_jitter_truth=jitter(gt_lm, t),
        pupil_error_px=float(pupil_err),
        pupil_error_eye_centre_px=float(centre_err),
        blink_correlation=_corr(track.blink[t].astype(np.float64), np.asarray(truth.blink, dtype=np.float64)[t]),
        alignment_error_px=float(np.linalg.norm(aligned - template, axis=-1).mean()),
        alignment_motion_px=float(np.linalg.norm(aligned - aligned.mean(axis=0), axis=-1).mean()),
        alignment_motion_fixed_px=float(np.linalg.norm(fixed - fixed.mean(axis=0), axis=-1).mean()),
    )
