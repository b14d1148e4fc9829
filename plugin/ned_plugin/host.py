"""What every host node (Nuke, Blender) does the same way, kept free of any host's API.

A node's life is: ask the server what it offers (GetInfo) and build its controls from that; on a
button, read the controls in the UI thread into plain requests (``pb`` messages, paths); run the
request in a background thread that streams frames and writes plates, reporting progress and
honouring a cancel; back in the UI thread, show the result or a message the artist can act on.
Only the first and last steps touch the host, so everything here is tested without one.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .client import (
    AuthenticationFailed,
    CallCancelled,
    CancelToken,
    ConnectionSettings,
    NedClient,
    NedClientError,
    ProgressCallback,
    ProgressInfo,
    ServerBusy,
    ServerUnreachable,
    TrackResult,
    progress_info,
)
from .wire import pb

FrameFiles = Sequence[tuple[int, Path]]


class HostError(ValueError):
    """Bad input found on the host side (no frames, a missing file, an unset actor...)."""


# ============================================================================ controls from GetInfo
@dataclass(frozen=True)
class KnobSpec:
    """One control a node shows, described host-neutrally; Nuke makes a knob of it, Blender a property."""

    name: str
    label: str
    kind: str  # "float", "int" or "enum"
    minimum: float = 0.0
    maximum: float = 1.0
    default: float = 0.0
    choices: tuple[str, ...] = ()
    default_choice: str = ""
    animatable: bool = False
    tooltip: str = ""
    group: str = "emotion"  # "emotion", "mix", "matte" or "output": where the node puts it


# Server parameter -> (control kind, where its value goes in ManipulateSettings, label, group).
# Ranges, defaults, choices and descriptions come from GetInfo; this table only routes the value,
# which the node has to know anyway to fill the request. A parameter a newer server adds but this
# table lacks is not shown (it could not be sent); one this server lacks is not shown either.
PARAMETER_TARGETS: dict[str, tuple[str, str, str, str]] = {
    "emotion": ("enum", "emotion.emotion", "emotion", "emotion"),
    "intensity": ("float", "emotion.intensity", "intensity", "emotion"),
    "speech_preservation": ("float", "emotion.speech_preservation", "speech preservation", "emotion"),
    "seed": ("int", "emotion.seed", "seed", "emotion"),
    "blend_method": ("enum", "blend.method", "blend", "matte"),
    "blend_levels": ("int", "blend.levels", "blend levels", "matte"),
    "matte_erode": ("float", "blend.erode", "matte erode", "matte"),
    "matte_feather": ("float", "blend.feather", "matte feather", "matte"),
    "preroll": ("int", "preroll", "preroll", "output"),
    "compression": ("enum", "output.compression", "compression", "output"),
    "pixel_type": ("enum", "output.pixel_type", "pixel type", "output"),
}
# Only what an EmotionKey can carry changes over a shot; everything else is read once.
KEYED = frozenset({"intensity"})
MIX_PREFIX = "mix_"


def mix_knob(emotion: str) -> str:
    return MIX_PREFIX + re.sub(r"\W", "_", emotion)


def knob_specs(info: pb.ServerInfo) -> list[KnobSpec]:
    """The node's controls for this server: its parameters, then one mix weight per emotion."""
    specs: list[KnobSpec] = []
    for prm in info.parameters:
        target = PARAMETER_TARGETS.get(prm.name)
        if target is None:
            continue
        kind, _, label, group = target
        choices = tuple(prm.choices)
        if prm.name == "emotion" and info.emotions:
            choices = tuple(info.emotions)
        if kind == "enum" and not choices:
            continue
        default_choice = prm.default_choice if prm.default_choice in choices else (choices[0] if choices else "")
        specs.append(KnobSpec(
            name=prm.name, label=label, kind=kind, minimum=prm.minimum, maximum=prm.maximum,
            default=prm.default_value, choices=choices, default_choice=default_choice,
            animatable=prm.name in KEYED and prm.animatable, tooltip=prm.description, group=group,
        ))
    for emotion in info.emotions:
        specs.append(KnobSpec(
            name=mix_knob(emotion), label=emotion, kind="float", minimum=0.0, maximum=1.0, default=0.0,
            animatable=True, group="mix",
            tooltip=f"weight of '{emotion}' in an emotion mix; when any weight is above 0 the mix "
                    "replaces the single emotion",
        ))
    return specs


