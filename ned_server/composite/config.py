"""Settings of the compositing stage, checked up front so a bad request fails before any frame is made.

The ranges are the ones GetInfo advertises (ned_plugin.parameters), so a value a host node lets a
compositor type is a value this stage accepts, and the message names the knob the compositor sees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ned_plugin.parameters import BLEND_METHODS, parameter
from ned_server.errors import InvalidInput

# The request parameters (ned_plugin.parameters) that map onto this stage's settings.
SETTING_NAMES = {
    "blend_method": "method",
    "blend_levels": "levels",
    "matte_erode": "erode_px",
    "matte_feather": "feather_px",
}


class CompositeError(InvalidInput):
    """Bad compositing input or settings; the message says what was wrong and what is expected."""


@dataclass(frozen=True)
class CompositeConfig:
    """How the rendered face goes back into the plate.

    ``levels`` counts every level of the Laplacian pyramid, the coarsest (low-pass) one included,
    so 1 is a plain alpha blend and 4 (NED's default) halves the face box three times.
    ``feather_px`` is the reach of the soft edge on either side of the eroded edge: the matte is
    blurred with a Gaussian of sigma ``feather_px / 2`` (2 sigma = feather_px).
    ``temporal_sigma`` is in frames (0 turns it off); mattes are smoothed with a centred Gaussian in
    the aligned (stabilised) space, so a fast head move adds no lag.
    ``margin_px`` is the extra context kept around the face box beyond the feather's reach.
    """

    method: str = "laplacian"
    levels: int = 4
    erode_px: float = 2.0
    feather_px: float = 6.0
    temporal_sigma: float = 1.0
    margin_px: int = 8
    poisson_iterations: int = 30

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.method not in BLEND_METHODS:
            raise CompositeError(
                f"blend_method {self.method!r} is not known; expected one of {', '.join(BLEND_METHODS)}")
        lv = parameter("blend_levels")
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) \
                or not lv.minimum <= self.levels <= lv.maximum:
            raise CompositeError(
                f"blend_levels {self.levels!r} is out of range; expected a whole number from "
                f"{int(lv.minimum)} (plain alpha blend) to {int(lv.maximum)}")
        for name, value in (("matte_erode", self.erode_px), ("matte_feather", self.feather_px)):
            p = parameter(name)
            if not isinstance(value, int | float) or not math.isfinite(value) or not p.minimum <= value <= p.maximum:
                raise CompositeError(
                    f"{name} {value!r} is out of range; expected {p.minimum:g} to {p.maximum:g} plate pixels")
        if not math.isfinite(self.temporal_sigma) or not 0.0 <= self.temporal_sigma <= 10.0:
            raise CompositeError(
                f"temporal matte smoothing {self.temporal_sigma!r} is out of range; expected 0 (off) to 10 frames")
        if not isinstance(self.margin_px, int) or not 0 <= self.margin_px <= 1024:
            raise CompositeError(f"face box margin {self.margin_px!r} must be a whole number of pixels, 0 to 1024")
        if not isinstance(self.poisson_iterations, int) or not 1 <= self.poisson_iterations <= 10000:
            raise CompositeError(
                f"poisson iterations {self.poisson_iterations!r} must be a whole number from 1 to 10000")

    @property
    def feather_sigma(self) -> float:
        return self.feather_px / 2.0

    @property
    def feather_reach(self) -> int:
        """How far (px) the feather spreads the matte beyond the eroded edge: the blur's 3-sigma radius."""
        return math.ceil(3.0 * self.feather_sigma)

    @classmethod
    def from_settings(cls, settings: Mapping[str, object], **overrides: object) -> CompositeConfig:
        """From a request's parameter values (``blend_method``, ``blend_levels``, ``matte_erode``, ...).

        Unknown keys are ignored (a request carries the other stages' settings too); missing keys
        keep their defaults. Values are coerced the way a host node sends them (floats for ints).
        """
        kwargs: dict[str, object] = {}
        for key, field_name in SETTING_NAMES.items():
            if key in settings:
                kwargs[field_name] = settings[key]
        names = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in names:
                raise TypeError(f"CompositeConfig has no setting {key!r}")
            kwargs[key] = value
        if "levels" in kwargs:
            lv = kwargs["levels"]
            if isinstance(lv, float) and lv.is_integer():
                kwargs["levels"] = int(lv)
        for key in ("erode_px", "feather_px"):
            if key in kwargs and isinstance(kwargs[key], int) and not isinstance(kwargs[key], bool):
                kwargs[key] = float(kwargs[key])  # type: ignore[arg-type]
        return cls(**kwargs)  # type: ignore[arg-type]
