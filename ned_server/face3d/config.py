"""Settings of the face3d stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FlameConfig:
    """How many components the FLAME layer uses.

    DECA and NED use 100 shape and 50 expression components; the official FLAME 2020 file holds 300
    and 100 (the file does not say where shape ends, hence ``shape_components_in_file``).
    """

    n_shape: int = 100
    n_exp: int = 50
    shape_components_in_file: int = 300

    def __post_init__(self) -> None:
        if self.n_shape < 0 or self.n_exp < 0 or self.shape_components_in_file < 0:
            raise ValueError("FlameConfig: component counts must be non-negative")
