"""Renderer networks: sizes from NED_FACTS, the recurrence convention, mouth crops, VGG-19 loading."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch

from ned_server.renderer.config import RendererConfig, RendererConfigError, paper_config, preset, tiny_config
from ned_server.renderer.head2head import Head2HeadGenerator
from ned_server.renderer.losses import feature_matching, lsgan
from ned_server.renderer.networks import (
    Generator,
    RendererNetworks,
    count_parameters,
    crop_mouths,
    mouth_origin,
)
from ned_server.renderer.recurrence import BLANK, Recurrence
from ned_server.renderer.vgg import (
    VGG19Features,
    VGGLoss,
    VGGWeightsError,
    load_vgg19,
    maybe_vgg_loss,
    vgg19_feature_shapes,
)


def test_paper_generator_and_discriminators_follow_ned_facts() -> None:
    cfg = paper_config()
    assert (cfg.generator.ngf, cfg.generator.n_downsample, cfg.generator.n_blocks) == (64, 3, 9)
    d = cfg.discriminator
    assert (d.num_d, d.n_layers, d.ndf) == (2, 3, 64)
    assert (cfg.resolution, cfg.seq_len, cfg.batch_size, cfg.lr, cfg.beta1) == (256, 12, 1, 2e-4, 0.5)
    assert cfg.losses.lambda_feat == 10 and cfg.mouth_size == 72
    assert cfg.architecture == "head2head"  # the official networks (tests/test_renderer_official.py)
    with torch.device("meta"):  # its layout is tested in tests/test_renderer_official.py
        assert isinstance(RendererNetworks(cfg).generator, Head2HeadGenerator)
    # Our own networks at the paper's sizes (the tiny preset is this architecture, smaller).
    nets = RendererNetworks(replace(cfg, architecture="ned", discriminator=replace(d, mouth_num_d=1)))
    g = nets.generator
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules()) > 20
    assert len(g.blocks) == 9
    # 3 stride-2 convolutions per encoder: 64 -> 128 -> 256 -> 512 channels
    assert g.enc_cond[-3].out_channels == 512 and isinstance(g.enc_cond[0], torch.nn.ReflectionPad2d)
    assert g.enc_cond[1].in_channels == 27 and g.enc_prev[1].in_channels == 6
    with torch.no_grad():
        out = g(torch.rand(1, 27, 64, 64), torch.zeros(1, 6, 64, 64))
    assert out.shape == (1, 3, 64, 64) and out.abs().max() <= 1
    feats = nets.image_d(torch.rand(1, 12, 64, 64))
    assert len(feats) == 2 and len(feats[0]) == 3 + 2  # n_layers + the stride-1 layer + the score
    assert feats[1][-1].shape[-1] < feats[0][-1].shape[-1]  # the second scale sees a half-size image
    assert len(nets.mouth_d(torch.rand(1, 12, 72, 72))) == 1
    assert count_parameters(g) > 30_000_000


def test_config_round_trips_and_rejects_bad_sizes() -> None:
    cfg = tiny_config(32)
    again = RendererConfig.from_dict({**cfg.to_dict(), "from_the_future": 1})
    assert again == cfg
    with pytest.raises(RendererConfigError, match="divisible"):
        preset("paper", resolution=100)
    with pytest.raises(RendererConfigError, match="unknown renderer preset"):
        preset("huge")


def test_recurrence_replicates_the_window_and_starts_blank() -> None:
    rec = Recurrence()
    c = [torch.full((1, 9, 4, 4), float(i)) for i in range(4)]
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    cond, prev = rec.inputs(c[0])
    assert cond.shape == (1, 27, 4, 4) and prev.shape == (1, 6, 4, 4)
    assert torch.all(cond == 0) and torch.all(prev == BLANK)
    g0 = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    fb = rec.push(c[0], g0, mask)
    assert not fb.requires_grad
    assert torch.all(fb[..., :2] == 0.5) and torch.all(fb[..., 2:] == BLANK)  # black outside the mask
    cond, prev = rec.inputs(c[1])
    assert [cond[0, 9 * k, 0, 0].item() for k in range(3)] == [0, 0, 1]  # (c0, c0, c1)
    assert torch.equal(prev[:, :3], fb) and torch.equal(prev[:, 3:], fb)  # (g0, g0)
    rec.push(c[1], torch.full((1, 3, 4, 4), -0.25), mask)
    rec.push(c[2], torch.full((1, 3, 4, 4), 0.75), mask)
    cond, prev = rec.inputs(c[3])
    assert [cond[0, 9 * k, 0, 0].item() for k in range(3)] == [1, 2, 3]  # oldest first
    assert prev[0, 0, 0, 0].item() == -0.25 and prev[0, 3, 0, 0].item() == 0.75  # g(t-2), g(t-1)


def test_mouth_crop_is_centred_and_clamped() -> None:
    img = torch.arange(16 * 16, dtype=torch.float32).view(1, 1, 16, 16).repeat(2, 1, 1, 1)
    crops = crop_mouths(img, torch.tensor([[8.0, 8.0], [15.0, 0.0]]), 4)
    assert crops.shape == (2, 1, 4, 4)
    assert crops[0, 0, 0, 0].item() == 6 * 16 + 6  # window rows/cols 6..9 around (8, 8)
    assert crops[1, 0, 0, 0].item() == 0 * 16 + 12  # clamped to the top-right corner
    assert mouth_origin((8, 8), 4, 16, 16) == (6, 6)


def test_gan_losses() -> None:
    real = [[torch.ones(1, 1, 2, 2)]]
    assert lsgan(real, True).item() == 0 and lsgan(real, False).item() == 1
    a = [[torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 1, 1)]]
    b = [[torch.ones(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.ones(1, 1, 2, 2), torch.ones(1, 1, 1, 1)]]
    # layers other than the score: n_layers = 2, weight 4/3; L1 = 1 + 0 + 1
    assert feature_matching(a, b).item() == pytest.approx(4 / 3 * 2)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> tuple:
    """A random state dict with torchvision vgg19's exact feature keys and shapes, in float16
    (20M parameters: 40 MB; the real file's classifier.* keys are ignored by the loader, so they
    are left out here to keep the test light)."""
    gen = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(shape, generator=gen) * 0.05).half() for k, shape in vgg19_feature_shapes().items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path, state


def test_vgg19_loads_torchvision_layout(vgg_file) -> None:
    path, state = vgg_file
    shapes = vgg19_feature_shapes()
    assert len(shapes) == 32 and shapes["features.0.weight"] == (64, 3, 3, 3)
    assert shapes["features.34.weight"] == (512, 512, 3, 3) and "features.36.weight" not in shapes
    net = load_vgg19(path)
    assert isinstance(net, VGG19Features) and not any(p.requires_grad for p in net.parameters())
    assert net.features[28].weight.dtype == torch.float32
    torch.testing.assert_close(net.features[28].weight, state["features.28.weight"].float())
    assert isinstance(net.features[36], torch.nn.MaxPool2d) and len(net.features) == 37
    x = torch.rand(1, 3, 32, 32)
    feats = net(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    assert feats[4].shape[-1] == 2  # relu5_1 after 4 pools
    loss = VGGLoss(net)
    y = x.clone().requires_grad_(True)
    assert loss(x, x).item() == 0
    value = loss(y, torch.rand(1, 3, 32, 32))
    value.backward()
    assert value.item() > 0 and y.grad is not None and y.grad.abs().sum() > 0


def test_vgg19_loader_refuses_wrong_files(tmp_path, vgg_file, caplog) -> None:
    _, state = vgg_file
    with pytest.raises(VGGWeightsError, match="not found"):
        load_vgg19(tmp_path / "missing.pth")
    partial = {k: v for k, v in state.items() if k != "features.34.bias"}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(VGGWeightsError, match="missing 1 keys"):
        load_vgg19(tmp_path / "partial.pth")
    wrong = dict(state)
    wrong["features.0.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(VGGWeightsError, match="wrong shapes"):
        load_vgg19(tmp_path / "wrong.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(VGGWeightsError, match="cannot read"):
        load_vgg19(tmp_path / "junk.pth")
    with caplog.at_level(logging.WARNING):
        assert maybe_vgg_loss(None, "cpu") is None
    assert "without the perceptual loss" in caplog.text


def test_generator_depends_on_conditioning_and_feedback() -> None:
    torch.manual_seed(0)
    g = Generator(tiny_config(32).generator)
    c, p = torch.rand(1, 27, 32, 32), torch.rand(1, 6, 32, 32) * 2 - 1
    with torch.no_grad():
        base = g(c, p)
        assert not torch.allclose(base, g(c.flip(-1), p))
        assert not torch.allclose(base, g(c, -p))
    assert np.isfinite(base.numpy()).all()
