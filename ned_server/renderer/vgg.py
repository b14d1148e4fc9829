"""VGG-19 perceptual loss, with weights read from torchvision's model-zoo file.

torchvision is not a dependency: ``VGG19Features`` rebuilds torchvision's ``vgg19().features``
with the same layer indices (conv at 0, 2, 5, 7, 10, ... 34; ReLU after each; max-pool at 4, 9,
18, 27, 36), so the file ``vgg19-dcbb9e9d.pth`` (a plain state_dict with ``features.N.weight`` /
``features.N.bias`` and ``classifier.*``) loads straight into it. Only the ``features.*`` keys are
used. The loss compares relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 activations with weights
1/32, 1/16, 1/8, 1/4, 1 (the pix2pixHD recipe), on ImageNet-normalised RGB.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

# torchvision's configuration "E" (VGG-19): numbers are conv output channels, "M" a max-pool.
VGG19_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                    512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
# Indices (in ``features``) of the last layer of each slice: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
SLICE_ENDS = (1, 6, 11, 20, 29)
SLICE_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsError(RuntimeError):
    """The VGG-19 file is missing or not torchvision's vgg19 state_dict."""


def vgg19_feature_shapes() -> dict[str, tuple[int, ...]]:
    """The ``features.N.weight/bias`` keys of torchvision's vgg19 and their shapes."""
    shapes: dict[str, tuple[int, ...]] = {}
    idx, ch = 0, 3
    for v in VGG19_CFG:
        if v == "M":
            idx += 1
            continue
        assert isinstance(v, int)
        shapes[f"features.{idx}.weight"] = (v, ch, 3, 3)
        shapes[f"features.{idx}.bias"] = (v,)
        ch, idx = v, idx + 2
    return shapes


class VGG19Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                assert isinstance(v, int)
                layers += [nn.Conv2d(ch, v, 3, padding=1), nn.ReLU(inplace=False)]
                ch = v
        self.features = nn.Sequential(*layers)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B,3,H,W) RGB in [0,1] -> the five slice activations."""
        x = (x - self.mean) / self.std
        out, start = [], 0
        for end in SLICE_ENDS:
            for i in range(start, end + 1):
                x = self.features[i](x)
            out.append(x)
            start = end + 1
        return out


def load_vgg19(path: str | Path, device: str | torch.device = "cpu") -> VGG19Features:
    """VGG19Features with the weights of torchvision's ``vgg19-dcbb9e9d.pth`` (frozen, eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise VGGWeightsError(f"VGG-19 weights not found at {path}: download vgg19-dcbb9e9d.pth from the "
                              "torchvision model zoo (see models/manifest.json, asset 'vgg19')")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt/unsafe file
        raise VGGWeightsError(f"cannot read VGG-19 weights {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise VGGWeightsError(f"{path} is not a state_dict (got {type(state).__name__})")
    expected = vgg19_feature_shapes()
    missing = [k for k in expected if k not in state]
    if missing:
        raise VGGWeightsError(f"{path} is not torchvision's vgg19 state_dict: missing {len(missing)} keys "
                              f"(first: {missing[0]})")
    bad = [f"{k} {tuple(state[k].shape)} != {v}" for k, v in expected.items() if tuple(state[k].shape) != v]
    if bad:
        raise VGGWeightsError(f"{path} has the wrong shapes for VGG-19 (is it vgg16?): {bad[0]}")
    net = VGG19Features()
    net.load_state_dict({k: state[k].float() for k in expected}, strict=False)
    net.requires_grad_(False)
    return net.eval().to(device)


class VGGLoss(nn.Module):
    """Weighted L1 between VGG-19 activations of two [0,1] images (the target's are detached)."""

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.vgg(x.float())
        with torch.no_grad():
            fy = self.vgg(y.float())
        return sum(w * F.l1_loss(a, b) for w, a, b in zip(SLICE_WEIGHTS, fx, fy))  # type: ignore[return-value]


def maybe_vgg_loss(path: str | Path | None, device: str | torch.device) -> VGGLoss | None:
    """The perceptual loss when a VGG file is configured; None (and a warning) when not."""
    if not path:
        log.warning("no VGG-19 weights configured: training without the perceptual loss "
                    "(set vgg_path / --vgg to models/vgg/vgg19-dcbb9e9d.pth for the paper recipe)")
        return None
    return VGGLoss(load_vgg19(path, device))