def actor_choices(info: pb.ServerInfo | Iterable[pb.ActorInfo]) -> list[tuple[str, str]]:
    """(actor id, label) for an actor menu: ready actors first, untrained ones marked."""
    actors = list(info.actors) if isinstance(info, pb.ServerInfo) else list(info)
    actors.sort(key=lambda a: (not a.ready, a.actor_id))
    return [(a.actor_id, a.actor_id if a.ready else f"{a.actor_id} (not trained)") for a in actors]


def server_summary(info: pb.ServerInfo) -> str:
    ready = sum(1 for a in info.actors if a.ready)
    missing = [r.name for r in info.rpcs if not r.available]
    text = f"NED {info.version} on {info.device or '?'}: {len(info.emotions)} emotions, {ready} trained actor(s)"
    if missing:
        text += "; not available here: " + ", ".join(missing)
    return text


# ============================================================================ reading the controls
class ValueSource(Protocol):
    """How the host layer reads a node's controls (a Nuke node, a Blender property group)."""

    def value(self, name: str) -> Any: ...

    def is_animated(self, name: str) -> bool: ...

    def value_at(self, name: str, frame: int) -> float: ...


@dataclass
class SnapshotValues:
    """A node's control values read once in the UI thread, so a worker thread can use them safely.

    ``curves`` holds the per-frame values of animated controls over the frames that were sampled;
    a control missing from ``values`` (a node made before it connected) takes the server's default.
    """

    values: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        return self.values[name]

    def is_animated(self, name: str) -> bool:
        return bool(self.curves.get(name))

    def value_at(self, name: str, frame: int) -> float:
        curve = self.curves[name]
        if frame in curve:
            return curve[frame]
        nearest = min(curve, key=lambda f: abs(f - frame))
        return curve[nearest]


def take_snapshot(source: ValueSource, names: Iterable[str], first: int, last: int) -> SnapshotValues:
    """Read every named control that exists; sample the animated ones over first..last."""
    snap = SnapshotValues()
    for name in names:
        try:
            snap.values[name] = source.value(name)
        except KeyError:
            continue
        if source.is_animated(name):
            snap.curves[name] = {f: float(source.value_at(name, f)) for f in range(first, last + 1)}
    return snap


def _value(spec: KnobSpec, source: ValueSource) -> Any:
    try:
        raw = source.value(spec.name)
    except KeyError:
        raw = spec.default_choice if spec.kind == "enum" else spec.default
    return _coerce(spec, raw)


def _coerce(spec: KnobSpec, raw: Any) -> Any:
    if spec.kind == "enum":
        text = str(raw)
        if text not in spec.choices:
            raise HostError(f"{spec.label} is {text!r}, which this server does not offer: "
                            f"pick one of {', '.join(spec.choices)}")
        return text
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise HostError(f"{spec.label} must be a number, got {raw!r}") from None
    if spec.kind == "int":
        return round(number)
    return number


def _set_path(message: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, last, value)


@dataclass(frozen=True)
class _Sample:
    frame: int
    intensity: float | None
    mix: dict[str, float]


