"""Pretrained assets of the tracking stage, exercised on tiny/random files of the real formats.

* face-alignment (S3FD + 2D FAN): found offline or a FAILED_PRECONDITION naming the file; never a
  download attempt.
* DECA's deca_model.tar: the official key layout (spelled out here independently of our module,
  from torchvision's ResNet-50 names) loads key for key, the 236-d code splits as in DECA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ned_server.errors import Precondition
from ned_server.tracking import fan
from ned_server.tracking.deca import DecaCheckpointError, crop_face, crop_transform, load_deca
from ned_server.tracking.template import template_points


@pytest.fixture
def no_internet(monkeypatch, tmp_path):
    """Empty torch hub and home folders, and any download attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to download {args[:1]}")

    import face_alignment.utils

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(face_alignment.utils, "download_url_to_file", refuse)
    return tmp_path


def test_missing_face_alignment_weights_fail_fast_naming_the_files(no_internet) -> None:
    names = [w.filename for w in fan.required_weights()]
    assert names[1] == "s3fd-619a316812.pth" and names[0].startswith("2DFAN4-")
    with pytest.raises(Precondition) as err:
        fan.FanDetector(device="cpu")
    msg = str(err.value)
    for name in names:
        assert name in msg
    assert str(no_internet / "torch_home" / "hub" / "checkpoints") in msg  # $TORCH_HOME/hub/checkpoints
    assert "--landmarks" in msg


def test_fan_detector_builds_from_weights_placed_offline(no_internet) -> None:
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    models = no_internet / "models"
    folder = models / "torch_hub" / "checkpoints"
    folder.mkdir(parents=True)
    fan_name, s3fd_name = (w.filename for w in fan.required_weights())
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / fan_name)
    # Only S3FD in $TORCH_HOME: both places are searched.
    hub = no_internet / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(s3fd().state_dict(), hub / s3fd_name)
    with pytest.raises(Precondition, match=fan_name):
        fan.FanDetector(fan.DetectionConfig(models_dir=None))
    # (A threshold above 1: random S3FD weights would report faces everywhere, each costing a FAN run.)
    det = fan.FanDetector(fan.DetectionConfig(models_dir=models, flip_input=False, detector_threshold=1.01))
    image = np.random.default_rng(0).random((96, 128, 3), dtype=np.float32)
    pts = det.landmarks_in_boxes(image, np.array([[30.0, 20.0, 90.0, 80.0]]))
    assert pts.shape == (1, 68, 2) and np.isfinite(pts).all()
    # FAN's crop around that box spans 200 * (60 + 60) / 195 = 123 px centred on (60, 42.8).
    assert pts[..., 0].min() > -2 and pts[..., 0].max() < 122 and pts[..., 1].min() > -19
    assert pts[..., 1].max() < 105
    assert det.detect(0, image) == []

    (folder / fan_name).write_bytes(b"truncated download")
    with pytest.raises(Precondition, match="cannot read the FAN weights"):
        fan.FanDetector(fan.DetectionConfig(models_dir=models))


def test_heatmap_decoding_maps_peaks_back_through_the_crop() -> None:
    heat = np.zeros((68, 64, 64), np.float32)
    heat[:, 10, 20] = 1.0  # peak at column 20, row 10
    heat[:, 10, 21] = 0.5  # higher right neighbour: a quarter cell to the right
    pts = fan.decode_heatmaps(heat, np.array([100.0, 50.0]), 0.64)  # crop of 128 plate px, 2 px per cell
    np.testing.assert_allclose(pts[0], [100 - 64 + (20.25 + 0.5) * 2, 50 - 64 + (10 + 0.5) * 2])



