"""The alignment transform and its inverse, as pure tensor functions (Kornia style).

Convention (OpenCV's, so ``cv2.warpAffine`` / ``cv2.invertAffineTransform`` interoperate exactly):
pixel (row i, column j) has its centre at the integer point (x=j, y=i) and covers
[j-0.5, j+0.5] x [i-0.5, i+0.5]. An alignment ``A`` is a 2x3 similarity (float64) that maps
ORIGINAL-frame pixel coordinates to ALIGNED-crop pixel coordinates, exactly the matrix one would
pass to ``cv2.warpAffine(frame, A, (S, S))`` to cut the aligned crop.

Sizes are (height, width) everywhere, like tensor shapes (cv2's ``dsize`` is (width, height)).
Transforms are kept in float64: a 4K frame's coordinates lose sub-pixel precision in float32
once multiplied through a scale and an inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ned_server.composite.config import CompositeError


@dataclass(frozen=True)
class Box:
    """An integer pixel rectangle of the frame: top-left pixel (x, y) and its size; may be empty."""

    x: int
    y: int
    width: int
    height: int

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) to index an (H, W, ...) array with."""
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height


def as_affine(A: torch.Tensor | np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """A float64 (B, 2, 3) tensor from a (2, 3) or (B, 2, 3) array; a clear error for anything else."""
    t = torch.as_tensor(np.asarray(A) if not isinstance(A, torch.Tensor) else A)
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3 or t.shape[1:] != (2, 3):
        raise CompositeError(f"an alignment must be a 2x3 affine matrix (or a batch of them), got shape "
                             f"{tuple(t.shape)}")
    t = t.to(device=device if device is not None else t.device, dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise CompositeError("the alignment matrix has NaN or infinite entries; the frame's track is broken")
    return t


def invert_affine(A: torch.Tensor) -> torch.Tensor:
    """The inverse of a (..., 2, 3) affine map, in the same dtype (cv2.invertAffineTransform for tensors)."""
    if A.shape[-2:] != (2, 3):
        raise CompositeError(f"invert_affine needs (..., 2, 3) matrices, got shape {tuple(A.shape)}")
    a, b, tx = A[..., 0, 0], A[..., 0, 1], A[..., 0, 2]
    c, d, ty = A[..., 1, 0], A[..., 1, 1], A[..., 1, 2]
    det = a * d - b * c
    scale = torch.maximum(a.abs() + b.abs(), c.abs() + d.abs()) ** 2
    if bool((det.abs() <= 1e-12 * scale).any()) or bool((scale == 0).any()):
        raise CompositeError("the alignment matrix is singular (zero scale); the frame's track is broken")
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    row0 = torch.stack([ia, ib, -(ia * tx + ib * ty)], dim=-1)
    row1 = torch.stack([ic, id_, -(ic * tx + id_ * ty)], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def compose_affine(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The map x -> A(B(x)) for (..., 2, 3) matrices."""
    lin = A[..., :2] @ B[..., :2]
    trans = A[..., :2] @ B[..., 2:] + A[..., 2:]
    return torch.cat([lin, trans], dim=-1)


def translate(box: Box, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """(1, 2, 3) map from frame coordinates to the box's own pixel coordinates."""
    return torch.tensor([[[1.0, 0.0, -box.x], [0.0, 1.0, -box.y]]], dtype=dtype, device=device)


def warp_affine(image: torch.Tensor, A: torch.Tensor, out_size: tuple[int, int], mode: str = "bilinear",
                padding_mode: str = "zeros") -> torch.Tensor:
    """cv2.warpAffine for (B, C, h, w) tensors on any device: ``A`` maps input pixels to output pixels.

    Output pixel p takes the input at A^-1 p, sampled by grid_sample with pixel centres at integer
    coordinates (align_corners=False plus the half-pixel offset below), so it matches OpenCV's
    INTER_LINEAR / BORDER_CONSTANT(0) up to OpenCV's 1/32-pixel fixed-point coordinates.
    """
    if image.ndim != 4:
        raise CompositeError(f"warp_affine needs a (B, C, H, W) image, got shape {tuple(image.shape)}")
    A = as_affine(A, device=image.device)
    if A.shape[0] not in (1, image.shape[0]):
        raise CompositeError(f"{A.shape[0]} alignment matrices for a batch of {image.shape[0]} images")
    out_h, out_w = (int(s) for s in out_size)
    if out_h <= 0 or out_w <= 0:
        raise CompositeError(f"warp_affine output size must be positive, got {out_size}")
    h, w = image.shape[-2:]
    inv = invert_affine(A)  # output pixel -> input pixel
    ys = torch.arange(out_h, dtype=torch.float64, device=image.device)
    xs = torch.arange(out_w, dtype=torch.float64, device=image.device)
    # Input coordinates of every output pixel centre, then normalised so that -1/+1 are the outer
    # edges of the first/last input pixels (grid_sample's align_corners=False).
    sx = inv[:, 0, 0, None, None] * xs[None, None, :] + inv[:, 0, 1, None, None] * ys[None, :, None] \
        + inv[:, 0, 2, None, None]
    sy = inv[:, 1, 0, None, None] * xs[None, None, :] + inv[:, 1, 1, None, None] * ys[None, :, None] \
        + inv[:, 1, 2, None, None]
    grid = torch.stack([(2.0 * sx + 1.0) / w - 1.0, (2.0 * sy + 1.0) / h - 1.0], dim=-1)
    grid = grid.to(image.dtype).expand(image.shape[0], out_h, out_w, 2)
    return F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=False)


def crop_corners(crop_size: int) -> torch.Tensor:
    """The aligned crop's outer pixel edges as four (x, y) points, float64."""
    lo, hi = -0.5, crop_size - 0.5
    return torch.tensor([[lo, lo], [hi, lo], [hi, hi], [lo, hi]], dtype=torch.float64)


def face_box(A: torch.Tensor | np.ndarray, crop_size: int, frame_size: tuple[int, int], margin: int = 0) -> Box:
    """The integer box of the original frame that holds the un-aligned crop, grown by ``margin``, clipped.

    ``frame_size`` is (height, width). A crop entirely outside the frame gives an empty box.
    """
    if crop_size <= 0:
        raise CompositeError(f"the aligned crop size must be positive, got {crop_size}")
    if margin < 0:
        raise CompositeError(f"the face box margin must not be negative, got {margin}")
    H, W = (int(s) for s in frame_size)
    inv = invert_affine(as_affine(A, device="cpu"))[0]
    pts = crop_corners(crop_size) @ inv[:, :2].T + inv[:, 2]
    x0 = math.floor(float(pts[:, 0].min())) - margin
    y0 = math.floor(float(pts[:, 1].min())) - margin
    x1 = math.ceil(float(pts[:, 0].max())) + margin + 1  # exclusive
    y1 = math.ceil(float(pts[:, 1].max())) + margin + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 <= x0 or y1 <= y0:
        return Box(0, 0, 0, 0)
    return Box(x0, y0, x1 - x0, y1 - y0)


def aligned_to_box(A: torch.Tensor | np.ndarray, box: Box, device: torch.device | str | None = None) -> torch.Tensor:
    """(1, 2, 3) map from aligned-crop pixels to the box's pixels: the un-alignment, as warp_affine takes it."""
    A = as_affine(A, device=device)
    return compose_affine(translate(box, device=A.device), invert_affine(A))
