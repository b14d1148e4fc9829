"""Each loss of the manipulator on inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ned_server.manipulator.losses import (
    cycle_loss,
    lsgan_loss,
    mouth_correlation,
    pearson_correlation,
    style_reconstruction_loss,
)


def test_lsgan_pulls_real_to_one_and_fake_to_zero():
    scores = torch.tensor([1.0, 0.0, 0.5, 2.0])
    assert lsgan_loss(scores, 1.0).item() == pytest.approx((0 + 1 + 0.25 + 1) / 4)
    assert lsgan_loss(scores, 0.0).item() == pytest.approx((1 + 0 + 0.25 + 4) / 4)
    with pytest.raises(ValueError, match="0 \\(fake\\) or 1 \\(real\\)"):
        lsgan_loss(scores, 0.5)


def test_l1_losses():
    a = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    b = torch.tensor([[0.0, -1.0], [0.5, 2.0]])
    assert style_reconstruction_loss(a, b).item() == pytest.approx((1 + 1 + 0 + 2) / 4)
    x = torch.randn(3, 10, 51)
    assert cycle_loss(x, x).item() == 0.0
    assert cycle_loss(x + 0.25, x).item() == pytest.approx(0.25)


def test_pearson_matches_numpy_and_is_scale_invariant():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 10))
    b = 0.3 * a + rng.normal(size=(6, 10))
    expected = np.mean([np.corrcoef(a[i], b[i])[0, 1] for i in range(6)])
    got = pearson_correlation(torch.from_numpy(a), torch.from_numpy(b)).item()
    assert got == pytest.approx(expected, abs=1e-6)
    ta = torch.from_numpy(a)
    assert pearson_correlation(ta, 5 * ta + 3).item() == pytest.approx(1.0, abs=1e-6)
    assert pearson_correlation(ta, -2 * ta).item() == pytest.approx(-1.0, abs=1e-6)


def test_pearson_of_a_still_jaw_is_zero_not_nan():
    still = torch.full((2, 10), 0.1)
    moving = torch.linspace(0, 1, 10).repeat(2, 1)
    value = pearson_correlation(still, moving).item()
    assert np.isfinite(value) and value == pytest.approx(0.0, abs=1e-6)


def test_mouth_term_uses_only_the_jaw_and_reaches_two():
    x = torch.randn(4, 10, 51)
    fake = x.clone().requires_grad_(True)
    assert mouth_correlation(x, fake, x).item() == pytest.approx(2.0, abs=1e-5)
    # Other coefficients do not matter; the gradient reaches only the jaw column.
    fake2 = (x + torch.randn(4, 10, 51) * 0.3).requires_grad_(True)
    rec = x.clone()
    mouth_correlation(x, fake2, rec).backward()
    assert fake2.grad[..., 1:].abs().sum() == 0
    assert fake2.grad[..., 0].abs().sum() > 0
    flipped = x.clone()
    flipped[..., 0] = -x[..., 0]
    assert mouth_correlation(x, flipped, x).item() == pytest.approx(-2.0, abs=1e-5)
