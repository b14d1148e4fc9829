"""The pipeline facade the service calls: shots, tracking, manipulation, training, server facts.

It knows nothing of gRPC: it takes plain values and iterables of (frame, bytes), returns plain
events (``EventStream`` for the long calls, so progress can be streamed while the work runs in
its own thread), and raises ned_server.errors. Each stage (tracking, manipulator, renderer,
composite) lives in its own sub-package; a stage that is not installed makes its RPCs answer
UNIMPLEMENTED with a message naming what is missing, while the rest of the server works.

Device work (tracking, manipulating, rendering) holds a slot of the DeviceScheduler, so requests
queue fairly instead of fighting over the GPU; receiving frames and encoding do not.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .assets import Asset, load_manifest
from .config import ServerConfig, resolve_device
from .domains import EMOTIONS
from .errors import Busy, Cancelled, InvalidInput, Unavailable
from .intake import Shot, receive_shot, sweep_incoming
from .jobs import JobManager, JobRecord
from .models import Models
from .scheduler import DeviceScheduler
from .shot_frames import ShotColour
from .store import Store
from .streaming import Emit, EventStream

log = logging.getLogger(__name__)

# RPC -> the stage modules it needs. A stage counts as present when its module imports and
# exposes the entry point named here.
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "Track": (("ned_server.tracking.track", "track_shot"),),
    "ExtractStyle": (("ned_server.tracking.track", "track_shot"), ("ned_server.manipulator.inference",
                                                                   "EmotionManipulator")),
    "Manipulate": (
        ("ned_server.tracking.track", "track_shot"),
        ("ned_server.manipulator.inference", "EmotionManipulator"),
        ("ned_server.conditioning.shot", "FaceConditioner"),
        ("ned_server.renderer.inference", "FaceRenderer"),
        ("ned_server.composite.plate", "build_plate"),
    ),
    "TrainActor": (("ned_server.renderer.train", "RendererTrainer"), ("ned_server.renderer.shot_data",
                                                                      "actor_clips_from_shot")),
}
StopCheck = Callable[[], bool]  # True once the caller has gone or cancelled


def _never() -> bool:
    return False


@dataclass
class ColourRequest:
    config: str = ""
    input_space: str = ""


@dataclass
class ProgressEvent:
    stage: str
    done: int
    total: int
    message: str = ""


@dataclass
class TrackRequest:
    shot_id: str = ""
    colour: ColourRequest = field(default_factory=ColourRequest)
    face_id: int | None = None
    landmarks: Mapping[int, np.ndarray] | None = None
    force: bool = False
    frame_count: int = 0


@dataclass
class TrackDone:
    shot: Shot
    track: Any  # tracking.result.ShotTrack
    from_cache: bool


@dataclass
class ManipulateRequest:
    actor_id: str
    control: Any  # manipulator.controls.EmotionControl
    composite: Any  # composite.config.CompositeConfig
    shot_id: str = ""
    colour: ColourRequest = field(default_factory=ColourRequest)
    first: int | None = None
    last: int | None = None
    preroll: int | None = None
    compression: str = "zip"
    pixel_type: str = "half"
    face_id: int | None = None
    frame_count: int = 0


@dataclass
class ManipulateDone:
    shot_id: str
    frames: int
    tracked_frames: int
    tracking_from_cache: bool
    seconds: dict[str, float] = field(default_factory=dict)  # per stage (reenact.StageTimes)


@dataclass
class StyleRequest:
    shot_id: str = ""
    colour: ColourRequest = field(default_factory=ColourRequest)
    first: int | None = None
    last: int | None = None
    face_id: int | None = None


@dataclass
class StyleResult:
    style: np.ndarray
    windows: int
    shot_id: str
    similarity: dict[str, float]


class Pipeline:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config.store_dir)
        sweep_incoming(self.store)
        self.device = resolve_device(config.device)
        if config.torch_threads > 0:
            import torch

            torch.set_num_threads(config.torch_threads)
        lim = config.limits
        self.scheduler = DeviceScheduler(lim.device_slots, lim.max_waiting, lim.retry_after_s)
        self.jobs = JobManager(self.store)
        self.assets: dict[str, Asset] = load_manifest()
        self.models = Models(config.models_dir, self.assets, self.store, self.device,
                             keep_details=config.manipulator_keep_details)
        self._colours: dict[str, Any] = {}
        self._colour_lock = threading.Lock()
        self._register_jobs()

    def _register_jobs(self) -> None:
        ok, why = self.stage_status("TrainActor")
        if not ok:
            log.warning("TrainActor is not available: %s", why)
            return
        from .actor_training import JOB_KIND, make_job

        vgg = self.assets["vgg19"].location(self.config.models_dir)
        self.jobs.register(JOB_KIND, make_job(self.store, self.models, vgg,
                                              lambda cfg, space: self.shot_colour(ColourRequest(cfg, space))))

    # ------------------------------------------------------------------ facts
    def stage_status(self, rpc: str) -> tuple[bool, str]:
        """Whether an RPC's stages are installed, and if not, which one is missing."""
        for module_name, attr in STAGES.get(rpc, ()):
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                return False, f"{rpc} needs the {module_name} stage, which is not installed here ({exc})"
            if not hasattr(module, attr):
                return False, f"{rpc} needs {module_name}.{attr}, which this server does not have yet"
        return True, ""

    def require_stage(self, rpc: str) -> None:
        ok, why = self.stage_status(rpc)
        if not ok:
            raise Unavailable(why)

    def torch_version(self) -> str:
        try:
            import torch
        except ImportError:
            return ""
        return str(torch.__version__)

    @property
    def emotions(self) -> tuple[str, ...]:
        return EMOTIONS

    @property
    def version(self) -> str:
        return __version__

    def tracking_config(self) -> Any:
        from .tracking.config import TrackingConfig

        config = TrackingConfig()
        config.detection.models_dir = self.config.models_dir
        return config

    # ------------------------------------------------------------------ colour
    def colour(self, request: ColourRequest) -> tuple[Any, str]:
        """The OCIO converter for a request and its resolved input space (INVALID_ARGUMENT if unknown)."""
        from ned_plugin.colour import Colour, ColourError

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
        colour, space = self.colour(request)
        return ShotColour(colour, space)

    # ------------------------------------------------------------------ shots
    def receive_shot(
        self,
        frames: Iterable[tuple[int, bytes]],
        shot_id: str = "",
        on_frame: Callable[[int, int], None] = lambda received, frame: None,
        cancelled: StopCheck = _never,
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
               reuse_any: bool = False) -> Any:
        from .shot_tracking import track_stored_shot

        return track_stored_shot(
            self.store, self.models, shot, self.tracking_config(), colour, face_id=face_id, landmarks=landmarks,
            force=force, reuse_any=reuse_any, cancelled=stopped,
            progress=lambda stage, done, total: emit(ProgressEvent(stage, done, total)))

    # ------------------------------------------------------------------ Track
    def track(self, request: TrackRequest, frames: Iterable[tuple[int, bytes]],
              caller_gone: StopCheck = _never) -> EventStream:
        """Events: ProgressEvent...; ``result``: TrackDone."""
        self.require_stage("Track")
        colour = self.shot_colour(request.colour)
        landmarks = None
        if request.landmarks:
            from .tracking.detection import check_landmark_map

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
                   caller_gone: StopCheck = _never) -> EventStream:
        """Events: ProgressEvent and reenact.PlateOut in frame order; ``result``: ManipulateDone."""
        from .manipulator.controls import resolve_schedule
        from .parameters import COMPRESSIONS, PIXEL_TYPES, parameter
        from .reenact import ReenactSettings, StageTimes, manipulate_track

        self.require_stage("Manipulate")
        colour = self.shot_colour(request.colour)
        if request.compression not in COMPRESSIONS:
            raise InvalidInput(f"unknown EXR compression {request.compression!r}; use one of {', '.join(COMPRESSIONS)}")
        if request.pixel_type not in PIXEL_TYPES:
            raise InvalidInput(f"unknown pixel type {request.pixel_type!r}; use half or float")
        preroll = parameter("preroll")
        pre = int(preroll.default if request.preroll is None else request.preroll)
        if not preroll.minimum <= pre <= preroll.maximum:
            raise InvalidInput(f"preroll {pre} is out of range; expected {preroll.minimum:g} to {preroll.maximum:g}"
                               " frames")
        if not request.actor_id:
            raise InvalidInput("Manipulate needs an actor: the actor whose renderer re-renders the face")
        renderer = self.models.renderer(request.actor_id)
        manipulator = self.models.manipulator()
        resolve_schedule(request.control, 1, manipulator.emotions)  # a bad control fails before any frame
        settings = ReenactSettings(request.control, request.composite, request.first, request.last, pre,
                                   request.compression, request.pixel_type)

        def work(emit: Emit, stopped: StopCheck) -> ManipulateDone:
            shot = self._shot(frames, request.shot_id, request.frame_count, emit, stopped, "Manipulate")
            with self.scheduler.slot(stopped):
                outcome = self._track(shot, colour, emit, stopped, face_id=request.face_id, reuse_any=True)
                track = outcome.track
                conditioner = self.models.conditioner(renderer.resolution)
                count = tracked = 0
                times = StageTimes()
                for plate in manipulate_track(
                        self.store, shot, track, manipulator, renderer, conditioner, colour, settings,
                        device=self.device, cancelled=stopped, times=times,
                        progress=lambda done, total: emit(ProgressEvent("render", done, total))):
                    emit(plate)
                    count += 1
                    tracked += int(plate.tracked)
            log.info("Manipulate %s: %d plates (%s)", shot.shot_id, count, times.summary(),
                     extra={"ned_seconds": dict(times.seconds), "ned_frames": count})
            return ManipulateDone(shot.shot_id, count, tracked, outcome.from_cache, dict(times.seconds))

        return EventStream(work, caller_gone, name="ned-manipulate")

    # ------------------------------------------------------------------ ExtractStyle
    def extract_style(self, request: StyleRequest, frames: Iterable[tuple[int, bytes]],
                      caller_gone: StopCheck = _never) -> StyleResult:
        from .reenact import frame_range

        self.require_stage("ExtractStyle")
        colour = self.shot_colour(request.colour)
        manipulator = self.models.manipulator()

        def discard(event: Any) -> None:
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
    def train_actor(self, params: Any) -> JobRecord:
        """Check the request (actor_training.TrainActorParams) and queue the job."""
        from dataclasses import asdict

        from .actor_training import JOB_KIND, check_request, update_actor

        self.require_stage("TrainActor")
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
