"""The bridge from a tracked shot to the renderer's conditioning: FLAME posed per frame, drawn in the aligned crop.

The renderer only ever sees the aligned crop (the face template's framing, ``tracking.template``),
so the conditioning is drawn there directly rather than drawn on the plate and warped: the mesh
goes through the same plate -> crop similarity as the real frames (``ShotTrack.alignment``), and
no resampling blurs the NMFC codes or the mask edges. A similarity in the image plane with a
uniform scale is applied to x, y and depth alike, so the shading normals stay right.

Per frame: FLAME with the track's identity, expression and full pose (or, for a manipulated shot,
the given expression51: jaw opening replaces pose[:, 6] and the 50 coefficients replace the
expression), projected with the track's orthographic camera at the plate size, then the plate px
mapped to crop px at ``resolution``. Pupils (plate px) take the same path. NMFC colours come from
the template (mean face), normalised over the face region (``face_nmfc_colours``), so a point of
the face has one colour in every frame and every shot of the actor. Mouth centres are the mean of
the posed mouth landmarks (48-67), so they follow a manipulated jaw rather than the original one.

Masks have their enclosed holes filled: the licensed FLAME has no mouth interior (a hole between
the lips), so an open mouth would otherwise leave the plate's own mouth showing through the
rendered face. Inside a filled hole the NMFC and shape images stay black (no surface there), which
is the renderer's cue for the mouth cavity.

Pixel convention of the outputs: OpenCV's (pixel centres at integers) for ``mouth_centres``, as
everywhere in the pipeline; the rasteriser's +0.5 (``face3d.camera.RASTER_OFFSET``) is applied here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ned_server.conditioning.config import ConditioningConfig, ConditioningError
from ned_server.conditioning.detail import DetailDisplacement
from ned_server.conditioning.images import ConditioningRenderer, UVDisplacement, nmfc_colors
from ned_server.face3d.camera import RASTER_OFFSET, project_orthographic
from ned_server.face3d.flame import FlameLayer
from ned_server.tracking.result import TRACKER_DECA, ShotTrack

# FLAME_masks.pkl regions the renderer synthesises (``mouth_interior`` exists only in the procedural
# model: the licensed FLAME has a hole there). The same regions as the synthetic actor's face mask.
FACE_REGIONS = ("face", "lips", "left_eyeball", "right_eyeball", "mouth_interior")
MOUTH_REGIONS = ("lips", "mouth_interior")
# Surfaces a full-resolution edit asks the renderer for where they come into view (conditioning.warp).
REVEAL_REGIONS = ("left_eyeball", "right_eyeball", "mouth_interior")
MOUTH_LANDMARKS = slice(48, 68)
EXPRESSION51 = 51
DEFAULT_CHUNK = 32


@dataclass
class ShotConditioning:
    """The renderer's per-frame inputs for some frames of a shot, in the aligned crop at R x R.

    conditioning (T,9,R,R) float32 in [0,1]: NMFC 3, eye image 3, detailed shape 3 (the order of
    ``Conditioning.network_input`` and ``renderer.config.COND_CHANNELS``); face_masks, mouth_masks
    (T,R,R) float32 in {0,1}; mouth_centres (T,2) float32 (x, y) crop pixels, OpenCV convention.
    """

    conditioning: np.ndarray
    face_masks: np.ndarray
    mouth_masks: np.ndarray
    mouth_centres: np.ndarray

    def __len__(self) -> int:
        return int(self.conditioning.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.conditioning.shape[-1])


def crop_matrices(alignment: np.ndarray, crop_size: int, resolution: int) -> np.ndarray:
    """(T,2,3) plate px -> crop px at ``resolution`` from the track's plate -> ``crop_size`` matrices.

    Scaled about pixel edges, as cv2.resize maps pixel centres: x_R = (x_c + 0.5) * R / S - 0.5.
    """
    a = np.asarray(alignment, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (2, 3):
        raise ConditioningError(f"alignment must be (T, 2, 3) plate -> crop matrices, got shape {np.shape(alignment)}")
    k = resolution / float(crop_size)
    out = a * k
    out[:, :, 2] += 0.5 * k - 0.5
    return out


def _resolve_indices(indices: np.ndarray | slice | None, n: int) -> np.ndarray:
    if indices is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(indices, slice):
        return np.arange(n, dtype=np.int64)[indices]
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ConditioningError(f"indices must be a 1-D array of frame positions in the track, got {idx.dtype} "
                                f"of shape {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ConditioningError(f"indices {int(idx.min())}..{int(idx.max())} fall outside the track's {n} frames "
                                f"(positions 0..{n - 1}, not frame numbers: use ShotTrack.index_of)")
    return idx


def _fit_width(values: np.ndarray, width: int) -> np.ndarray:
    """Coefficients padded with zeros or truncated to the layer's width.

    FLAME coefficients are ordered by variance, so a track fitted with more components than the
    layer holds (or fewer) maps onto it by dropping (or zeroing) the weakest ones.
    """
    n = values.shape[-1]
    if n == width:
        return values
    if n > width:
        return values[..., :width]
    pad = np.zeros((*values.shape[:-1], width - n), dtype=values.dtype)
    return np.concatenate([values, pad], axis=-1)


def face_nmfc_colours(template: np.ndarray, face_vertices: np.ndarray) -> np.ndarray:
    """(V,3) NMFC colours: template positions normalised over the face region's extent, clipped to [0,1].

    Normalised over the face rather than the whole head (scalp, neck, ears), so the codes use
    their full range on the pixels the renderer sees; vertices outside the face clip at the edges
    (they are masked out of the images anyway with ``restrict_to_face``).
    """
    v = np.asarray(template, dtype=np.float64)
    whole_head = nmfc_colors(v)  # also checks the shape and finiteness
    if not face_vertices.any():
        return whole_head
    lo, hi = v[face_vertices].min(axis=0), v[face_vertices].max(axis=0)
    extent = hi - lo
    out = np.where(extent > 0, (v - lo) / np.where(extent > 0, extent, 1.0), 0.5)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def fill_mouth_cavity(face: np.ndarray, mouth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H,W) bool face and mouth masks with their enclosed holes filled; holes of the face mask that
    touch the mouth (the cavity of a model without a mouth interior) join the mouth mask too."""
    filled = ndimage.binary_fill_holes(face)
    holes, n = ndimage.label(filled & ~face)
    if n:
        near_mouth = ndimage.binary_dilation(mouth, iterations=2)
        touching = np.unique(holes[near_mouth & (holes > 0)])
        mouth = mouth | np.isin(holes, touching)
    return filled, ndimage.binary_fill_holes(mouth)


