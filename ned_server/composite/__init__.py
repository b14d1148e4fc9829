"""Compositing stage: un-align the rendered face, matte it, blend it into the plate, hand back a face plate.

Modules: config (settings and their checks), align (the alignment and its inverse as tensor
functions), pyramid (Gaussian/Laplacian pyramids), blend (multi-band, alpha over, Poisson), matte
(erode, feather, temporal smoothing in aligned space), plate (the per-frame face plate).
"""

from ned_server.composite.align import Box, face_box, invert_affine, warp_affine
from ned_server.composite.blend import blend, copy_paste, laplacian_blend, poisson_blend
from ned_server.composite.config import CompositeConfig, CompositeError
from ned_server.composite.matte import TemporalMatteFilter, make_matte, smooth_mattes
from ned_server.composite.plate import FaceBlend, FacePlate, blend_face, build_plate, composite_frame, empty_plate, over

__all__ = [
    "Box",
    "CompositeConfig",
    "CompositeError",
    "FaceBlend",
    "FacePlate",
    "TemporalMatteFilter",
    "blend",
    "blend_face",
    "build_plate",
    "composite_frame",
    "copy_paste",
    "empty_plate",
    "face_box",
    "invert_affine",
    "laplacian_blend",
    "make_matte",
    "over",
    "poisson_blend",
    "smooth_mattes",
    "warp_affine",
]
