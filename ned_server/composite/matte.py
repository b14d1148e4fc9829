"""The matte: the warped face mask eroded and feathered in plate pixels, and kept steady over time.

Erosion is a grey-level min filter by an octagon of the requested radius (a sequence of 3x3 square
and 3x3 cross steps adding up to the regular octagon around that disk), with a fractional radius
blended between the two nearest whole ones so the knob animates smoothly. Feathering is a Gaussian
blur of sigma ``feather_px / 2`` (the soft edge reaches ``feather_px`` either side at 2 sigma).

Temporal stability: the masks are smoothed over time in the ALIGNED space, before un-warping.
There the face is stabilised, so a centred temporal Gaussian only calms the tracker's jitter of
the mask's outline; it adds no lag on a fast head move (that motion lives in the alignment, which
is applied afterwards) and, being centred, none on a fast expression change either. The streaming
:class:`TemporalMatteFilter` gives exactly what :func:`smooth_mattes` gives on the whole sequence,
``radius = ceil(2.5 sigma)`` frames later (3 for the default sigma of 1 frame); a chunk matches a
full run when it gets ``radius`` frames of pre- and post-roll.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import torch
import torch.nn.functional as F

from ned_server.composite.config import CompositeError


def _as_batch(mask: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    if mask.ndim == 2:
        return mask[None, None], mask.shape
    if mask.ndim == 3:
        return mask[:, None], mask.shape
    if mask.ndim == 4 and mask.shape[1] == 1:
        return mask, mask.shape
    raise CompositeError(f"a mask must be (H, W), (B, H, W) or (B, 1, H, W), got shape {tuple(mask.shape)}")


def _min_square(x: torch.Tensor) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    r = torch.minimum(torch.minimum(p[..., :-2], p[..., 1:-1]), p[..., 2:])
    return torch.minimum(torch.minimum(r[..., :-2, :], r[..., 1:-1, :]), r[..., 2:, :])


def _min_cross(x: torch.Tensor) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    c = torch.minimum(x, torch.minimum(p[..., :-2, 1:-1], p[..., 2:, 1:-1]))
    return torch.minimum(c, torch.minimum(p[..., 1:-1, :-2], p[..., 1:-1, 2:]))


# Share of 3x3-square steps among the erosion steps (the rest are 3x3 crosses): with sqrt(2) - 1 of
# them the steps add up to the regular octagon circumscribing a disk of the radius (faces exact,
# corners 8 % out), the closest a sequence of 3x3 min filters gets to a disk.
_SQUARE_SHARE = math.sqrt(2.0) - 1.0


def _erode_step(x: torch.Tensor, step: int) -> torch.Tensor:
    square = math.floor((step + 1) * _SQUARE_SHARE) > math.floor(step * _SQUARE_SHARE)
    return _min_square(x) if square else _min_cross(x)


def erode(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """Grey-level erosion of a (B, 1, H, W) mask by an octagon of ``radius`` pixels (may be fractional)."""
    if not math.isfinite(radius) or radius < 0:
        raise CompositeError(f"matte erosion must be >= 0 pixels, got {radius!r}")
    whole = math.floor(radius)
    frac = radius - whole
    out = mask
    for step in range(whole):
        out = _erode_step(out, step)
    if frac > 1e-6:
        out = torch.lerp(out, _erode_step(out, whole), frac)
    return out


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3.0 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def gaussian_blur(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (B, C, H, W) tensor, edges repeated."""
    if not math.isfinite(sigma) or sigma < 0:
        raise CompositeError(f"blur sigma must be >= 0, got {sigma!r}")
    if sigma < 0.05:
        return mask
    b, c, h, w = mask.shape
    k = gaussian_kernel(sigma, mask.dtype, mask.device)
    r = k.numel() // 2
    x = mask.reshape(b * c, 1, h, w)
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return x.reshape(b, c, h, w)


def make_matte(mask: torch.Tensor, erode_px: float, feather_px: float) -> torch.Tensor:
    """The matte from a warped face mask in [0, 1]: erode by ``erode_px``, then feather (sigma feather_px/2).

    Takes (H, W), (B, H, W) or (B, 1, H, W) and returns the same shape, clamped to [0, 1].
    """
    if not math.isfinite(erode_px) or erode_px < 0:
        raise CompositeError(f"matte_erode must be >= 0 plate pixels, got {erode_px!r}")
    if not math.isfinite(feather_px) or feather_px < 0:
        raise CompositeError(f"matte_feather must be >= 0 plate pixels, got {feather_px!r}")
    x, shape = _as_batch(mask)
    if not x.is_floating_point():
        x = x.float()
    x = x.clamp(0.0, 1.0)
    x = erode(x, erode_px)
    x = gaussian_blur(x, feather_px / 2.0)
    return x.clamp_(0.0, 1.0).reshape(shape)


