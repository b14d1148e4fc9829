"""The server's loaded models: FLAME, the landmark detector, the manipulator, each actor's renderer.

Loading a model costs seconds and memory, so each is loaded once, on first use, and shared by every
request (behind a lock: two Manipulate calls arriving together must not load a renderer twice).
A renderer is reloaded when its checkpoint file changes, so an actor that finishes training (or
is retrained) is picked up without restarting the server.

FLAME: the licensed files under ``models/flame/`` when they are there; otherwise the procedural
FLAME-format head of ``face3d.assets`` (the one the synthetic actor is built on), so the server,
the tests and the demo run with no licensed file. GetInfo lists the FLAME asset as missing in that
case, so nobody mistakes the stand-in for the real model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .assets import Asset
from .errors import Precondition
from .store import Store

if TYPE_CHECKING:
    from .conditioning.shot import FaceConditioner
    from .face3d.flame import FlameLayer
    from .manipulator.inference import EmotionManipulator
    from .renderer.inference import FaceRenderer
    from .tracking.config import TrackingConfig
    from .tracking.detection import LandmarkDetector

log = logging.getLogger(__name__)

RENDERER_FILE = "renderer.pth"  # what RendererTrainer writes for inference, inside the actor's training folder


@dataclass(frozen=True)
class FlameFiles:
    """Where the FLAME model in use comes from (``procedural`` when it is the stand-in)."""

    model: Path
    landmarks: Path
    masks: Path
    procedural: bool


def actor_renderer_path(store: Store, actor_id: str) -> Path:
    return store.actor_dir(actor_id) / "training" / RENDERER_FILE


class Models:
    def __init__(self, models_dir: Path, assets: dict[str, Asset], store: Store, device: str,
                 keep_details: bool = False) -> None:
        self.models_dir = Path(models_dir)
        self.keep_details = keep_details
        self.assets = assets
        self.store = store
        self.device = device
        self._lock = threading.RLock()
        self._cache: dict[Any, Any] = {}

    def _once(self, key: Any, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    # ------------------------------------------------------------------ FLAME
    def flame_files(self) -> FlameFiles:
        names = ("flame", "flame_landmarks", "flame_masks")
        if all(self.assets[n].found(self.models_dir) for n in names):
            model, landmarks, masks = (self.assets[n].location(self.models_dir) for n in names)
            return FlameFiles(model, landmarks, masks, procedural=False)
        from .face3d.assets import make_tiny_flame_assets
        from .synthetic.config import ActorConfig

        tiny = make_tiny_flame_assets(None, seed=ActorConfig().model_seed)
        return FlameFiles(tiny.model, tiny.landmarks, tiny.masks, procedural=True)

    def flame(self) -> FlameLayer:
        def build() -> FlameLayer:
            from .face3d.config import FlameConfig
            from .face3d.flame import FlameLayer

            files = self.flame_files()
            if files.procedural:
                log.warning("FLAME files not found under %s/flame: using the procedural stand-in head "
                            "(fine for the synthetic actor and tests, not for real footage)", self.models_dir)
            return FlameLayer(files.model, files.landmarks, FlameConfig(), device=self.device)

        return self._once("flame", build)

    def flame_masks(self) -> dict:
        def build() -> dict:
            from .face3d.landmark_embedding import load_flame_masks

            return load_flame_masks(self.flame_files().masks, self.flame().num_vertices)

        return self._once("flame_masks", build)

    def flame_identity(self) -> str:
        """Names the FLAME model in use, so a cached track made with another model is not reused."""
        files = self.flame_files()
        stat = files.model.stat()
        return f"{'procedural' if files.procedural else 'flame'}:{files.model.name}:{stat.st_size}:{int(stat.st_mtime)}"

    def conditioner(self, resolution: int) -> FaceConditioner:
        def build() -> FaceConditioner:
            from .conditioning.shot import FaceConditioner

            return FaceConditioner(self.flame(), self.flame_masks(), resolution=resolution, device=self.device)

        return self._once(("conditioner", int(resolution)), build)

    # ------------------------------------------------------------------ landmarks
    def detector(self, config: TrackingConfig) -> LandmarkDetector:
        """face-alignment's detector; FAILED_PRECONDITION naming the weight files when they are absent."""

        def build() -> LandmarkDetector:
            from .tracking.fan import FanDetector

            return FanDetector(config.detection, device=self.device)

        return self._once("detector", build)

    # ------------------------------------------------------------------ manipulator
    def manipulator_source(self) -> Path:
        asset = self.assets["ned_manipulator"]
        path = asset.location(self.models_dir)
        if path.is_file():
            return path
        folder = path.parent
        if folder.is_dir() and (any(folder.glob("*_nets.pth")) or (folder / "latest.json").is_file()):
            return folder
        raise Precondition(f"no emotion manipulator on this server: put a checkpoint at {path} (get it from "
                           f"{asset.source}) or train one with `ned train-manipulator --out {folder}`")

    def manipulator(self) -> EmotionManipulator:
        from .manipulator.checkpoint import resolve_checkpoint

        source = resolve_checkpoint(self.manipulator_source())
        key = ("manipulator", str(source), source.stat().st_mtime_ns)

        def build() -> EmotionManipulator:
            from .manipulator.checkpoint import CheckpointError
            from .manipulator.config import InferenceConfig
            from .manipulator.inference import EmotionManipulator

            log.info("loading the emotion manipulator from %s", source)
            try:
                config = InferenceConfig(device=self.device, keep_details=self.keep_details, jaw_floor=0.0)
                return EmotionManipulator(source, config, device=self.device)
            except CheckpointError as exc:  # the server's file, not the request, is at fault
                raise Precondition(f"the emotion manipulator on this server cannot be loaded: {exc}; replace "
                                   f"{source}") from None

        return self._once(key, build)

    # ------------------------------------------------------------------ renderers
    def renderer(self, actor_id: str) -> FaceRenderer:
        meta = self.store.require_actor(actor_id)
        path = actor_renderer_path(self.store, actor_id)
        if not meta.get("ready") or not path.is_file():
            raise Precondition(f"actor {actor_id!r} has no trained renderer yet: train it first (TrainActor / "
                               "`ned train-actor`)" + (f"; {meta['message']}" if meta.get("message") else ""))
        key = ("renderer", actor_id, path.stat().st_mtime_ns)

        def build() -> FaceRenderer:
            from .renderer.checkpoint import RendererCheckpointError
            from .renderer.inference import FaceRenderer

            log.info("loading the renderer of actor %s from %s", actor_id, path)
            try:
                return FaceRenderer(path, device=self.device)
            except RendererCheckpointError as exc:  # damaged, or not a tensors-only file: never run it
                raise Precondition(f"the renderer of actor {actor_id!r} cannot be loaded ({exc}); train the "
                                   "actor again") from None

        with self._lock:
            for old in [k for k in self._cache if isinstance(k, tuple) and k[:2] == ("renderer", actor_id)
                        and k != key]:
                del self._cache[old]  # a retrained actor: free the old weights
        return self._once(key, build)
