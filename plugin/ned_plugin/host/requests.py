"""What a node asks of the server: settings built from its controls, and the calls that send them.

``manipulate_settings`` and ``track_settings`` turn a snapshot of the controls into the ``pb``
messages; ``track_shot``, ``train_actor`` and ``server_info`` make the calls (on a worker thread).
The Manipulate call itself, which writes plates, is in ``plates``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..client import (
    CallCancelled,
    CancelToken,
    ConnectionSettings,
    NedClient,
    NedClientError,
    ProgressCallback,
    TrackResult,
    progress_info,
)
from ..landmarks_io import LandmarkFileError, read_landmarks
from ..sequence import SequenceError, output_frames
from ..slider_keys import SLIDER_GROUP, slider_curves
from ..wire import pb
from .controls import PARAMETER_TARGETS, KnobSpec, ValueSource, control_value
from .keys import emotion_control
from .messages import HostError
from .plates import read_frames


def _set_path(message: object, path: str, value: object) -> None:
    *parents, last = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, last, value)


def manipulate_settings(specs: Sequence[KnobSpec], source: ValueSource, *, first: int, last: int,
                        shot_id: str = "", actor_id: str, face_id: int | None = None, input_space: str = "",
                        reference_style: Sequence[float] = (), colour_config: str = "",
                        frames: Sequence[int] = ()) -> pb.ManipulateSettings:
    """A complete ManipulateSettings from a node's controls, for frames first..last.

    ``frames``: the frames wanted out of first..last when not all of them (a frames field like
    ``1001-1100x2``); the server still runs every frame of the range for temporal context and
    returns plates of these only. Empty: every frame.
    """
    if not actor_id:
        raise HostError("no actor is chosen: pick a trained actor (train one with 'Train actor' first)")
    if last < first:
        raise HostError(f"the frame range {first}-{last} is empty: the last frame comes before the first")
    try:
        wanted = output_frames(frames, first, last)
    except SequenceError as exc:
        raise HostError(str(exc)) from None
    settings = pb.ManipulateSettings(shot_id=shot_id, actor_id=actor_id,
                                     colour=pb.ColourSettings(config=colour_config, input_space=input_space))
    settings.emotion.CopyFrom(emotion_control(specs, source, first, last, reference_style))
    for spec in specs:
        target = PARAMETER_TARGETS.get(spec.name)
        if target and not target[1].startswith("emotion."):
            _set_path(settings, target[1], control_value(spec, source))
    settings.sliders.extend(slider_curves([(s.name, s.default) for s in specs if s.group == SLIDER_GROUP], source,
                                          first, last))
    settings.range.first, settings.range.last = first, last
    settings.output_frames[:] = wanted
    if face_id is not None and face_id >= 0:
        settings.face_id = face_id
    return settings


def track_settings(shot_id: str = "", face_id: int | None = None, input_space: str = "",
                   force: bool = False, landmarks_file: str = "", colour_config: str = "") -> pb.TrackSettings:
    """``landmarks_file``: 68-point landmarks exported by another tracker (JSON or CSV, see
    ned_plugin.landmarks_io), sent instead of running the server's landmark detector."""
    colour = pb.ColourSettings(config=colour_config, input_space=input_space)
    settings = pb.TrackSettings(shot_id=shot_id, colour=colour, force=force)
    if face_id is not None and face_id >= 0:
        settings.face_id = face_id
    if landmarks_file:
        try:
            landmarks = read_landmarks(landmarks_file)
        except (OSError, LandmarkFileError) as exc:
            raise HostError(f"cannot read the landmarks file {landmarks_file}: {exc}") from None
        for frame, points in sorted(landmarks.items()):
            settings.landmarks.add(frame=int(frame), points=[float(v) for v in points.reshape(-1)])
    return settings


@dataclass
class TrackJob:
    connection: ConnectionSettings
    settings: pb.TrackSettings
    frames: list[tuple[int, Path]]


def track_shot(job: TrackJob, on_progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None) -> TrackResult:
    if not job.frames:
        raise HostError("there are no input frames to track")
    cancel = cancel or CancelToken()
    settings = pb.TrackSettings()
    settings.CopyFrom(job.settings)
    settings.frame_count = len(job.frames)
    with NedClient(job.connection) as client:
        result = client.track(read_frames(job.frames, cancel), settings, on_progress, cancel)
    if cancel.cancelled:
        raise CallCancelled("cancelled: stopped by the artist", "CANCELLED")
    return result


def track_summary(result: TrackResult) -> str:
    s = result.summary
    text = (f"shot {s.shot_id}: {s.tracked_frames}/{s.frame_count} frames tracked, face {s.face_id}"
            f"{' (from cache)' if s.from_cache else ''}")
    if len(s.faces) > 1:
        text += "; faces: " + ", ".join(f"{f.face_id} ({f.frames} frames)" for f in s.faces)
    return text


def train_actor(connection: ConnectionSettings, request: pb.TrainActorRequest,
                on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> pb.JobInfo:
    """Train an actor and follow it; a cancel from the artist also cancels the job on the server."""
    if not request.actor_id:
        raise HostError("name the actor to train")
    if not request.shot_ids and not request.resume:
        raise HostError("training needs a tracked shot: press 'Track' first")
    job_id = ""

    def forward(update: pb.JobProgress) -> None:
        nonlocal job_id
        job_id = update.job.job_id or job_id
        if on_progress:
            info = progress_info(update.progress)
            info.job_id = info.job_id or job_id
            on_progress(info)

    with NedClient(connection) as client:
        try:
            job = client.train_actor(request, forward, cancel)
        except CallCancelled:
            if job_id:
                # the job may have ended meanwhile; the artist's cancel still stands
                with contextlib.suppress(NedClientError):
                    client.cancel_job(job_id)
            raise
    if job.state == pb.JOB_STATE_FAILED:
        raise NedClientError(f"training {request.actor_id} failed: {job.message}", "ABORTED")
    if job.state == pb.JOB_STATE_CANCELLED:
        raise CallCancelled(f"training {request.actor_id} was cancelled on the server", "CANCELLED")
    return job


def server_info(connection: ConnectionSettings) -> pb.ServerInfo:
    with NedClient(connection) as client:
        return client.info()
