"""Blending a foreground into a background through a mask: multi-band (Laplacian), alpha over, Poisson.

All three take (B, C, H, W) images and a (B, 1, H, W) mask in [0, 1] on any device and return
(B, C, H, W). The pipeline calls them on the face box only (ned_server.composite.plate), so a 4K
frame costs what its face costs.

Multi-band blending (Burt & Adelson) is computed on the difference ``fg - bg``: the blend is
linear in the images, so

    collapse(Lap(fg) * G(m) + Lap(bg) * (1 - G(m)))  ==  bg + collapse(Lap(fg - bg) * G(m))

which needs one Laplacian pyramid instead of two (about half the work), gives the background back
bit for bit where the mask pyramid is zero, and is never asked to normalise weights.

Poisson blending is our own solver in torch (cv2.seamlessClone takes only 8-bit images, which
would destroy scene-linear values): the foreground keeps its gradients and is shifted by the
harmonic correction field that meets the background on the mask's edge, solved coarse to fine
(Jacobi sweeps started from the upsampled coarser solution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ned_server.composite.config import CompositeError
from ned_server.composite.pyramid import check_levels, pyr_down, pyr_up


def _check(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor) -> None:
    if fg.ndim != 4 or fg.shape != bg.shape:
        raise CompositeError(f"foreground {tuple(fg.shape)} and background {tuple(bg.shape)} must be the same "
                             "(B, C, H, W) shape")
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != fg.shape[0] or mask.shape[2:] != fg.shape[2:]:
        raise CompositeError(f"the mask must be (B, 1, H, W) = {(fg.shape[0], 1, *fg.shape[2:])}, "
                             f"got {tuple(mask.shape)}")
    if not (fg.is_floating_point() and bg.is_floating_point() and mask.is_floating_point()):
        raise CompositeError("blending needs floating-point images and mask")


def copy_paste(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Alpha over with an unpremultiplied foreground: fg * m + bg * (1 - m)."""
    _check(fg, bg, mask)
    return torch.lerp(bg, fg, mask.expand_as(fg))


# How far (in coarsest-level pixels) the image pyramids reach past the mask's support. The mask's
# own pyramid spreads about 3 coarsest pixels; the band images are off near a crop edge (edge
# pixels repeated instead of the real neighbours) for about 6 pixels of each level's scale. 12
# coarsest pixels keep every such band value where all mask levels are zero (tests compare the
# cropped blend with the whole-frame one, bit for bit on random cases).
_CROP_PAD = 12