def reduce_keys(samples: Sequence[_Sample], tolerance: float = 1e-4) -> list[_Sample]:
    """The fewest samples from which straight lines rebuild every sample within ``tolerance``.

    Keys at every frame would be exact but bulky. Walking from the last kept key, a sample is
    dropped while the line from that key to the next sample passes within ``tolerance`` of every
    sample in between; so constant and linear stretches keep their two ends, and a slow ease is
    never flattened into one line (the error is measured against the real samples, not locally).
    """
    if len(samples) <= 2:
        return list(samples)
    import numpy as np

    names = sorted(samples[0].mix)
    values = np.array([[s.intensity if s.intensity is not None else 0.0, *(s.mix[k] for k in names)]
                       for s in samples], np.float64)
    frames = np.array([s.frame for s in samples], np.float64)
    kept = [0]
    for end in range(2, len(samples)):
        anchor = kept[-1]
        t = (frames[anchor + 1:end] - frames[anchor]) / (frames[end] - frames[anchor])
        line = values[anchor] + (values[end] - values[anchor]) * t[:, None]
        if np.abs(line - values[anchor + 1:end]).max() > tolerance:
            kept.append(end - 1)
    kept.append(len(samples) - 1)
    return [samples[i] for i in kept]


def emotion_control(specs: Sequence[KnobSpec], source: ValueSource, first: int, last: int,
                    reference_style: Sequence[float] = ()) -> pb.EmotionControl:
    """The EmotionControl for frames first..last: constant values, or keys where the controls are animated.

    Mix weights: when any weight is above zero anywhere in the range, the mix is sent (every
    emotion weighted anywhere, so keys agree on which emotions they mix); otherwise the single
    emotion. Animated intensity or mix weights become EmotionKeys at the frames where a curve bends.
    """
    by_name = {s.name: s for s in specs}
    control = pb.EmotionControl()
    for spec in specs:
        target = PARAMETER_TARGETS.get(spec.name)
        if target and target[1].startswith("emotion."):
            _set_path(control, target[1].removeprefix("emotion."), _value(spec, source))
    if reference_style:
        control.reference_style.extend(float(v) for v in reference_style)
    mix_specs = [s for s in specs if s.group == "mix"]
    frames = range(first, last + 1)

    def sample(name: str, frame: int) -> float:
        if source.is_animated(name):
            return float(source.value_at(name, frame))
        return float(_value(by_name[name], source))

    mixed = [s for s in mix_specs
             if any(sample(s.name, f) > 0 for f in (frames if source.is_animated(s.name) else (first,)))]
    intensity_animated = "intensity" in by_name and source.is_animated("intensity")
    mix_animated = any(source.is_animated(s.name) for s in mixed)
    if not intensity_animated and not mix_animated:
        if mixed:
            control.mix.update({s.label: sample(s.name, first) for s in mixed})
        return control
    samples = [
        _Sample(frame, sample("intensity", frame) if "intensity" in by_name else None,
                {s.label: sample(s.name, frame) for s in mixed})
        for frame in frames
    ]
    for s in reduce_keys(samples):
        key = control.keys.add(frame=s.frame, emotion=control.emotion)
        key.mix.update(s.mix)
        if s.intensity is not None:
            key.intensity = s.intensity
    if mixed:
        control.mix.update(samples[0].mix)
    return control


def manipulate_settings(specs: Sequence[KnobSpec], source: ValueSource, *, first: int, last: int,
                        shot_id: str = "", actor_id: str, face_id: int | None = None, input_space: str = "",
                        reference_style: Sequence[float] = (), colour_config: str = "") -> pb.ManipulateSettings:
    """A complete ManipulateSettings from a node's controls, for frames first..last."""
    if not actor_id:
        raise HostError("no actor is chosen: pick a trained actor (train one with 'Train actor' first)")
    if last < first:
        raise HostError(f"the frame range {first}-{last} is empty: the last frame comes before the first")
    settings = pb.ManipulateSettings(shot_id=shot_id, actor_id=actor_id,
                                     colour=pb.ColourSettings(config=colour_config, input_space=input_space))
    settings.emotion.CopyFrom(emotion_control(specs, source, first, last, reference_style))
    for spec in specs:
        target = PARAMETER_TARGETS.get(spec.name)
        if target and not target[1].startswith("emotion."):
            _set_path(settings, target[1], _value(spec, source))
    settings.range.first, settings.range.last = first, last
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
        from .landmarks_io import LandmarkFileError, read_landmarks

        try:
            landmarks = read_landmarks(landmarks_file)
        except (OSError, LandmarkFileError) as exc:
            raise HostError(f"cannot read the landmarks file {landmarks_file}: {exc}") from None
        for frame, points in sorted(landmarks.items()):
            settings.landmarks.add(frame=int(frame), points=[float(v) for v in points.reshape(-1)])
    return settings