# ---------------------------------------------------------------------------- DECA
def _official_encoder_layout(outputs: int) -> dict[str, tuple[int, ...]]:
    """Key -> shape of one DECA ResnetEncoder, written from torchvision's ResNet-50 naming."""
    layout: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            layout[f"{prefix}.{k}"] = (c,)
        layout[f"{prefix}.num_batches_tracked"] = ()

    layout["encoder.conv1.weight"] = (64, 3, 7, 7)
    bn("encoder.bn1", 64)
    inplanes = 64
    for i, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), 1):
        for j in range(blocks):
            p = f"encoder.layer{i}.{j}"
            layout[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            layout[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            layout[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if j == 0:
                layout[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    layout.update({"layers.0.weight": (1024, 2048), "layers.0.bias": (1024,),
                   "layers.2.weight": (outputs, 1024), "layers.2.bias": (outputs,)})
    return layout


def _random_state(layout: dict[str, tuple[int, ...]], gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {}
    for k, shape in layout.items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[k] = torch.randn(shape, generator=gen) * 0.02
    return state


@pytest.fixture(scope="module")
def deca_file(tmp_path_factory) -> tuple[Path, dict]:
    gen = torch.Generator().manual_seed(0)
    e_flame = _random_state(_official_encoder_layout(236), gen)
    # The regressor's last layer reads out its bias only: output i == i tells the code split.
    e_flame["layers.2.weight"].zero_()
    e_flame["layers.2.bias"] = torch.arange(236, dtype=torch.float32)
    ckpt = {"E_flame": e_flame, "E_detail": _random_state(_official_encoder_layout(128), gen),
            "global_step": 1000}  # no D_detail: an encoder-only file (the full layout: test_tracking_deca_full.py)
    path = tmp_path_factory.mktemp("deca") / "deca_model.tar"
    torch.save(ckpt, path)
    return path, ckpt


def test_deca_checkpoint_of_the_official_layout_loads_every_key(deca_file) -> None:
    path, ckpt = deca_file
    model = load_deca(path)
    assert model.D_detail is None  # loads without a decoder; the shape image then has no detail
    for name in ("E_flame", "E_detail"):
        loaded = getattr(model, name).state_dict()
        assert set(loaded) == set(ckpt[name])  # every key consumed, none invented
        for k, v in ckpt[name].items():
            assert torch.equal(loaded[k], v), k

    image = np.random.default_rng(0).random((300, 260, 3), dtype=np.float32)
    lm = template_points(256) * 0.8 + [20, 40]
    crop, A = crop_face(image, lm)
    assert crop.shape == (3, 224, 224) and crop.dtype == np.float32
    codes = model.encode(torch.from_numpy(crop)[None], detail=True)
    np.testing.assert_array_equal(codes.shape[0].numpy(), np.arange(100))
    np.testing.assert_array_equal(codes.tex[0].numpy(), np.arange(100, 150))
    np.testing.assert_array_equal(codes.exp[0].numpy(), np.arange(150, 200))
    np.testing.assert_array_equal(codes.pose[0].numpy(), np.arange(200, 206))
    np.testing.assert_array_equal(codes.cam[0].numpy(), np.arange(206, 209))
    assert codes.light.shape == (1, 9, 3) and codes.light[0, 0, 0] == 209
    assert codes.detail.shape == (1, 128)
    # The crop is DECA's: a square of 1.375x the landmarks' box, centred on it.
    box_centre = 0.5 * (lm.min(0) + lm.max(0))
    np.testing.assert_allclose(A[:, :2] @ box_centre + A[:, 2], [111.5, 111.5])
    side = 0.5 * np.ptp(lm, axis=0).sum() * 1.375
    assert crop_transform(lm)[0, 0] == pytest.approx(223 / side)


def test_deca_checkpoint_with_a_renamed_or_reshaped_key_fails_clearly(deca_file, tmp_path) -> None:
    _, ckpt = deca_file
    renamed = dict(ckpt["E_flame"])
    renamed["encoder.layer3.2.conv_2.weight"] = renamed.pop("encoder.layer3.2.conv2.weight")
    torch.save({"E_flame": renamed, "E_detail": ckpt["E_detail"]}, tmp_path / "renamed.tar")
    with pytest.raises(DecaCheckpointError, match=r"E_flame.*encoder\.layer3\.2\.conv2\.weight.*conv_2"):
        load_deca(tmp_path / "renamed.tar")

    reshaped = dict(ckpt["E_detail"])
    reshaped["layers.2.weight"] = torch.zeros(100, 1024)
    torch.save({"E_flame": ckpt["E_flame"], "E_detail": reshaped}, tmp_path / "reshaped.tar")
    with pytest.raises(DecaCheckpointError, match=r"E_detail\.layers\.2\.weight' has shape \(100, 1024\)"):
        load_deca(tmp_path / "reshaped.tar")

    torch.save({"model": {}}, tmp_path / "other.tar")
    with pytest.raises(DecaCheckpointError, match="expected a dict with 'E_flame'"):
        load_deca(tmp_path / "other.tar")
    with pytest.raises(Precondition, match="missing"):
        load_deca(tmp_path / "absent.tar")
