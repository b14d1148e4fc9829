"""Receiving a shot: check every one, keep the bytes on disk, name the shot.

Every frame is decoded once on arrival so that a corrupt, truncated, NaN-filled or wrongly sized
plate is refused with a message naming it before any work starts, rather than failing an hour into
a render. Only the encoded bytes are kept (in the store, not in memory), so a 4K shot of a thousand
frames costs disk, not RAM. The shot appears in the store in one atomic rename, complete or not at
all; re-sending identical frames finds the existing shot by its content hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ned_plugin.exr import FrameError, Window, decode_exr
from ned_server.errors import InvalidInput
from ned_server.runtime.limits import LimitsConfig
from ned_server.runtime.store import Store, check_id, read_json, write_json

RGB = ("R", "G", "B")
INCOMING_PREFIX = ".incoming-"


@dataclass
class ShotFrame:
    frame: int
    file: str  # relative to the shot folder
    size: int
    data_window: tuple[int, int, int, int]


@dataclass
class Shot:
    shot_id: str
    content_hash: str
    display_window: tuple[int, int, int, int]
    frames: list[ShotFrame] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    @property
    def frame_numbers(self) -> list[int]:
        return [f.frame for f in self.frames]

    def path(self, store: Store, frame: int) -> Path:
        for f in self.frames:
            if f.frame == frame:
                return store.shot_dir(self.shot_id) / f.file
        raise InvalidInput(f"shot {self.shot_id!r} has no frame {frame}")

    def save(self, folder: Path) -> None:
        write_json(folder / "shot.json", asdict(self))

    @classmethod
    def load(cls, folder: Path) -> Shot:
        raw = read_json(folder / "shot.json")
        raw["frames"] = [ShotFrame(**{**f, "data_window": tuple(f["data_window"])}) for f in raw["frames"]]
        raw["display_window"] = tuple(raw["display_window"])
        return cls(**raw)


def _window(w: Window) -> tuple[int, int, int, int]:
    return (w.x, w.y, w.width, w.height)


# Striped, so the locks stay a fixed handful however many shots a long-running server sees.
_PUBLISH_LOCKS = tuple(threading.Lock() for _ in range(64))


@contextmanager
def _publishing(store: Store, shot_id: str) -> Iterator[None]:
    """One shot id is published by one request at a time: two clients sending the same shot at once
    (farm chunks of one shot) must both find or make it, not race each other's renames."""
    with _PUBLISH_LOCKS[hash((str(store.root), shot_id)) % len(_PUBLISH_LOCKS)]:
        yield


def sweep_incoming(store: Store) -> None:
    """Remove half-received shots left by a killed server: they were never visible as shots."""
    for path in (store.root / "shots").glob(INCOMING_PREFIX + "*"):
        shutil.rmtree(path, ignore_errors=True)


def receive_shot(
    store: Store,
    frames: Iterable[tuple[int, bytes]],
    limits: LimitsConfig,
    shot_id: str = "",
    on_frame: Callable[[int, int], None] = lambda received, frame: None,
    cancelled: Callable[[], bool] = lambda: False,
    announced: int = 0,
) -> Shot | None:
    """Store the streamed frames as a shot and return it; None when no frame was sent at all (or
    the caller went away).

    ``announced``: the frame count the client said it would send (0: not said). A stream that ends
    short of it was cut (a client killed mid-upload can end its stream as if it were done), and a
    partial shot must never be published under the client's shot id.
    """
    if shot_id:
        check_id("shot", shot_id)
    staging = store.root / "shots" / f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
    (staging / "frames").mkdir(parents=True)
    try:
        shot = _receive_into(staging, frames, limits, on_frame, cancelled)
        if shot is None or cancelled():
            return None
        if 0 < len(shot.frames) < announced:
            raise InvalidInput(f"the stream ended after {len(shot.frames)} of the {announced} frames the request "
                               "announced (frame_count): the client stopped or lost its connection; send the shot "
                               "again")
        shot.shot_id = shot_id or f"shot-{shot.content_hash[:16]}"
        final = store.shot_dir(shot.shot_id)
        with _publishing(store, shot.shot_id):
            if (final / "shot.json").is_file() and Shot.load(final).content_hash == shot.content_hash:
                return Shot.load(final)  # same frames again: keep the shot and its cached tracking
            shot.save(staging)
            if final.exists():
                trash = final.with_name(f"{INCOMING_PREFIX}old-{uuid.uuid4().hex}")
                os.replace(final, trash)
                os.replace(staging, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(staging, final)
        return shot
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _receive_into(
    staging: Path,
    received: Iterable[tuple[int, bytes]],
    limits: LimitsConfig,
    on_frame: Callable[[int, int], None],
    cancelled: Callable[[], bool],
) -> Shot | None:
    digest = hashlib.sha256()
    frames: list[ShotFrame] = []
    display: Window | None = None
    first_label = ""
    for number, data in received:
        if cancelled():
            return None
        label = f"frame {number}"
        if len(frames) >= limits.max_shot_frames:
            raise InvalidInput(f"{label}: the shot has more than {limits.max_shot_frames} frames; split it")
        try:
            frame = decode_exr(data, label=label, require=RGB)
        except FrameError as exc:
            raise InvalidInput(str(exc)) from None
        if frame.display_window.width * frame.display_window.height > limits.max_frame_pixels:
            raise InvalidInput(
                f"{label}: {frame.display_window.width}x{frame.display_window.height} is larger than "
                f"the server's limit of {limits.max_frame_pixels} pixels"
            )
        if display is None:
            display, first_label = frame.display_window, label
        elif frame.display_window != display:
            raise InvalidInput(
                f"{label}: frame size {frame.display_window.width}x{frame.display_window.height} differs "
                f"from {first_label} ({display.width}x{display.height}); every frame of a shot must match"
            )
        name = f"frames/{number}.exr"
        (staging / name).write_bytes(data)
        digest.update(number.to_bytes(8, "little", signed=True))
        digest.update(data)
        frames.append(ShotFrame(number, name, len(data), _window(frame.data_window)))
        on_frame(len(frames), number)
    if not frames or display is None:
        return None
    frames.sort(key=lambda f: f.frame)
    return Shot(shot_id="", content_hash=digest.hexdigest(), display_window=_window(display), frames=frames)