# ============================================================================ frames and plates
def frame_files(pattern: str, first: int, last: int) -> list[tuple[int, Path]]:
    """The files of an image sequence for first..last that exist; a clear error when none do."""
    from .sequence import expand_pattern

    files = [(n, Path(expand_pattern(pattern, n))) for n in range(first, last + 1)]
    found = [(n, p) for n, p in files if p.is_file()]
    if not found:
        raise HostError(f"no frames of {pattern} exist between {first} and {last} "
                        f"(looked for {files[0][1] if files else pattern})")
    return found


def read_frames(files: FrameFiles, cancel: CancelToken | None = None) -> Iterator[tuple[int, bytes]]:
    for number, path in files:
        if cancel is not None and cancel.cancelled:
            return
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise HostError(f"cannot read frame {number} ({path}): {exc.strerror or exc}") from None
        yield number, data


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a Read never sees half a plate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _full_frame(exr: bytes, label: str, matte_only: bool) -> bytes:
    import numpy as np

    from .exr import Frame, decode_exr, encode_exr

    frame = decode_exr(exr, label=label)
    full = frame.full_frame()
    channels = tuple(frame.channels)
    if matte_only:
        name = "matte.Y" if "matte.Y" in channels else "A"
        matte = full[..., channels.index(name)] if name in channels else np.ones(full.shape[:2], full.dtype)
        full = np.stack([matte, matte, matte, np.ones_like(matte)], axis=-1)
        channels = ("R", "G", "B", "A")
    window = frame.display_window
    out = Frame(full, channels, window, window, dict(frame.metadata), label=label)
    return encode_exr(out, compression="zip", pixel_type="float" if full.dtype == np.float32 else "half")


def uncrop_plate(exr: bytes, label: str = "plate") -> bytes:
    """The plate padded to its display window, for hosts that ignore EXR data windows."""
    return _full_frame(exr, label, matte_only=False)


def matte_image(exr: bytes, label: str = "plate") -> bytes:
    """The plate's matte layer as a full-frame grey RGBA image, for hosts that take masks as images."""
    return _full_frame(exr, label, matte_only=True)


# ============================================================================ the work itself
@dataclass
class RenderJob:
    connection: ConnectionSettings
    settings: pb.ManipulateSettings
    # Every plate frame available: the range and, where they exist, preroll frames before it.
    frames: list[tuple[int, Path]]
    output: str  # the plates' sequence pattern (####, %04d, $F4 or @)
    # Try the server's cached shot first (settings.shot_id) and send frames only if it is not there.
    use_cache: bool = False
    reference_clip: list[tuple[int, Path]] = field(default_factory=list)
    full_frame: bool = False  # pad plates to the display window (Blender)
    matte_output: str = ""  # also write the matte as a sequence here (Blender)


@dataclass
class RenderResult:
    output: str
    files: list[tuple[int, Path]]
    tracked: int
    untracked: list[tuple[int, str]]
    matte_files: list[tuple[int, Path]] = field(default_factory=list)
    qc: pb.QcReport | None = None  # the server's QC report of the shot (ned_server.composite.qc)
    qc_files: list[Path] = field(default_factory=list)  # where it was written (qc_files.write_report)

    @property
    def qc_warnings(self) -> list[str]:
        """The messages of the QC checks that warn (empty when all pass or there is no report)."""
        return [c.message for c in self.qc.checks if not c.passed] if self.qc is not None else []

    @property
    def speech_warning(self) -> str:
        """The speech-preservation warning, or "" when the edited mouth follows the original's."""
        if self.qc is None:
            return ""
        return next((c.message for c in self.qc.checks if c.name == "speech_correlation" and not c.passed), "")

    @property
    def first(self) -> int:
        return self.files[0][0]

    @property
    def last(self) -> int:
        return self.files[-1][0]

    def summary(self) -> str:
        text = f"{len(self.files)} plates written ({self.tracked} with a face)"
        if self.untracked:
            frames = ", ".join(str(f) for f, _ in self.untracked[:8]) + ("..." if len(self.untracked) > 8 else "")
            text += f"; no face on frame(s) {frames}: {self.untracked[0][1] or 'untracked'}"
        if self.qc is not None:
            text += f"; {self.qc.summary}"
        return text


