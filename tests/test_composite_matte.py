"""The matte: erosion, feathering, and smoothing over time in the aligned space without lag."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ned_server.composite import CompositeError, TemporalMatteFilter, make_matte, smooth_mattes


def disk(h: int, w: int, cy: float, cx: float, r: float) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    return ((ys - cy) ** 2 + (xs - cx) ** 2 <= r * r).float()


def soft_disk(h: int, w: int, cy: float, cx: float, r: float) -> torch.Tensor:
    """An anti-aliased disk: the edge pixel's coverage, so sub-pixel motion shows."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    return (r - torch.sqrt((ys - cy) ** 2 + (xs - cx) ** 2) + 0.5).clamp(0, 1)


def test_erode_shrinks_the_area_like_a_disk() -> None:
    m = disk(81, 81, 40, 40, 25)
    for e in (3.0, 8.0):
        out = make_matte(m, e, 0.0)
        area = float(out.sum())
        expected = math.pi * (25 - e) ** 2
        assert area < float(m.sum())
        assert abs(area - expected) / expected < 0.08, (e, area, expected)
        assert bool(((out == 0) | (out == 1)).all())  # erosion of a binary mask stays binary
    # Fractional radii move smoothly between whole ones.
    a3, a35, a4 = (float(make_matte(m, e, 0.0).sum()) for e in (3.0, 3.5, 4.0))
    assert a4 < a35 < a3
    assert torch.equal(make_matte(m, 0.0, 0.0), m)


def test_feather_softens_the_edge_and_keeps_the_area() -> None:
    m = disk(81, 81, 40, 40, 20)
    out = make_matte(m, 0.0, 6.0)
    soft_before = int(((m > 0.01) & (m < 0.99)).sum())
    soft_after = int(((out > 0.01) & (out < 0.99)).sum())
    assert soft_before == 0 and soft_after > 300
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert abs(float(out.sum()) - float(m.sum())) / float(m.sum()) < 0.05
    assert float(out[40, 40]) > 0.999 and float(out[40, 0]) < 1e-3
    # Reach: 2 sigma = feather_px past the edge the matte is ~2 %, inside it is ~98 %.
    assert 0.005 < float(out[40, 40 + 20 + 6]) < 0.05
    assert 0.95 < float(out[40, 40 + 20 - 6]) < 0.995


def test_make_matte_shapes_and_errors() -> None:
    m = disk(30, 40, 15, 20, 10)
    assert make_matte(m[None], 1, 2).shape == (1, 30, 40)
    assert make_matte(m[None, None], 1, 2).shape == (1, 1, 30, 40)
    with pytest.raises(CompositeError, match="matte_erode"):
        make_matte(m, -1.0, 0.0)
    with pytest.raises(CompositeError, match="matte_feather"):
        make_matte(m, 0.0, float("nan"))
    with pytest.raises(CompositeError, match="mask must be"):
        make_matte(torch.zeros(1, 2, 3, 4), 0.0, 0.0)


def jittery_sequence(frames: int = 40, seed: int = 1) -> torch.Tensor:
    """An aligned face mask whose outline wobbles by up to ~1.5 px a frame (tracking noise)."""
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(frames):
        dy, dx, dr = rng.normal(0, 0.8, 3)
        masks.append(soft_disk(64, 64, 32 + dy, 32 + dx, 20 + dr))
    return torch.stack(masks)


def flicker(masks: torch.Tensor) -> float:
    return float((masks[1:] - masks[:-1]).abs().mean())


def test_temporal_smoothing_reduces_frame_to_frame_change() -> None:
    seq = jittery_sequence()
    smoothed = smooth_mattes(seq, 1.0)
    assert smoothed.shape == seq.shape
    assert flicker(smoothed) < 0.5 * flicker(seq)
    assert torch.equal(smooth_mattes(seq, 0.0), seq)  # 0 turns it off
    # A still mask stays exactly as it is.
    still = seq[:1].expand(9, -1, -1)
    assert torch.allclose(smooth_mattes(still, 1.5), still, atol=1e-6)


def test_temporal_smoothing_adds_no_lag() -> None:
    """An edge moving steadily (a jaw opening) stays where it is on each frame: the filter is centred."""
    frames = [soft_disk(64, 64, 32, 32, 10 + 0.9 * t) for t in range(20)]
    seq = torch.stack(frames)
    smoothed = smooth_mattes(seq, 1.5)
    areas_in = seq.sum(dim=(1, 2))
    areas_out = smoothed.sum(dim=(1, 2))
    inner = slice(5, 15)  # away from the sequence ends
    rel = ((areas_out[inner] - areas_in[inner]).abs() / areas_in[inner]).max()
    assert float(rel) < 0.01
    # A causal average of the same window would lag by a visible amount.
    causal = torch.stack([seq[t - 3:t + 1].mean(0) for t in range(3, 20)])
    lag = ((causal.sum(dim=(1, 2))[2:12] - areas_in[5:15]).abs() / areas_in[5:15]).max()
    assert float(lag) > 0.05


def test_streaming_filter_matches_the_batch_one_with_gaps() -> None:
    seq = jittery_sequence(15, seed=4)
    valid = torch.ones(15, dtype=torch.bool)
    valid[[0, 6, 7]] = False
    batch = smooth_mattes(seq, 1.2, valid)
    assert torch.equal(batch[6], seq[6])  # untracked frames are passed through
    filt = TemporalMatteFilter(1.2)
    got: list = []
    for t in range(15):
        got += filt.push(t, seq[t] if bool(valid[t]) else None)
        assert len(got) == max(0, t + 1 - filt.radius)  # each frame comes out radius frames later
    got += filt.flush()
    assert [k for k, _ in got] == list(range(15))
    for t, m in got:
        if bool(valid[t]):
            assert torch.allclose(m, batch[t], atol=1e-6)
        else:
            assert m is None
    with pytest.raises(CompositeError, match="one flag per frame"):
        smooth_mattes(seq, 1.0, torch.ones(3, dtype=torch.bool))
