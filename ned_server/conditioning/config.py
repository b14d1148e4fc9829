"""Settings of the conditioning renderer, and the error its bad input raises.

Lights are directions in the image frame (x right, y down, z away from the camera) pointing
towards the light, so (0, 0, -1) lights the face from the camera. The defaults give a surface that
faces the camera a grey of about 0.8 and keep shapes readable in profile: one frontal key light,
one from above and two weak side lights, plus ambient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ned_server.errors import InvalidInput

MAX_LIGHTS = 8  # must match the array size in shaders/shade.glsl


class ConditioningError(InvalidInput):
    """Bad conditioning input (mesh, attributes, pupils, settings); the message says what is expected."""


@dataclass(frozen=True)
class Light:
    direction: tuple[float, float, float]
    intensity: float


DEFAULT_LIGHTS: tuple[Light, ...] = (
    Light((0.0, 0.0, -1.0), 0.6),
    Light((0.0, -1.0, -1.0), 0.2),
    Light((-1.0, 0.0, -1.0), 0.1),
    Light((1.0, 0.0, -1.0), 0.1),
)


@dataclass(frozen=True)
class ConditioningConfig:
    """How the conditioning images are drawn.

    ``eye_radius`` is the radius of the red pupil disks as a fraction of the image's smaller side
    (0.016 is 4 px at 256x256), so the disks keep their size relative to the face at any output
    size. ``restrict_to_face`` blanks the NMFC and shape images outside the face mask (the eye
    image always is). ``two_sided`` shades surfaces seen from behind (inside the mouth, through
    the eyelids) as if they faced the camera instead of leaving them at the ambient level.
    """

    eye_radius: float = 0.016
    lights: tuple[Light, ...] = DEFAULT_LIGHTS
    ambient: float = 0.2
    albedo: float = 0.75
    two_sided: bool = True
    restrict_to_face: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.eye_radius) or not 0.0 <= self.eye_radius <= 0.5:
            raise ConditioningError(
                f"eye_radius {self.eye_radius!r} must be a fraction of the image's smaller side, 0 to 0.5")
        if len(self.lights) > MAX_LIGHTS:
            raise ConditioningError(f"{len(self.lights)} lights given; the shader takes at most {MAX_LIGHTS}")
        for light in self.lights:
            d = light.direction
            if len(d) != 3 or not all(math.isfinite(c) for c in d) or math.hypot(*d) == 0.0:
                raise ConditioningError(f"light direction {d!r} must be three finite numbers, not all zero")
            if not math.isfinite(light.intensity) or light.intensity < 0.0:
                raise ConditioningError(f"light intensity {light.intensity!r} must be a finite number >= 0")
        for name in ("ambient", "albedo"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0.0:
                raise ConditioningError(f"{name} {value!r} must be a finite number >= 0")

    def eye_radius_px(self, width: int, height: int) -> float:
        return self.eye_radius * min(width, height)
