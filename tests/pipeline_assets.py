"""Test assets for the whole pipeline: a synthetic shot as scene-linear EXR plates, and tiny models.

The shot is the synthetic actor rendered through the project's own shaders, converted to
scene-linear with OCIO and encoded with OpenImageIO, exactly as a host sends plates. Landmarks
come from the clip's ground truth (plus noise), sent as "landmarks from another tracker" because
the FAN weights cannot be downloaded here. Models are random-initialised at tiny sizes and written
in the formats the server loads (manipulator nets file, renderer checkpoint + actor record), so
the real loading paths run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ned_plugin.colour import Colour
from ned_plugin.exr import Frame, Window, encode_exr


@dataclass
class TestShot:
    frames: list[tuple[int, bytes]]  # (frame number, EXR bytes)
    landmarks: dict[int, np.ndarray]  # frame -> (68, 2) plate pixels
    clip: object  # SyntheticClip (ground truth)
    first: int


def exr_plates(srgb_frames: np.ndarray, first: int = 1001, colour: Colour | None = None) -> list[tuple[int, bytes]]:
    """sRGB (T, H, W, 3) in [0, 1] -> scene-linear half RGBA EXR bytes, numbered from ``first``."""
    colour = colour or Colour()
    out = []
    for i, srgb in enumerate(srgb_frames):
        linear = colour.from_network(srgb)
        h, w = linear.shape[:2]
        rgba = np.concatenate([linear, np.ones((h, w, 1), np.float32)], axis=-1).astype(np.float16)
        window = Window(0, 0, w, h)
        out.append((first + i, encode_exr(Frame(rgba, ("R", "G", "B", "A"), window, window))))
    return out


def synthetic_shot(frames: int = 24, size: int = 192, seed: int = 3, emotion: str = "neutral",
                   first: int = 1001, noise_px: float = 0.5, motion_seed: int = 0,
                   face_scale: tuple[float, float] = (5.4, 6.6)) -> TestShot:
    from ned_server.synthetic.actor import SyntheticActor
    from ned_server.synthetic.config import ActorConfig

    actor = SyntheticActor(seed, ActorConfig(width=size, height=size, supersample=1, texture_size=256,
                                             face_scale=face_scale))
    clip = actor.render_sequence(frames, emotion, seed=motion_seed)
    rng = np.random.default_rng(seed)
    landmarks = {first + i: clip.landmarks[i] + rng.normal(0, noise_px, clip.landmarks[i].shape)
                 for i in range(frames)}
    return TestShot(exr_plates(clip.frames, first), landmarks, clip, first)


def write_tiny_manipulator(models_dir: Path, seed: int = 0) -> Path:
    """A random tiny manipulator where the server looks for one (models/manipulator/)."""
    from ned_server.manipulator.checkpoint import networks_state
    from ned_server.manipulator.config import TINY_SIZES
    from ned_server.manipulator.networks import ManipulatorNetworks

    torch.manual_seed(seed)
    path = Path(models_dir) / "manipulator" / "20_nets.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(networks_state(ManipulatorNetworks(TINY_SIZES), {"epoch": 20}), path)
    return path


def write_tiny_actor(store_dir: Path, actor_id: str = "anna", resolution: int = 32, seed: int = 0) -> Path:
    """A random tiny renderer registered as a ready actor in a store."""
    from ned_server.renderer import checkpoint as ckpt_io
    from ned_server.renderer.config import tiny_config
    from ned_server.renderer.networks import Generator

    cfg = tiny_config(resolution)
    torch.manual_seed(seed)
    folder = Path(store_dir) / "actors" / actor_id
    (folder / "training").mkdir(parents=True, exist_ok=True)
    path = folder / "training" / "renderer.pth"
    torch.save({"format": ckpt_io.FORMAT, "config": cfg.to_dict(), "iteration": 0,
                "generator": Generator(cfg.generator).state_dict()}, path)
    (folder / "actor.json").write_text(json.dumps({"actor_id": actor_id, "ready": True, "preset": "tiny",
                                                   "resolution": resolution, "iterations": 0,
                                                   "updated": time.time()}))
    return path