class FaceConditioner:
    """Draws the conditioning of tracked (or manipulated) frames of a shot with one FLAME model.

    ``masks`` is FLAME_masks.pkl's region -> vertex indices (``face3d.load_flame_masks``); it
    decides the face mask (the union of ``FACE_REGIONS`` present) and the mouth mask (``MOUTH_REGIONS``).
    Without it every vertex is face and the mouth mask is empty. ``config`` defaults to the
    conditioning defaults with ``restrict_to_face``: the renderer only synthesises the face, the
    plate keeps the rest, so codes outside the mask would only show the network hair and neck it
    is never asked to draw. ``chunk`` frames are posed and drawn at a time, which bounds the
    memory of the vertices (not of the output) on long shots. ``detail`` (DECA's D_detail on its
    UV layout, ``conditioning.detail``) draws the detailed shape image with DECA's displacement for
    tracks made by DECA; other tracks (and a conditioner without it) get the coarse shading.
    """

    def __init__(self, flame: FlameLayer, masks: dict[str, np.ndarray] | None = None, resolution: int = 256,
                 config: ConditioningConfig | None = None, device: str = "cpu", chunk: int = DEFAULT_CHUNK,
                 detail: DetailDisplacement | None = None) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer) or not 8 <= resolution <= 4096:
            raise ConditioningError(f"resolution {resolution!r} must be a whole number of pixels from 8 to 4096")
        if chunk < 1:
            raise ConditioningError(f"chunk must be >= 1 frame, got {chunk}")
        self.device = torch.device(device)
        buffer = next(flame.buffers())
        self.flame = flame if buffer.device == self.device else copy.deepcopy(flame).to(self.device)
        self.resolution = int(resolution)
        self.chunk = int(chunk)
        if detail is not None and detail.uv.uvs.shape[0] != flame.num_vertices:
            raise ConditioningError(f"DECA's UV template has {detail.uv.uvs.shape[0]} vertices, the FLAME model "
                                    f"{flame.num_vertices}: they belong to different models")
        self.detail = detail
        self.config = config or ConditioningConfig(restrict_to_face=True)
        n_vertices = flame.num_vertices
        self.faces = flame.faces.cpu().numpy().astype(np.int32)
        self.face_vertices = self._region_mask(masks, FACE_REGIONS, n_vertices, default=True)
        self.mouth_vertices = self._region_mask(masks, MOUTH_REGIONS, n_vertices, default=False)
        reveal = self._region_mask(masks, REVEAL_REGIONS, n_vertices, default=False)
        self.reveal_vertices: np.ndarray | None = reveal if reveal.any() else None  # None: every surface
        self.colours = face_nmfc_colours(flame.v_template.cpu().numpy(), self.face_vertices)
        self._renderer = ConditioningRenderer(self.resolution, self.resolution, self.config)

    @staticmethod
    def _region_mask(masks: dict[str, np.ndarray] | None, names: tuple[str, ...], n_vertices: int,
                     default: bool) -> np.ndarray:
        if masks is None:
            return np.full(n_vertices, default)
        out = np.zeros(n_vertices, bool)
        for name in names:
            if name in masks:
                idx = np.asarray(masks[name], dtype=np.int64).reshape(-1)
                if idx.size and (idx.min() < 0 or idx.max() >= n_vertices):
                    raise ConditioningError(f"FLAME mask region {name!r} indexes past the model's {n_vertices} "
                                            "vertices: the masks file belongs to another model")
                out[idx] = True
        if default and not out.any():
            raise ConditioningError(f"the FLAME masks hold none of the face regions {', '.join(names)}: "
                                    "give FLAME_masks.pkl of this model")
        return out

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._renderer.close()

    @property
    def closed(self) -> bool:
        return self._renderer.closed

    def __enter__(self) -> FaceConditioner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ inputs
    def _check(self, track: ShotTrack, indices: np.ndarray | slice | None,
               expression51: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        w, h = track.frame_size
        if w < 1 or h < 1:
            raise ConditioningError(f"the track has no plate size ({w}x{h}): track the shot again with its frames")
        if track.crop_size < 1:
            raise ConditioningError(f"the track's crop size {track.crop_size} must be positive")
        idx = _resolve_indices(indices, len(track))
        for name in ("shape", "expression", "pose", "camera", "alignment"):
            values = getattr(track, name)
            values = values if name == "shape" else values[idx]
            if not np.isfinite(values).all():
                raise ConditioningError(f"the track's {name} holds NaN or infinite values for the requested frames: "
                                        "track the shot again")
        if not (track.camera[idx, 0] > 0).all():
            raise ConditioningError("the track's camera scale must be > 0 in every requested frame")
        if expression51 is None:
            return idx, None
        e = np.asarray(expression51)
        if e.shape != (len(idx), EXPRESSION51) or not np.issubdtype(e.dtype, np.number):
            raise ConditioningError(f"expression51 must be ({len(idx)}, {EXPRESSION51}) numbers (jaw opening then "
                                    "the 50 expression coefficients, one row per requested frame), "
                                    f"got shape {e.shape}")
        e = e.astype(np.float32)
        if not np.isfinite(e).all():
            bad = np.flatnonzero(~np.isfinite(e).all(axis=1))
            raise ConditioningError(f"expression51 holds NaN or infinite values (rows {bad[:5].tolist()}"
                                    f"{'...' if bad.size > 5 else ''})")
        return idx, e

    # ------------------------------------------------------------------ geometry
    def _plate_geometry(self, track: ShotTrack, idx: np.ndarray,
                        expression51: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Posed vertices (B,V,3) and mouth centres (B,2) in plate px (OpenCV convention), float64."""
        fl = self.flame
        pose = track.pose[idx].copy()
        expression = track.expression[idx]
        if expression51 is not None:
            pose[:, 6] = expression51[:, 0]
            expression = expression51[:, 1:]
        dev, dt = self.device, torch.float32
        shape = torch.as_tensor(_fit_width(track.shape, fl.n_shape)[None], device=dev, dtype=dt)
        expr = torch.as_tensor(_fit_width(np.asarray(expression, np.float32), fl.n_exp), device=dev, dtype=dt)
        cam = torch.as_tensor(track.camera[idx], device=dev, dtype=dt)
        w, h = track.frame_size
        with torch.no_grad():
            out = fl(shape, expr, torch.as_tensor(pose, device=dev, dtype=dt))
            verts = project_orthographic(out.vertices, cam, w, h).cpu().numpy().astype(np.float64)
            if fl.has_landmarks:
                mouth_px = project_orthographic(out.landmarks[:, MOUTH_LANDMARKS], cam, w, h)[..., :2]
                mouth = mouth_px.mean(1).cpu().numpy().astype(np.float64)
            else:  # no landmark embedding: the mouth region's centroid (the whole face without masks)
                region = self.mouth_vertices if self.mouth_vertices.any() else self.face_vertices
                mouth = verts[:, region, :2].mean(1)
        return verts, mouth

    def _geometry(self, track: ShotTrack, idx: np.ndarray,
                  expression51: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Posed vertices (B,V,3), mouth centres (B,2) and pupils (B,2,2) in crop px at R (OpenCV), and
        crop pixels per FLAME unit (B,)."""
        verts, mouth = self._plate_geometry(track, idx, expression51)
        w, h = track.frame_size
        m = crop_matrices(track.alignment[idx], track.crop_size, self.resolution)
        lin, t = m[:, :, :2], m[:, :, 2]
        scale = np.sqrt(np.abs(np.linalg.det(lin)))  # the similarity's zoom, applied to depth too
        verts_crop = np.empty_like(verts)
        verts_crop[..., :2] = np.einsum("bij,bvj->bvi", lin, verts[..., :2]) + t[:, None]
        verts_crop[..., 2] = verts[..., 2] * scale[:, None]
        mouth_crop = np.einsum("bij,bj->bi", lin, mouth) + t
        pupils = track.pupils[idx].astype(np.float64)
        pupils_crop = np.einsum("bij,bej->bei", lin, pupils) + t[:, None]
        px_per_unit = track.camera[idx, 0].astype(np.float64) * (min(w, h) / 2.0) * scale
        return verts_crop, mouth_crop, pupils_crop, px_per_unit

    def _detail_maps(self, track: ShotTrack, idx: np.ndarray, expression51: np.ndarray | None,
                     px_per_unit: np.ndarray) -> UVDisplacement | None:
        """DECA's displacement of these frames in crop pixels, or None (no DECA detail for this track)."""
        if self.detail is None or track.tracker != TRACKER_DECA:
            return None
        jaw = track.pose[idx, 6:9].copy()
        expression = track.expression[idx]
        if expression51 is not None:  # the wrinkles follow the manipulated expression and jaw
            jaw[:, 0] = expression51[:, 0]
            expression = expression51[:, 1:]
        maps = self.detail.maps(jaw, expression, track.detail[idx])
        return UVDisplacement(map=maps * px_per_unit[:, None, None].astype(np.float32), uvs=self.detail.uv.uvs)

    def vertices_in_crop(self, track: ShotTrack, indices: np.ndarray | slice | None = None,
                         expression51: np.ndarray | None = None) -> np.ndarray:
        """(B,V,3) posed vertices in crop px at R (OpenCV convention) and depth: where ``render`` draws
        them (all frames at once, not chunked: for diagnostics and tests)."""
        idx, e51 = self._check(track, indices, expression51)
        return self._geometry(track, idx, e51)[0].astype(np.float32)

    def plate_vertices(self, track: ShotTrack, indices: np.ndarray | slice | None = None,
                       expression51: np.ndarray | None = None) -> np.ndarray:
        """(B,V,3) posed vertices in plate px (x, y OpenCV convention; depth in the same px): what
        the full-resolution warp (``conditioning.warp``) draws, once with the tracked expression and
        once with the new one."""
        idx, e51 = self._check(track, indices, expression51)
        return self._plate_geometry(track, idx, e51)[0]

    # ------------------------------------------------------------------ work
    def render(self, track: ShotTrack, indices: np.ndarray | slice | None = None,
               expression51: np.ndarray | None = None) -> ShotConditioning:
        """The conditioning of the track's frames at ``indices`` (positions, default all), optionally
        with the manipulated ``expression51`` (len(indices), 51) in place of the tracked expression."""
        if self.closed:
            raise RuntimeError("this FaceConditioner was closed")
        idx, e51 = self._check(track, indices, expression51)
        n, r = len(idx), self.resolution
        out = ShotConditioning(conditioning=np.zeros((n, 9, r, r), np.float32),
                               face_masks=np.zeros((n, r, r), np.float32),
                               mouth_masks=np.zeros((n, r, r), np.float32),
                               mouth_centres=np.zeros((n, 2), np.float32))
        for s0 in range(0, n, self.chunk):
            s1 = min(n, s0 + self.chunk)
            part = idx[s0:s1]
            part_e51 = None if e51 is None else e51[s0:s1]
            verts, mouth, pupils, px_per_unit = self._geometry(track, part, part_e51)
            verts[..., :2] += RASTER_OFFSET
            cond = self._renderer.render(verts.astype(np.float32), self.faces, self.colours,
                                         pupils_px=pupils + RASTER_OFFSET, face_vertex_mask=self.face_vertices,
                                         mouth_vertex_mask=self.mouth_vertices,
                                         detail_displacement=self._detail_maps(track, part, part_e51, px_per_unit))
            out.conditioning[s0:s1] = np.clip(cond.network_input("0,1"), 0.0, 1.0)
            for k in range(s1 - s0):
                out.face_masks[s0 + k], out.mouth_masks[s0 + k] = fill_mouth_cavity(cond.face_mask[k] > 0.5,
                                                                                    cond.mouth_mask[k] > 0.5)
            out.mouth_centres[s0:s1] = mouth
        return out
