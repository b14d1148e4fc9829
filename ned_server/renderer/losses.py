"""GAN losses of the renderer: LSGAN over every discriminator scale, and feature matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def lsgan(outputs: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """Mean squared distance of each scale's patch scores to 1 (real) or 0 (fake), averaged over scales."""
    target = 1.0 if real else 0.0
    losses = [F.mse_loss(scale[-1].float(), torch.full_like(scale[-1].float(), target)) for scale in outputs]
    return torch.stack(losses).mean()


def feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminator's intermediate activations on fake and (detached) real input.

    Each scale and layer counts equally: weighted 1/num_scales and 4/(n_layers+1), the pix2pixHD
    normalisation, so the ``lambda_feat`` of 10 means what it does there.
    """
    total = fake[0][0].new_zeros((), dtype=torch.float32)
    num_d = len(fake)
    for fs, rs in zip(fake, real):
        n_layers = len(fs) - 2  # the PatchDiscriminator has n_layers + 2 layers
        w = 4.0 / (n_layers + 1) / num_d
        for f, r in zip(fs[:-1], rs[:-1]):
            total = total + w * F.l1_loss(f.float(), r.detach().float())
    return total
