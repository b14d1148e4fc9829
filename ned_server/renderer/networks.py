"""The renderer's networks: a recurrent image-to-image generator and patch discriminators.

Generator (Head2Head++ / vid2vid style, written from the papers' description): two encoders, one
for the conditioning of frames t-2, t-1, t (27 channels) and one for the two previously generated
frames (6 channels), each a 7x7 convolution followed by ``n_downsample`` stride-2 convolutions; their
features are summed, go through ``n_blocks`` residual blocks and are decoded by as many transposed
convolutions and a 7x7 convolution with tanh. Instance normalisation throughout. Output RGB in
[-1,1]. Separate encoders let the net weigh "what the face should look like" (conditioning)
against "what it looked like a moment ago" (its own previous output) for temporal coherence.

Discriminators (pix2pixHD style): an ``n_layers`` PatchGAN, run at ``num_d`` scales of the image
(each scale an average-pooled half of the previous), conditioned on the current frame's
conditioning (9 channels + 3 RGB in). Every layer's activations are returned, for feature matching.

These are our own networks, used by the ``tiny`` preset (architecture "ned"). The ``paper`` preset
builds the official NED renderer of ``head2head`` (architecture "head2head"), whose state dicts are
the released checkpoints'; ``RendererNetworks`` and ``build_generator`` pick by the config.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ned_server.renderer import head2head
from ned_server.renderer.config import (
    COND_CHANNELS,
    N_FRAMES_G,
    N_PREV,
    DiscriminatorConfig,
    GeneratorConfig,
    RendererConfig,
)

GEN_COND_CHANNELS = COND_CHANNELS * N_FRAMES_G  # 27
GEN_PREV_CHANNELS = 3 * N_PREV  # 6
D_IN_CHANNELS = COND_CHANNELS + 3


def _encoder(in_ch: int, cfg: GeneratorConfig) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, cfg.ngf, 7),
                               nn.InstanceNorm2d(cfg.ngf), nn.ReLU(True)]
    ch = cfg.ngf
    for _ in range(cfg.n_downsample):
        out = min(ch * 2, cfg.max_channels)
        layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1), nn.InstanceNorm2d(out), nn.ReLU(True)]
        ch = out
    return nn.Sequential(*layers), ch


class ResidualBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.enc_cond, ch = _encoder(GEN_COND_CHANNELS, cfg)
        self.enc_prev, _ = _encoder(GEN_PREV_CHANNELS, cfg)
        self.blocks = nn.Sequential(*[ResidualBlock(ch) for _ in range(cfg.n_blocks)])
        up: list[nn.Module] = []
        chans = [min(cfg.ngf * 2 ** i, cfg.max_channels) for i in range(cfg.n_downsample + 1)]
        for i in range(cfg.n_downsample, 0, -1):
            up += [nn.ConvTranspose2d(chans[i], chans[i - 1], 3, stride=2, padding=1, output_padding=1),
                   nn.InstanceNorm2d(chans[i - 1]), nn.ReLU(True)]
        up += [nn.ReflectionPad2d(3), nn.Conv2d(cfg.ngf, 3, 7), nn.Tanh()]
        self.decoder = nn.Sequential(*up)

    def forward(self, cond: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """cond (B,27,H,W) in [0,1], frames t-2..t oldest first; prev (B,6,H,W) in [-1,1], t-2 then t-1."""
        return self.decoder(self.blocks(self.enc_cond(cond) + self.enc_prev(prev)))


class PatchDiscriminator(nn.Module):
    """PatchGAN with ``n_layers`` stride-2 layers; ``forward`` returns every layer's output."""

    def __init__(self, in_ch: int, ndf: int, n_layers: int) -> None:
        super().__init__()
        k, p = 4, 2
        layers: list[nn.Sequential] = [nn.Sequential(nn.Conv2d(in_ch, ndf, k, 2, p), nn.LeakyReLU(0.2, True))]
        ch = ndf
        for _ in range(1, n_layers):
            out = min(ch * 2, 512)
            layers.append(nn.Sequential(nn.Conv2d(ch, out, k, 2, p), nn.InstanceNorm2d(out),
                                        nn.LeakyReLU(0.2, True)))
            ch = out
        out = min(ch * 2, 512)
        layers.append(nn.Sequential(nn.Conv2d(ch, out, k, 1, p), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)))
        layers.append(nn.Sequential(nn.Conv2d(out, 1, k, 1, p)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, in_ch: int, ndf: int, n_layers: int, num_d: int) -> None:
        super().__init__()
        self.scales = nn.ModuleList([PatchDiscriminator(in_ch, ndf, n_layers) for _ in range(num_d)])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per scale (finest first), the list of layer outputs; the last one is the patch score."""
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(d(x))
        return out


def image_discriminator(cfg: DiscriminatorConfig) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(D_IN_CHANNELS, cfg.ndf, cfg.n_layers, cfg.num_d)


def mouth_discriminator(cfg: DiscriminatorConfig) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(D_IN_CHANNELS, cfg.mouth_ndf, cfg.mouth_n_layers, cfg.mouth_num_d)


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """N(0, 0.02) convolutions and zero biases (the pix2pixHD/vid2vid convention)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build_generator(cfg: RendererConfig) -> nn.Module:
    """The generator of ``cfg``'s architecture (``forward(cond27, prev6)`` in both)."""
    if cfg.architecture == "head2head":
        return head2head.Head2HeadGenerator(cfg.generator)
    return Generator(cfg.generator)


def build_discriminators(cfg: RendererConfig) -> tuple[nn.Module, nn.Module]:
    """(image D, mouth D) of ``cfg``'s architecture."""
    if cfg.architecture == "head2head":
        return head2head.image_discriminator(cfg.discriminator), head2head.mouth_discriminator(cfg.discriminator)
    return image_discriminator(cfg.discriminator), mouth_discriminator(cfg.discriminator)


class RendererNetworks(nn.Module):
    """G, the image D and the mouth D of one renderer, built from its config."""

    def __init__(self, cfg: RendererConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.generator = build_generator(cfg)
        self.image_d, self.mouth_d = build_discriminators(cfg)
        init_weights(self)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------- mouth crop

def mouth_origin(centre_xy: tuple[float, float], size: int, height: int, width: int) -> tuple[int, int]:
    """Top-left (y0, x0) of the ``size`` window centred on the mouth, clamped inside the image.

    Shared by the mouth discriminator and the mouth-APD metric so both look at the same pixels.
    """
    x0 = round(float(centre_xy[0]) - size / 2)
    y0 = round(float(centre_xy[1]) - size / 2)
    return min(max(y0, 0), max(height - size, 0)), min(max(x0, 0), max(width - size, 0))


def crop_mouths(images: torch.Tensor, centres: torch.Tensor, size: int) -> torch.Tensor:
    """(B,C,H,W) images and (B,2) pixel centres -> (B,C,size,size) crops."""
    _, _, h, w = images.shape
    size = min(size, h, w)
    crops = []
    for img, c in zip(images, centres.detach().cpu().tolist()):
        y0, x0 = mouth_origin(c, size, h, w)
        crops.append(img[:, y0:y0 + size, x0:x0 + size])
    return torch.stack(crops)
