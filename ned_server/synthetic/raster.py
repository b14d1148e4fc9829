"""Triangle rasterisation for the synthetic actor: the conditioning stage's GL rasteriser, or numpy.

The actor draws through ``ned_server.conditioning.raster.MeshRasterizer`` (headless EGL) when a
GL context can be made; otherwise it falls back to ``SoftRasterizer``, a vectorised numpy
z-buffer with the same conventions (x, y in pixels with pixel centres at +0.5, y down; z smaller
is nearer; attributes interpolated with screen-space barycentrics) and the same outputs, so the
fixture works on machines without EGL, only slower. The fallback also paints textures in UV space.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ned_server.conditioning.raster import MeshRasterizer

log = logging.getLogger(__name__)


@dataclass
class RasterImages:
    """attributes (B, H, W, C) float32 (0 where empty); mask (B, H, W) bool; face_index (B, H, W) int32 (-1 empty)."""

    attributes: np.ndarray
    mask: np.ndarray
    face_index: np.ndarray


class Rasterizer(Protocol):
    def rasterize(self, verts_px: np.ndarray, faces: np.ndarray, attributes: np.ndarray) -> RasterImages: ...


class SoftRasterizer:
    """numpy z-buffer rasteriser (see the module docstring for the conventions)."""

    def __init__(self, width: int, height: int, max_candidates: int = 4_000_000) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"raster size must be positive, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.max_candidates = max_candidates

    def rasterize(self, verts_px: np.ndarray, faces: np.ndarray, attributes: np.ndarray) -> RasterImages:
        verts = np.asarray(verts_px, np.float64)
        faces = np.asarray(faces, np.int64)
        attrs = np.asarray(attributes, np.float32)
        b = verts.shape[0]
        h, w = self.height, self.width
        c = attrs.shape[2]
        out_a = np.zeros((b, h, w, c), np.float32)
        out_f = np.full((b, h, w), -1, np.int32)
        for k in range(b):
            fid, bary, pix = self._frame(verts[k], faces)
            if fid.size:
                a = attrs[0 if attrs.shape[0] == 1 else k]
                tri = faces[fid]
                vals = (a[tri] * bary[..., None].astype(np.float32)).sum(1)
                out_a[k].reshape(-1, c)[pix] = vals
                out_f[k].reshape(-1)[pix] = fid
        return RasterImages(attributes=out_a, mask=out_f >= 0, face_index=out_f)

    def _frame(self, v: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        tri = v[faces]  # (F, 3, 3)
        x, y = tri[:, :, 0], tri[:, :, 1]
        area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
        x0 = np.clip(np.ceil(x.min(1) - 0.5), 0, w).astype(np.int64)
        x1 = np.clip(np.floor(x.max(1) - 0.5), -1, w - 1).astype(np.int64)
        y0 = np.clip(np.ceil(y.min(1) - 0.5), 0, h).astype(np.int64)
        y1 = np.clip(np.floor(y.max(1) - 0.5), -1, h - 1).astype(np.int64)
        nx, ny = x1 - x0 + 1, y1 - y0 + 1
        ok = (np.abs(area) > 1e-12) & (nx > 0) & (ny > 0)
        ids = np.flatnonzero(ok)
        counts = (nx * ny)[ids]
        best_z = np.full(h * w, np.inf)
        best_f = np.full(h * w, -1, np.int64)
        best_b = np.zeros((h * w, 3))
        start = 0
        while start < ids.size:
            stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), self.max_candidates)))
            sel = ids[start:stop]
            cnt = counts[start:stop]
            f_rep = np.repeat(sel, cnt)
            local = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            px = x0[f_rep] + local % nx[f_rep] + 0.5
            py = y0[f_rep] + local // nx[f_rep] + 0.5
            xa, ya = x[f_rep], y[f_rep]
            ar = area[f_rep]
            w0 = ((xa[:, 1] - px) * (ya[:, 2] - py) - (xa[:, 2] - px) * (ya[:, 1] - py)) / ar
            w1 = ((xa[:, 2] - px) * (ya[:, 0] - py) - (xa[:, 0] - px) * (ya[:, 2] - py)) / ar
            w2 = 1.0 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            f_in = f_rep[inside]
            bw = np.column_stack([w0[inside], w1[inside], w2[inside]])
            z = (tri[f_in, :, 2] * bw).sum(1)
            pid = (py[inside] - 0.5).astype(np.int64) * w + (px[inside] - 0.5).astype(np.int64)
            order = np.lexsort((z, pid))
            pid_s = pid[order]
            first = np.ones(pid_s.size, bool)
            first[1:] = pid_s[1:] != pid_s[:-1]
            win = order[first]
            p_win = pid[win]
            better = z[win] < best_z[p_win]
            p_upd = p_win[better]
            best_z[p_upd] = z[win][better]
            best_f[p_upd] = f_in[win][better]
            best_b[p_upd] = bw[win][better]
            start = stop
        pix = np.flatnonzero(best_f >= 0)
        return best_f[pix], best_b[pix], pix


class _GLAdapter:
    def __init__(self, gl_rasterizer: MeshRasterizer) -> None:
        self._r = gl_rasterizer

    def rasterize(self, verts_px: np.ndarray, faces: np.ndarray, attributes: np.ndarray) -> RasterImages:
        out = self._r.rasterize(
            np.ascontiguousarray(verts_px, np.float32),
            np.ascontiguousarray(faces, np.int64),
            np.ascontiguousarray(attributes, np.float32),
        )
        return RasterImages(attributes=out.attributes, mask=out.mask, face_index=out.face_index)


_gl_failed = False


def make_rasterizer(width: int, height: int, backend: str = "auto") -> Rasterizer:
    """``backend``: 'gl', 'numpy' or 'auto' (GL if a context can be made, else numpy)."""
    global _gl_failed
    if backend not in ("auto", "gl", "numpy"):
        raise ValueError(f"raster backend must be 'auto', 'gl' or 'numpy', got {backend!r}")
    if backend == "numpy" or (backend == "auto" and _gl_failed):
        return SoftRasterizer(width, height)
    try:
        return _GLAdapter(MeshRasterizer(width, height))
    except Exception as exc:  # no EGL, no conditioning stage: fall back
        if backend == "gl":
            raise
        _gl_failed = True
        log.warning("synthetic actor: GL rasteriser unavailable (%s); using the numpy rasteriser", exc)
        return SoftRasterizer(width, height)
