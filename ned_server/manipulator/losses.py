"""The manipulator's losses, each a small pure function so it can be tested alone.

* LSGAN adversarial: mean squared distance of the discriminator's score to 1 (real) or 0 (fake).
* Style reconstruction: L1 between E(G(s, d)) and d - the output must carry the asked-for style.
* Cycle consistency: L1 between G(G(s, d), E(s)) and s - translating back restores the input.
* Speech ("mouth"): Pearson correlation over time of the jaw opening, input -> translated and
  translated -> cycled; the generator *maximises* it (it is subtracted from the total), which keeps
  the jaw's motion (speech) while leaving its mean level free to follow the emotion.
"""

from __future__ import annotations

import torch

from ned_server.domains import JAW_INDEX


def lsgan_loss(scores: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares GAN loss of discriminator scores against 1 (real) or 0 (fake)."""
    if target not in (0.0, 1.0):
        raise ValueError(f"LSGAN target must be 0 (fake) or 1 (real), got {target}")
    return torch.mean((scores - target) ** 2)


def style_reconstruction_loss(predicted_style: torch.Tensor, target_style: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(predicted_style - target_style))


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(reconstructed - original))


def pearson_correlation(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean over the batch of the Pearson correlation over time of (B, T) signals.

    ``eps`` keeps a motionless signal (zero variance) from producing NaN; its correlation is 0.
    """
    va = a - a.mean(dim=1, keepdim=True)
    vb = b - b.mean(dim=1, keepdim=True)
    cov = (va * vb).mean(dim=1)
    return torch.mean(cov * torch.rsqrt(va.pow(2).mean(dim=1) + eps) * torch.rsqrt(vb.pow(2).mean(dim=1) + eps))


def mouth_correlation(x_real: torch.Tensor, x_fake: torch.Tensor, x_rec: torch.Tensor) -> torch.Tensor:
    """The speech term: jaw correlation real->fake plus fake->reconstructed (2 at best)."""
    jaw_real, jaw_fake, jaw_rec = x_real[..., JAW_INDEX], x_fake[..., JAW_INDEX], x_rec[..., JAW_INDEX]
    return pearson_correlation(jaw_real, jaw_fake) + pearson_correlation(jaw_fake, jaw_rec)
