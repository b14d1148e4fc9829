"""Cached tracking of a shot: one ShotTrack per (shot, face choice), with what it was made from.

Tracking a shot is the slow, once-per-shot part of the pipeline; changing the emotion must not
redo it. A track is kept beside the shot's frames as ``tracks/<face>.npz`` (ShotTrack's own
atomic, pickle-free file) plus ``tracks/<face>.json`` saying what it was made from: the FLAME
model, the landmark source (detector, or a digest of the landmarks another tracker sent) and the
tracking settings' version and the .npz's SHA-256. The .json is written after the .npz, and a
track is only served when both agree (the digest matches the very file read), so a server killed
mid-write, two writers of one shot interleaving, or a damaged file leave the cache complete or
absent: an unreadable track is tracked again, never an error and never another track's result.

A Track request is served from the cache when its inputs match; Manipulate and ExtractStyle take
whatever track the shot has for that face, so a shot tracked with landmarks from another tracker
keeps using them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from ned_server.errors import InvalidInput
from ned_server.runtime.store import Store, read_json, write_json


class Face(Protocol):
    id: int


class CachedTrack(Protocol):
    """What the cache needs of a track (tracking.result.ShotTrack is one): the runtime stores it
    without knowing the tracking stage, which sits above it."""

    face_id: int

    @property
    def faces(self) -> Sequence[Face]: ...

    def __len__(self) -> int: ...

    def save(self, path: str | Path) -> Path: ...


T = TypeVar("T", bound=CachedTrack)
Loader = Callable[[Path], T]

# Bump when the tracking stage's output changes meaning (3: the tracker, the landmarker and DECA's
# detail code are in the track).
TRACK_VERSION = 3


@dataclass(frozen=True)
class TrackKey:
    face_id: int | None  # None: the default choice (the largest face)
    landmarks: str  # "detector:<landmarker>" or "given:<sha256 of the landmarks>", "+deca" when DECA ran
    flame: str
    version: int = TRACK_VERSION

    @property
    def face_name(self) -> str:
        return "auto" if self.face_id is None else f"face{int(self.face_id)}"


def landmarks_digest(landmarks: Mapping[int, np.ndarray] | None) -> str:
    if not landmarks:
        return "detector"
    digest = hashlib.sha256()
    for frame in sorted(landmarks):
        digest.update(int(frame).to_bytes(8, "little", signed=True))
        digest.update(np.ascontiguousarray(landmarks[frame], dtype=np.float32).tobytes())
    return "given:" + digest.hexdigest()


def _paths(store: Store, shot_id: str, face_name: str) -> tuple[Path, Path]:
    folder = store.shot_dir(shot_id) / "tracks"
    return folder / f"{face_name}.npz", folder / f"{face_name}.json"


def load_track(store: Store, shot_id: str, key: TrackKey, load: Loader[T], exact: bool = True) -> T | None:
    """The cached track for ``key`` (``exact``: every input must match; else any track of that face
    made with the same FLAME model and version), or None."""
    npz, meta_path = _paths(store, shot_id, key.face_name)
    if not (npz.is_file() and meta_path.is_file()):
        return None
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError):
        return None
    if meta.get("flame") != key.flame or meta.get("version") != key.version:
        return None
    if exact and meta.get("landmarks") != key.landmarks:
        return None
    try:
        before = npz.stat()
        digest = _sha256(npz)
        track = load(npz)
        after = npz.stat()
    except (InvalidInput, OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # damaged or unreadable: absent, so the shot is tracked again
    if (before.st_ino, before.st_mtime_ns) != (after.st_ino, after.st_mtime_ns):
        return None  # replaced while being read
    if meta.get("sha256", digest) != digest or meta.get("frames") != len(track):
        return None  # .json of another .npz: a write was interrupted between the two, or two interleaved
    return track


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_track(store: Store, shot_id: str, key: TrackKey, track: CachedTrack) -> None:
    npz, meta_path = _paths(store, shot_id, key.face_name)
    meta_path.unlink(missing_ok=True)  # no stale description survives a new .npz
    # Hash the file this call wrote, not whatever lies at ``npz`` by then (another writer's).
    staged = track.save(npz.with_name(f".{npz.name}.{uuid.uuid4().hex}.tmp"))
    try:
        digest = _sha256(staged)
        os.replace(staged, npz)
    finally:
        staged.unlink(missing_ok=True)
    write_json(meta_path, {**asdict(key), "frames": len(track), "chosen_face": track.face_id, "sha256": digest})


def any_track(store: Store, shot_id: str, face_id: int | None, flame: str, load: Loader[T]) -> T | None:
    """Whatever track the shot has for this face choice (made from any landmark source); for an
    explicit face id, also the default track when the face it chose is that one."""
    track = load_track(store, shot_id, TrackKey(face_id, "", flame), load, exact=False)
    if track is None and face_id is not None:
        default = load_track(store, shot_id, TrackKey(None, "", flame), load, exact=False)
        if default is not None and default.face_id == face_id:
            return default
    return track


def known_faces(store: Store, shot_id: str, flame: str, load: Loader[T]) -> list[int] | None:
    """The face ids the shot's default track found, or None when the shot has no track yet."""
    default = load_track(store, shot_id, TrackKey(None, "", flame), load, exact=False)
    return None if default is None else [f.id for f in default.faces]
