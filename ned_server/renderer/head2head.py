"""The official NED renderer's networks (Head2Head++), with the module names of its checkpoints.

The public NED release ships per-actor renderers and a meta-renderer as ``<epoch>_net_G.pth``,
``<epoch>_net_D.pth`` and ``<epoch>_net_Dm.pth``: plain state dicts whose keys are the attribute
paths of the authors' modules. These classes are written from that layout (recorded in
``/work/shared/official_layouts/ned_renderer_layout.json`` and NED_FACTS.md), so that a released
file loads with ``load_state_dict(strict=True)`` and a state dict saved from here has exactly the
official keys and shapes:

Generator, for ngf 64 and 3 downsamplings (64 -> 128 -> 256 -> 512 channels):

* ``model_down_seg``: the conditioning of frames t-2, t-1, t (27 channels) through reflection pad,
  7x7 conv, norm, ReLU, then 3 x (3x3 stride-2 conv, norm, ReLU), then ``n_blocks - n_blocks // 2``
  (5) residual blocks;
* ``model_down_img``: the same for the two previously generated frames (6 channels);
* the two feature maps are summed, then ``model_res_img``: ``n_blocks // 2`` (4) residual blocks;
* ``model_up_img``: 3 x (3x3 stride-2 transposed conv, norm, ReLU), halving the channels;
* ``model_final_img``: reflection pad, 7x7 conv to 3 channels, tanh.

Each residual block registers its one Sequential under two names, ``resnetblock_sequential`` and
``conv_block`` (the authors' module does), so its weights appear twice in a state dict; loading
either copy fills the same tensors.

Normalisation is ``InstanceNorm2d(affine=False, track_running_stats=True)``: the files carry
running_mean / running_var / num_batches_tracked. The authors never switch the generator to
eval mode at test time, so the official renderer always normalises with the statistics of the
image at hand; in PyTorch's eval mode a norm that tracks running stats would use those instead,
which this renderer was never run with. ``InstanceStatsNorm`` keeps the buffers (so the layout
matches, and training still updates them as the original does) but normalises with the input's
statistics in both modes.

Discriminators (``_net_D`` on the whole image, ``_net_Dm`` on the mouth crop, the same shape):
a pix2pixHD multi-scale PatchGAN with intermediate features, ``num_D`` 2, ``n_layers`` 3, ndf 64,
12 input channels (the frame's 9 conditioning channels + RGB). Scale ``i``'s layer ``j`` is the
attribute ``scale{i}_layer{j}``; the highest-numbered scale judges the full-resolution input and
each lower one the input average-pooled once more.

Conventions of the inputs, kept by ``recurrence.HEAD2HEAD`` and the trainer: conditioning images
in [0, 1] (the authors do not normalise NMFC, eye and shape images), generated and previous frames
in [-1, 1], previous frames black (-1) outside the face mask, and zeros before the first frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ned_server.renderer.config import COND_CHANNELS, N_FRAMES_G, N_PREV, DiscriminatorConfig, GeneratorConfig

GEN_COND_CHANNELS = COND_CHANNELS * N_FRAMES_G  # 27
GEN_PREV_CHANNELS = 3 * N_PREV  # 6
D_IN_CHANNELS = COND_CHANNELS + 3  # 12
D_MAX_NDF = 64  # the authors' multi-scale D caps each scale's first width at 64
D_MAX_CHANNELS = 512


class InstanceStatsNorm(nn.InstanceNorm2d):
    """Instance norm that tracks running statistics (for the layout) but never uses them."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=False, track_running_stats=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.training and self.running_mean is not None
        return F.instance_norm(x, self.running_mean if update else None, self.running_var if update else None,
                               use_input_stats=True, momentum=self.momentum or 0.0, eps=self.eps)


