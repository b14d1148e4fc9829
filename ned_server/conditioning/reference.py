"""A software z-buffered rasteriser (OpenCV polygon fill + numpy), the same images without GL.

It is the benchmark's baseline (tests/bench/conditioning.py) and the tests' independent
cross-check of the shaders, so it follows the same conventions as raster.py: a pixel belongs to a
triangle when its centre (j + 0.5, i + 0.5) is inside, attributes are the barycentric blend at
that centre, the smaller depth wins. ``cv2.fillConvexPoly`` (OpenCV's polygon filler for convex
shapes, faster than ``fillPoly`` for triangles) finds each triangle's candidate pixels in its
bounding box; it fills generously (every pixel the outline touches), so candidates are then kept
only when their centre's barycentric weights are all >= 0, which is GL's coverage rule up to ties
on shared edges. One Python iteration per triangle: this is what a renderer without GL costs.
"""

from __future__ import annotations

import cv2
import numpy as np

from ned_server.conditioning.config import ConditioningConfig
from ned_server.conditioning.images import Conditioning
from ned_server.conditioning.normals import vertex_normals

SHIFT = 8  # fixed-point fraction bits for cv2's polygon filler
_EPS = -1e-6  # barycentric tolerance (float rounding on edges)


def _plane_coefficients(tri: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per face, K (F, C, 3) with value(x, y) = K @ (x, y, 1), and the barycentric rows B (F, 3, 3).

    tri (F, 3, 2) corner positions; values (F, 3, C) corner values. Degenerate faces get NaN.
    """
    m = np.concatenate([tri.transpose(0, 2, 1), np.ones((tri.shape[0], 1, 3))], axis=1)  # (F, 3, 3) columns = corners
    det = np.linalg.det(m)
    ok = np.abs(det) > 1e-12
    inv = np.full_like(m, np.nan)
    inv[ok] = np.linalg.inv(m[ok])  # barycentric weights = inv @ (x, y, 1)
    k = values.transpose(0, 2, 1) @ inv  # (F, C, 3)
    return k, inv


def software_rasterize(verts_px: np.ndarray, faces: np.ndarray, attributes: np.ndarray, width: int,
                       height: int) -> tuple[np.ndarray, np.ndarray]:
    """One frame: verts (V,3), faces (F,3), attributes (V,C) -> ((H,W,C) float32, (H,W) int32 face index)."""
    v = np.asarray(verts_px, np.float64)
    f = np.asarray(faces, np.int64)
    a = np.asarray(attributes, np.float64)
    n_ch = a.shape[1]
    tri = v[f]  # (F, 3, 3)
    k, bary = _plane_coefficients(tri[..., :2], np.concatenate([a[f], tri[..., 2:3]], axis=2))
    out = np.zeros((height, width, n_ch), np.float64)
    zbuf = np.full((height, width), np.inf)
    index = np.full((height, width), -1, np.int32)
    lo = np.floor(tri[..., :2].min(axis=1) - 0.5).astype(np.int64)
    hi = np.ceil(tri[..., :2].max(axis=1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    fixed = np.rint((tri[..., :2] - 0.5) * (1 << SHIFT)).astype(np.int32)
    for fi in np.flatnonzero((lo <= hi).all(axis=1) & np.isfinite(bary[:, 0, 0])):
        x0, y0 = lo[fi]
        x1, y1 = hi[fi]
        patch = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        cv2.fillConvexPoly(patch, fixed[fi] - np.array([x0 << SHIFT, y0 << SHIFT], np.int32), 1,
                           lineType=cv2.LINE_8, shift=SHIFT)
        ys, xs = np.nonzero(patch)
        if ys.size == 0:
            continue
        ys = ys + y0
        xs = xs + x0
        p = np.stack([xs + 0.5, ys + 0.5, np.ones(xs.size)])  # (3, N)
        inside = (bary[fi] @ p >= _EPS).all(axis=0)
        vals = k[fi] @ p  # (C + 1, N)
        z = vals[-1]
        keep = inside & (z < zbuf[ys, xs])
        if not keep.any():
            continue
        ys, xs = ys[keep], xs[keep]
        zbuf[ys, xs] = z[keep]
        out[ys, xs] = vals[:-1, keep].T
        index[ys, xs] = fi
    return out.astype(np.float32), index


def software_conditioning(verts_px: np.ndarray, faces: np.ndarray, nmfc_colors: np.ndarray, width: int,
                          height: int, pupils_px: np.ndarray | None = None,
                          face_vertex_mask: np.ndarray | None = None,
                          mouth_vertex_mask: np.ndarray | None = None,
                          config: ConditioningConfig | None = None) -> Conditioning:
    """What ConditioningRenderer.render draws (normals from the mesh, no detail), frame by frame on the CPU."""
    cfg = config or ConditioningConfig()
    verts = np.asarray(verts_px, np.float32)
    if verts.ndim == 2:
        verts = verts[None]
    b, n_vertices, _ = verts.shape
    faces = np.asarray(faces, np.int64)
    normals = vertex_normals(verts, faces)
    face = np.ones(n_vertices) if face_vertex_mask is None else np.asarray(face_vertex_mask, np.float64)
    mouth = np.zeros(n_vertices) if mouth_vertex_mask is None else np.asarray(mouth_vertex_mask, np.float64)
    lights = [(np.asarray(lt.direction) / np.linalg.norm(lt.direction), lt.intensity) for lt in cfg.lights]
    radius = cfg.eye_radius_px(width, height)
    cy, cx = np.mgrid[0:height, 0:width] + 0.5
    shape = (b, height, width)
    nmfc, shade, eyes = np.zeros((*shape, 3), np.float32), np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    face_mask, mouth_mask = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for t in range(b):
        attrs = np.concatenate([nmfc_colors, normals[t], face[:, None], mouth[:, None]], axis=1)
        img, index = software_rasterize(verts[t], faces, attrs, width, height)
        covered = index >= 0
        fm = (img[..., 6] >= 0.5) & covered
        n = img[..., 3:6]
        n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-20)
        if cfg.two_sided:
            n = np.where(n[..., 2:3] > 0, -n, n)
        light = np.full((height, width), cfg.ambient)
        for d, intensity in lights:
            light += intensity * np.maximum(n @ d, 0.0)
        keep = fm if cfg.restrict_to_face else covered
        nmfc[t] = np.clip(img[..., :3], 0, 1) * keep[..., None]
        shade[t] = np.clip(cfg.albedo * light, 0, 1) * keep
        face_mask[t] = fm
        mouth_mask[t] = (img[..., 7] >= 0.5) & covered
        if pupils_px is not None:
            disk = np.zeros((height, width), bool)
            for x, y in np.asarray(pupils_px, np.float64)[t]:
                if np.isfinite(x) and np.isfinite(y):
                    disk |= (cx - x) ** 2 + (cy - y) ** 2 <= radius * radius
            eyes[t] = disk & fm
    eye_rgb = np.zeros((*shape, 3), np.float32)
    eye_rgb[..., 0] = eyes
    return Conditioning(nmfc=nmfc, shape=np.repeat(shade[..., None], 3, axis=-1), eyes=eye_rgb,
                        face_mask=face_mask, mouth_mask=mouth_mask)