def temporal_radius(sigma: float) -> int:
    """Frames either side that the temporal filter looks at (0 when it is off)."""
    if not math.isfinite(sigma) or sigma < 0:
        raise CompositeError(f"temporal matte smoothing must be >= 0 frames, got {sigma!r}")
    return 0 if sigma < 0.05 else math.ceil(2.5 * sigma)


def _temporal_weights(sigma: float, radius: int) -> list[float]:
    return [math.exp(-0.5 * (o / sigma) ** 2) for o in range(-radius, radius + 1)]


def smooth_mattes(masks: torch.Tensor, sigma: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """A centred temporal Gaussian over a (T, ...) stack of aligned-space masks.

    Near the ends of the sequence and next to frames marked not ``valid`` (untracked, whose masks
    mean nothing), the weights of the missing frames are dropped and the rest renormalised.
    Invalid frames are returned unchanged.
    """
    if masks.ndim < 1 or masks.shape[0] == 0:
        raise CompositeError(f"smooth_mattes needs a (T, ...) stack with T >= 1, got shape {tuple(masks.shape)}")
    t = masks.shape[0]
    if valid is None:
        valid = torch.ones(t, dtype=torch.bool, device=masks.device)
    valid = torch.as_tensor(valid, dtype=torch.bool, device=masks.device)
    if valid.shape != (t,):
        raise CompositeError(f"valid must have one flag per frame ({t}), got shape {tuple(valid.shape)}")
    radius = temporal_radius(sigma)
    if radius == 0 or t == 1:
        return masks.clone()
    weights = _temporal_weights(sigma, radius)
    vw = valid.to(masks.dtype).view(t, *([1] * (masks.ndim - 1)))
    src = masks * vw
    acc = torch.zeros_like(masks)
    wsum = torch.zeros_like(vw)
    for k, o in enumerate(range(-radius, radius + 1)):
        lo, hi = max(0, -o), min(t, t - o)  # output frames i whose neighbour i + o exists
        if hi <= lo:
            continue
        acc[lo:hi].add_(src[lo + o:hi + o], alpha=weights[k])
        wsum[lo:hi].add_(vw[lo + o:hi + o], alpha=weights[k])
    out = acc / wsum.clamp_min(1e-12)
    return torch.where(vw > 0, out, masks)


class TemporalMatteFilter:
    """The streaming form of :func:`smooth_mattes`: push aligned-space masks one frame at a time (None
    for an untracked frame) and get each frame's smoothed mask back once ``radius`` later frames
    are in; :meth:`flush` at the end of the shot returns the rest."""

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)
        self.radius = temporal_radius(self.sigma)
        self._weights = _temporal_weights(self.sigma, self.radius) if self.radius else [1.0]
        self._frames: list[tuple[Hashable, torch.Tensor | None]] = []
        self._offset = 0  # sequence index of self._frames[0]
        self._next = 0  # sequence index of the next frame to hand out

    def _emit(self, i: int, end: int) -> tuple[Hashable, torch.Tensor | None]:
        key, mask = self._frames[i - self._offset]
        if mask is None or self.radius == 0:
            return key, mask
        acc: torch.Tensor | None = None
        wsum = 0.0
        for k, o in enumerate(range(-self.radius, self.radius + 1)):
            j = i + o
            if j < self._offset or j >= end:
                continue
            other = self._frames[j - self._offset][1]
            if other is None:
                continue
            acc = other * self._weights[k] if acc is None else acc.add(other, alpha=self._weights[k])
            wsum += self._weights[k]
        assert acc is not None  # the frame itself is always there
        return key, acc / wsum

    def push(self, key: Hashable, mask: torch.Tensor | None) -> list[tuple[Hashable, torch.Tensor | None]]:
        self._frames.append((key, mask))
        end = self._offset + len(self._frames)
        ready = []
        while self._next + self.radius < end:
            ready.append(self._emit(self._next, end))
            self._next += 1
        drop = max(0, self._next - self.radius - self._offset)  # frames no longer needed by anyone
        if drop:
            del self._frames[:drop]
            self._offset += drop
        return ready

    def flush(self) -> list[tuple[Hashable, torch.Tensor | None]]:
        end = self._offset + len(self._frames)
        ready = [self._emit(i, end) for i in range(self._next, end)]
        self._frames.clear()
        self._offset = end
        self._next = end
        return ready
