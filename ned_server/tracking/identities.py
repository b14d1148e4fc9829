"""Following several faces through a shot as separate identities, and choosing one.

Detections arrive frame by frame in no particular order; each frame's boxes are matched to the
faces still open by an optimal assignment (scipy's linear_sum_assignment) on box overlap, with a
centre-distance fallback so a fast head move between two frames still counts as the same face.
A face missing for a few frames (a hand in front, a detector miss) keeps its id when it comes
back; after ``max_gap`` frames it is closed. Ids are given in order of first appearance, so they
are stable from one run to the next on the same shot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ned_server.errors import NotFound
from ned_server.tracking.config import IdentityConfig
from ned_server.tracking.detection import FaceDetection


@dataclass
class FaceSummary:
    """One identity found in the shot (reported so a compositor can pick another face)."""

    id: int
    frames: int  # number of frames it was seen in
    first: int  # first and last frame numbers
    last: int
    mean_size: float  # mean sqrt(box area) in pixels
    # Where a face picker crops this face's thumbnail: the frame of its largest box, and that box.
    thumbnail_frame: int = -1
    thumbnail_box: tuple[float, ...] = ()


@dataclass
class FaceTrack:
    """Everything kept of one identity: per-frame detections, keyed by the frame's index in the shot."""

    id: int
    detections: dict[int, FaceDetection] = field(default_factory=dict)
    last_index: int = -1

    @property
    def last_box(self) -> np.ndarray:
        return self.detections[self.last_index].box

    def summary(self, frame_numbers: Sequence[int]) -> FaceSummary:
        idx = sorted(self.detections)
        sizes = [box_size(self.detections[i].box) for i in idx]
        best = idx[int(np.argmax(sizes))]
        return FaceSummary(id=self.id, frames=len(idx), first=int(frame_numbers[idx[0]]),
                           last=int(frame_numbers[idx[-1]]), mean_size=float(np.mean(sizes)),
                           thumbnail_frame=int(frame_numbers[best]),
                           thumbnail_box=tuple(float(v) for v in self.detections[best].box[:4]))


def box_size(box: np.ndarray) -> float:
    """sqrt(area): a face size that does not depend on the box's aspect ratio."""
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    return math.sqrt(max(w, 0.0) * max(h, 0.0))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Centre distance of every pair, relative to the size of the box in ``a``."""
    ca = 0.5 * (a[:, None, :2] + a[:, None, 2:])
    cb = 0.5 * (b[None, :, :2] + b[None, :, 2:])
    size = np.sqrt(np.clip((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-12, None))
    return np.linalg.norm(ca - cb, axis=-1) / size[:, None]


class IdentityTracker:
    """Feed it each frame's detections in shot order; it keeps the identities."""

    def __init__(self, config: IdentityConfig) -> None:
        self.config = config
        self.faces: list[FaceTrack] = []
        self._open: list[FaceTrack] = []

    def update(self, index: int, detections: Sequence[FaceDetection]) -> None:
        cfg = self.config
        self._open = [f for f in self._open if index - f.last_index <= cfg.max_gap + 1]
        if not detections:
            return
        new_boxes = np.stack([d.box for d in detections]).astype(np.float64)
        assigned: set[int] = set()
        if self._open:
            old_boxes = np.stack([f.last_box for f in self._open]).astype(np.float64)
            iou = iou_matrix(old_boxes, new_boxes)
            dist = _centre_distance(old_boxes, new_boxes)
            # Overlap first; the centre distance only breaks ties between non-overlapping boxes.
            cost = (1.0 - iou) + 0.1 * np.minimum(dist, 10.0)
            allowed = (iou >= cfg.min_iou) | (dist <= cfg.max_centre_jump)
            cost = np.where(allowed, cost, 1e6)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if not allowed[r, c]:
                    continue
                face = self._open[r]
                face.detections[index] = detections[c]
                face.last_index = index
                assigned.add(int(c))
        for c, det in enumerate(detections):
            if c in assigned:
                continue
            face = FaceTrack(id=len(self.faces), detections={index: det}, last_index=index)
            self.faces.append(face)
            self._open.append(face)

    def summaries(self, frame_numbers: Sequence[int]) -> list[FaceSummary]:
        return [f.summary(frame_numbers) for f in self.faces]

    def choose(self, frame_numbers: Sequence[int], face_id: int | None = None) -> FaceTrack:
        """The requested face, or by default the largest one seen long enough to be a real face."""
        if not self.faces:
            raise ValueError("no faces to choose from")
        if face_id is not None:
            for f in self.faces:
                if f.id == face_id:
                    return f
            listing = ", ".join(f"{s.id} (frames {s.first}-{s.last}, {s.frames} seen, ~{s.mean_size:.0f} px)"
                                for s in self.summaries(frame_numbers))
            raise NotFound(f"face id {face_id} is not in this shot; faces found: {listing}")
        candidates = [f for f in self.faces if len(f.detections) >= self.config.min_frames] or self.faces
        summaries = {f.id: f.summary(frame_numbers) for f in candidates}
        return max(candidates, key=lambda f: (summaries[f.id].mean_size, summaries[f.id].frames, -f.id))
