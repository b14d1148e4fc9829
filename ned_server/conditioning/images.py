"""The renderer network's conditioning images, drawn from the tracked 3D face in one GL pass per frame.

Per frame (Head2Head++/NED): the NMFC image (each vertex coloured by its normalised position on
the mean face, so a pixel says which point of the face it shows, identically in every frame), the
detailed shape image (grey-shaded normals, with the fine detail when given) and the eye image (red
disks at the pupils, only where the face is visible), plus the face and mouth masks the renderer's
losses and the compositing use. All are float32 (B,H,W,...) with 0 where the mesh is absent, and
use the pixel convention of raster.py (vertices and pupils in pixels, origin top-left, y down).

Detail displacement, two forms (both displace along the outward normal, in pixels, so a caller
holding DECA's displacement in model units multiplies by the camera's pixels-per-unit scale):
* per vertex, (V,) or (B,V): the mesh is displaced on the CPU, its normals recomputed and used for
  shading (the drawn silhouette stays the coarse one, as in DECA's detail images);
* ``UVDisplacement``: DECA's form, a displacement map over the UV layout and per-vertex UVs; the
  fragment shader samples it and bump-maps the normal (shaders/shade.glsl), which keeps detail
  finer than the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np
from scipy import sparse

from ned_server.conditioning.config import ConditioningConfig, ConditioningError
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
from ned_server.conditioning.normals import displaced_normals, incidence, vertex_normals
from ned_server.conditioning.validation import (
    check_faces,
    check_per_vertex,
    check_size,
    check_vertex_mask,
    check_vertices,
)

FRAMES_PER_UPLOAD = 64
VALUE_RANGES = ("0,1", "-1,1")


def nmfc_colors(template_vertices: np.ndarray) -> np.ndarray:
    """(V,3) mean-face vertex positions -> (V,3) float32 colours in [0,1], each axis scaled on its own.

    An axis with no extent (a flat template) maps to 0.5.
    """
    v = np.asarray(template_vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 1 or not np.isfinite(v).all():
        raise ConditioningError(f"template vertices must be a finite (V, 3) array, got shape {v.shape}")
    lo, hi = v.min(axis=0), v.max(axis=0)
    extent = hi - lo
    out = np.where(extent > 0, (v - lo) / np.where(extent > 0, extent, 1.0), 0.5)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@dataclass
class UVDisplacement:
    """Detail displacement as a map over the UV layout (DECA's form).

    map (Hd,Wd) shared by all frames or (B,Hd,Wd) per frame: displacement along the outward normal,
    times ``scale`` to get pixels. uvs (V,2) per-vertex texture coordinates in [0,1] with v = 0 at
    the map's first (top) row; OBJ-style UVs (v going up) need v -> 1 - v. Sampled bilinearly.
    """

    map: np.ndarray
    uvs: np.ndarray
    scale: float = 1.0


@dataclass
class Conditioning:
    """nmfc, shape, eyes (B,H,W,3); face_mask, mouth_mask (B,H,W); all float32, 0 outside the mesh."""

    nmfc: np.ndarray
    shape: np.ndarray
    eyes: np.ndarray
    face_mask: np.ndarray
    mouth_mask: np.ndarray

    def network_input(self, value_range: str = "0,1") -> np.ndarray:
        """(B,9,H,W) float32: NMFC 3, eye image 3, shape 3 (NED_FACTS order).

        "0,1" (default) is what ned_server.renderer takes; "-1,1" maps x -> 2x - 1 for networks
        normalised like pix2pixHD (empty pixels become -1).
        """
        if value_range not in VALUE_RANGES:
            raise ConditioningError(f"value_range {value_range!r} must be one of {', '.join(VALUE_RANGES)}")
        stacked = np.concatenate([self.nmfc, self.eyes, self.shape], axis=-1).transpose(0, 3, 1, 2)
        out = np.ascontiguousarray(stacked, dtype=np.float32)
        if value_range == "-1,1":
            out = out * np.float32(2.0) - np.float32(1.0)
        return out


class ConditioningRenderer:
    """Draws the conditioning images of batches of frames at one size (``resize`` to change it)."""

    def __init__(self, width: int, height: int, config: ConditioningConfig | None = None,
                 gl: GLThread | None = None) -> None:
        self.width, self.height = check_size(width, height)
        self.config = config or ConditioningConfig()
        self.gl = gl if gl is not None else shared_gl_thread()
        self._res: Resources = self.gl.run(Resources, self.gl.ctx)
        self._target = RenderTarget(self._res)
        self._frame_data = DataTexture(self._res)
        self._static_data = DataTexture(self._res)
        self._index = MeshIndex(self._res)
        self._readback = Readback(self._res)
        self._detail: moderngl.Texture | None = None
        self._incidence: tuple[np.ndarray, sparse.csr_matrix] | None = None
        self._finalizer = release_when_collected(self, self.gl, self._res)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = check_size(width, height)

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> ConditioningRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def live_gl_objects(self) -> int:
        return self._res.live

    # ------------------------------------------------------------------ inputs
    def _incidence_for(self, faces: np.ndarray, n_vertices: int) -> sparse.csr_matrix:
        """The vertex-face incidence matrix, kept while the same faces come back (every frame of a shot)."""
        if self._incidence is None or self._incidence[0].shape != faces.shape \
                or not np.array_equal(self._incidence[0], faces) or self._incidence[1].shape[0] != n_vertices:
            self._incidence = (faces.copy(), incidence(faces, n_vertices))
        return self._incidence[1]

    def _pupils(self, pupils_px: np.ndarray | None, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(B,4) pupil coordinates (NaN replaced by 0) and (B,2) validity flags."""
        if pupils_px is None:
            return np.zeros((frames, 4)), np.zeros((frames, 2))
        p = np.asarray(pupils_px, dtype=np.float64)
        if p.shape == (2, 2):
            p = np.broadcast_to(p, (frames, 2, 2))
        if p.shape != (frames, 2, 2):
            raise ConditioningError(
                f"pupils must be ({frames}, 2, 2): per frame, (x, y) pixels of the two pupils; "
                f"got {np.shape(pupils_px)}")
        valid = np.isfinite(p).all(axis=2)
        return np.where(np.isfinite(p), p, 0.0).reshape(frames, 4), np.asarray(valid, dtype=np.float64)

    def _normals(self, verts: np.ndarray, faces: np.ndarray, normals: np.ndarray | None,
                 displacement: np.ndarray | None) -> np.ndarray:
        b, n_vertices, _ = verts.shape
        inc = None
        if normals is None or displacement is not None:
            inc = self._incidence_for(faces, n_vertices)
        if normals is None:
            n = vertex_normals(verts, faces, inc)
        else:
            n = check_per_vertex(normals, "normals", b, n_vertices, 3)
            n = np.broadcast_to(n, (b, n_vertices, 3))
        if displacement is not None:
            d = np.asarray(displacement, dtype=np.float32)
            if d.ndim == 1:
                d = d[None]
            if d.ndim != 2 or d.shape[1] != n_vertices or d.shape[0] not in (1, b) or not np.isfinite(d).all():
                raise ConditioningError(
                    f"per-vertex detail displacement must be finite, ({n_vertices},) or ({b}, {n_vertices}) pixels "
                    f"along the normal; got shape {np.shape(displacement)}")
            n = displaced_normals(verts, faces, n, d, inc)
        return np.asarray(n, np.float32)

    def _uv_detail(self, detail: UVDisplacement, frames: int, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
        m = np.asarray(detail.map, dtype=np.float32)
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3 or m.shape[0] not in (1, frames) or min(m.shape[1:]) < 1 or not np.isfinite(m).all():
            raise ConditioningError(
                f"detail displacement map must be finite (H, W) or ({frames}, H, W), got shape {np.shape(detail.map)}")
        uvs = np.asarray(detail.uvs, dtype=np.float32)
        if uvs.shape != (n_vertices, 2) or not np.isfinite(uvs).all():
            raise ConditioningError(f"detail uvs must be finite ({n_vertices}, 2), got shape {np.shape(detail.uvs)}")
        if not np.isfinite(detail.scale):
            raise ConditioningError(f"detail scale {detail.scale!r} must be a finite number")
        return np.ascontiguousarray(m), uvs

    # ------------------------------------------------------------------ work
    def render(self, verts_px: np.ndarray, faces: np.ndarray, nmfc_colors: np.ndarray,
               normals: np.ndarray | None = None, pupils_px: np.ndarray | None = None,
               face_vertex_mask: np.ndarray | None = None, mouth_vertex_mask: np.ndarray | None = None,
               detail_displacement: np.ndarray | UVDisplacement | None = None,
               eye_radius_px: float | None = None) -> Conditioning:
        """Conditioning images of B frames.

        verts_px (B,V,3) pixels + depth; faces (F,3); nmfc_colors (V,3) in [0,1] (``nmfc_colors()``
        of the mean face); normals (B or 1,V,3) or None to compute them from the mesh; pupils_px
        (B,2,2) (x, y) pixels, NaN for a pupil not found, or None for no eye disks;
        face_vertex_mask (V,) bool, None = every vertex; mouth_vertex_mask (V,) bool, None = none;
        detail_displacement: see the module docstring; eye_radius_px overrides the config's radius.
        """
        if self.closed:
            raise RuntimeError("this ConditioningRenderer was closed")
        verts = check_vertices(verts_px)
        b, n_vertices, _ = verts.shape
        tri = check_faces(faces, n_vertices)
        colours = check_per_vertex(nmfc_colors, "NMFC colours", 1, n_vertices, 3)[0]
        if colours.min() < 0.0 or colours.max() > 1.0:
            raise ConditioningError("NMFC colours must lie in [0, 1]; normalise the mean face with nmfc_colors()")
        face = np.ones(n_vertices, bool) if face_vertex_mask is None \
            else check_vertex_mask(face_vertex_mask, "face_vertex_mask", n_vertices)
        mouth = check_vertex_mask(mouth_vertex_mask, "mouth_vertex_mask", n_vertices)
        uv_detail = detail_displacement if isinstance(detail_displacement, UVDisplacement) else None
        vertex_detail = detail_displacement if not isinstance(detail_displacement, UVDisplacement) else None
        n = self._normals(verts, tri, normals, vertex_detail)
        detail_maps, uvs = (None, np.zeros((n_vertices, 2), np.float32)) if uv_detail is None \
            else self._uv_detail(uv_detail, b, n_vertices)
        pupils, valid = self._pupils(pupils_px, b)
        radius = self.config.eye_radius_px(self.width, self.height) if eye_radius_px is None else float(eye_radius_px)
        if not np.isfinite(radius) or radius < 0:
            raise ConditioningError(f"eye radius {radius!r} must be a finite number of pixels >= 0")

        frame_data = np.zeros((b, n_vertices, 2, 4), np.float32)
        frame_data[:, :, 0, :3] = verts
        frame_data[:, :, 1, :3] = n
        static = np.zeros((n_vertices, 2, 4), np.float32)
        static[:, 0, :3] = colours
        static[:, 0, 3] = face
        static[:, 1, 0] = mouth
        static[:, 1, 1:3] = uvs
        staging = np.empty((b, 2, self.height, self.width, 4), np.float32)
        detail_scale = 0.0 if uv_detail is None else float(uv_detail.scale)
        self.gl.run(self._draw, frame_data, tri, static, pupils, valid, radius, detail_maps, detail_scale, staging)

        a0, a1 = staging[:, 0], staging[:, 1]
        shade = a1[..., 0:1]
        eyes = np.zeros((b, self.height, self.width, 3), np.float32)
        eyes[..., 0] = a1[..., 1]
        return Conditioning(nmfc=np.ascontiguousarray(a0[..., :3]),
                            shape=np.ascontiguousarray(np.repeat(shade, 3, axis=-1)),
                            eyes=eyes, face_mask=np.ascontiguousarray(a0[..., 3]),
                            mouth_mask=np.ascontiguousarray(a1[..., 2]))

    def _detail_texture(self, shape: tuple[int, int]) -> moderngl.Texture:
        h, w = shape
        if self._detail is None or self._detail.size != (w, h):
            self._res.release(self._detail)
            self._detail = self._res.track(self._res.ctx.texture((w, h), 1, dtype="f4"))
            self._detail.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._detail.repeat_x = self._detail.repeat_y = False
        return self._detail

    def _draw(self, frame_data: np.ndarray, faces: np.ndarray, static: np.ndarray, pupils: np.ndarray,
              valid: np.ndarray, radius: float, detail_maps: np.ndarray | None, detail_scale: float,
              staging: np.ndarray) -> None:
        """On the GL thread: draw every frame, read both attachments into ``staging`` (B, 2, H, W, 4)."""
        ctx = self._res.ctx
        b, n_vertices = frame_data.shape[:2]
        cfg = self.config
        prog = self._res.program("conditioning.vert", "conditioning.frag")
        lights = np.zeros((8, 4), np.float32)
        for i, light in enumerate(cfg.lights):
            d = np.asarray(light.direction, np.float64)
            lights[i, :3] = d / np.linalg.norm(d)
            lights[i, 3] = light.intensity
        for name, value in (("u_frame_data", 0), ("u_static_data", 1), ("u_detail_map", 2),
                            ("u_viewport", (float(self.width), float(self.height))), ("u_n_vertices", n_vertices),
                            ("u_n_lights", len(cfg.lights)), ("u_ambient", cfg.ambient), ("u_albedo", cfg.albedo),
                            ("u_two_sided", cfg.two_sided), ("u_restrict_to_face", cfg.restrict_to_face),
                            ("u_eye_radius", radius), ("u_use_detail_map", detail_maps is not None),
                            ("u_detail_scale", detail_scale)):
            set_uniform(prog, name, value)
        member = prog.get("u_lights", None)
        if isinstance(member, moderngl.Uniform):
            member.write(lights.tobytes())
        ranges = depth_ranges(frame_data[:, :, 0, 2])
        self._static_data.upload(static, unit=1)
        vao = self._index.vertex_array(prog, faces)
        fbo = self._target.framebuffer(self.width, self.height, 2)
        fbo.use()
        ctx.viewport = (0, 0, self.width, self.height)
        ctx.enable_only(moderngl.DEPTH_TEST)
        ctx.depth_func = "<"
        detail = None
        if detail_maps is not None:
            detail = self._detail_texture(detail_maps.shape[1:])
            detail.write(detail_maps[0])
            detail.use(2)
        frame_bytes = staging[0].nbytes
        attachment_bytes = staging[0, 0].nbytes
        chunk = min(FRAMES_PER_UPLOAD, self._readback.frames_per_chunk(frame_bytes))
        for start in range(0, b, chunk):
            stop = min(b, start + chunk)
            self._frame_data.upload(frame_data[start:stop], unit=0)
            pbo = self._readback.buffer((stop - start) * frame_bytes)
            for f in range(start, stop):
                if detail is not None and detail_maps is not None and detail_maps.shape[0] > 1:
                    detail.write(detail_maps[f])
                set_uniform(prog, "u_frame", f - start)
                set_uniform(prog, "u_depth_range", tuple(float(x) for x in ranges[f]))
                set_uniform(prog, "u_pupils", tuple(float(x) for x in pupils[f]))
                set_uniform(prog, "u_pupil_valid", tuple(float(x) for x in valid[f]))
                fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
                vao.render(moderngl.TRIANGLES, vertices=faces.shape[0] * 3)
                for k in range(2):
                    fbo.read_into(pbo, components=4, attachment=k, dtype="f4",
                                  write_offset=(f - start) * frame_bytes + k * attachment_bytes)
            pbo.read_into(staging[start:stop], size=(stop - start) * frame_bytes)
