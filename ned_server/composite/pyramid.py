"""Gaussian and Laplacian pyramids of (B, C, H, W) tensors, on any device, for any size (odd included).

The sampling grid is the half-pixel one: coarse pixel k sits between fine pixels 2k and 2k+1.
Going down is the separable binomial [1, 3, 3, 1] / 8 at stride 2 (a 3rd-order B-spline, as good
an anti-alias filter as the usual 5-tap [1, 4, 6, 4, 1] / 16, one tap cheaper); going up is
bilinear x2 (align_corners=False), which is exactly that filter's adjoint, times 2 per axis. Both
are written as a few element-wise ops on strided slices: PyTorch's CPU depthwise conv2d is twenty
times slower here, and F.interpolate twice as slow (measured with tests/bench/composite.py's
inputs); on a GPU they are as good as anything else.

An odd side n goes down to ceil(n / 2) pixels (the edge pixel is repeated), and up() takes the
target size and crops, so decomposing and collapsing gives back the input exactly up to rounding,
whatever the size.
"""

from __future__ import annotations

from types import EllipsisType

import torch
import torch.nn.functional as F

from ned_server.composite.config import CompositeError


def max_levels(height: int, width: int) -> int:
    """The most pyramid levels an image allows: each level above the first halves it, and every level
    that is halved must be at least 2 pixels on its shorter side."""
    levels, side = 1, min(height, width)
    while side >= 2:
        side = (side + 1) // 2
        levels += 1
    return levels


def check_levels(levels: int, height: int, width: int) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise CompositeError(f"pyramid levels must be a whole number >= 1 (1 = plain alpha blend), got {levels!r}")
    most = max_levels(height, width)
    if levels > most:
        raise CompositeError(
            f"{levels} pyramid levels are too many for a {width}x{height} image: at most {most} "
            "(each level halves the image and needs at least 2 pixels to halve); lower blend_levels")


# Below this many elements pyr_down pads a copy and skips the edge cases (fewer, simpler ops); above
# it the copy costs more than the edge cases do.
_PAD_ELEMENTS = 1 << 21


def _every_other(dim: int, start: int, stop: int) -> tuple[EllipsisType | slice, ...]:
    return (Ellipsis, slice(start, stop, 2)) if dim == -1 else (Ellipsis, slice(start, stop, 2), slice(None))


def _halve(x: torch.Tensor, dim: int) -> torch.Tensor:
    """[1, 3, 3, 1] at stride 2 along ``dim`` (-2 or -1), unnormalised (sums to 8), edges repeated.

    Coarse sample k takes fine samples 2k-1 .. 2k+2. The interior is four strided slices of the
    input, written straight into the output (no padded copy of the image); the one or two edge
    samples whose taps fall off the image are done alone with clamped indices.
    """
    n = x.shape[dim]
    count = (n + 1) // 2
    inner = (n - 3) // 2  # samples 1 .. inner have all four taps inside
    shape = list(x.shape)
    shape[dim] = count
    out = x.new_empty(shape)
    if inner >= 1:
        o = out.narrow(dim, 1, inner)
        torch.add(x[_every_other(dim, 1, 2 * inner)], x[_every_other(dim, 4, 2 * inner + 3)], out=o)
        o.add_(x[_every_other(dim, 2, 2 * inner + 1)] + x[_every_other(dim, 3, 2 * inner + 2)], alpha=3.0)
    for k in sorted({0, *range(max(inner + 1, 1), count)}):
        i0, i1, i2, i3 = (min(max(j, 0), n - 1) for j in (2 * k - 1, 2 * k, 2 * k + 1, 2 * k + 2))
        torch.add(x.select(dim, i0) + x.select(dim, i3), x.select(dim, i1) + x.select(dim, i2), alpha=3.0,
                  out=out.select(dim, k))
    return out


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """One level down: (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)), low-passed."""
    if x.ndim != 4:
        raise CompositeError(f"pyramids need (B, C, H, W) tensors, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h < 2 or w < 2:
        raise CompositeError(f"cannot halve a {w}x{h} image; it needs at least 2x2 pixels")
    if x.numel() <= _PAD_ELEMENTS:
        # Small (a face box's coarser levels): one padded copy, then two passes with no edge cases;
        # fewer ops matters more here than the copy.
        xp = F.pad(x, (1, 1 + w % 2, 1, 1 + h % 2), mode="replicate")
        r = xp[..., 0:-3:2, :] + xp[..., 3::2, :]
        r.add_(xp[..., 1:-2:2, :] + xp[..., 2:-1:2, :], alpha=3.0)
        c = r[..., 0:-3:2] + r[..., 3::2]
        return c.add_(r[..., 1:-2:2] + r[..., 2:-1:2], alpha=3.0).mul_(1.0 / 64.0)
    # Rows first (whole contiguous rows per tap), then the half-height result along the columns.
    return _halve(_halve(x, -2), -1).mul_(1.0 / 64.0)


def _double(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Linear interpolation x2 along ``dim`` to ``size`` (2n or 2n - 1) samples, edges repeated.

    Fine sample 2k is 3/4 of coarse k plus 1/4 of k - 1, fine 2k + 1 is 3/4 of k plus 1/4 of k + 1
    (bilinear, align_corners=False). Each phase is one lerp written straight into every other row
    (or column) of the output: about twice as fast on the CPU as F.interpolate, same numbers.
    """
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = size
    out = x.new_empty(shape)
    even = out[_every_other(dim, 0, size)]
    odd = out[_every_other(dim, 1, size)]
    even.narrow(dim, 0, 1).copy_(x.narrow(dim, 0, 1))
    if n > 1:
        torch.lerp(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), 0.25, out=even.narrow(dim, 1, n - 1))
        torch.lerp(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1), 0.25, out=odd.narrow(dim, 0, n - 1))
    if size == 2 * n:
        odd.narrow(dim, n - 1, 1).copy_(x.narrow(dim, n - 1, 1))
    return out


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One level up to ``size`` (H, W), which must be 2*h or 2*h - 1 (and the same for w)."""
    h, w = x.shape[-2:]
    H, W = size
    if H not in (2 * h, 2 * h - 1) or W not in (2 * w, 2 * w - 1):
        raise CompositeError(f"cannot bring a {w}x{h} level up to {W}x{H}; pyramid levels must halve")
    return _double(_double(x, -2, H), -1, W)


def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[x, down(x), down(down(x)), ...]: ``levels`` images, finest first."""
    check_levels(levels, x.shape[-2], x.shape[-1])
    pyr = [x]
    for _ in range(levels - 1):
        pyr.append(pyr_down(pyr[-1]))
    return pyr


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass images finest first, then the coarsest Gaussian level (the low-pass residual)."""
    g = gaussian_pyramid(x, levels)
    bands = [g[i] - pyr_up(g[i + 1], (g[i].shape[-2], g[i].shape[-1])) for i in range(levels - 1)]
    return [*bands, g[-1]]


def collapse(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`laplacian_pyramid`: add the bands back up from the coarsest level."""
    out = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        out = pyr_up(out, (band.shape[-2], band.shape[-1])) + band
    return out
