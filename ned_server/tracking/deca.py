"""DECA's networks loading the official ``deca_model.tar``: the two encoders and the detail decoder.

The official file is a ``torch.save`` of a dict holding, among others, ``E_flame``, ``E_detail``
and ``D_detail`` state dicts. Each encoder is a ResNet-50 trunk with torchvision's module names under ``encoder.``
(conv1, bn1, layer1..layer4 of Bottleneck blocks with ``downsample.0/1``; no ``fc``), global
average pooling to 2048 features, and an MLP ``layers`` = Linear(2048, 1024), ReLU, Linear(1024,
out). E_flame's 236 outputs split, in order, into shape 100, texture 50, expression 50, pose 6
(global 3, jaw 3, axis-angles), camera 3 (orthographic scale, tx, ty), light 27 (9 SH x RGB);
E_detail's 128 outputs are the detail code. Input: RGB in [0, 1], 224x224, no normalisation,
cropped around the face as ``crop_face`` does (DECA's landmark-based crop).

D_detail (``DetailDecoder``) turns the detail code with the expression and jaw pose (jaw pose 3,
expression 50, detail 128 = 181, in that order) into DECA's UV displacement map: a Linear to
128 x 8 x 8, then five (bilinear x2 upsampling, 3x3 conv, BatchNorm, LeakyReLU 0.2) stages to 16 x
256 x 256, a last 3x3 conv to one channel, tanh, times 0.01 (FLAME units, metres). Its BatchNorms
after the first use eps = 0.8 (the value DECA's generator passes positionally), which matters for
loading the official statistics faithfully.

torchvision is not a dependency: the ResNet-50 trunk is built here with its module names, so the
checkpoint loads key for key. Loading is strict: every key of the official layout must be present
and consumed, and anything else is reported, so a wrong file fails at load time with the names.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from ned_server.errors import Precondition

CODE_SPLIT = (("shape", 100), ("tex", 50), ("exp", 50), ("pose", 6), ("cam", 3), ("light", 27))
N_FLAME_CODE = sum(n for _, n in CODE_SPLIT)  # 236
N_DETAIL = 128
N_DETAIL_INPUT = 3 + 50 + N_DETAIL  # jaw pose, expression, detail code
UV_SIZE = 256
DETAIL_SCALE = 0.01  # D_detail's tanh output times this: displacement in FLAME units
INPUT_SIZE = 224
# DECA's crop from 68 landmarks: a square of side mean(box width, height) * 1.1 * 1.25.
CROP_SCALE = 1.1 * 1.25


class DecaCheckpointError(Precondition, RuntimeError):
    """The DECA file is missing or is not in the official layout."""


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 block (1x1, 3x3 with stride, 1x1 x4) with its attribute names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50Trunk(nn.Module):
    """ResNet-50 up to global average pooling: (B, 3, H, W) -> (B, 2048)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
            downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
            layer = [Bottleneck(inplanes, planes, stride, downsample)]
            inplanes = planes * 4
            layer += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # DECA's AvgPool2d(7) on 224 inputs is the same

    layer1: nn.Sequential  # set by name in __init__ (the checkpoint's keys)
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class DecaEncoder(nn.Module):
    """ResNet-50 trunk + MLP regressor; ``encoder.*`` and ``layers.*`` as in the official file."""

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.encoder = ResNet50Trunk()
        self.layers = nn.Sequential(nn.Linear(2048, 1024), nn.ReLU(), nn.Linear(1024, outputs))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(self.encoder(images))


