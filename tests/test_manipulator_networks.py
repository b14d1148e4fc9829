"""Networks and checkpoints: official NED layout, conversion, safe loading, branch selection."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ned_server.manipulator.checkpoint import (
    FORMAT_KEY,
    CheckpointError,
    MissingCheckpoint,
    convert_official_checkpoint,
    networks_from_checkpoint,
    safe_load,
)
from ned_server.manipulator.config import PAPER_SIZES, TINY_SIZES, NetworkSizes
from ned_server.manipulator.controls import EmotionSettings
from ned_server.manipulator.inference import EmotionManipulator
from ned_server.manipulator.networks import Discriminator, Generator, ManipulatorNetworks, MappingNetwork


# The official layout written out from the documented layer sizes (NED_FACTS.md), independently of
# our modules, so that a naming or ordering mismatch in ours would fail these tests.
def _linear(sd: dict, name: str, n_in: int, n_out: int) -> None:
    sd[f"{name}.weight"] = (n_out, n_in)
    sd[f"{name}.bias"] = (n_out,)


def _bilstm(sd: dict, n_in: int, hidden: int, layers: int = 2) -> None:
    for layer in range(layers):
        width = n_in if layer == 0 else 2 * hidden
        for suffix in ("", "_reverse"):
            sd[f"LSTM.weight_ih_l{layer}{suffix}"] = (4 * hidden, width)
            sd[f"LSTM.weight_hh_l{layer}{suffix}"] = (4 * hidden, hidden)
            sd[f"LSTM.bias_ih_l{layer}{suffix}"] = (4 * hidden,)
            sd[f"LSTM.bias_hh_l{layer}{suffix}"] = (4 * hidden,)


def official_shapes() -> dict[str, dict[str, tuple[int, ...]]]:
    g: dict = {}
    _linear(g, "seq1.0", 51 + 16, 512)
    _linear(g, "seq1.2", 512, 512)
    _bilstm(g, 512, 512)
    _linear(g, "seq2.0", 1024, 1024)
    _linear(g, "seq2.2", 1024, 1024)
    _linear(g, "seq2.4", 1024, 51)

    def trunk(out: int) -> dict:
        e: dict = {}
        _linear(e, "seq1.0", 51, 512)
        _linear(e, "seq1.2", 512, 256)
        _bilstm(e, 256, 128)
        _linear(e, "seq2.0", 256, 128)
        _linear(e, "seq2.2", 128, 64)
        _linear(e, "seq2.4", 64, out)
        return e

    m: dict = {}
    _linear(m, "shared.0", 4, 64)
    _linear(m, "shared.2", 64, 64)
    _linear(m, "shared.4", 64, 64)
    for k in range(7):
        _linear(m, f"unshared.{k}.0", 64, 64)
        _linear(m, f"unshared.{k}.2", 64, 16)
    return {"generator": g, "style_encoder": trunk(16), "discriminator": trunk(7), "mapping_network": m}


def official_state(with_discriminator: bool = True, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for net, shapes in official_shapes().items():
        if net == "discriminator" and not with_discriminator:
            continue
        out[net] = {k: torch.randn(*s, generator=gen) * 0.05 for k, s in shapes.items()}
    return out


@pytest.fixture(scope="module")
def official_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("official") / "20_nets.pth"
    torch.save(official_state(with_discriminator=False), path)  # the public release has no discriminator
    return path


def test_our_networks_have_the_official_keys_and_shapes():
    nets = ManipulatorNetworks(PAPER_SIZES)
    for name, shapes in official_shapes().items():
        ours = {k: tuple(v.shape) for k, v in getattr(nets, name).state_dict().items()}
        assert ours == shapes, name


def test_official_file_loads_and_translates(official_file: Path):
    ckpt = convert_official_checkpoint(official_file)
    assert ckpt[FORMAT_KEY]["sizes"] == PAPER_SIZES.to_dict()
    assert ckpt[FORMAT_KEY]["emotions"] == ["neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised"]
    raw = torch.load(official_file, weights_only=True)
    manip = EmotionManipulator(official_file)
    assert torch.equal(manip.nets.generator.seq2[4].weight, raw["generator"]["seq2.4.weight"])
    assert torch.equal(manip.nets.mapping_network.unshared[3][2].bias, raw["mapping_network"]["unshared.3.2.bias"])
    expr = np.random.default_rng(0).normal(0, 0.5, size=(12, 51)).astype(np.float32)
    out = manip.translate(expr, EmotionSettings(emotion="sad"))
    assert out.shape == (12, 51) and np.isfinite(out).all()
    assert manip.extract_style(expr).shape == (16,)


def test_dataparallel_prefix_is_stripped():
    state = official_state(with_discriminator=False, seed=1)
    prefixed = {net: {f"module.{k}": v for k, v in sd.items()} for net, sd in state.items()}
    ckpt = convert_official_checkpoint(prefixed)
    assert set(ckpt["generator"]) == set(state["generator"])
    key = "LSTM.weight_hh_l1_reverse"
    assert torch.equal(ckpt["style_encoder"][key], state["style_encoder"][key])


def _tiny_state() -> dict:
    nets = ManipulatorNetworks(TINY_SIZES)
    return {name: m.state_dict() for name, m in nets.named_nets().items()}


def test_converter_rejects_wrong_layouts_clearly():
    state = _tiny_state()
    del state["style_encoder"]
    with pytest.raises(CheckpointError, match="style_encoder"):
        convert_official_checkpoint(state)

    state = _tiny_state()
    state["generator"]["lstm.weight_ih_l0"] = state["generator"].pop("LSTM.weight_ih_l0")
    with pytest.raises(CheckpointError, match=r"LSTM\.weight_ih_l0"):
        convert_official_checkpoint(state)

    state = _tiny_state()
    state["generator"]["seq2.4.weight"] = torch.zeros(50, TINY_SIZES.gen_head)
    with pytest.raises(CheckpointError, match=r"seq2\.4\.weight"):
        convert_official_checkpoint(state)

    state = _tiny_state()
    state["mapping_network"]["unshared.6.2.bias"] = torch.full((16,), float("nan"))
    with pytest.raises(CheckpointError, match="finite"):
        convert_official_checkpoint(state)

    state = _tiny_state()
    del state["discriminator"]  # a 5-domain run's discriminator would have 5 outputs
    for key in [k for k in state["mapping_network"] if k.startswith(("unshared.5", "unshared.6"))]:
        del state["mapping_network"][key]
    with pytest.raises(CheckpointError, match="5 domains"):
        convert_official_checkpoint(state)
    ckpt = convert_official_checkpoint(state, emotions=["neutral", "angry", "disgusted", "happy", "sad"])
    manip = EmotionManipulator(ckpt)
    assert manip.emotions == ("neutral", "angry", "disgusted", "happy", "sad")
    with pytest.raises(KeyError, match="not in this checkpoint"):
        manip.translate(np.zeros((10, 51), np.float32), EmotionSettings(emotion="fear"))


def test_our_checkpoint_round_trips_with_sizes(tmp_path: Path):
    from ned_server.manipulator.checkpoint import networks_state

    nets = ManipulatorNetworks(TINY_SIZES)
    path = tmp_path / "01_nets.pth"
    torch.save(networks_state(nets, {"epoch": 1}), path)
    loaded = networks_from_checkpoint(path, with_discriminator=True)
    assert loaded.sizes == TINY_SIZES
    for name, module in nets.named_nets().items():
        for key, value in module.state_dict().items():
            assert torch.equal(getattr(loaded, name).state_dict()[key], value)


class NotAWeight:
    def __reduce__(self):  # what a malicious pickle would do on load
        return (print, ("this must never run",))


def test_loader_never_unpickles_objects(tmp_path: Path):
    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        pickle.dump({"generator": NotAWeight()}, fh, protocol=2)
    with pytest.raises(CheckpointError, match="weights-only"):
        safe_load(path)
    with pytest.raises(MissingCheckpoint) as info:
        safe_load(tmp_path / "missing.pth")
    assert isinstance(info.value, FileNotFoundError)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="dict"):
        safe_load(tmp_path / "list.pth")


def test_mapping_network_selects_the_branch_of_each_domain():
    torch.manual_seed(0)
    m = MappingNetwork(TINY_SIZES)
    z = torch.randn(7, 4)
    y = torch.tensor([3, 0, 6, 3, 1, 2, 5])
    all_styles = m.all_domains(z)
    assert all_styles.shape == (7, 7, 16)
    assert torch.allclose(m(z, y), all_styles[torch.arange(7), y])
    # Changing branch 3 changes exactly the rows asking for domain 3.
    before = m(z, y).detach().clone()
    with torch.no_grad():
        m.unshared[3][2].bias += 1.0
    changed = (m(z, y) - before).abs().sum(dim=1) > 0
    assert changed.tolist() == (y == 3).tolist()


def test_discriminator_branch_and_generator_style_broadcast():
    torch.manual_seed(0)
    d = Discriminator(TINY_SIZES)
    x = torch.randn(5, 10, 51)
    y = torch.tensor([0, 6, 2, 2, 4])
    assert torch.allclose(d(x, y), d.all_domains(x)[torch.arange(5), y])
    g = Generator(TINY_SIZES)
    s = torch.randn(5, 16)
    assert torch.allclose(g(x, s), g(x, s[:, None, :].expand(-1, 10, -1)))
    assert g(x, s).shape == (5, 10, 51)


def test_sizes_dict_round_trip():
    assert NetworkSizes.from_dict(PAPER_SIZES.to_dict()) == PAPER_SIZES
    assert NetworkSizes.from_dict(TINY_SIZES.to_dict()) == TINY_SIZES
