"""The gRPC servicer: translates ned.v1 messages to pipeline calls and pipeline errors to statuses.

Kept thin on purpose: no image or model code here. Every handler runs its work inside
``_status_on_error`` so that any failure becomes a status with a message a compositor can act on,
and the server goes on serving other clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from ned_plugin.chunks import FrameAssembler, split_frame
from ned_plugin.parameters import BLEND_METHODS, COMPRESSIONS, PARAMETERS, RENDER_MODES
from ned_plugin.plate_files import PlateFileRef
from ned_plugin.wire import API, HEARTBEAT_STAGE, IN_PLACE_REFUSED_KEY, pb, rpc
from ned_server.api import convert
from ned_server.errors import Busy, InPlaceRefused, InvalidInput, NedError
from ned_server.face3d.model_file import STANDIN_MARKER
from ned_server.orchestration.facade import Pipeline
from ned_server.orchestration.requests import ColourRequest, ProgressEvent, StopCheck
from ned_server.runtime.jobs import ACTIVE
from ned_server.runtime.plate_paths import read_in_place, resolve_roots
from ned_server.runtime.streaming import Heartbeat
from ned_server.tracking.result import TRACKER_DECA, TRACKER_FIT

log = logging.getLogger(__name__)

def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    code, message = _status_of(exc)
    # A status must reach the client: text quoted from a corrupt file (a channel name that is not
    # UTF-8 arrives as lone surrogates) would make gRPC fail to send it at all.
    return code, message.encode("utf-8", "backslashreplace").decode("utf-8")


def _status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, NedError):
        return getattr(grpc.StatusCode, exc.code), str(exc)
    if isinstance(exc, KeyError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc.args[0]) if exc.args else "unknown key"
    if isinstance(exc, ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal server error ({type(exc).__name__}: {exc}); see the server log"


@contextmanager
def _status_on_error(context: grpc.ServicerContext, rpc_name: str) -> Iterator[None]:
    try:
        yield
    except grpc.RpcError:
        raise  # already an abort
    except Exception as exc:
        code, message = status_of(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.exception("%s failed", rpc_name)
        else:
            log.info("%s: %s: %s", rpc_name, code.name, message)
        if isinstance(exc, Busy):
            context.set_trailing_metadata((("retry-after-ms", str(int(exc.retry_after * 1000))),))
        if isinstance(exc, InPlaceRefused):
            context.set_trailing_metadata(((IN_PLACE_REFUSED_KEY, "refused"),))
        context.abort(code, message)


def _settings_and_frames(
    requests: Iterator[Any], kind: str, assembler: FrameAssembler,
    read_path: Callable[[PlateFileRef], bytes] | None = None,
) -> tuple[Any, Iterator[tuple[int, bytes]]]:
    """Split a client stream into its leading settings message and the frames that follow it, each
    sent as chunks of its bytes or (read in place) as a path the server reads itself.

    ``Any``: each RPC's request message type has its own settings type; protobuf gives them no
    common base with ``settings``/``chunk`` fields, so the caller's own annotation narrows it."""
    try:
        first = next(requests)
    except StopIteration:
        raise InvalidInput(f"empty {kind} request: send the settings first") from None
    if first.WhichOneof("item") != "settings":
        raise InvalidInput(f"the first message of a {kind} request must hold its settings")

    def frames() -> Iterator[tuple[int, bytes]]:
        for message in requests:
            item = message.WhichOneof("item")
            if item == "frame_path" and read_path is not None:
                ref = message.frame_path
                assembler.add_whole(ref.frame)
                yield ref.frame, read_path(PlateFileRef(ref.frame, ref.path, ref.size, ref.mtime_ns, ref.crc32))
                continue
            if item != "chunk":
                raise InvalidInput(f"{kind}: settings sent twice; send them once, before the frames")
            done = assembler.add(message.chunk)
            if done is not None:
                yield done
        assembler.finish()

    return first.settings, frames()


