"""A shot's track: everything the later stages need from the analysis, and its .npz file.

Per-frame arrays are indexed like ``frames`` (the shot's frame numbers, in the order received).
Untracked frames (``tracked`` False, reason in ``notes``) hold the nearest tracked frame's values,
so arrays never contain NaN and time-window consumers (the manipulator's sliding windows, the
renderer's previous frames) see no jump; the compositing stage passes them through untouched.

The file is a plain .npz (no pickles: ``np.load(..., allow_pickle=False)`` reads it) written
atomically (a temporary file in the same folder, then ``os.replace``), so a killed server leaves
either the previous complete file or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ned_plugin.files import atomic_path
from ned_server.errors import InvalidInput
from ned_server.tracking.identities import FaceSummary

FORMAT_VERSION = 2  # 2: tracker, landmarker and the DECA detail code

TRACKER_FIT = "landmark-fit"  # FLAME fitted to the landmarks alone
TRACKER_DECA = "deca+landmark-fit"  # DECA's per-frame regression, refined by the landmark fit
N_DETAIL = 128

# name -> (dtype, shape with T for the frame count) of every per-frame array.
_PER_FRAME = {
    "frames": (np.int64, ("T",)),
    "tracked": (np.bool_, ("T",)),
    "boxes": (np.float32, ("T", 4)),
    "landmarks": (np.float32, ("T", 68, 2)),
    "expression": (np.float32, ("T", 50)),
    "pose": (np.float32, ("T", 15)),
    "camera": (np.float32, ("T", 3)),
    "expression51": (np.float32, ("T", 51)),
    "pupils": (np.float32, ("T", 2, 2)),
    "blink": (np.float32, ("T",)),
    "alignment": (np.float64, ("T", 2, 3)),
    "fit_error": (np.float32, ("T",)),
    "detail": (np.float32, ("T", N_DETAIL)),
}


@dataclass
class ShotTrack:
    """The analysis of one shot (see the module docstring for untracked frames).

    Conventions: pixel coordinates are plate pixels, OpenCV style (pixel centres at integers).
    ``pose`` is FLAME's full pose as axis-angles: global (0:3), neck (3:6), jaw (6:9), eyes (9:15).
    ``camera`` is DECA's orthographic (scale, tx, ty) in the FLAME layer's projection convention
    (ned_server.face3d). ``expression51`` is the manipulator's vector: jaw opening (pose[:, 6])
    then the 50 expression coefficients. ``pupils`` is (T, eye, xy), the actor's right eye
    (landmarks 36-41) first. ``blink`` is 0 (open) .. 1 (closed). ``alignment`` maps plate pixels
    to the ``crop_size`` aligned crop. ``fit_error`` is the mean distance in plate pixels from the
    fitted model's landmarks to the landmarks detected (or given), before any smoothing: about the
    detector's noise when the fit is right (the fit does not chase that noise), more when it is not.
    """

    frames: np.ndarray
    tracked: np.ndarray
    notes: list[str]
    face_id: int
    faces: list[FaceSummary]
    boxes: np.ndarray
    landmarks: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    camera: np.ndarray
    expression51: np.ndarray
    pupils: np.ndarray
    blink: np.ndarray
    alignment: np.ndarray
    frame_size: tuple[int, int]  # (width, height)
    crop_size: int = 256
    fit_error: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    # Which tracker ran (TRACKER_FIT or TRACKER_DECA) and which landmarks it saw ("given" for landmarks
    # from another tracker, else the landmarker's name, see tracking.landmarkers).
    tracker: str = TRACKER_FIT
    landmarker: str = ""
    # DECA's 128-d detail code per frame (E_detail), zeros without DECA: with the expression and jaw it
    # decodes (D_detail) into the UV displacement the detailed shape image is drawn with.
    detail: np.ndarray = field(default_factory=lambda: np.zeros((0, N_DETAIL), dtype=np.float32))

    def __post_init__(self) -> None:
        n = len(self.frames)
        if self.fit_error.size == 0:
            self.fit_error = np.zeros(n, dtype=np.float32)
        if self.detail.size == 0:
            self.detail = np.zeros((n, N_DETAIL), dtype=np.float32)
        for name, (dtype, shape) in _PER_FRAME.items():
            value: np.ndarray = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            expected = tuple(n if s == "T" else s for s in shape)
            if value.shape != expected:
                raise ValueError(f"ShotTrack.{name} has shape {value.shape}, expected {expected}")
            setattr(self, name, value)
        self.shape = np.ascontiguousarray(self.shape, dtype=np.float32).reshape(-1)
        if len(self.notes) != n:
            raise ValueError(f"ShotTrack.notes has {len(self.notes)} entries for {n} frames")
        self.frame_size = (int(self.frame_size[0]), int(self.frame_size[1]))

    def __len__(self) -> int:
        return len(self.frames)

    def index_of(self, frame: int) -> int:
        """Position of a frame number in the per-frame arrays."""
        hits = np.flatnonzero(self.frames == int(frame))
        if hits.size == 0:
            raise KeyError(f"frame {frame} is not in this track (frames {self.frames.min()}-{self.frames.max()})")
        return int(hits[0])

    # ------------------------------------------------------------------ file
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in _PER_FRAME}
        arrays.update(
            format_version=np.array(FORMAT_VERSION, dtype=np.int64),
            notes=np.array(self.notes, dtype=np.str_) if self.notes else np.zeros(0, dtype="<U1"),
            face_id=np.array(self.face_id, dtype=np.int64),
            shape=self.shape,
            frame_size=np.array(self.frame_size, dtype=np.int64),
            crop_size=np.array(self.crop_size, dtype=np.int64),
            tracker=np.array(self.tracker, dtype=np.str_),
            landmarker=np.array(self.landmarker, dtype=np.str_),
            face_ids=np.array([f.id for f in self.faces], dtype=np.int64),
            face_frames=np.array([f.frames for f in self.faces], dtype=np.int64),
            face_first=np.array([f.first for f in self.faces], dtype=np.int64),
            face_last=np.array([f.last for f in self.faces], dtype=np.int64),
            face_mean_size=np.array([f.mean_size for f in self.faces], dtype=np.float64),
            face_thumbnail_frame=np.array([f.thumbnail_frame for f in self.faces], dtype=np.int64),
            face_thumbnail_box=np.array([list(f.thumbnail_box) or [0.0] * 4 for f in self.faces],
                                        dtype=np.float64).reshape(-1, 4),
        )
        return arrays

    def save(self, path: str | Path) -> Path:
        """Write the .npz atomically: complete or absent, never half-written."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "xb") as fh:
            arrays: dict[str, Any] = self.to_arrays()  # Any: savez's keyword arguments are its arrays
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ShotTrack:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read the track file {path}: {exc}") from None
        version = int(arrays.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise InvalidInput(f"track file {path} has format version {version}; this server reads "
                               f"{FORMAT_VERSION}: track the shot again")
        count = len(arrays["face_ids"])
        # thumbnails came later: a track file without them still loads (no thumbnail to show)
        thumb_frames = arrays.get("face_thumbnail_frame", np.full(count, -1, np.int64))
        thumb_boxes = arrays.get("face_thumbnail_box", np.zeros((count, 4)))
        faces = [FaceSummary(id=int(i), frames=int(n), first=int(a), last=int(b), mean_size=float(s),
                             thumbnail_frame=int(tf), thumbnail_box=tuple(float(v) for v in tb) if tf >= 0 else ())
                 for i, n, a, b, s, tf, tb in zip(arrays["face_ids"], arrays["face_frames"], arrays["face_first"],
                                                  arrays["face_last"], arrays["face_mean_size"], thumb_frames,
                                                  thumb_boxes, strict=True)]
        names = {f.name for f in fields(cls)}
        kwargs = {name: arrays[name] for name in _PER_FRAME if name in names}
        return cls(notes=[str(s) for s in arrays["notes"]], face_id=int(arrays["face_id"]), faces=faces,
                   shape=arrays["shape"], frame_size=(int(arrays["frame_size"][0]), int(arrays["frame_size"][1])),
                   crop_size=int(arrays["crop_size"]), tracker=str(arrays["tracker"]),
                   landmarker=str(arrays["landmarker"]), **kwargs)
