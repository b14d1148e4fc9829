"""face3d: the FLAME head model in torch, its files and cameras.

Modules: flame (FlameLayer: shape/expression/pose -> vertices, 68 landmarks, joints), lbs (linear
blend skinning), rotations (axis-angle, yaw/pitch/roll), camera (DECA orthographic and pinhole
projection to pixels), model_file / landmark_embedding / safe_pickle (the official FLAME, DECA and
mask files, read without chumpy and without executing pickles). The procedural FLAME-format stand-in
head lives apart, in ``ned_server.synthetic`` (its generator and the writer of its files).
"""

from ned_server.face3d.camera import (
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
from ned_server.face3d.config import FlameConfig
from ned_server.face3d.flame import FlameInputError, FlameLayer, FlameOutput
from ned_server.face3d.landmark_embedding import (
    LandmarkEmbedding,
    contour_bin,
    load_flame_masks,
    load_landmark_embedding,
    save_flame_masks,
    save_landmark_embedding,
)
from ned_server.face3d.model_file import FlameModel, load_flame_model, save_flame_model
from ned_server.face3d.rotations import (
    axis_angle_to_yaw_pitch_roll,
    batch_rodrigues,
    euler_to_rotation_matrix,
    rotation_matrix_to_axis_angle,
    rotation_to_yaw_pitch_roll,
    yaw_pitch_roll_to_axis_angle,
)
from ned_server.face3d.safe_pickle import FlameAssetError, UnsafePickleError, safe_load_npy, safe_load_pickle

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
    "yaw_pitch_roll_to_axis_angle",
]