def _tracking_info(out: pb.TrackingBackendInfo, pipeline: Pipeline) -> None:
    """The landmarker and tracker Track would use here (nothing is loaded to find out)."""
    lm = pipeline.models.landmarker(pipeline.config.tracking)
    out.landmarker, out.landmarker_description = lm.name, lm.description
    out.landmarker_licence, out.landmarker_note = lm.licence, lm.reason
    deca = pipeline.models.deca_files()
    out.tracker = TRACKER_DECA if "deca" in deca else TRACKER_FIT
    out.tracker_licence = pipeline.assets["deca"].licence if "deca" in deca else ""
    out.detail = pipeline.models.deca_detail_available()


class NedService(rpc.NedServicer):
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        lim = pipeline.config.limits
        self._assembler = lambda: FrameAssembler(lim.max_frame_bytes, lim.max_chunk_bytes)
        self._read_roots = roots = resolve_roots(pipeline.config.read_roots)
        self._read_path = lambda ref: read_in_place(ref, roots, lim.max_frame_bytes)

    # ------------------------------------------------------------------ facts
    def GetInfo(self, request: pb.GetInfoRequest, context: grpc.ServicerContext) -> pb.ServerInfo:
        p = self.pipeline
        with _status_on_error(context, "GetInfo"):
            colour, default_space = p.colour(ColourRequest())
            models = p.config.models_dir
            info = pb.ServerInfo(
                version=p.version, api=API, device=p.device, torch_version=p.torch_version(),
                emotions=list(p.emotions),
                actors=[convert.actor_info(a) for a in p.store.list_actors()],
                colour_spaces=colour.colour_spaces(),
                default_colour=pb.ColourSettings(config=colour.config_name, input_space=default_space),
                max_chunk_bytes=p.config.limits.max_chunk_bytes,
                blend_methods=list(BLEND_METHODS), compressions=list(COMPRESSIONS), render_modes=list(RENDER_MODES),
                max_frame_pixels=p.config.limits.max_frame_pixels,
                max_shot_frames=p.config.limits.max_shot_frames,
                read_roots=[str(r) for r in self._read_roots],
            )
            for a in p.assets.values():
                found = a.found(models)
                note = " [here: the procedural stand-in head, not the licensed model]" if (
                    found and (a.location(models).parent / STANDIN_MARKER).is_file()) else ""
                info.assets.add(name=a.name, path=str(a.location(models)), found=found,
                                licence=a.licence, source=a.source, description=a.description + note)
            _tracking_info(info.tracking, p)
            for prm in PARAMETERS:
                info.parameters.add(
                    name=prm.name, minimum=prm.minimum, maximum=prm.maximum, default_value=prm.default,
                    description=prm.description, animatable=prm.animatable, choices=list(prm.choices),
                    default_choice=prm.default_choice, unit=prm.unit,
                )
            for status in p.rpc_status():
                info.rpcs.add(name=status.name, available=status.available, reason=status.reason)
            return info

    def ListActors(self, request: pb.ListActorsRequest, context: grpc.ServicerContext) -> pb.ListActorsReply:
        with _status_on_error(context, "ListActors"):
            return pb.ListActorsReply(actors=[convert.actor_info(a) for a in self.pipeline.store.list_actors()])

    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsReply:
        with _status_on_error(context, "ListJobs"):
            jobs = self.pipeline.jobs.list(active_only=request.active_only)
            return pb.ListJobsReply(jobs=[convert.job_info(j) for j in jobs])

    def CancelJob(self, request: pb.CancelJobRequest, context: grpc.ServicerContext) -> pb.CancelJobReply:
        with _status_on_error(context, "CancelJob"):
            return pb.CancelJobReply(job=convert.job_info(self.pipeline.jobs.cancel(request.job_id)))

    def WatchJob(self, request: pb.WatchJobRequest, context: grpc.ServicerContext) -> Iterator[pb.JobProgress]:
        with _status_on_error(context, "WatchJob"):
            yield from self._job_progress(request.job_id, context)

    def _job_progress(self, job_id: str, context: grpc.ServicerContext) -> Iterator[pb.JobProgress]:
        for update in self.pipeline.jobs.watch(job_id, stop=lambda: not context.is_active(),
                                               heartbeat_s=self.pipeline.config.limits.heartbeat_s):
            job = update.record
            yield pb.JobProgress(
                job=convert.job_info(job),
                progress=pb.Progress(stage=job.kind, done=job.done, total=job.total, message=job.message,
                                     job_id=job.job_id, eta_seconds=job.eta_seconds),
                losses=job.losses, sample_png=update.sample_png,
            )
            if job.state not in ACTIVE:
                return

    # ------------------------------------------------------------------ shots
    def Track(self, requests: Iterator[pb.TrackRequest], context: grpc.ServicerContext) -> Iterator[pb.TrackReply]:
        with _status_on_error(context, "Track"):
            settings, frames = _settings_and_frames(requests, "Track", self._assembler(), self._read_path)
            stream = self.pipeline.track(convert.track_request(settings), frames, _gone(context))
            stream.heartbeat_s = self.pipeline.config.limits.heartbeat_s
            for event in stream:
                yield pb.TrackReply(progress=_progress(event))
            done = stream.result
            for frame in convert.frame_tracks(done.track, done.shot.display_window):
                yield pb.TrackReply(frame=frame)
            yield pb.TrackReply(summary=convert.track_summary(done))

    def Manipulate(self, requests: Iterator[pb.ManipulateRequest],
                   context: grpc.ServicerContext) -> Iterator[pb.ManipulateReply]:
        with _status_on_error(context, "Manipulate"):
            settings, frames = _settings_and_frames(requests, "Manipulate", self._assembler(), self._read_path)
            stream = self.pipeline.manipulate(convert.manipulate_request(settings), frames, _gone(context))
            stream.heartbeat_s = self.pipeline.config.limits.heartbeat_s
            chunk_bytes = self.pipeline.config.limits.max_chunk_bytes
            for event in stream:
                if isinstance(event, ProgressEvent | Heartbeat):
                    yield pb.ManipulateReply(progress=_progress(event))
                    continue
                yield pb.ManipulateReply(plate=pb.PlateHeader(
                    frame=event.frame, tracked=event.tracked, note=event.note,
                    data_window=convert.window(event.data_window),
                    display_window=convert.window(event.display_window)))
                if event.tracked:
                    for chunk in split_frame(event.frame, event.exr, chunk_bytes):
                        yield pb.ManipulateReply(chunk=chunk)
            done = stream.result
            yield pb.ManipulateReply(summary=pb.ManipulateSummary(
                shot_id=done.shot_id, frames=done.frames, tracked_frames=done.tracked_frames,
                tracking_from_cache=done.tracking_from_cache,
                qc=convert.qc_report(done.qc) if done.qc is not None else None))

    def ExtractStyle(self, requests: Iterator[pb.ExtractStyleRequest],
                     context: grpc.ServicerContext) -> pb.ExtractStyleReply:
        with _status_on_error(context, "ExtractStyle"):
            settings, frames = _settings_and_frames(requests, "ExtractStyle", self._assembler(), self._read_path)
            result = self.pipeline.extract_style(convert.style_request(settings), frames, _gone(context))
            return pb.ExtractStyleReply(style=result.style.tolist(), windows=result.windows, shot_id=result.shot_id,
                                        emotion_similarity=result.similarity)
        return pb.ExtractStyleReply()  # not reached: the error was turned into an abort

    def TrainActor(self, request: pb.TrainActorRequest, context: grpc.ServicerContext) -> Iterator[pb.JobProgress]:
        with _status_on_error(context, "TrainActor"):
            job = self.pipeline.train_actor(convert.train_actor_params(request))
            if request.detach:
                yield pb.JobProgress(job=convert.job_info(job), progress=pb.Progress(
                    stage=job.kind, job_id=job.job_id, message="queued; follow it with WatchJob"))
                return
            yield from self._job_progress(job.job_id, context)


def _gone(context: grpc.ServicerContext) -> StopCheck:
    return lambda: not context.is_active()


def _progress(event: ProgressEvent | Heartbeat) -> pb.Progress:
    if isinstance(event, Heartbeat):
        return pb.Progress(stage=HEARTBEAT_STAGE, message="working")
    return pb.Progress(stage=event.stage, done=event.done, total=event.total, message=event.message)