class ResnetBlock(nn.Module):
    """x + (pad, conv3, norm, ReLU, pad, conv3, norm)(x); the body is registered under two names."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), InstanceStatsNorm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), InstanceStatsNorm(channels),
        )
        self.resnetblock_sequential = body
        self.conv_block = body  # the same module: both key sets appear in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _encoder(in_channels: int, ngf: int, n_downsample: int, n_blocks: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), InstanceStatsNorm(ngf),
                               nn.ReLU(True)]
    ch = ngf
    for _ in range(n_downsample):
        layers += [nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1), InstanceStatsNorm(ch * 2), nn.ReLU(True)]
        ch *= 2
    layers += [ResnetBlock(ch) for _ in range(n_blocks)]
    return nn.Sequential(*layers)


class Head2HeadGenerator(nn.Module):
    """The official NED generator: ``forward(cond (B,27,H,W) in [0,1], prev (B,6,H,W) in [-1,1])``
    -> RGB (B,3,H,W) in [-1,1]; frames oldest first in both inputs."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ngf, n_down, n_blocks = cfg.ngf, cfg.n_downsample, cfg.n_blocks
        top = ngf * 2 ** n_down
        self.model_down_seg = _encoder(GEN_COND_CHANNELS, ngf, n_down, n_blocks - n_blocks // 2)
        self.model_down_img = _encoder(GEN_PREV_CHANNELS, ngf, n_down, n_blocks - n_blocks // 2)
        self.model_res_img = nn.Sequential(*[ResnetBlock(top) for _ in range(n_blocks // 2)])
        up: list[nn.Module] = []
        ch = top
        for _ in range(n_down):
            up += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1),
                   InstanceStatsNorm(ch // 2), nn.ReLU(True)]
            ch //= 2
        self.model_up_img = nn.Sequential(*up)
        self.model_final_img = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())

    def forward(self, cond: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        features = self.model_down_seg(cond) + self.model_down_img(prev)
        return self.model_final_img(self.model_up_img(self.model_res_img(features)))


def _patch_layers(in_channels: int, ndf: int, n_layers: int) -> list[nn.Sequential]:
    """The ``n_layers + 2`` stages of one scale: stride-2 convs, one stride-1 conv, the 1-channel score."""
    k, p = 4, 2
    layers = [nn.Sequential(nn.Conv2d(in_channels, ndf, k, 2, p), nn.LeakyReLU(0.2, True))]
    ch = ndf
    for _ in range(1, n_layers):
        out = min(ch * 2, D_MAX_CHANNELS)
        layers.append(nn.Sequential(nn.Conv2d(ch, out, k, 2, p), InstanceStatsNorm(out), nn.LeakyReLU(0.2, True)))
        ch = out
    out = min(ch * 2, D_MAX_CHANNELS)
    layers.append(nn.Sequential(nn.Conv2d(ch, out, k, 1, p), InstanceStatsNorm(out), nn.LeakyReLU(0.2, True)))
    layers.append(nn.Sequential(nn.Conv2d(out, 1, k, 1, p)))
    return layers


class Head2HeadDiscriminator(nn.Module):
    """Multi-scale PatchGAN (``num_d`` scales); ``forward`` returns, per scale from the finest, every
    stage's output (the last one the patch scores), as ``networks.MultiscaleDiscriminator`` does."""

    def __init__(self, in_channels: int, ndf: int, n_layers: int, num_d: int) -> None:
        super().__init__()
        self.num_d, self.n_layers = num_d, n_layers
        for i in range(num_d):
            width = min(D_MAX_NDF, ndf * 2 ** (num_d - 1 - i))
            for j, layer in enumerate(_patch_layers(in_channels, width, n_layers)):
                setattr(self, f"scale{i}_layer{j}", layer)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i in range(self.num_d):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            scale = self.num_d - 1 - i  # the last-numbered scale sees the full resolution
            feats, h = [], x
            for j in range(self.n_layers + 2):
                h = getattr(self, f"scale{scale}_layer{j}")(h)
                feats.append(h)
            out.append(feats)
        return out


def image_discriminator(cfg: DiscriminatorConfig) -> Head2HeadDiscriminator:
    return Head2HeadDiscriminator(D_IN_CHANNELS, cfg.ndf, cfg.n_layers, cfg.num_d)


def mouth_discriminator(cfg: DiscriminatorConfig) -> Head2HeadDiscriminator:
    return Head2HeadDiscriminator(D_IN_CHANNELS, cfg.mouth_ndf, cfg.mouth_n_layers, cfg.mouth_num_d)
