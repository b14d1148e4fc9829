"""ned.v1 messages <-> the pipeline's plain requests and results.

All the wire's conventions live here, so neither the pipeline nor the servicer spells them out:
unset optional fields take the server's defaults (ned_plugin.parameters), a frame range of (0, 0)
means the whole shot, flat x0, y0, x1, y1, ... lists become (N, 2) arrays, and so on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ned_plugin.parameters import parameter
from ned_plugin.wire import pb
from ned_server.composite.config import CompositeConfig
from ned_server.composite.qc import ShotQc
from ned_server.errors import InvalidInput
from ned_server.manipulator.controls import EmotionSettings, Keyframe
from ned_server.manipulator.sliders import SliderCurve
from ned_server.orchestration.actor_training import TrainActorParams
from ned_server.orchestration.requests import (
    ColourRequest,
    ManipulateRequest,
    StyleRequest,
    TrackDone,
    TrackRequest,
)
from ned_server.runtime.jobs import JobRecord
from ned_server.tracking.result import ShotTrack

_JOB_STATES = {
    "queued": pb.JOB_STATE_QUEUED,
    "running": pb.JOB_STATE_RUNNING,
    "succeeded": pb.JOB_STATE_SUCCEEDED,
    "failed": pb.JOB_STATE_FAILED,
    "cancelled": pb.JOB_STATE_CANCELLED,
}


def colour_request(settings: pb.ColourSettings) -> ColourRequest:
    return ColourRequest(config=settings.config, input_space=settings.input_space)


def _optional(message: Any, name: str, default: Any = None) -> Any:
    """``Any``: protobuf messages share no typed base with HasField, and the field's type is the caller's."""
    return getattr(message, name) if message.HasField(name) else default


def frame_range(rng: pb.FrameRange) -> tuple[int | None, int | None]:
    if rng.first == 0 and rng.last == 0:
        return None, None
    if rng.first > rng.last:
        raise InvalidInput(f"frame range {rng.first}-{rng.last} is reversed: the first frame must not come after "
                           "the last")
    return int(rng.first), int(rng.last)


def track_request(s: pb.TrackSettings) -> TrackRequest:
    landmarks = {}
    for item in s.landmarks:
        if item.frame in landmarks:
            raise InvalidInput(f"landmarks of frame {item.frame} were given twice")
        landmarks[int(item.frame)] = np.asarray(item.points, dtype=np.float64)
    return TrackRequest(shot_id=s.shot_id, colour=colour_request(s.colour), face_id=_optional(s, "face_id"),
                        landmarks=landmarks or None, force=s.force, frame_count=int(s.frame_count))


def emotion_settings(e: pb.EmotionControl) -> EmotionSettings:
    """The wire's emotion control as the manipulator's settings (the one wire -> domain conversion)."""
    keys = [Keyframe(int(k.frame), dict(k.mix) if k.mix else (k.emotion or None), _optional(k, "intensity"))
            for k in e.keys]
    seed = int(_optional(e, "seed", 0))
    if seed > 2**63 - 1:
        raise InvalidInput(f"seed {seed} is too large")
    return EmotionSettings(
        emotion=e.emotion or None, mix=dict(e.mix) or None,
        intensity=float(_optional(e, "intensity", parameter("intensity").default)),
        keyframes=keys, reference_style=list(e.reference_style) or None, seed=seed,
        speech_preservation=float(_optional(e, "speech_preservation", parameter("speech_preservation").default)),
    )


def composite_config(b: pb.BlendSettings) -> CompositeConfig:
    values: dict[str, object] = {"blend_method": b.method or parameter("blend_method").default_choice}
    for field, key in (("levels", "blend_levels"), ("erode", "matte_erode"), ("feather", "matte_feather")):
        if b.HasField(field):
            values[key] = getattr(b, field)
    return CompositeConfig.from_settings(values)


def slider_curves(curves: Iterable[pb.SliderCurve]) -> list[SliderCurve]:
    """Face slider curves (ManipulateSettings.sliders) as the manipulator's SliderCurves."""
    return [SliderCurve(c.name, [(int(k.frame), float(k.value)) for k in c.keys]) for c in curves]


def manipulate_request(s: pb.ManipulateSettings) -> ManipulateRequest:
    first, last = frame_range(s.range)
    return ManipulateRequest(
        actor_id=s.actor_id, control=emotion_settings(s.emotion), composite=composite_config(s.blend),
        shot_id=s.shot_id, colour=colour_request(s.colour), first=first, last=last,
        preroll=_optional(s, "preroll"), compression=(s.output.compression or "zip").lower(),
        pixel_type=(s.output.pixel_type or "half").lower(), face_id=_optional(s, "face_id"),
        frame_count=int(s.frame_count), sliders=slider_curves(s.sliders),
        render=(s.render or parameter("render").default_choice).strip().lower(),
        output_frames=tuple(int(f) for f in s.output_frames),
    )


