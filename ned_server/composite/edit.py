"""A full-resolution face edit: the plate resampled through the warp's backward map, and the neural face
blended in only where warping cannot explain the new frame.

Inputs per frame, all over the face box: the original pixels, the warp's maps (``offset`` from each
pixel to its source in the original, ``moved`` where that offset is not 0, ``neural`` where the
warp cannot explain the frame; see ``conditioning.warp``) and, for ``hybrid``, the renderer's
aligned face and mask. Steps:

1. ``resample``: bicubic ``grid_sample`` of the original at (pixel + offset), in row tiles so a 4K
   face box needs a bounded amount of memory; pixels that do not move are the original's bits.
2. ``hybrid`` only: the neural matte is the warp's ``neural`` grown and feathered (``feather_px``),
   held inside the renderer's own (un-aligned) face mask; the neural face is colour-matched to the
   warped skin on a ring around the matte (a per-channel gain, scene-linear) and blended into the
   warped plate with the multi-band blend (``blend.laplacian_blend``), cropped to the matte.
3. The plate's alpha is 1 where the map moves a pixel or the neural face changes it, 0 elsewhere, so
   Merge(over) gives the edit there and the untouched plate everywhere else, intensity 0 included.

For the compositor (``EditLayers``): ``source`` (absolute source px, for the STMap layer: see
``stmap``), the colour-matched neural face and its matte, so the host can rebuild or soften the
edit with its own STMap and Merge nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ned_server.composite.align import Box, aligned_to_box, as_affine, warp_affine
from ned_server.composite.blend import laplacian_blend
from ned_server.composite.config import CompositeError
from ned_server.composite.matte import gaussian_blur
from ned_server.composite.plate import FacePlate
from ned_server.composite.pyramid import max_levels

TILE_PIXELS = 1 << 20  # output pixels resampled per grid_sample call: bounded memory at any plate size
GAIN_RANGE = (0.5, 2.0)  # a colour match further off than this is a bad ring, not a grade


@dataclass
class EditLayers:
    """One frame's edit over its box: (1, C, h, w) tensors on the device, plus the map for the STMap."""

    box: Box
    result: torch.Tensor  # the edited box, unpremultiplied scene-linear
    alpha: torch.Tensor  # (1, 1, h, w): 1 where result differs from the original
    source: np.ndarray  # (h, w, 2) float32 source px (x, y) in the frame array, OpenCV convention
    neural: torch.Tensor | None = None  # colour-matched neural face (hybrid only)
    neural_matte: torch.Tensor | None = None  # (1, 1, h, w) in [0, 1]
    note: str = ""


def resample(image: torch.Tensor, offset: torch.Tensor, moved: torch.Tensor, mode: str = "bicubic") -> torch.Tensor:
    """``image`` (1, C, h, w) sampled at every pixel centre + ``offset`` (h, w, 2) px, edges clamped.

    Bicubic is torch's (and OpenCV's INTER_CUBIC): cubic convolution with a = -0.75, which keeps
    more of the plate's detail than Keys' a = -0.5 at the price of a slight overshoot. Pixels where
    ``moved`` (h, w) is False are copied, bit for bit. Bicubic overshoot is clamped to
    the image's own range, so a scene-linear plate gets no negative ringing next to a highlight.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise CompositeError(f"resample takes a (1, C, h, w) image, got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if tuple(offset.shape) != (h, w, 2) or tuple(moved.shape) != (h, w):
        raise CompositeError(f"the warp map must be ({h}, {w}, 2) with a ({h}, {w}) moved mask, got "
                             f"{tuple(offset.shape)} and {tuple(moved.shape)}")
    if mode not in ("bicubic", "bilinear"):
        raise CompositeError(f"resample mode {mode!r} must be 'bicubic' or 'bilinear'")
    out = image.clone()
    rows = torch.nonzero(moved.any(dim=1)).flatten()
    if rows.numel() == 0:
        return out
    lo, hi = torch.aminmax(image)
    cols = torch.nonzero(moved.any(dim=0)).flatten()
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    step = max(1, TILE_PIXELS // max(1, c1 - c0))
    xs = torch.arange(c0, c1, device=image.device, dtype=torch.float32)
    for r0 in range(int(rows[0]), int(rows[-1]) + 1, step):
        r1 = min(int(rows[-1]) + 1, r0 + step)
        ys = torch.arange(r0, r1, device=image.device, dtype=torch.float32)
        d = offset[r0:r1, c0:c1].to(image.device, torch.float32)
        gx = (2.0 * (xs[None, :] + d[..., 0]) + 1.0) / w - 1.0
        gy = (2.0 * (ys[:, None] + d[..., 1]) + 1.0) / h - 1.0
        grid = torch.stack([gx, gy], dim=-1)[None].to(image.dtype)
        sampled = F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=False)
        sampled = sampled.clamp_(lo, hi)
        keep = moved[r0:r1, c0:c1].to(image.device)[None, None]
        out[..., r0:r1, c0:c1] = torch.where(keep, sampled, image[..., r0:r1, c0:c1])
    return out


def dilate(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """Grey-level dilation of a (B, 1, h, w) mask by a square of ``radius`` px.

    On the CPU OpenCV's (van Herk / Gil-Werman: a few comparisons a pixel whatever the radius) is
    several times faster than max-pooling; elsewhere two separable max-pools. Both treat the border as
    -inf, so they agree bit for bit."""
    r = max(0, round(radius))
    if r == 0:
        return mask
    if mask.device.type == "cpu" and mask.dtype == torch.float32:
        kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
        planes = mask.detach().reshape(-1, *mask.shape[-2:]).contiguous().numpy()
        out = np.stack([cv2.dilate(p, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=-np.inf)
                        for p in planes])
        return torch.from_numpy(out).reshape(mask.shape)
    rows = F.max_pool2d(mask, (1, 2 * r + 1), stride=1, padding=(0, r))  # separable: 2 (2r+1) taps, not (2r+1)^2
    return F.max_pool2d(rows, (2 * r + 1, 1), stride=1, padding=(r, 0))


def neural_matte(neural: torch.Tensor, coverage: torch.Tensor, feather_px: float) -> torch.Tensor:
    """(1, 1, h, w): the warp's hard ``neural`` region grown by the feather's reach and blurred with sigma
    feather_px / 2 (so the hard region stays at 1), held inside the renderer's face ``coverage``."""
    m = (neural > 0.5).to(coverage.dtype)
    if feather_px > 0:
        m = torch.maximum(m, gaussian_blur(dilate(m, feather_px), feather_px / 2.0))
    return (m.clamp_(0.0, 1.0) * coverage).clamp_(0.0, 1.0)


