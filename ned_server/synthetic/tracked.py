"""The synthetic emotional dataset as the tracker sees it: expressions recovered by the FLAME fit.

The manipulator must be trained on the same kind of expression vectors it is given at test time.
The paper trains it on DECA reconstructions of MEAD and Aff-Wild2, not on ground truth; likewise
here. From 68 landmarks a fit cannot tell every FLAME expression coefficient apart (some move the
landmarks alike, some barely at all, and part of a constant expression is indistinguishable from
the identity), so tracked coefficients are a different distribution from the generating ones even
where the face geometry they describe is right. A manipulator trained on ground-truth coefficients
and fed tracked ones then extrapolates (a "happy" that closes the jaw through the upper lip, say).

Each clip of ``make_synthetic_dataset`` is given a synthetic identity, head motion and camera,
posed with the FLAME layer, projected to 68 landmarks with detector-like noise and fitted exactly
as ``tracking.track_shot`` fits a shot (``fit_shot`` on the landmarks as detected). No pixels are
rendered: the fit uses landmarks only, so this costs the fit's ~15 ms a frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from ned_server.face3d.camera import project_orthographic
from ned_server.face3d.config import FlameConfig
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.rotations import yaw_pitch_roll_to_axis_angle
from ned_server.synthetic.config import ActorConfig
from ned_server.synthetic.expressions import SyntheticExpressionDataset
from ned_server.synthetic.flame_assets import make_tiny_flame_assets
from ned_server.synthetic.motion import camera_track, head_pose_track
from ned_server.tracking.config import FitConfig
from ned_server.tracking.fitting import fit_shot

N_SHAPE = 100


def default_flame() -> FlameLayer:
    """The procedural FLAME-format head the server falls back to (and the synthetic actor uses)."""
    tiny = make_tiny_flame_assets(None, seed=ActorConfig().model_seed)
    return FlameLayer(tiny.model, tiny.landmarks, FlameConfig())


def clip_landmarks(flame: FlameLayer, expression51: np.ndarray, rng: np.random.Generator, size: int,
                   noise_px: float, face_scale: tuple[float, float] = (5.4, 6.6)) -> np.ndarray:
    """(T, 68, 2) landmarks of one clip's expressions on a random identity, head motion and camera."""
    n = expression51.shape[0]
    shape = np.zeros(N_SHAPE, np.float32)
    shape[:14] = rng.normal(0, 1.0, 14)
    shape[14:] = rng.normal(0, 0.7, N_SHAPE - 14)
    pose = np.zeros((n, 15), np.float32)
    ypr = head_pose_track(n, rng)
    pose[:, 0:3] = yaw_pitch_roll_to_axis_angle(torch.tensor(ypr, dtype=torch.float64)).numpy()
    pose[:, 6] = expression51[:, 0]
    camera = camera_track(n, rng, face_scale).astype(np.float32)
    with torch.no_grad():
        out = flame(torch.from_numpy(shape)[None].expand(n, -1), torch.from_numpy(
            np.ascontiguousarray(expression51[:, 1:], dtype=np.float32)), torch.from_numpy(pose))
        points = project_orthographic(out.landmarks, torch.from_numpy(camera), size, size)[..., :2].numpy()
    return points + rng.normal(0.0, noise_px, points.shape)


def track_synthetic_dataset(data: SyntheticExpressionDataset, seed: int = 0, flame: FlameLayer | None = None,
                            noise_px: float = 1.0, size: int = 256, config: FitConfig | None = None,
                            progress: Callable[[int, int], None] | None = None) -> SyntheticExpressionDataset:
    """The same clips, labels and actors, with each clip's expressions replaced by the fit's."""
    flame = flame or default_flame()
    config = config or FitConfig()
    rng = np.random.default_rng([seed, 4099])
    tracked = np.empty_like(data.sequences)
    for i, seq in enumerate(data.sequences):
        landmarks = clip_landmarks(flame, seq, rng, size, noise_px)
        fit = fit_shot(landmarks, np.ones(len(seq), bool), flame, config, frame_size=(size, size))
        tracked[i] = np.concatenate([fit.pose[:, 6:7], fit.expression], axis=1)
        if progress is not None:
            progress(i + 1, len(data.sequences))
    return replace(data, sequences=tracked.astype(np.float32))
