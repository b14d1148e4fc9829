"""Pyramids and the three blend methods: the properties a compositor relies on, on odd sizes too."""

from __future__ import annotations

import pytest
import torch

from ned_server.composite import CompositeError, copy_paste, laplacian_blend, poisson_blend
from ned_server.composite.blend import blend
from ned_server.composite.pyramid import (
    collapse,
    gaussian_pyramid,
    laplacian_pyramid,
    max_levels,
    pyr_down,
    pyr_up,
)

torch.manual_seed(0)


def images(h: int = 101, w: int = 77, b: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(h * 1000 + w)
    return torch.rand(b, 3, h, w, generator=g) * 4.0, torch.rand(b, 3, h, w, generator=g) * 4.0


def disk(h: int, w: int, cy: float, cx: float, r: float, b: int = 1) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    m = ((ys - cy) ** 2 + (xs - cx) ** 2 <= r * r).float()
    return m.expand(b, 1, h, w).contiguous()


@pytest.mark.parametrize("size", [(101, 77), (64, 64), (33, 2), (7, 9)])
def test_laplacian_pyramid_collapses_to_the_input(size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size) * 10.0 - 2.0  # scene-linear: negatives and values above 1 occur
    levels = min(4, max_levels(*size))
    pyr = laplacian_pyramid(x, levels)
    assert len(pyr) == levels
    assert torch.allclose(collapse(pyr), x, atol=1e-5, rtol=0)


def test_pyr_up_is_bilinear_interpolation() -> None:
    """The hand-written upsampler gives F.interpolate's bilinear x2 (align_corners=False), cropped."""
    for h, w in [(1, 1), (2, 3), (13, 10), (51, 39)]:
        x = torch.rand(2, 3, h, w)
        ref = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        for H, W in [(2 * h, 2 * w), (2 * h - 1, 2 * w), (2 * h, 2 * w - 1), (2 * h - 1, 2 * w - 1)]:
            if H >= 1 and W >= 1:
                assert torch.allclose(pyr_up(x, (H, W)), ref[..., :H, :W], atol=1e-6)
    with pytest.raises(CompositeError, match="must halve"):
        pyr_up(torch.zeros(1, 1, 4, 4), (10, 8))


def test_gaussian_pyramid_sizes_and_constants() -> None:
    pyr = gaussian_pyramid(torch.full((1, 1, 101, 77), 0.7), 5)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(101, 77), (51, 39), (26, 20), (13, 10), (7, 5)]
    for p in pyr:  # the down filter is normalised and repeats edges: constants stay constant
        assert torch.allclose(p, torch.full_like(p, 0.7), atol=1e-6)
    # It low-passes: a checkerboard (Nyquist) vanishes one level down, away from the edges.
    ys, xs = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = ((ys + xs) % 2).float()[None, None]
    assert torch.allclose(pyr_down(checker)[..., 2:-2, 2:-2], torch.full((1, 1, 12, 12), 0.5), atol=1e-6)


def test_all_ones_mask_gives_the_foreground_and_zero_mask_the_background_exactly() -> None:
    fg, bg = images()
    ones = torch.ones(1, 1, 101, 77)
    assert torch.allclose(laplacian_blend(fg, bg, ones, 4), fg, atol=1e-5, rtol=0)
    assert torch.equal(laplacian_blend(fg, bg, torch.zeros_like(ones), 4), bg)
    assert torch.equal(copy_paste(fg, bg, torch.zeros_like(ones)), bg)
    assert torch.equal(copy_paste(fg, bg, ones), fg)


def test_constant_colours_blend_to_values_between_them() -> None:
    h, w = 120, 110
    fg = torch.tensor([2.0, 0.5, 0.1]).view(1, 3, 1, 1).expand(1, 3, h, w).contiguous()
    bg = torch.tensor([0.2, 0.5, 1.5]).view(1, 3, 1, 1).expand(1, 3, h, w).contiguous()
    mask = disk(h, w, 60, 55, 45)
    out = laplacian_blend(fg, bg, mask, 4)
    lo, hi = torch.minimum(fg, bg), torch.maximum(fg, bg)
    assert bool((out >= lo - 1e-5).all() and (out <= hi + 1e-5).all())
    assert torch.allclose(out[:, 1], torch.full((1, h, w), 0.5), atol=1e-6)  # equal channel stays equal
    assert abs(float(out[0, 0, 60, 55]) - 2.0) < 1e-3  # deep inside: the foreground
    assert abs(float(out[0, 0, 2, 2]) - 0.2) < 1e-3  # far outside: the background


