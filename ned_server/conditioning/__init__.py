"""Conditioning stage: the renderer network's input images, rasterised from the tracked 3D face with GLSL.

Modules: gl_context (the headless EGL context on its own thread, GLUnavailableError), gl_resources
(render targets, per-vertex data textures, index buffers), raster (MeshRasterizer: any per-vertex
attributes to float32 images, depth-tested), images (ConditioningRenderer: NMFC, detailed shape,
eye image and the face/mouth masks; nmfc_colors), normals (per-vertex normals, detail
displacement), reference (a software z-buffered rasteriser, the benchmark's baseline and the tests'
cross-check), primitives (procedural sphere and plane meshes standing in for the face model),
config (settings), validation (input checks), shot (FaceConditioner: a tracked shot's frames,
FLAME posed and drawn in the aligned crop, ShotConditioning; not imported here, as it pulls in
torch and the tracking stage). Shaders: the ned_shaders package.
"""

from ned_server.conditioning.config import ConditioningConfig, ConditioningError, Light
from ned_server.conditioning.gl_context import GLThread, GLUnavailableError, create_context, shared_gl_thread
from ned_server.conditioning.images import Conditioning, ConditioningRenderer, UVDisplacement, nmfc_colors
from ned_server.conditioning.normals import vertex_normals
from ned_server.conditioning.raster import MeshRasterizer, RasterOutput

__all__ = [
    "Conditioning",
    "ConditioningConfig",
    "ConditioningError",
    "ConditioningRenderer",
    "GLThread",
    "GLUnavailableError",
    "Light",
    "MeshRasterizer",
    "RasterOutput",
    "UVDisplacement",
    "create_context",
    "nmfc_colors",
    "shared_gl_thread",
    "vertex_normals",
]
