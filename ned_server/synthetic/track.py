"""A ``ShotTrack`` made from a synthetic clip's exact ground truth, as if the analysis were perfect.

The conditioning bridge and the renderer's training data can then be tested on the synthetic
actor without running detection and the FLAME fit (which have their own tests), and any error
seen downstream is the downstream stage's own. Only the alignment is computed, by the tracking
stage's own ``align_frames`` on the ground-truth landmarks, so the crop frames the face exactly
as it would on a tracked shot. No temporal smoothing: the ground truth has no jitter to remove.
"""

from __future__ import annotations

import numpy as np

from ned_server.synthetic.actor import SyntheticClip
from ned_server.tracking.alignment import align_frames
from ned_server.tracking.config import AlignmentConfig
from ned_server.tracking.identities import FaceSummary
from ned_server.tracking.result import ShotTrack


def ground_truth_track(clip: SyntheticClip, crop_size: int = 256, first_frame: int = 0) -> ShotTrack:
    """The clip's ground truth as a fully tracked ``ShotTrack`` (frame numbers from ``first_frame``)."""
    n = clip.num_frames
    tracked = np.ones(n, dtype=bool)
    landmarks = np.asarray(clip.landmarks, dtype=np.float64)
    boxes = np.concatenate([landmarks.min(axis=1), landmarks.max(axis=1)], axis=1)
    sizes = np.sqrt(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1))
    frames = np.arange(first_frame, first_frame + n, dtype=np.int64)
    alignment = align_frames(landmarks, tracked, AlignmentConfig(crop_size=crop_size))
    return ShotTrack(
        frames=frames,
        tracked=tracked,
        notes=[""] * n,
        face_id=0,
        faces=[FaceSummary(id=0, frames=n, first=int(frames[0]), last=int(frames[-1]), mean_size=float(sizes.mean()))],
        boxes=boxes,
        landmarks=landmarks,
        shape=clip.shape,
        expression=clip.expression,
        pose=clip.pose,
        camera=clip.camera,
        expression51=clip.expression51,
        pupils=clip.pupils,
        blink=clip.blink,
        alignment=alignment,
        frame_size=clip.size,
        crop_size=crop_size,
    )
