"""Tracking a stored shot, once: the cache in front of ``tracking.track_shot``.

Every RPC that needs a shot's 3D face (Track, Manipulate, ExtractStyle, TrainActor) comes here.
A cached track made from the same inputs is returned at once; otherwise the plates are read one at
a time from the store, converted to the networks' sRGB, tracked on the device, and the result is
cached before it is returned (atomically: see ``track_cache``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ned_server.errors import InvalidInput, NotFound
from ned_server.orchestration.models import Models
from ned_server.runtime.intake import Shot
from ned_server.runtime.shot_frames import ShotColour, network_frames
from ned_server.runtime.store import Store
from ned_server.runtime.track_cache import TrackKey, any_track, known_faces, landmarks_digest, load_track, save_track
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.result import ShotTrack
from ned_server.tracking.track import track_shot

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class TrackOutcome:
    track: ShotTrack
    from_cache: bool


def check_given_landmarks(shot: Shot, landmarks: Mapping[int, np.ndarray] | None) -> dict[int, np.ndarray] | None:
    """The given landmarks of this shot's frames.

    A landmarks file usually covers a whole sequence while a shot tracks a part of it (``ned track
    --frames 1601-1720 --landmarks all.json``), so frames outside the shot are left out. Only when
    none of them is a frame of the shot is it refused: a frame offset typo would otherwise silently
    leave the whole shot untracked.
    """
    if not landmarks:
        return None
    known = set(shot.frame_numbers)
    inside = {int(f): p for f, p in landmarks.items() if int(f) in known}
    if not inside:
        given = sorted(int(f) for f in landmarks)
        raise InvalidInput(f"none of the landmarks given (frames {given[0]}-{given[-1]}, {len(given)} frames) is "
                           f"for a frame of shot {shot.shot_id!r} (its frames: {shot.frame_numbers[0]}-"
                           f"{shot.frame_numbers[-1]}): check the frame numbers or offset of the landmarks file")
    return inside


def track_key(models: Models, face_id: int | None, landmarks: Mapping[int, np.ndarray] | None,
              config: TrackingConfig | None = None) -> TrackKey:
    """What a track is made from; the landmarker and whether DECA ran are part of it, so installing
    FAN's weights or DECA's file makes the next Track redo the shot."""
    source = landmarks_digest(landmarks)
    if not landmarks and config is not None:
        source = f"{source}:{models.landmarker(config).name}"
    if "deca" in models.deca_files():
        source += "+deca"
    return TrackKey(face_id=face_id, landmarks=source, flame=models.flame_identity())


def cached_track(store: Store, models: Models, shot: Shot, face_id: int | None) -> ShotTrack | None:
    """Any track the shot already has for this face (Manipulate and ExtractStyle reuse it)."""
    return any_track(store, shot.shot_id, face_id, models.flame_identity(), ShotTrack.load)


def track_stored_shot(
    store: Store,
    models: Models,
    shot: Shot,
    config: TrackingConfig,
    colour: ShotColour,
    *,
    face_id: int | None = None,
    landmarks: Mapping[int, np.ndarray] | None = None,
    force: bool = False,
    reuse_any: bool = False,
    progress: Progress = _no_progress,
    cancelled: Callable[[], bool] = _never,
) -> TrackOutcome:
    """The shot's track for this face choice; from the cache unless ``force``.

    ``reuse_any``: accept a cached track made from other landmarks (Manipulate's view: the shot
    was tracked, whichever way). Raises what ``track_shot`` raises (InvalidInput, NotFound,
    Precondition, Cancelled).
    """
    landmarks = check_given_landmarks(shot, landmarks)
    key = track_key(models, face_id, landmarks, config)
    if not force:
        cached = load_track(store, shot.shot_id, key, ShotTrack.load)
        if cached is None and reuse_any and not landmarks:
            cached = cached_track(store, models, shot, face_id)
            faces = (known_faces(store, shot.shot_id, models.flame_identity(), ShotTrack.load)
                     if face_id is not None else None)
            if cached is None and faces is not None and face_id not in faces:
                raise NotFound(f"face id {face_id} is not in shot {shot.shot_id!r}; Track found the faces "
                               f"{', '.join(map(str, faces))}")
        if cached is not None:
            return TrackOutcome(cached, from_cache=True)

    detector = None if landmarks else models.detector(config)
    frames = _Sized(network_frames(store, shot, colour), len(shot.frames))
    track = track_shot(frames, models.flame(), config, landmarks=dict(landmarks) if landmarks else None,
                       face_id=face_id, detector=detector, deca=models.deca(), device=models.device, progress=progress,
                       cancelled=cancelled)
    save_track(store, shot.shot_id, key, track)
    return TrackOutcome(track, from_cache=False)


class _Sized:
    """An iterator that knows its length, so the tracker can report progress as a fraction."""

    def __init__(self, it, n: int) -> None:
        self._it, self._n = it, n

    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        return iter(self._it)
