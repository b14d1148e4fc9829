"""face3d: the FLAME head model in torch, its files, cameras, and a procedural FLAME-format stand-in.

Modules: flame (FlameLayer: shape/expression/pose -> vertices, 68 landmarks, joints), lbs (linear
blend skinning), rotations (axis-angle, yaw/pitch/roll), camera (DECA orthographic and pinhole
projection to pixels), model_file / landmark_embedding / safe_pickle (the official FLAME, DECA and
mask files, read without chumpy and without executing pickles), flame_generator + procedural (a
small procedurally built FLAME-format head) and assets (writing it to disk as the official files).
"""

from .assets import TinyFlameAssets, TinyFlameExtras, load_tiny_flame_extras, make_tiny_flame_assets, tiny_flame
from .camera import (
    RASTER_OFFSET,
    CameraError,
    PinholeCamera,
    fit_orthographic_camera,
    frontal_pinhole,
    orthographic_ndc,
    orthographic_to_pixels,
    project_orthographic,
    project_pinhole,
)
from .config import FlameConfig, TinyFlameConfig
from .flame import FlameInputError, FlameLayer, FlameOutput
from .landmark_embedding import (
    LandmarkEmbedding,
    contour_bin,
    load_flame_masks,
    load_landmark_embedding,
    save_flame_masks,
    save_landmark_embedding,
)
from .model_file import FlameModel, load_flame_model, save_flame_model
from .rotations import (
    axis_angle_to_yaw_pitch_roll,
    batch_rodrigues,
    euler_to_rotation_matrix,
    rotation_matrix_to_axis_angle,
    rotation_to_yaw_pitch_roll,
    yaw_pitch_roll_to_axis_angle,
)
from .safe_pickle import FlameAssetError, UnsafePickleError, safe_load_npy, safe_load_pickle

__all__ = [
    "RASTER_OFFSET",
    "CameraError",
    "FlameAssetError",
    "FlameConfig",
    "FlameInputError",
    "FlameLayer",
    "FlameModel",
    "FlameOutput",
    "LandmarkEmbedding",
    "PinholeCamera",
    "TinyFlameAssets",
    "TinyFlameConfig",
    "TinyFlameExtras",
    "UnsafePickleError",
    "axis_angle_to_yaw_pitch_roll",
    "batch_rodrigues",
    "contour_bin",
    "euler_to_rotation_matrix",
    "fit_orthographic_camera",
    "frontal_pinhole",
    "load_flame_masks",
    "load_flame_model",
    "load_landmark_embedding",
    "load_tiny_flame_extras",
    "make_tiny_flame_assets",
    "orthographic_ndc",
    "orthographic_to_pixels",
    "project_orthographic",
    "project_pinhole",
    "rotation_matrix_to_axis_angle",
    "rotation_to_yaw_pitch_roll",
    "safe_load_npy",
    "safe_load_pickle",
    "save_flame_masks",
    "save_flame_model",
    "save_landmark_embedding",
    "tiny_flame",
    "yaw_pitch_roll_to_axis_angle",
]