def test_multiband_spreads_the_seam_where_alpha_blend_cuts() -> None:
    """Through a hard half-plane mask an alpha blend jumps in one pixel; the pyramid's coarse bands
    ramp across several pixels, and levels=1 is exactly the alpha blend."""
    h, w = 40, 64
    fg, bg = torch.ones(1, 3, h, w), torch.zeros(1, 3, h, w)
    mask = torch.zeros(1, 1, h, w)
    mask[..., :, :32] = 1.0
    assert torch.allclose(laplacian_blend(fg, bg, mask, 1), copy_paste(fg, bg, mask), atol=1e-7)
    row = laplacian_blend(fg, bg, mask, 4)[0, 0, 20]
    between = ((row > 0.02) & (row < 0.98)).sum().item()
    assert between >= 6, row
    assert bool((row[1:] <= row[:-1] + 1e-6).all())  # monotone ramp from fg to bg
    assert float(row[0]) > 0.999 and float(row[-1]) < 0.001


def test_odd_sizes_and_batches() -> None:
    fg, bg = images(101, 77, b=2)
    mask = torch.cat([disk(101, 77, 50, 38, 25), disk(101, 77, 20, 20, 10)])
    out = laplacian_blend(fg, bg, mask, 5)
    assert out.shape == (2, 3, 101, 77)
    one = laplacian_blend(fg[1:], bg[1:], mask[1:], 5)
    assert torch.allclose(out[1:], one, atol=1e-6)


def test_levels_are_checked() -> None:
    fg, bg = images(20, 30)
    mask = torch.ones(1, 1, 20, 30)
    with pytest.raises(CompositeError, match="too many"):
        laplacian_blend(fg, bg, mask, 7)
    with pytest.raises(CompositeError, match=">= 1"):
        laplacian_blend(fg, bg, mask, 0)
    with pytest.raises(CompositeError, match="mask"):
        laplacian_blend(fg, bg, torch.ones(1, 3, 20, 30), 2)
    with pytest.raises(CompositeError, match="not known"):
        blend(fg, bg, mask, "feather")


def test_poisson_removes_a_colour_offset_and_keeps_detail() -> None:
    h, w = 60, 50
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    bg = (0.3 + 0.004 * xs + 0.002 * ys).expand(1, 3, h, w).contiguous()
    detail = 0.05 * torch.sin(xs / 2.0) * torch.cos(ys / 3.0)
    fg = bg + 0.5 + detail  # the face came out 0.5 too bright, with its own texture
    mask = disk(h, w, 30, 25, 18)
    out = poisson_blend(fg, bg, mask, iterations=60)
    inside = mask[0, 0] > 0.5
    assert torch.equal(out[0, :, ~inside], bg[0, :, ~inside])  # outside the mask: the plate, bit for bit
    # The offset is gone (the correction is harmonic, so a constant offset is removed exactly) ...
    err = (out - (bg + detail))[0, :, inside]
    assert err.abs().max() < 0.06 and err.abs().mean() < 0.02
    # ... while the face's own texture stays: gradients inside match the foreground's.
    deep = disk(h, w, 30, 25, 12)[0, 0] > 0.5
    gx_out = (out[..., :, 1:] - out[..., :, :-1])[0, 0][deep[:, :-1]]
    gx_fg = (fg[..., :, 1:] - fg[..., :, :-1])[0, 0][deep[:, :-1]]
    assert (gx_out - gx_fg).abs().max() < 0.02
    assert torch.equal(poisson_blend(fg, bg, torch.zeros_like(mask)), bg)


@pytest.mark.parametrize("levels", [1, 3, 4])
def test_cropping_to_the_mask_changes_nothing(levels: int) -> None:
    """Blending only where the mask's pyramid reaches gives the numbers the whole frame gives."""
    fg, bg = images(300, 411, b=2)
    mask = torch.cat([disk(300, 411, 150, 333, 23), disk(300, 411, 12, 380, 9)])  # one near a corner
    mask = mask * 0.8  # a soft-valued mask, not just 0/1
    cropped = laplacian_blend(fg, bg, mask, levels, crop_to_mask=True)
    whole = laplacian_blend(fg, bg, mask, levels, crop_to_mask=False)
    assert torch.allclose(cropped, whole, atol=1e-6, rtol=0)
    assert torch.equal(cropped[..., :, :200], bg[..., :, :200])  # left of the support: background as it was


def test_both_downsampling_routes_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyr_down pads a copy for small images and handles the edges separately for large ones."""
    import ned_server.composite.pyramid as pyramid

    for size in [(101, 77), (2, 3), (3, 2), (6, 5)]:
        x = torch.rand(2, 3, *size) * 5.0
        padded = pyr_down(x)
        monkeypatch.setattr(pyramid, "_PAD_ELEMENTS", 0)
        direct = pyr_down(x)
        monkeypatch.undo()
        assert direct.shape == padded.shape
        assert torch.allclose(direct, padded, atol=1e-6, rtol=0)
