"""Settings of the synthetic actor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ActorConfig:
    """How the synthetic actor is built and filmed.

    width/height: frame size (any); supersample: rendering is done at this factor and area-averaged
    down (anti-aliasing); texture_size: albedo atlas side; model_seed: the procedural FLAME model's
    seed (shared by every identity; identities differ in shape coefficients and look);
    shape_std: spread of the identity shape coefficients; head_motion / gaze_motion / camera_motion /
    background_motion: amplitude multipliers (0 freezes that motion); face_scale: range of the
    orthographic scale (larger = closer; 6 puts a head of about 70% of the frame's shorter side);
    noise: sensor noise std in display units; raster_backend: 'auto', 'gl' or 'numpy'.
    """

    width: int = 256
    height: int = 256
    fps: float = 25.0
    supersample: int = 2
    texture_size: int = 1024
    model_seed: int = 0
    shape_std: float = 1.0
    head_motion: float = 1.0
    gaze_motion: float = 1.0
    camera_motion: float = 1.0
    background_motion: float = 1.0
    face_scale: tuple[float, float] = (5.4, 6.6)
    noise: float = 0.004
    raster_backend: str = "auto"

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError(f"ActorConfig: frames must be at least 16x16, got {self.width}x{self.height}")
        if self.supersample < 1 or self.texture_size < 64 or self.fps <= 0:
            raise ValueError("ActorConfig: supersample >= 1, texture_size >= 64 and fps > 0 are required")
        if self.face_scale[0] <= 0 or self.face_scale[1] < self.face_scale[0]:
            raise ValueError(f"ActorConfig: face_scale must be a positive (low, high) range, got {self.face_scale}")

@dataclass
class TinyFlameConfig:
    """The procedural stand-in model written by ``synthetic.flame_assets``.

    ``shape_components``/``expression_components`` are the counts written to the file (FLAME 2020's
    300 + 100 by default, so the default FlameConfig reads it exactly like the official one).
    ``detail`` scales the mesh density (1.0 ~ 5,000 vertices).
    """

    shape_components: int = 300
    expression_components: int = 100
    detail: float = 1.0
