"""Backward warp maps of a full-resolution face edit, drawn by the GL rasteriser at plate resolution.

A full-resolution edit moves the actor's own pixels instead of replacing the face: for every pixel
of the face box, where did the surface point it now shows sit in the original plate? The tracked
head is drawn (``MeshRasterizer``, headless GL) posed with the NEW expression, each vertex carrying
as attributes its ORIGINAL projection minus its new one (plate px) and its original depth. The
interpolated offset is the backward map inside the head's silhouette. Outside it (neck, hair, the
background beside a chin that moved) the offset is continued smoothly by a normalised Gaussian
convolution and faded to exactly 0 within ``feather_px`` of the silhouette, so the neck and the
hairline stretch a little instead of tearing; the map is the identity (offset 0) everywhere else.

Where warping cannot explain the new frame (``neural``, in [0, 1]): a pixel whose surface point was
hidden in the original (the eyeball under a lid that now opens, teeth behind lips that now part),
found by a second pass that draws the original head's depth (only over the box that the revealable
surfaces' original triangles cover: the eyes and the mouth, not the face), and the mouth cavity (pixels enclosed
by the silhouette that no surface covers, as with the licensed FLAME's open mouth) wherever the map
moves it. The compositor blends the neural renderer's face in there (composite.edit).

The API is one class, ``WarpMapper(faces)``, and one call, ``maps(new_px, original_px, box)``,
taking (V, 3) plate-pixel vertices (x, y, depth; OpenCV convention: pixel centres at integers) of
one frame and the box (x, y, width, height) of plate pixels to cover; it returns ``WarpMaps``.
A vertex set that did not move gives the identity without drawing anything, so intensity 0 is
exactly the plate. Sliders or any other geometric edit build their maps the same way: pose the
head twice and hand both projections over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ned_server.conditioning.config import ConditioningError
from ned_server.conditioning.gl_context import GLThread
from ned_server.conditioning.raster import MeshRasterizer
from ned_server.conditioning.validation import check_faces

RASTER_OFFSET = 0.5  # OpenCV pixel centres (integers) -> the rasteriser's (j + 0.5)
SIZE_STEP = 128  # raster targets are rounded up to this, so a box that changes by a pixel reuses them
FEATHER_FRACTION = 0.02  # the continuation past the silhouette reaches at least this much of the box
SNAP_PX = 1e-3  # a vertex that moved less than this (plate px) did not move
MIN_MOVE_PX = 0.05  # a hole of the silhouette is neural only where the map moves it more than this
SPECK_PX = 6  # hidden-surface islands smaller than this many pixels are depth ties, not reveals


@dataclass
class WarpMaps:
    """One frame's maps over its box (h, w = the box's height and width), float32.

    offset (h, w, 2): (dx, dy) plate px from each pixel to where its surface point sat in the
    original plate; exactly 0 outside the warp's reach. moved (h, w) bool: offset != 0.
    neural (h, w) in [0, 1]: where the neural face is needed (hard, the compositor feathers it).
    coverage (h, w) bool: the new head's silhouette.
    """

    box: tuple[int, int, int, int]
    offset: np.ndarray
    moved: np.ndarray
    neural: np.ndarray
    coverage: np.ndarray

    @property
    def identity(self) -> bool:
        return not bool(self.moved.any())

    @classmethod
    def identity_maps(cls, box: tuple[int, int, int, int]) -> WarpMaps:
        h, w = box[3], box[2]
        return cls(box, np.zeros((h, w, 2), np.float32), np.zeros((h, w), bool), np.zeros((h, w), np.float32),
                   np.zeros((h, w), bool))

    def source_pixels(self) -> np.ndarray:
        """(h, w, 2) absolute plate px (x, y), OpenCV convention, of every pixel's source."""
        x, y, w, h = self.box
        xs = np.arange(w, dtype=np.float32)[None, :] + np.float32(x)
        ys = np.arange(h, dtype=np.float32)[:, None] + np.float32(y)
        return np.stack([np.broadcast_to(xs, (h, w)) + self.offset[..., 0],
                         np.broadcast_to(ys, (h, w)) + self.offset[..., 1]], axis=-1)


