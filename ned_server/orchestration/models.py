"""The server's loaded models: FLAME, the landmark detector, the manipulator, each actor's renderer.

Loading a model costs seconds and memory, so each is loaded once, on first use, and shared by every
request (behind a lock: two Manipulate calls arriving together must not load a renderer twice).
A renderer is reloaded when its checkpoint file changes, so an actor that finishes training (or
is retrained) is picked up without restarting the server.

FLAME: the files under ``models/flame/`` in the official layout. The licensed model cannot ship
here, so the demo and the tests install the procedural FLAME-format stand-in head of
``ned_server.synthetic`` there; its folder carries a marker file (``STANDIN_MARKER``) so the server
logs and GetInfo say it is the stand-in, and nobody mistakes it for the real model. The server
itself never builds it: with no FLAME files, the RPCs that need one answer FAILED_PRECONDITION
naming the files and where to get them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from ned_server.conditioning.detail import DetailDisplacement, load_deca_uv
from ned_server.conditioning.shot import FaceConditioner
from ned_server.errors import Precondition
from ned_server.face3d.config import FlameConfig
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.landmark_embedding import load_flame_masks
from ned_server.face3d.model_file import STANDIN_MARKER
from ned_server.face3d.sliders import slider_basis_for
from ned_server.manipulator.checkpoint import CheckpointError, resolve_checkpoint
from ned_server.manipulator.config import InferenceConfig
from ned_server.manipulator.inference import EmotionManipulator
from ned_server.manipulator.sliders import SliderRig
from ned_server.renderer.checkpoint import RendererCheckpointError
from ned_server.renderer.inference import FaceRenderer
from ned_server.runtime.assets import Asset
from ned_server.runtime.store import Store
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.deca import Deca, load_deca
from ned_server.tracking.detection import LandmarkDetector
from ned_server.tracking.landmarkers import LandmarkerInfo, describe, make_detector

T = TypeVar("T")

log = logging.getLogger(__name__)

# What each RPC does, in the manifest's ``needed_for`` words: every RPC that takes a shot tracks it.
RPC_USES: dict[str, tuple[str, ...]] = {
    "Track": ("track",),
    "Manipulate": ("track", "manipulate"),
    "ExtractStyle": ("track", "extract_style"),
    "TrainActor": ("track", "train_actor"),
}

# The manifest's DECA entries: the networks, and the data files the detailed shape image needs.
DECA_ASSETS = ("deca", "deca_head_template", "deca_fixed_displacement", "deca_uv_face_eye_mask")
RENDERER_FILE = "renderer.pth"  # what RendererTrainer writes for inference, inside the actor's training folder
# TrainActor's init_from naming the released NED meta-renderer of the models folder (asset
# "ned_meta_renderer") rather than an actor; no actor may take this id.
META_RENDERER = "meta-renderer"
# Manipulator files a folder may hold: ours and the official per-epoch ones, and the released
# fine-tuned one (02_nets_finetuned.pth).
MANIPULATOR_PATTERNS = ("[0-9]*_nets.pth", "[0-9]*_nets_finetuned.pth")


@dataclass(frozen=True)
class FlameFiles:
    """Where the FLAME model in use comes from (``procedural`` when it is the stand-in)."""

    model: Path
    landmarks: Path
    masks: Path
    procedural: bool


def actor_renderer_path(store: Store, actor_id: str) -> Path:
    """The actor's renderer: what training wrote, or the official ``<epoch>_net_G.pth`` an import
    (``ned import-actor``) put in its training folder (``renderer.checkpoint.load`` reads both)."""
    training = store.actor_dir(actor_id) / "training"
    ours = training / RENDERER_FILE
    if not ours.is_file():
        imported = sorted(training.glob("*_net_G.pth"))
        if imported:
            return imported[-1]
    return ours


class Models:
    def __init__(self, models_dir: Path, assets: dict[str, Asset], store: Store, device: str,
                 manipulator_config: InferenceConfig | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.manipulator_config = manipulator_config or InferenceConfig(jaw_floor=0.0)
        self.assets = assets
        self.store = store
        self.device = device
        self._lock = threading.RLock()
        self._cache: dict[tuple[object, ...], object] = {}

    def _once(self, key: tuple[object, ...], build: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]  # type: ignore[return-value]  # the key names the builder's type

    def require_for(self, rpc: str) -> None:
        """FAILED_PRECONDITION naming the first required asset of ``rpc`` that is missing, and its source."""
        uses = set(RPC_USES.get(rpc, ()))
        for asset in self.assets.values():
            if asset.optional or not uses.intersection(asset.needed_for):
                continue
            if asset.name == "ned_manipulator":
                self.manipulator_source()  # a file, or a training folder of checkpoints
            else:
                asset.require(self.models_dir)

    # ------------------------------------------------------------------ FLAME
    def flame_files(self) -> FlameFiles:
        """The FLAME files in use; FAILED_PRECONDITION naming each missing one and its source."""
        names = ("flame", "flame_landmarks", "flame_masks")
        for name in names:
            self.assets[name].require(self.models_dir)
        model, landmarks, masks = (self.assets[n].location(self.models_dir) for n in names)
        return FlameFiles(model, landmarks, masks, procedural=(model.parent / STANDIN_MARKER).is_file())

    def flame(self) -> FlameLayer:
        def build() -> FlameLayer:
            files = self.flame_files()
            if files.procedural:
                log.warning("FLAME under %s is the procedural stand-in head (fine for the synthetic actor and "
                            "tests, not for real footage)", files.model.parent)
            return FlameLayer(files.model, files.landmarks, FlameConfig(), device=self.device)

        return self._once(("flame",), build)

    def flame_masks(self) -> dict[str, np.ndarray]:
        def build() -> dict[str, np.ndarray]:
            return load_flame_masks(self.flame_files().masks, self.flame().num_vertices)

        return self._once(("flame_masks",), build)

    def flame_identity(self) -> str:
        """Names the FLAME model in use, so a cached track made with another model is not reused."""
        files = self.flame_files()
        stat = files.model.stat()
        return f"{'procedural' if files.procedural else 'flame'}:{files.model.name}:{stat.st_size}:{int(stat.st_mtime)}"

    def conditioner(self, resolution: int) -> FaceConditioner:
        def build() -> FaceConditioner:
            return FaceConditioner(self.flame(), self.flame_masks(), resolution=resolution, device=self.device,
                                   detail=self.deca_detail())

        return self._once(("conditioner", int(resolution)), build)

    def slider_rig(self) -> SliderRig:
        """The face sliders of the FLAME model in use: its directions, fitted once and kept beside it."""

        def build() -> SliderRig:
            files = self.flame_files()
            return SliderRig(self.flame(), slider_basis_for(self.flame(), files.model, files.landmarks))

        return self._once(("slider_rig",), build)

    def deca_detail(self) -> DetailDisplacement | None:
        """DECA's D_detail on its UV layout when deca_model.tar and its three data files are here."""
        files = self.deca_files()
        deca = self.deca()
        if deca is None or deca.D_detail is None or len(files) < len(DECA_ASSETS):
            return None
        uv = load_deca_uv(files["deca_head_template"], files["deca_fixed_displacement"],
                          files["deca_uv_face_eye_mask"], self.flame().num_vertices)
        return DetailDisplacement(deca, uv)

    # ------------------------------------------------------------------ landmarks
    def detector(self, config: TrackingConfig) -> LandmarkDetector:
        """FAN when its weights are here, else dlib's offline landmarker (tracking.landmarkers);
        FAILED_PRECONDITION naming what is missing when neither is."""

        def build() -> LandmarkDetector:
            detector, info = make_detector(config.detection, device=self.device)
            log.info("landmarks by %s (%s)%s", info.name, info.licence, f": {info.reason}" if info.reason else "")
            return detector

        return self._once(("detector", config.detection.backend), build)

    def landmarker(self, config: TrackingConfig) -> LandmarkerInfo:
        """Which landmarker Track uses here, and its licence (for GetInfo), without loading it."""
        return describe(config.detection)

    # ------------------------------------------------------------------ DECA
    def deca_files(self) -> dict[str, Path]:
        """DECA's files found on this server (asset name -> path): the networks and the detail data."""
        return {name: self.assets[name].location(self.models_dir) for name in DECA_ASSETS
                if name in self.assets and self.assets[name].found(self.models_dir)}

    def deca_detail_available(self) -> bool:
        """Whether the detailed shape image is drawn with DECA's displacement here (all four files)."""
        return len(self.deca_files()) == len(DECA_ASSETS)

    def deca(self) -> Deca | None:
        """DECA's networks when deca_model.tar is here (the paper's tracker), else None (landmark fit)."""
        path = self.deca_files().get("deca")
        if path is None:
            return None
        key = ("deca", str(path), path.stat().st_mtime_ns)

        def build() -> Deca:
            log.info("loading DECA from %s", path)
            return load_deca(path, device=self.device)

        return self._once(key, build)

    # ------------------------------------------------------------------ manipulator
    def manipulator_source(self) -> Path:
        asset = self.assets["ned_manipulator"]
        path = asset.location(self.models_dir)
        if path.is_file():
            return path
        folder = path.parent
        if folder.is_dir() and (any(f for pattern in MANIPULATOR_PATTERNS for f in folder.glob(pattern))
                                or (folder / "latest.json").is_file()):
            return folder
        raise Precondition(f"no emotion manipulator on this server: put a checkpoint at {path} (get it from "
                           f"{asset.source}) or train one with `ned train-manipulator --out {folder}`")

    def manipulator(self) -> EmotionManipulator:
        source = resolve_checkpoint(self.manipulator_source())
        key = ("manipulator", str(source), source.stat().st_mtime_ns)

        def build() -> EmotionManipulator:
            log.info("loading the emotion manipulator from %s", source)
            try:
                config = replace(self.manipulator_config, device=self.device)
                return EmotionManipulator(source, config, device=self.device)
            except CheckpointError as exc:  # the server's file, not the request, is at fault
                raise Precondition(f"the emotion manipulator on this server cannot be loaded: {exc}; replace "
                                   f"{source}") from None

        return self._once(key, build)

    # ------------------------------------------------------------------ renderers
    def meta_renderer_source(self) -> Path:
        """The released meta-renderer's ``<epoch>_net_G.pth`` (its D files beside it), for init_from."""
        asset = self.assets["ned_meta_renderer"]
        path = asset.location(self.models_dir)
        if not path.is_file():
            raise Precondition(f"no NED meta-renderer on this server: put the released checkpoints_meta-renderer "
                               f"files ({path.name} and the _net_D / _net_Dm files of that epoch) in {path.parent} "
                               f"(get them from {asset.source})")
        return path

    def renderer(self, actor_id: str) -> FaceRenderer:
        meta = self.store.require_actor(actor_id)
        path = actor_renderer_path(self.store, actor_id)
        if not meta.get("ready") or not path.is_file():
            raise Precondition(f"actor {actor_id!r} has no trained renderer yet: train it first (TrainActor / "
                               "`ned train-actor`)" + (f"; {meta['message']}" if meta.get("message") else ""))
        key = ("renderer", actor_id, path.stat().st_mtime_ns)

        def build() -> FaceRenderer:
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