def _support(mask: torch.Tensor, levels: int) -> tuple[int, int, int, int] | None:
    """Rows y0:y1 and columns x0:x1 outside which the blend is the background, or None for an empty mask.

    The mask's support grown by :data:`_CROP_PAD` coarsest-level pixels, with the corner on the
    coarsest grid, so the crop's pyramids sample the same points as the whole frame's.
    """
    h, w = mask.shape[-2:]
    rows = torch.nonzero(mask.amax(dim=(0, 1, 3)) > 0).flatten()  # two reads of the mask, no bool image
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.amax(dim=(0, 1, 2)) > 0).flatten()
    unit = 1 << (levels - 1)
    reach = _CROP_PAD * unit
    r0, r1, c0, c1 = (int(v) for v in (rows[0], rows[-1], cols[0], cols[-1]))
    y0, x0 = max(0, (r0 - reach) // unit * unit), max(0, (c0 - reach) // unit * unit)
    return y0, min(h, r1 + 1 + reach), x0, min(w, c1 + 1 + reach)


# Up to this many pixels per channel the image and mask share one pyramid (fewer, larger ops: small
# face boxes are bound by per-op overhead); above it they get separate pyramids, which keeps every
# full-size buffer under glibc's 32 MB mmap ceiling for a 2K frame (a 4-channel one is not, and
# then every call pays ~10 ms of page faults on fresh memory).
_SHARED_PYRAMID_PIXELS = 1 << 20


def _blend_bands(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor, levels: int) -> torch.Tensor:
    """bg + collapse(Lap(fg - bg) * G(mask))."""
    c = fg.shape[1]
    if fg.shape[-2] * fg.shape[-1] <= _SHARED_PYRAMID_PIXELS:
        top = torch.empty((fg.shape[0], c + 1, *fg.shape[2:]), dtype=fg.dtype, device=fg.device)
        torch.sub(fg, bg, out=top[:, :c])
        top[:, c:].copy_(mask)
        p = [top]
        for _ in range(levels - 1):
            p.append(pyr_down(p[-1]))
        g = [level[:, :c] for level in p]
        m = [level[:, c:] for level in p]
    else:
        g, m = [fg - bg], [mask]
        for _ in range(levels - 1):
            g.append(pyr_down(g[-1]))
            m.append(pyr_down(m[-1]))
    # Fine to coarse, so each level is intact when the one above needs it, the image part of every
    # level but the last becomes that level's Laplacian band, in place: only three full-size
    # tensors are ever allocated.
    for i in range(levels - 1):
        g[i].sub_(pyr_up(g[i + 1], (g[i].shape[-2], g[i].shape[-1])))
    out = g[-1] * m[-1]
    for i in range(levels - 2, -1, -1):
        out = pyr_up(out, (g[i].shape[-2], g[i].shape[-1])).addcmul_(g[i], m[i])
    return out.add_(bg)


def laplacian_blend(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor, levels: int = 4,
                    crop_to_mask: bool = True) -> torch.Tensor:
    """Multi-band blend: each band of fg - bg is weighted by the mask low-passed to that band's scale.

    ``levels`` counts every pyramid level, the low-pass residual included (1 = alpha blend).
    With ``crop_to_mask`` the pyramids are built only where the mask's pyramid reaches (see
    :func:`_support`); the rest of the result is the background, copied. The numbers are the same
    either way (tests check it): a face in a 4K frame costs what the face costs even when the
    caller passes the whole frame.
    """
    _check(fg, bg, mask)
    check_levels(levels, fg.shape[-2], fg.shape[-1])
    if not crop_to_mask:
        return _blend_bands(fg, bg, mask, levels)
    box = _support(mask, levels)
    if box is None:
        return bg.clone()
    y0, y1, x0, x1 = box
    if (y1 - y0, x1 - x0) == tuple(fg.shape[-2:]):
        return _blend_bands(fg, bg, mask, levels)
    out = bg.clone()
    crop = (..., slice(y0, y1), slice(x0, x1))
    out[crop] = _blend_bands(fg[crop], bg[crop], mask[crop], levels)
    return out


def _jacobi(c: torch.Tensor, known: torch.Tensor, inside: torch.Tensor, sweeps: int) -> torch.Tensor:
    """Jacobi sweeps of Laplace's equation inside ``inside``, ``known`` held fixed elsewhere.

    Works in one padded buffer whose one-pixel rim repeats the edge (zero flux at the box edge), so
    a sweep is four element-wise ops with no allocation (hundreds of sweeps stay cheap); the rim
    only needs refreshing when the unknown region touches the box edge.
    """
    h, w = c.shape[-2:]
    p = F.pad(c, (1, 1, 1, 1), mode="replicate")
    core = p[..., 1:-1, 1:-1]
    avg = torch.empty_like(c)
    quarter_inside = inside * 0.25
    fixed_part = known * (1.0 - inside)
    touches_edge = bool(inside[..., 0, :].any() or inside[..., -1, :].any() or inside[..., :, 0].any()
                        or inside[..., :, -1].any())
    for _ in range(sweeps):
        torch.add(p[..., :-2, 1:-1], p[..., 2:, 1:-1], out=avg)
        avg.add_(p[..., 1:-1, :-2]).add_(p[..., 1:-1, 2:])
        torch.addcmul(fixed_part, avg, quarter_inside, out=core)
        if touches_edge:
            p[..., 0, :].copy_(p[..., 1, :])
            p[..., h + 1, :].copy_(p[..., h, :])
            p[..., :, 0].copy_(p[..., :, 1])
            p[..., :, w + 1].copy_(p[..., :, w])
    return core.clone()


def _harmonic_fill(known: torch.Tensor, inside: torch.Tensor, iterations: int) -> torch.Tensor:
    """Values inside ``inside`` that solve Laplace's equation with ``known`` fixed outside it.

    Coarse to fine: the problem is restricted (weighted by how much of each coarse pixel is known),
    solved on the coarser grid, brought up as the starting guess, then relaxed with Jacobi sweeps;
    the coarsest grid is small enough for plain Jacobi to converge.
    """
    h, w = known.shape[-2:]
    if max(h, w) > 8 and min(h, w) >= 2:
        outside = 1.0 - inside
        ok = pyr_down(outside)
        kc = pyr_down(known * outside) / ok.clamp_min(1e-6)
        inside_c = (ok < 1e-3).to(known.dtype)  # coarse pixels with nothing known are solved for
        coarse = _harmonic_fill(kc, inside_c, iterations)
        start = torch.where(inside > 0, pyr_up(coarse, (h, w)), known)
        return _jacobi(start, known, inside, iterations)
    start = torch.where(inside > 0, torch.zeros_like(known), known)
    return _jacobi(start, known, inside, max(iterations, 4 * max(h, w) ** 2))


def poisson_blend(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor, iterations: int = 30) -> torch.Tensor:
    """Seamless cloning: inside mask > 0.5 the result is fg plus the smooth (harmonic) correction that
    makes it meet bg on the mask's edge; outside it is bg. ``iterations`` are Jacobi sweeps per level."""
    _check(fg, bg, mask)
    if iterations < 1:
        raise CompositeError(f"poisson iterations must be >= 1, got {iterations}")
    inside = (mask > 0.5).to(fg.dtype)
    if not bool(inside.any()):
        return bg.clone()
    correction = _harmonic_fill(bg - fg, inside, iterations)
    return torch.where(inside > 0, fg + correction, bg)


def blend(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor, method: str = "laplacian", levels: int = 4,
          iterations: int = 30) -> torch.Tensor:
    """Dispatch on the request's blend method ('laplacian', 'copy' or 'poisson')."""
    if method == "laplacian":
        return laplacian_blend(fg, bg, mask, levels)
    if method == "copy":
        return copy_paste(fg, bg, mask)
    if method == "poisson":
        return poisson_blend(fg, bg, mask, iterations)
    raise CompositeError(f"blend method {method!r} is not known; expected 'laplacian', 'copy' or 'poisson'")
