"""The pipeline facade the service calls: shots, tracking, manipulation, training, server facts.

It knows nothing of gRPC: it takes plain values and iterables of (frame, bytes), yields plain
events, and raises ned_server.errors. Each stage (tracking, manipulator, renderer, composite)
lives in its own sub-package; a stage that is not installed makes its RPCs answer UNIMPLEMENTED
with a message naming what is missing, while the rest of the server works.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import __version__
from .assets import Asset, load_manifest
from .config import ServerConfig, resolve_device
from .domains import EMOTIONS
from .errors import InvalidInput, Unavailable
from .intake import Shot, receive_shot, sweep_incoming
from .jobs import JobManager
from .scheduler import DeviceScheduler
from .store import Store

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
        ("ned_server.renderer.inference", "FaceRenderer"),
        ("ned_server.composite.plate", "build_plate"),
    ),
    "TrainActor": (("ned_server.renderer.train", "RendererTrainer"),),
}


@dataclass
class ColourRequest:
    config: str = ""
    input_space: str = ""


class Pipeline:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config.store_dir)
        sweep_incoming(self.store)
        self.device = resolve_device(config.device)
        lim = config.limits
        self.scheduler = DeviceScheduler(lim.device_slots, lim.max_waiting, lim.retry_after_s)
        self.jobs = JobManager(self.store)
        self.assets: dict[str, Asset] = load_manifest()
        self._colours: dict[str, Any] = {}
        self._colour_lock = threading.Lock()

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

    # ------------------------------------------------------------------ shots
    def receive_shot(
        self,
        frames: Iterable[tuple[int, bytes]],
        shot_id: str = "",
        on_frame: Callable[[int, int], None] = lambda received, frame: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Shot | None:
        return receive_shot(self.store, frames, self.config.limits, shot_id, on_frame, cancelled)

    def load_shot(self, shot_id: str) -> Shot:
        return Shot.load(self.store.require_shot(shot_id))

    def shutdown(self) -> None:
        self.jobs.shutdown()