@dataclass
class TrackJob:
    connection: ConnectionSettings
    settings: pb.TrackSettings
    frames: list[tuple[int, Path]]


def _frames_to_send(job: RenderJob) -> list[tuple[int, Path]]:
    rng = job.settings.range
    preroll = job.settings.preroll if job.settings.HasField("preroll") else 0
    lo = rng.first - max(preroll, 0) if rng.first or rng.last else None
    hi = rng.last if rng.first or rng.last else None
    return [(n, p) for n, p in job.frames if (lo is None or n >= lo) and (hi is None or n <= hi)]


def render_shot(job: RenderJob, on_progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> RenderResult:
    """Manipulate a shot and write its plates (and mattes); raises NedClientError/HostError/OSError."""
    from .batch import empty_plate
    from .sequence import expand_pattern

    cancel = cancel or CancelToken()
    settings = pb.ManipulateSettings()
    settings.CopyFrom(job.settings)
    with NedClient(job.connection) as client:
        if job.reference_clip:
            if on_progress:
                on_progress(ProgressInfo("style", 0, 1, "reading the reference clip's style"))
            style_settings = pb.ExtractStyleSettings(colour=settings.colour, frame_count=len(job.reference_clip))
            reply = client.extract_style(style_settings, read_frames(job.reference_clip, cancel), cancel)
            settings.emotion.reference_style[:] = list(reply.style)
        sending = _frames_to_send(job)
        attempts = [False, True] if job.use_cache and settings.shot_id else [True]
        for send in attempts:
            if not send:
                settings.frame_count = 0
                frames: Iterable[tuple[int, bytes]] = ()
            else:
                if not sending:
                    raise HostError("there are no input frames to send for the frame range "
                                    f"{settings.range.first}-{settings.range.last}")
                settings.frame_count = len(sending)
                frames = read_frames(sending, cancel)
            result = RenderResult(job.output, [], 0, [])

            def keep_qc(summary: pb.ManipulateSummary, result: RenderResult = result) -> None:
                if summary.HasField("qc"):
                    result.qc = summary.qc

            try:
                for plate in client.manipulate(settings, frames, on_progress, cancel, on_summary=keep_qc):
                    h = plate.header
                    out = Path(expand_pattern(job.output, h.frame))
                    if h.tracked:
                        data = uncrop_plate(plate.exr, f"frame {h.frame}") if job.full_frame else plate.exr
                        result.tracked += 1
                    else:
                        data = empty_plate(h.display_window)
                        if job.full_frame:
                            data = uncrop_plate(data, f"frame {h.frame}")
                        result.untracked.append((h.frame, h.note))
                    write_atomic(out, data)
                    result.files.append((h.frame, out))
                    if job.matte_output:
                        mout = Path(expand_pattern(job.matte_output, h.frame))
                        write_atomic(mout, matte_image(data, f"frame {h.frame}"))
                        result.matte_files.append((h.frame, mout))
            except NedClientError as exc:
                # The cache was cleared (server restarted, shot evicted): send the frames after all.
                if not send and exc.code == "NOT_FOUND" and not result.files:
                    continue
                raise
            if cancel.cancelled:
                raise CallCancelled("cancelled: stopped by the artist", "CANCELLED")
            if not result.files:
                raise HostError("the server returned no plates for this frame range")
            if result.qc is not None:
                from .qc_files import write_report

                result.qc_files = write_report(result.qc, job.output, (result.first, result.last))
            return result
    raise AssertionError("unreachable")


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


# ============================================================================ messages for artists
def artist_message(exc: BaseException, action: str = "the NED request", settings_hint: str = "the node") -> str:
    """A message that says what went wrong and what to do, for a dialog or a status line."""
    if isinstance(exc, ServerUnreachable):
        return (f"Cannot reach the NED server ({exc}).\nStart ned-server on that machine, or fix the "
                f"server address in {settings_hint}, then try again.")
    if isinstance(exc, AuthenticationFailed):
        return (f"The NED server refused the token, so {action} did not run.\nSet the token the server "
                f"was started with in {settings_hint} (or the NED_TOKEN environment variable).")
    if isinstance(exc, CallCancelled):
        return f"{action[:1].upper()}{action[1:]} was cancelled."
    if isinstance(exc, ServerBusy):
        wait = f" in about {math.ceil(exc.retry_after_s)} s" if exc.retry_after_s else " in a moment"
        return f"The NED server is busy with other work; try {action} again{wait}."
    if isinstance(exc, NedClientError):
        hints = {
            "FAILED_PRECONDITION": "the server is missing a model file or a trained actor (see `ned info`)",
            "UNIMPLEMENTED": "this server does not offer it yet",
            "NOT_FOUND": "track the shot first, or pick an actor the server has",
            "INVALID_ARGUMENT": "check the node's settings and input frames",
        }
        hint = hints.get(exc.code)
        return f"NED could not do {action}: {exc}" + (f"\n({hint})" if hint else "")
    if isinstance(exc, HostError):
        return f"NED: {exc}"
    if isinstance(exc, ValueError):  # FrameError, ChunkError: bad bytes, named by frame
        return f"NED could not read a frame for {action}: {exc}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"NED could not write or read a file{where}: {exc.strerror or exc}"
    return f"NED failed during {action}: {type(exc).__name__}: {exc}"


# ============================================================================ background work
@dataclass
class JobStatus:
    title: str
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    finished: bool = False
    cancelled: bool = False
    result: Any = None
    error: BaseException | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def line(self) -> str:
        """One status line for a progress bar's label."""
        counts = f" {self.done}/{self.total}" if self.total else ""
        return f"{self.title}: {self.stage or 'starting'}{counts} {self.message}".rstrip()


Work = Callable[[ProgressCallback, CancelToken], Any]


class BackgroundJob:
    """One piece of node work on a daemon thread, polled (Blender timers) or called back (Nuke).

    The work function gets a progress callback and a CancelToken and must not touch the host's
    data: it runs off the UI thread. ``on_done`` (if given) is called on the worker thread when it
    ends; hosts hop to their UI thread from there (nuke.executeInMainThread) or just poll.
    """

    def __init__(self, title: str, work: Work, on_done: Callable[[BackgroundJob], None] | None = None) -> None:
        self.title = title
        self.cancel_token = CancelToken()
        self._work = work
        self._on_done = on_done
        self._status = JobStatus(title)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"ned: {title}", daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> JobStatus:
        with self._lock:
            return JobStatus(**{k: getattr(self._status, k) for k in JobStatus.__dataclass_fields__})

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, info: ProgressInfo) -> None:
        with self._lock:
            s = self._status
            s.stage, s.done, s.total, s.message = info.stage, info.done, info.total, info.message

    def _run(self) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = self._work(self._progress, self.cancel_token)
        except BaseException as exc:  # reported to the artist, never raised into the host
            error = exc
        if error is None and self.cancel_token.cancelled:
            error = CallCancelled("cancelled: stopped by the artist", "CANCELLED")
        with self._lock:
            s = self._status
            s.finished, s.result, s.error = True, result, error
            s.cancelled = isinstance(error, CallCancelled)
        if self._on_done is not None:
            try:
                self._on_done(self)
            except Exception as exc:  # a host callback failing must not go unseen
                print(f"ned: finishing {self.title} failed: {exc}", file=sys.stderr)
