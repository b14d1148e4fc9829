"""The pipeline facade the service calls: shots, tracking, manipulation, training, server facts.

It knows nothing of gRPC: it takes plain values (orchestration.requests) and iterables of
(frame, bytes), returns plain events (``EventStream`` for the long calls, so progress can be
streamed while the work runs in its own thread), and raises ned_server.errors. What an RPC needs
that may be missing is data, not code: the model assets of the manifest. An RPC whose assets are
absent answers FAILED_PRECONDITION naming the file and where to get it, and GetInfo says so up
front (``rpc_status``), while the rest of the server works.

Device work (tracking, manipulating, rendering) holds a slot of the DeviceScheduler, so requests
queue fairly instead of fighting over the GPU; receiving frames and encoding do not.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict

import numpy as np
import torch

from ned_plugin.colour import Colour, ColourError, plate_colour
from ned_plugin.parameters import COMPRESSIONS, PIXEL_TYPES, RENDER_MODES, parameter
from ned_server import __version__
from ned_server.composite.qc import ShotQc
from ned_server.config import ServerConfig, resolve_device
from ned_server.domains import EMOTIONS
from ned_server.errors import Busy, Cancelled, InvalidInput, NedError
from ned_server.manipulator.controls import resolve_schedule
from ned_server.manipulator.sliders import resolve_sliders
from ned_server.orchestration.actor_training import JOB_KIND, TrainActorParams, check_request, make_job, update_actor
from ned_server.orchestration.manipulate import ReenactSettings, StageTimes, frame_range, manipulate_track
from ned_server.orchestration.models import Models
from ned_server.orchestration.requests import (
    ColourRequest,
    ManipulateDone,
    ManipulateRequest,
    ProgressEvent,
    RpcStatus,
    StopCheck,
    StyleRequest,
    StyleResult,
    TrackDone,
    TrackRequest,
    never,
)
from ned_server.orchestration.shot_tracking import TrackOutcome, track_stored_shot
from ned_server.runtime.assets import Asset, load_manifest
from ned_server.runtime.intake import Shot, receive_shot, sweep_incoming
from ned_server.runtime.jobs import JobManager, JobRecord
from ned_server.runtime.scheduler import DeviceScheduler
from ned_server.runtime.shot_frames import ShotColour
from ned_server.runtime.store import Store
from ned_server.runtime.streaming import Emit, EventStream
from ned_server.tracking.detection import check_landmark_map

log = logging.getLogger(__name__)

RPC_NAMES = ("GetInfo", "Track", "Manipulate", "ExtractStyle", "TrainActor", "WatchJob", "ListActors", "ListJobs",
             "CancelJob")


class Pipeline:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config.store_dir)
        sweep_incoming(self.store)
        self.device = resolve_device(config.device)
        if config.torch_threads > 0:
            torch.set_num_threads(config.torch_threads)
        lim = config.limits
        self.scheduler = DeviceScheduler(lim.device_slots, lim.max_waiting, lim.retry_after_s)
        self.jobs = JobManager(self.store)
        self.assets: dict[str, Asset] = load_manifest()
        self.models = Models(config.models_dir, self.assets, self.store, self.device, config.manipulator)
        self._colours: dict[str, Colour] = {}
        self._colour_lock = threading.Lock()
        self._register_jobs()

    def _register_jobs(self) -> None:
        vgg = self.assets["vgg19"].location(self.config.models_dir)
        self.jobs.register(JOB_KIND, make_job(self.store, self.models, vgg,
                                              lambda cfg, space: self.shot_colour(ColourRequest(cfg, space))))

    # ------------------------------------------------------------------ facts
    def rpc_status(self) -> list[RpcStatus]:
        """Each RPC and whether this server can run it now (its model assets found), for GetInfo."""
        out = []
        for name in RPC_NAMES:
            try:
                self.models.require_for(name)
            except NedError as exc:
                out.append(RpcStatus(name, False, str(exc)))
            else:
                out.append(RpcStatus(name, True))
        return out

    def torch_version(self) -> str:
        return str(torch.__version__)

    @property
    def emotions(self) -> tuple[str, ...]:
        return EMOTIONS

    @property
    def version(self) -> str:
        return __version__

    # ------------------------------------------------------------------ colour
    def colour(self, request: ColourRequest) -> tuple[Colour, str]:
        """The OCIO converter for a request and its resolved input space (INVALID_ARGUMENT if unknown)."""
        key = request.config or ""
        try:
            with self._colour_lock:
                colour = self._colours.get(key)
                if colour is None:
                    colour = self._colours[key] = Colour(request.config or None)
            space = colour.resolve(request.input_space) if request.input_space else colour.default_input_space
        except ColourError as exc:
            raise InvalidInput(str(exc)) from None
        return colour, space

    def shot_colour(self, request: ColourRequest) -> ShotColour:
        """The plate's space in the host's config against the networks' sRGB in the server's config
        (converted through OCIO's interchange roles when they differ; INVALID_ARGUMENT when the space
        is unknown to both)."""
        working, _ = self.colour(ColourRequest())

        def load(config: str) -> Colour:
            try:
                return self.colour(ColourRequest(config=config))[0]
            except InvalidInput as exc:  # the host's config is not readable here: plate_colour falls back
                raise ColourError(str(exc)) from None

        try:
            return plate_colour(working, load, request.config, request.input_space)
        except (ColourError, InvalidInput) as exc:
            raise InvalidInput(str(exc)) from None

    # ------------------------------------------------------------------ shots
    def receive_shot(
        self,
        frames: Iterable[tuple[int, bytes]],
        shot_id: str = "",
        on_frame: Callable[[int, int], None] = lambda received, frame: None,
        cancelled: StopCheck = never,
        announced: int = 0,
    ) -> Shot | None:
        return receive_shot(self.store, frames, self.config.limits, shot_id, on_frame, cancelled, announced)

    def load_shot(self, shot_id: str) -> Shot:
        return Shot.load(self.store.require_shot(shot_id))

    def _shot(self, frames: Iterable[tuple[int, bytes]], shot_id: str, total: int, emit: Emit,
              stopped: StopCheck, rpc: str) -> Shot:
        """The request's shot: its streamed frames stored (with progress), or the stored shot by id."""

        def on_frame(received: int, frame: int) -> None:
            if received == 1 or received % 8 == 0:
                emit(ProgressEvent("receive", received, max(total, received), f"received frame {frame}"))

        shot = self.receive_shot(frames, shot_id, on_frame, stopped, announced=total)
        if shot is None:
            if stopped():
                raise Cancelled(f"{rpc} was cancelled while receiving the frames")
            if not shot_id:
                raise InvalidInput(f"{rpc} got no frames and no shot id: send the shot's frames, or name a shot "
                                   "the server already has")
            shot = self.load_shot(shot_id)
        emit(ProgressEvent("receive", len(shot.frames), len(shot.frames), f"shot {shot.shot_id}"))
        return shot

    def _track(self, shot: Shot, colour: ShotColour, emit: Emit, stopped: StopCheck, *, face_id: int | None,
               landmarks: Mapping[int, np.ndarray] | None = None, force: bool = False,
               reuse_any: bool = False) -> TrackOutcome:
        return track_stored_shot(
            self.store, self.models, shot, self.config.tracking, colour, face_id=face_id, landmarks=landmarks,
            force=force, reuse_any=reuse_any, cancelled=stopped,
            progress=lambda stage, done, total: emit(ProgressEvent(stage, done, total)))

    # ------------------------------------------------------------------ Track
    def track(self, request: TrackRequest, frames: Iterable[tuple[int, bytes]],
              caller_gone: StopCheck = never) -> EventStream:
        """Events: ProgressEvent...; ``result``: TrackDone."""
        self.models.require_for("Track")
        colour = self.shot_colour(request.colour)
        landmarks = None
        if request.landmarks:
            landmarks = check_landmark_map(request.landmarks)

        def work(emit: Emit, stopped: StopCheck) -> TrackDone:
            shot = self._shot(frames, request.shot_id, request.frame_count, emit, stopped, "Track")
            with self.scheduler.slot(stopped):
                outcome = self._track(shot, colour, emit, stopped, face_id=request.face_id, landmarks=landmarks,
                                      force=request.force)
            return TrackDone(shot, outcome.track, outcome.from_cache)

        return EventStream(work, caller_gone, name="ned-track")

    # ------------------------------------------------------------------ Manipulate
    def manipulate(self, request: ManipulateRequest, frames: Iterable[tuple[int, bytes]],
                   caller_gone: StopCheck = never) -> EventStream:
        """Events: ProgressEvent and manipulate.PlateOut in frame order; ``result``: ManipulateDone."""
        colour = self.shot_colour(request.colour)
        if request.compression not in COMPRESSIONS:
            raise InvalidInput(f"unknown EXR compression {request.compression!r}; use one of {', '.join(COMPRESSIONS)}")
        if request.pixel_type not in PIXEL_TYPES:
            raise InvalidInput(f"unknown pixel type {request.pixel_type!r}; use half or float")
        if request.render not in RENDER_MODES:
            raise InvalidInput(f"unknown render mode {request.render!r}; use one of {', '.join(RENDER_MODES)} "
                               "(hybrid: full-resolution warp + neural mouth and eyes)")
        preroll = parameter("preroll")
        pre = int(preroll.default if request.preroll is None else request.preroll)
        if not preroll.minimum <= pre <= preroll.maximum:
            raise InvalidInput(f"preroll {pre} is out of range; expected {preroll.minimum:g} to {preroll.maximum:g}"
                               " frames")
        if not request.actor_id:
            raise InvalidInput("Manipulate needs an actor: the actor whose renderer re-renders the face")
        renderer = self.models.renderer(request.actor_id)  # the request's own errors (ids) come first
        self.models.require_for("Manipulate")  # then what the server lacks (FLAME, the manipulator)
        manipulator = self.models.manipulator()
        resolve_schedule(request.control, 1, manipulator.emotions)  # a bad control fails before any frame
        slider_rig = None
        if request.sliders:
            resolve_sliders(request.sliders, [0])  # bad sliders fail before any frame too
            slider_rig = self.models.slider_rig()
        settings = ReenactSettings(request.control, request.composite, request.first, request.last, pre,
                                   request.compression, request.pixel_type, request.render,
                                   sliders=list(request.sliders), output_frames=request.output_frames)

        def work(emit: Emit, stopped: StopCheck) -> ManipulateDone:
            shot = self._shot(frames, request.shot_id, request.frame_count, emit, stopped, "Manipulate")
            with self.scheduler.slot(stopped):
                outcome = self._track(shot, colour, emit, stopped, face_id=request.face_id, reuse_any=True)
                track = outcome.track
                conditioner = self.models.conditioner(renderer.resolution)
                count = tracked = 0
                times = StageTimes()
                reports: list[ShotQc] = []
                for plate in manipulate_track(
                        self.store, shot, track, manipulator, renderer, conditioner, colour, settings,
                        device=self.device, cancelled=stopped, times=times, slider_rig=slider_rig,
                        on_qc=reports.append,
                        progress=lambda done, total: emit(ProgressEvent("render", done, total))):
                    emit(plate)
                    count += 1
                    tracked += int(plate.tracked)
            log.info("Manipulate %s: %d plates (%s)", shot.shot_id, count, times.summary(),
                     extra={"ned_seconds": dict(times.seconds), "ned_frames": count})
            qc = reports[0] if reports else None
            if qc is not None:
                log.info("Manipulate %s: %s", shot.shot_id, qc.summary())
            return ManipulateDone(shot.shot_id, count, tracked, outcome.from_cache, dict(times.seconds), qc)

        return EventStream(work, caller_gone, name="ned-manipulate")

    # ------------------------------------------------------------------ ExtractStyle
    def extract_style(self, request: StyleRequest, frames: Iterable[tuple[int, bytes]],
                      caller_gone: StopCheck = never) -> StyleResult:
        self.models.require_for("ExtractStyle")
        colour = self.shot_colour(request.colour)
        manipulator = self.models.manipulator()

        def discard(event: object) -> None:
            if caller_gone():
                raise Cancelled("ExtractStyle was cancelled")

        shot = self._shot(frames, request.shot_id, 0, discard, caller_gone, "ExtractStyle")
        with self.scheduler.slot(caller_gone):
            track = self._track(shot, colour, discard, caller_gone, face_id=request.face_id, reuse_any=True).track
            i0, i1 = frame_range(track, request.first, request.last)
            keep = np.flatnonzero(track.tracked[i0:i1 + 1]) + i0
            if keep.size == 0:
                raise InvalidInput(f"no tracked frame in the reference range of shot {shot.shot_id!r}")
            expression = track.expression51[i0:i1 + 1]
            style = manipulator.extract_style(expression)
            similarity = manipulator.style_similarity(style)
        windows = max(1, len(expression) - manipulator.config.seq_len + 1)  # hop 1; a short clip is padded
        return StyleResult(style, windows, shot.shot_id, similarity)

    # ------------------------------------------------------------------ TrainActor
    def train_actor(self, params: TrainActorParams) -> JobRecord:
        """Check the request and queue the job."""
        self.models.require_for("TrainActor")
        self.shot_colour(ColourRequest(params.colour_config, params.input_space))
        check_request(self.store, self.models, params)
        for job in self.jobs.list(active_only=True):
            if job.kind == JOB_KIND and job.actor_id == params.actor_id:
                raise Busy(f"actor {params.actor_id!r} is already training (job {job.job_id}); watch or cancel it",
                           retry_after=60.0)
        if params.checkpoint_every is None:
            params.checkpoint_every = self.config.checkpoint_every  # kept in the job, so a resume uses it too
        update_actor(self.store, params.actor_id, message="queued for training", shot_ids=list(params.shot_ids))
        return self.jobs.submit(JOB_KIND, asdict(params), actor_id=params.actor_id)

    def shutdown(self) -> None:
        self.jobs.shutdown()
