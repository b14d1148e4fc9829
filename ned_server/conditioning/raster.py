"""Depth-tested rasterisation of a pixel-space triangle mesh into float32 attribute images.

Conventions (shaders/common.glsl):
* vertices are (x, y, z): x, y in pixels with the origin at the image's top-left corner and y going
  down; z is a depth, smaller is nearer (any range: each frame's span is mapped onto the depth
  buffer, so only the order matters);
* pixel (i, j) covers [j, j+1) x [i, i+1) and is covered by a triangle when its centre
  (j + 0.5, i + 0.5) is inside (GL's rule; a centre exactly on a shared edge goes to one face);
* attributes are interpolated linearly in screen space with the barycentric weights of the pixel
  centre (the vertices are already projected, so this is what an orthographic camera gives).

The channels (C attributes + the face index) are packed four to an RGBA32F attachment; up to
GL_MAX_DRAW_BUFFERS attachments are written per draw and more channels take more passes. Frames
of a batch are uploaded once (positions and attributes live in textures) and drawn one by one
into the same framebuffer; each frame is queued for read-back into a pixel-pack buffer and the
whole chunk of frames is copied out at once (gl_resources.Readback).
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

from ned_server.conditioning.gl_context import GLThread, shared_gl_thread
from ned_server.conditioning.gl_resources import (
    DataTexture,
    MeshIndex,
    Readback,
    RenderTarget,
    Resources,
    depth_ranges,
    release_when_collected,
    set_uniform,
)
from ned_server.conditioning.validation import check_faces, check_per_vertex, check_size, check_vertices

FRAMES_PER_UPLOAD = 64  # frames whose vertex data sit in the textures at once


@dataclass
class RasterOutput:
    """attributes (B,H,W,C) float32, 0 where no face; mask (B,H,W) bool coverage;
    face_index (B,H,W) int32, -1 where empty."""

    attributes: np.ndarray
    mask: np.ndarray
    face_index: np.ndarray


class MeshRasterizer:
    """Rasterises batches of frames of one mesh at a fixed output size (``resize`` to change it).

    GL objects are created on first use and reused; ``close()`` (or a ``with`` block) releases them.
    ``gl`` is the context to use, the process-wide one by default.
    """

    def __init__(self, width: int, height: int, gl: GLThread | None = None) -> None:
        self.width, self.height = check_size(width, height)
        self.gl = gl if gl is not None else shared_gl_thread()
        self._res: Resources = self.gl.run(Resources, self.gl.ctx)
        self._target = RenderTarget(self._res)
        self._positions = DataTexture(self._res)
        self._attributes = DataTexture(self._res)
        self._index = MeshIndex(self._res)
        self._readback = Readback(self._res)
        info = self.gl.info
        self.groups_per_pass = max(1, min(int(info["GL_MAX_DRAW_BUFFERS"]), int(info["GL_MAX_VARYING_VECTORS"]) - 1))
        self._finalizer = release_when_collected(self, self.gl, self._res)

    # ------------------------------------------------------------------ lifecycle
    def resize(self, width: int, height: int) -> None:
        self.width, self.height = check_size(width, height)

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> MeshRasterizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def live_gl_objects(self) -> int:
        """GL objects this rasteriser holds (constant across calls of the same shape: nothing leaks)."""
        return self._res.live

    # ------------------------------------------------------------------ work
    def rasterize(self, verts_px: np.ndarray, faces: np.ndarray, attributes: np.ndarray) -> RasterOutput:
        """Rasterise B frames. verts_px (B,V,3); faces (F,3) int; attributes (B or 1, V, C) float32, C >= 1."""
        if self.closed:
            raise RuntimeError("this MeshRasterizer was closed")
        verts = check_vertices(verts_px)
        b, n_vertices, _ = verts.shape
        tri = check_faces(faces, n_vertices)
        attrs = check_per_vertex(attributes, "attributes", b, n_vertices, None)
        channels = attrs.shape[2]
        groups = -(-(channels + 1) // 4)  # + the face index channel
        packed = np.zeros((attrs.shape[0], n_vertices, groups * 4), np.float32)
        packed[..., :channels] = attrs
        packed = packed.reshape(attrs.shape[0], n_vertices, groups, 4)
        staging = np.empty((b, groups, self.height, self.width, 4), np.float32)
        self.gl.run(self._draw, verts, tri, packed, channels, staging)
        flat = staging.transpose(0, 2, 3, 1, 4).reshape(b, self.height, self.width, groups * 4)
        face_index = np.rint(flat[..., channels]).astype(np.int32) - 1
        return RasterOutput(attributes=np.ascontiguousarray(flat[..., :channels]), mask=face_index >= 0,
                            face_index=face_index)

    def _draw(self, verts: np.ndarray, faces: np.ndarray, packed: np.ndarray, id_channel: int,
              staging: np.ndarray) -> None:
        """On the GL thread: every frame and pass, read back into ``staging`` (B, G, H, W, 4)."""
        ctx = self._res.ctx
        b, n_vertices, _ = verts.shape
        groups = packed.shape[2]
        shared_attrs = packed.shape[0] == 1
        ranges = depth_ranges(verts[..., 2])
        ctx.enable_only(moderngl.DEPTH_TEST)
        ctx.depth_func = "<"
        passes = [(g0, min(groups, g0 + self.groups_per_pass)) for g0 in range(0, groups, self.groups_per_pass)]
        frame_bytes = staging[0].nbytes
        attachment_bytes = staging[0, 0].nbytes
        chunk = min(FRAMES_PER_UPLOAD, self._readback.frames_per_chunk(frame_bytes))
        for start in range(0, b, chunk):
            stop = min(b, start + chunk)
            pbo = self._readback.buffer((stop - start) * frame_bytes)
            pos = np.zeros((stop - start, n_vertices, 4), np.float32)
            pos[..., :3] = verts[start:stop]
            self._positions.upload(pos, unit=0)
            self._attributes.upload(packed if shared_attrs else packed[start:stop], unit=1)
            for g0, g1 in passes:
                n = g1 - g0
                prog = self._res.program("attributes.vert", "attributes.frag", {"GROUPS": n})
                set_uniform(prog, "u_positions", 0)
                set_uniform(prog, "u_attributes", 1)
                set_uniform(prog, "u_viewport", (float(self.width), float(self.height)))
                set_uniform(prog, "u_n_vertices", n_vertices)
                set_uniform(prog, "u_attr_groups", groups)
                set_uniform(prog, "u_group_offset", g0)
                set_uniform(prog, "u_id_channel", id_channel)
                vao = self._index.vertex_array(prog, faces)
                fbo = self._target.framebuffer(self.width, self.height, n)
                fbo.use()
                ctx.viewport = (0, 0, self.width, self.height)
                for f in range(start, stop):
                    set_uniform(prog, "u_frame", f - start)
                    set_uniform(prog, "u_attr_frame", 0 if shared_attrs else f - start)
                    set_uniform(prog, "u_depth_range", tuple(float(x) for x in ranges[f]))
                    fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                    vao.render(moderngl.TRIANGLES, vertices=faces.shape[0] * 3)
                    for k in range(n):
                        fbo.read_into(pbo, components=4, attachment=k, dtype="f4",
                                      write_offset=(f - start) * frame_bytes + (g0 + k) * attachment_bytes)
            pbo.read_into(staging[start:stop], size=(stop - start) * frame_bytes)