def style_request(s: pb.ExtractStyleSettings) -> StyleRequest:
    first, last = frame_range(s.range)
    return StyleRequest(shot_id=s.shot_id, colour=colour_request(s.colour), first=first, last=last,
                        face_id=_optional(s, "face_id"))


def window(w: tuple[int, int, int, int]) -> pb.Window:
    return pb.Window(x=int(w[0]), y=int(w[1]), width=int(w[2]), height=int(w[3]))


def frame_tracks(track: ShotTrack, display: tuple[int, int, int, int]) -> list[pb.FrameTrack]:
    """One FrameTrack per frame of a ShotTrack (plate pixels relative to the display window)."""
    out = []
    shape = track.shape.tolist()
    for i, number in enumerate(track.frames):
        ok = bool(track.tracked[i])
        out.append(pb.FrameTrack(
            frame=int(number), tracked=ok, note=track.notes[i], face_id=track.face_id,
            box=track.boxes[i].tolist() if ok else [], landmarks=track.landmarks[i].reshape(-1).tolist() if ok else [],
            expression=track.expression51[i].tolist() if ok else [], shape=shape if ok else [],
            pose=track.pose[i].tolist() if ok else [], camera=track.camera[i].tolist() if ok else [],
            pupils=track.pupils[i].reshape(-1).tolist() if ok else [],
            alignment=track.alignment[i].reshape(-1).tolist() if ok else [], blink=float(track.blink[i]) if ok else 0.0,
            fit_error=float(track.fit_error[i]) if ok else 0.0,
        ))
    return out


def track_summary(done: TrackDone) -> pb.TrackSummary:
    track = done.track
    summary = pb.TrackSummary(shot_id=done.shot.shot_id, frame_count=len(track),
                              tracked_frames=int(track.tracked.sum()), from_cache=done.from_cache,
                              face_id=track.face_id, display_window=window(done.shot.display_window),
                              tracker=track.tracker, landmarker=track.landmarker)
    for f in track.faces:
        summary.faces.add(face_id=f.id, frames=f.frames, first_frame=f.first, last_frame=f.last,
                          mean_size=f.mean_size, thumbnail_frame=f.thumbnail_frame,
                          thumbnail_box=list(f.thumbnail_box))
    return summary


def train_actor_params(r: pb.TrainActorRequest) -> TrainActorParams:
    return TrainActorParams(
        actor_id=r.actor_id, shot_ids=list(r.shot_ids), preset=r.preset or "paper",
        iterations=_optional(r, "iterations"), init_from=r.init_from, resume=r.resume,
        face_id=_optional(r, "face_id"))


def job_info(job: JobRecord) -> pb.JobInfo:
    return pb.JobInfo(
        job_id=job.job_id, kind=job.kind, state=_JOB_STATES.get(job.state, pb.JOB_STATE_UNSPECIFIED),
        actor_id=job.actor_id, created=job.created, updated=job.updated, message=job.message,
        done=job.done, total=job.total,
    )


def actor_info(meta: dict[str, Any]) -> pb.ActorInfo:
    return pb.ActorInfo(
        actor_id=meta.get("actor_id", ""), ready=bool(meta.get("ready", False)),
        iterations=int(meta.get("iterations", 0)), resolution=int(meta.get("resolution", 0)),
        preset=meta.get("preset", ""), shot_ids=list(meta.get("shot_ids", [])),
        updated=float(meta.get("updated", 0.0)), base=meta.get("base", ""),
    )


def qc_report(qc: ShotQc) -> pb.QcReport:
    """The QC report of a Manipulate (composite.qc) as its wire message; NaN stays NaN."""
    report = pb.QcReport(status=qc.status, summary=qc.summary(), speech_correlation=qc.speech_correlation,
                         flicker_ratio=qc.flicker_ratio)
    for c in qc.checks:
        report.checks.add(name=c.name, value=c.value, threshold=c.threshold, passed=c.passed, message=c.message)
    for i, frame in enumerate(qc.frames):
        report.frames.add(frame=int(frame), tracked=bool(qc.tracked[i]), fit_error_px=qc.fit_error_px[i],
                          fit_error=qc.fit_error[i], confidence=qc.confidence[i], jaw_original=qc.jaw_original[i],
                          jaw_edited=qc.jaw_edited[i], mouth_original=qc.mouth_original[i],
                          mouth_edited=qc.mouth_edited[i], expression_change=qc.expression_change[i],
                          flicker_plate=qc.flicker_plate[i], flicker_original=qc.flicker_original[i])
    return report