class DetailDecoder(nn.Module):
    """DECA's D_detail: (B, 181) jaw pose, expression, detail code -> (B, 1, 256, 256) UV displacement."""

    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Sequential(nn.Linear(N_DETAIL_INPUT, 128 * 8 * 8))
        layers: list[nn.Module] = [nn.BatchNorm2d(128)]
        for cin, cout in ((128, 128), (128, 64), (64, 64), (64, 32), (32, 16)):
            layers += [nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(cin, cout, 3, padding=1),
                       nn.BatchNorm2d(cout, eps=0.8), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(16, 1, 3, padding=1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.l1(code).view(code.shape[0], 128, 8, 8)
        return self.conv_blocks(x) * DETAIL_SCALE


def detail_input(jaw_pose: torch.Tensor, expression: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """D_detail's (B, 181) input, in DECA's order: jaw pose (3), expression (50), detail code (128)."""
    exp = expression[:, :50]
    if exp.shape[1] < 50:
        exp = torch.cat([exp, exp.new_zeros(exp.shape[0], 50 - exp.shape[1])], dim=1)
    return torch.cat([jaw_pose[:, :3], exp, detail[:, :N_DETAIL]], dim=1)


@dataclass
class DecaCodes:
    """E_flame's output split into its parts (batch first); ``detail`` when E_detail ran."""

    shape: torch.Tensor  # (B, 100)
    tex: torch.Tensor  # (B, 50)
    exp: torch.Tensor  # (B, 50)
    pose: torch.Tensor  # (B, 6): global axis-angle, jaw axis-angle
    cam: torch.Tensor  # (B, 3): scale, tx, ty in the crop's [-1, 1] coordinates
    light: torch.Tensor  # (B, 9, 3)
    detail: torch.Tensor | None = None  # (B, 128)


def split_code(code: torch.Tensor) -> DecaCodes:
    parts = {}
    start = 0
    for name, size in CODE_SPLIT:
        parts[name] = code[:, start:start + size]
        start += size
    parts["light"] = parts["light"].reshape(-1, 9, 3)
    return DecaCodes(**parts)


class Deca(nn.Module):
    """The encoders and the detail decoder, ready for inference (eval mode, no gradients).

    ``D_detail`` is None for a file without it (an encoder-only file): the tracker still regresses
    the codes, and the shape image is drawn without detail.
    """

    def __init__(self, with_decoder: bool = True) -> None:
        super().__init__()
        self.E_flame = DecaEncoder(N_FLAME_CODE)
        self.E_detail = DecaEncoder(N_DETAIL)
        self.D_detail = DetailDecoder() if with_decoder else None

    @torch.no_grad()
    def displacement(self, jaw_pose: torch.Tensor, expression: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
        """(B, 256, 256) UV displacement in FLAME units from D_detail (RuntimeError without it)."""
        if self.D_detail is None:
            raise RuntimeError("this DECA file has no D_detail")
        return self.D_detail(detail_input(jaw_pose, expression, detail))[:, 0]

    @torch.no_grad()
    def encode(self, images: torch.Tensor, detail: bool = False) -> DecaCodes:
        """``images``: (B, 3, 224, 224) RGB in [0, 1] from ``crop_face``."""
        codes = split_code(self.E_flame(images))
        if detail:
            codes.detail = self.E_detail(images)
        return codes


def _strict_load(module: nn.Module, state: object, name: str, path: Path) -> None:
    if not isinstance(state, dict):
        raise DecaCheckpointError(f"{path}: '{name}' is a {type(state).__name__}, not a state dict")
    expected = module.state_dict()
    # BatchNorm's step counter is not a weight and older torch versions did not save it.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise DecaCheckpointError(
            f"{path}: '{name}' is not in the official DECA layout: missing keys {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''} ({len(missing)} in all), unexpected keys {unexpected[:8]}"
            f"{' ...' if len(unexpected) > 8 else ''} ({len(unexpected)} in all)")
    for k, v in expected.items():
        if k not in state:
            continue
        got = state[k]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(v.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise DecaCheckpointError(f"{path}: '{name}.{k}' has shape {shape}, expected {tuple(v.shape)}")
    module.load_state_dict({**expected, **state}, strict=True)


def load_deca(path: str | Path, device: str = "cpu", allow_pickle: bool = False) -> Deca:
    """The DECA encoders from an official ``deca_model.tar`` (or a file of the same layout).

    Tensors-only loading (``weights_only=True``) is used; ``allow_pickle`` permits a full load for a
    trusted file that holds other Python objects next to the state dicts.
    """
    path = Path(path)
    if not path.is_file():
        raise DecaCheckpointError(f"the DECA checkpoint {path} is missing: get deca_model.tar from "
                                  "https://github.com/yfeng95/DECA (README) and put it there")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not allow_pickle:
            raise DecaCheckpointError(
                f"{path} holds objects other than tensors, so it was not loaded ({exc}). If you trust the "
                "file, allow a full load (TrackingConfig.fit.deca_allow_pickle)") from None
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise DecaCheckpointError(f"cannot read the DECA checkpoint {path}: {exc}") from None
    if not isinstance(ckpt, dict) or "E_flame" not in ckpt or "E_detail" not in ckpt:
        keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise DecaCheckpointError(f"{path} is not a DECA checkpoint: expected a dict with 'E_flame' and "
                                  f"'E_detail', found {keys}")
    model = Deca(with_decoder="D_detail" in ckpt)
    _strict_load(model.E_flame, ckpt["E_flame"], "E_flame", path)
    _strict_load(model.E_detail, ckpt["E_detail"], "E_detail", path)
    if model.D_detail is not None:
        _strict_load(model.D_detail, ckpt["D_detail"], "D_detail", path)
    return model.to(device).eval()


def crop_transform(landmarks: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(2, 3) plate -> DECA crop pixels, from 68 landmarks (square around their box, 1.375x)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    side = 0.5 * ((x1 - x0) + (y1 - y0)) * CROP_SCALE
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    s = (size - 1) / max(side, 1e-6)  # the square's edges land on the first and last pixel centres
    return np.array([[s, 0.0, (size - 1) * 0.5 - s * cx], [0.0, s, (size - 1) * 0.5 - s * cy]])


def crop_face(image: np.ndarray, landmarks: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """DECA's input for one face: (3, size, size) float32 RGB in [0, 1], and the plate->crop matrix."""
    A = crop_transform(landmarks, size)
    crop = cv2.warpAffine(np.asarray(image, dtype=np.float32)[..., :3], A, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0))
    return np.ascontiguousarray(np.clip(crop, 0.0, 1.0).transpose(2, 0, 1)), A