def colour_gain(face: torch.Tensor, warped: torch.Tensor, matte: torch.Tensor, coverage: torch.Tensor,
                ring_px: float) -> torch.Tensor:
    """(1, C, 1, 1) per-channel gain taking the neural face's mean to the warped skin's on a ring just
    outside the matte (inside the face), so the renderer's colour cast does not show as a patch."""
    inner = matte > 1e-3
    ring = (dilate(inner.to(face.dtype), ring_px) > 0.5) & ~inner & (coverage > 0.99)
    if int(ring.sum()) < 16:
        return torch.ones((1, face.shape[1], 1, 1), dtype=face.dtype, device=face.device)
    sel = ring.expand_as(face)
    f = (face * sel).sum(dim=(2, 3), keepdim=True)
    g = (warped * sel).sum(dim=(2, 3), keepdim=True)
    return (g / f.clamp_min(1e-6)).clamp_(*GAIN_RANGE)


def _neural_region(neural: np.ndarray, reach: int) -> tuple[slice, slice] | None:
    """Rows and columns of the box around the warp's neural region, grown by ``reach`` px, or None."""
    hard = neural > 0.5
    rows = np.flatnonzero(hard.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(hard.any(axis=0))
    h, w = hard.shape
    return (slice(max(0, rows[0] - reach), min(h, rows[-1] + 1 + reach)),
            slice(max(0, cols[0] - reach), min(w, cols[-1] + 1 + reach)))


def edit_face(original: torch.Tensor, box: Box, offset: np.ndarray, moved: np.ndarray, neural: np.ndarray | None,
              *, rendered: torch.Tensor | None = None, mask: torch.Tensor | None = None,
              A: np.ndarray | torch.Tensor | None = None,
              feather_px: float = 6.0, levels: int = 4) -> EditLayers:
    """The edit of one face box (see the module docstring). ``original`` (1, 3, h, w) on the device;
    ``rendered`` (3, S, S), ``mask`` (S, S) and ``A`` (plate -> aligned 2x3) for hybrid, else None.

    The neural part is computed only around the warp's neural region (the mouth and the eyes), grown
    by the feather, the colour-match ring and a few coarsest pyramid pixels: the blend is the warp
    beyond that, so a 4K face costs what its mouth and eyes cost there.
    """
    dev = original.device
    h, w = original.shape[-2:]
    off = torch.from_numpy(np.ascontiguousarray(offset, dtype=np.float32)).to(dev)
    mv = torch.from_numpy(np.ascontiguousarray(moved, dtype=bool)).to(dev)
    warped = resample(original, off, mv)
    src = offset.astype(np.float32, copy=True)
    src[..., 0] += np.arange(w, dtype=np.float32)[None, :] + box.x
    src[..., 1] += np.arange(h, dtype=np.float32)[:, None] + box.y
    layers = EditLayers(box, warped, mv[None, None].to(original.dtype), src)
    if rendered is None or neural is None or mask is None or A is None:
        return layers
    face = rendered.to(dev, original.dtype)
    alpha = mask.to(dev, original.dtype)
    size = face.shape[-1]
    if face.shape != (3, size, size) or alpha.shape != (size, size):
        raise CompositeError(f"the rendered face must be (3, S, S) with an (S, S) mask, got {tuple(face.shape)} "
                             f"and {tuple(alpha.shape)}")
    ring = max(2.0, 2.0 * feather_px)
    lv = min(levels, max_levels(h, w))
    region = _neural_region(np.asarray(neural), math.ceil(feather_px + ring) + 4 * (1 << (lv - 1)))
    if region is None:
        return layers
    rows, cols = region
    sub = Box(box.x + cols.start, box.y + rows.start, cols.stop - cols.start, rows.stop - rows.start)
    lv = min(lv, max_levels(sub.height, sub.width))
    to_sub = aligned_to_box(as_affine(A, device=dev), sub, device=dev)
    un = warp_affine(torch.cat([face, alpha[None]], dim=0)[None], to_sub, sub.size)
    coverage = un[:, 3:].clamp(0.0, 1.0)
    need = torch.from_numpy(np.ascontiguousarray(neural[rows, cols], dtype=np.float32)).to(dev)[None, None]
    m = neural_matte(need, coverage, feather_px)
    if not bool((m > 0).any()):
        return layers
    bg = warped[..., rows, cols]
    gain = colour_gain(un[:, :3], bg, m, coverage, ring_px=ring)
    fg = torch.lerp(bg, un[:, :3] * gain, coverage)
    blended = laplacian_blend(fg, bg, m, lv)
    result = warped.clone()
    result[..., rows, cols] = blended
    layers.result = result
    layers.alpha[..., rows, cols] = torch.maximum(layers.alpha[..., rows, cols],
                                                  (blended != bg).any(dim=1, keepdim=True).to(original.dtype))
    layers.neural = torch.zeros_like(warped)
    layers.neural[..., rows, cols] = fg
    layers.neural_matte = torch.zeros_like(layers.alpha)
    layers.neural_matte[..., rows, cols] = m
    if lv < levels:
        layers.note = f"blend levels lowered from {levels} to {lv} for this {sub.width}x{sub.height} region"
    return layers


def stmap(source: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(h, w, 2) source px (OpenCV convention, frame-array coordinates) -> Nuke STMap (u, v): the
    source pixel normalised to the frame, u = (x + 0.5) / W, v = 1 - (y + 0.5) / H (origin bottom-left,
    pixel centres at half-integers), float32."""
    H, W = (int(s) for s in frame_size)
    if H < 1 or W < 1:
        raise CompositeError(f"frame size must be positive (height, width), got {frame_size}")
    u = (source[..., 0] + 0.5) / W
    v = 1.0 - (source[..., 1] + 0.5) / H
    return np.stack([u, v], axis=-1).astype(np.float32)


def edit_plate(layers: EditLayers, frame_size: tuple[int, int], origin: tuple[int, int] = (0, 0),
               neural_layer: bool = True) -> FacePlate:
    """The face plate of an edit: premultiplied result over its box with alpha (and ``matte.Y``) = where
    it differs from the original, plus the ``stmap.R/G`` layer and, with ``neural_layer`` (hybrid),
    ``neural.R/G/B/A``: the colour-matched neural face premultiplied by its own matte, zero on frames
    that need none, so every plate of a shot has the same channels. ``frame_size`` (height, width)."""
    a = layers.alpha
    rgba = torch.cat([layers.result * a, a], dim=1)[0].permute(1, 2, 0).to("cpu", torch.float32).contiguous()
    uv = stmap(layers.source, frame_size)
    extra = {"stmap.R": uv[..., 0], "stmap.G": uv[..., 1]}
    if neural_layer:
        if layers.neural is not None and layers.neural_matte is not None:
            m = layers.neural_matte
            n = torch.cat([layers.neural * m, m], dim=1)[0].to("cpu", torch.float32).numpy()
        else:
            n = np.zeros((4, *layers.result.shape[-2:]), np.float32)
        extra.update({"neural.R": n[0], "neural.G": n[1], "neural.B": n[2], "neural.A": n[3]})
    x, y = origin
    box = layers.box
    H, W = (int(s) for s in frame_size)
    return FacePlate(rgba=rgba.numpy(), matte=rgba[..., 3].numpy().copy(),
                     data_window=(x + box.x, y + box.y, box.width, box.height), display_window=(x, y, W, H),
                     tracked=True, note=layers.note, layers=extra)