def _check_box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    if len(box) != 4 or not all(isinstance(v, int | np.integer) for v in box) or box[2] < 1 or box[3] < 1:
        raise ConditioningError(f"the warp box must be (x, y, width, height) whole plate pixels, got {box!r}")
    return tuple(int(v) for v in box)  # type: ignore[return-value]


def _rounded(n: int) -> int:
    return max(SIZE_STEP, -(-n // SIZE_STEP) * SIZE_STEP)


class WarpMapper:
    """Builds ``WarpMaps`` for one mesh topology (see the module docstring).

    ``reveal_vertices`` (V,) bool: the surfaces only the renderer can draw where they come into view
    (eyeballs, a mouth interior); the hidden-surface test is made on them alone, so a cheek that
    slides over the silhouette stays warp. A triangle counts as such a surface when two of its three
    corners are flagged (read from the face index the rasteriser writes anyway). None: every surface.

    ``feather_px``: how far (plate px) the offset is continued past the silhouette before it reaches
    0, at least (it grows with the face box: 2% of its longer side, so a 4K face stretches its neck
    as smoothly as a 2K one). ``occlusion_px``: how much farther than the original's visible surface a point may lie and
    still count as seen (depth is in plate px, like x and y).
    """

    def __init__(self, faces: np.ndarray, feather_px: float = 12.0, occlusion_px: float = 0.75,
                 reveal_vertices: np.ndarray | None = None, gl: GLThread | None = None) -> None:
        self.faces = np.ascontiguousarray(np.asarray(faces, dtype=np.int32))
        n = int(self.faces.max()) + 1 if self.faces.size else 0
        if reveal_vertices is not None:
            reveal_vertices = np.asarray(reveal_vertices, dtype=bool).reshape(-1)
            if reveal_vertices.shape[0] < n:
                raise ConditioningError(f"reveal_vertices must flag every vertex ({n} or more), got "
                                        f"{reveal_vertices.shape[0]}")
        # per face (index + 1; 0 = no face): a face is revealable when most of its corners are, so the
        # test needs the face index the rasteriser writes anyway instead of a fifth interpolated channel
        flags = (np.ones(len(self.faces), bool) if reveal_vertices is None
                 else reveal_vertices[self.faces].sum(axis=1) >= 2)
        self._face_reveal = np.concatenate([[False], flags])
        # a revealable pixel's source lies inside the triangle its face had in the original, so the
        # original's depth is needed only over those corners' bounding box (the eyes and the mouth)
        self._reveal_corners = np.unique(self.faces[flags])
        if not math.isfinite(feather_px) or feather_px < 1.0:
            raise ConditioningError(f"warp feather {feather_px!r} must be at least 1 plate pixel")
        if not math.isfinite(occlusion_px) or occlusion_px < 0.0:
            raise ConditioningError(f"occlusion tolerance {occlusion_px!r} must be >= 0 plate pixels")
        self.feather_px = float(feather_px)
        self.occlusion_px = float(occlusion_px)
        self._gl = gl
        self._raster: MeshRasterizer | None = None
        self._seen_raster: MeshRasterizer | None = None

    def close(self) -> None:
        for r in (self._raster, self._seen_raster):
            if r is not None:
                r.close()
        self._raster = self._seen_raster = None

    def __enter__(self) -> WarpMapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sized(self, raster: MeshRasterizer | None, width: int, height: int) -> MeshRasterizer:
        """``raster`` (made on first use) at the rounded-up size for a width x height target."""
        w, h = _rounded(width), _rounded(height)
        if raster is None:
            return MeshRasterizer(w, h, self._gl)
        if (raster.width, raster.height) != (w, h):
            raster.resize(w, h)
        return raster

    def _seen_window(self, old: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) plate px, inside the box, of the original's revealable corners (+1 px), or None."""
        corners = old[self._reveal_corners[self._reveal_corners < len(old)], :2]
        if corners.size == 0:
            return None
        x, y, w, h = box
        x0 = max(x, math.floor(corners[:, 0].min()) - 1)
        y0 = max(y, math.floor(corners[:, 1].min()) - 1)
        x1 = min(x + w, math.ceil(corners[:, 0].max()) + 2)
        y1 = min(y + h, math.ceil(corners[:, 1].max()) + 2)
        return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None

    # ------------------------------------------------------------------ work
    def maps(self, new_px: np.ndarray, original_px: np.ndarray, box: tuple[int, int, int, int]) -> WarpMaps:
        """The maps of one frame: (V, 3) vertices with the new and the original expression, plate px."""
        box = _check_box(box)
        new = np.asarray(new_px, dtype=np.float64)
        old = np.asarray(original_px, dtype=np.float64)
        if new.ndim != 2 or new.shape[1] != 3 or new.shape != old.shape:
            raise ConditioningError(f"new and original vertices must both be (V, 3) plate px, got {new.shape} and "
                                    f"{old.shape}")
        if not (np.isfinite(new).all() and np.isfinite(old).all()):
            raise ConditioningError("the warp's vertices hold NaN or infinite values")
        check_faces(self.faces, new.shape[0])
        delta = old - new
        delta[np.abs(delta[:, :2]).max(axis=1) < SNAP_PX, :2] = 0.0  # float noise of posing twice, not motion
        if not delta[:, :2].any():
            return WarpMaps.identity_maps(box)
        x, y, w, h = box
        raster = self._raster = self._sized(self._raster, w, h)
        shift = np.array([RASTER_OFFSET - x, RASTER_OFFSET - y, 0.0])
        attrs = np.concatenate([delta[:, :2], old[:, 2:3]], axis=1).astype(np.float32)  # + face index: one RGBA
        drawn = raster.rasterize((new + shift)[None].astype(np.float32), self.faces, attrs[None])
        cover = drawn.mask[0, :h, :w]
        offset = drawn.attributes[0, :h, :w, :2]  # 0 where no face: the rasteriser clears to 0
        reach = max(self.feather_px, FEATHER_FRACTION * max(w, h))
        offset = self._continue(offset, cover, reach)
        offset *= _edge_taper(h, w, reach)[..., None]
        moved = (offset[..., 0] != 0) | (offset[..., 1] != 0)
        revealable = self._face_reveal[drawn.face_index[0, :h, :w] + 1]
        hidden = np.zeros((h, w), bool)
        window = self._seen_window(old, box) if revealable.any() else None
        if window is not None:
            sx, sy, sw, sh = window
            self._seen_raster = self._sized(self._seen_raster, sw, sh)
            seen = self._seen_raster.rasterize(
                (old + np.array([RASTER_OFFSET - sx, RASTER_OFFSET - sy, 0.0]))[None].astype(np.float32),
                self.faces, old[None, :, 2:3].astype(np.float32))
            hidden = self._hidden(offset, revealable, drawn.attributes[0, :h, :w, 2],
                                  seen.attributes[0, :sh, :sw, 0], seen.mask[0, :sh, :sw], (sx - x, sy - y))
        neural = hidden | self._cavity(cover, offset)
        return WarpMaps(box, offset, moved, neural.astype(np.float32), np.ascontiguousarray(cover))

    def _continue(self, offset: np.ndarray, cover: np.ndarray, reach: float) -> np.ndarray:
        """The silhouette's offsets (0 outside it) continued outside it by normalised convolution, faded
        to exactly 0 within ``reach`` px. The continuation is smooth by construction, so it is computed
        (fade included) on a grid ``k`` times coarser (k ~ sigma / 2) and brought back bilinearly: a 4K
        face costs what a 2K one does."""
        sigma = reach / 3.0
        h, w = cover.shape
        k = max(1, int(sigma // 2))
        offset = np.ascontiguousarray(offset)
        stack = cv2.merge([offset, cover.astype(np.float32)])
        if k > 1:
            small = cv2.resize(stack, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), sigma / k, borderType=cv2.BORDER_REPLICATE)
        else:
            small = cv2.GaussianBlur(stack, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        weight = small[..., 2]
        # 1 at the silhouette's edge (weight ~0.5) down to 0 where the blur no longer reaches
        fade = np.clip(2.0 * weight, 0.0, 1.0) / np.maximum(weight, 1e-6)
        fade[weight < 0.5 / 255.0] = 0.0
        outside = np.ascontiguousarray(small[..., :2] * fade[..., None])
        if k > 1:
            outside = cv2.resize(outside, (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.copyTo(offset, cover.view(np.uint8), outside)  # the silhouette's own offsets

    def _hidden(self, offset: np.ndarray, cover: np.ndarray, depth_then: np.ndarray, seen_depth: np.ndarray,
                seen_cover: np.ndarray, seen_origin: tuple[int, int]) -> np.ndarray:
        """Covered pixels whose surface point lay behind the original's visible surface (occluded then):
        an eyeball that does not move is still new where the lid above it opened. ``seen_*`` cover a
        window of the box whose top-left corner is ``seen_origin`` (box px); a source outside it was
        not hidden."""
        h, w = cover.shape
        ys, xs = np.nonzero(cover)
        hidden = np.zeros((h, w), bool)
        if ys.size == 0:
            return hidden
        sx = np.rint(xs + offset[ys, xs, 0]).astype(np.int64) - seen_origin[0]
        sy = np.rint(ys + offset[ys, xs, 1]).astype(np.int64) - seen_origin[1]
        sh, sw = seen_depth.shape
        inside = (sx >= 0) & (sy >= 0) & (sx < sw) & (sy < sh)
        sx, sy = np.clip(sx, 0, sw - 1), np.clip(sy, 0, sh - 1)
        visible_depth = np.where(seen_cover[sy, sx], seen_depth[sy, sx], np.inf)
        occluded = inside & (depth_then[ys, xs] > visible_depth + self.occlusion_px)
        if not occluded.any():
            return hidden
        # only the revealable surfaces' bounding box is labelled (the eyes and the mouth, not the face)
        r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out = np.zeros((r1 - r0, c1 - c0), np.uint8)
        out[ys[occluded] - r0, xs[occluded] - c0] = 1
        # specks of a few pixels are depth ties along creases, not reveals (a thin strip under a lid is)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(out, connectivity=8)
        keep = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= SPECK_PX)
        keep = keep[keep > 0]
        if keep.size:
            hidden[r0:r1, c0:c1] = np.isin(labels, keep)
        return hidden

    @staticmethod
    def _cavity(cover: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Pixels enclosed by the silhouette but covered by no surface (an open mouth), where they move."""
        h, w = cover.shape
        fill = np.zeros((h + 2, w + 2), np.uint8)
        fill[1:-1, 1:-1] = cover
        cv2.floodFill(fill, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 2)  # what the border reaches
        holes = fill[1:-1, 1:-1] == 0
        return holes & ((np.abs(offset[..., 0]) > MIN_MOVE_PX) | (np.abs(offset[..., 1]) > MIN_MOVE_PX))


def _edge_taper(h: int, w: int, reach: float) -> np.ndarray:
    """1 inside, falling linearly to 0 at the box's edge over ``reach`` px: a box that cuts through a
    moving chin gives back the plate at its edge instead of a seam."""
    r = max(1.0, reach)
    ty = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / r, 0.0, 1.0)
    tx = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / r, 0.0, 1.0)
    return (ty[:, None] * tx[None, :]).astype(np.float32)
