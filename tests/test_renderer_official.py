"""The official NED renderer checkpoints: layout, loading, rendering, import as an actor, fine-tuning.

No released file can be downloaded here, so the tests write random-weight files of exactly the
released layout (every key and shape of tests/data/ned_renderer_layout.json, a copy of the layout
read from the public checkpoints) under the released names, and run them through every path a
real file takes: strict loading, a 256x256 frame through FaceRenderer, registration as an actor
(``ned import-actor``) that the model registry serves, and ``--init-from`` for a fine-tune.
"""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ned_server.renderer import checkpoint as ckpt_io
from ned_server.renderer import official
from ned_server.renderer.config import paper_config, tiny_config
from ned_server.renderer.head2head import Head2HeadDiscriminator, Head2HeadGenerator, InstanceStatsNorm
from ned_server.renderer.inference import generate_sequence
from ned_server.renderer.recurrence import HEAD2HEAD, Recurrence

LAYOUT = Path(__file__).parent / "data" / "ned_renderer_layout.json"
FILES = {"generator": "net_G", "image_discriminator": "net_D", "mouth_discriminator": "net_Dm"}
OURS = {"generator": "generator", "image_discriminator": "image_d", "mouth_discriminator": "mouth_d"}


def layout() -> dict[str, dict[str, list[int]]]:
    raw = json.loads(LAYOUT.read_text())
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def random_state(shapes: dict[str, list[int]], seed: int) -> dict[str, torch.Tensor]:
    """A state dict of exactly ``shapes``, as the authors' torch.save would hold it: weights
    N(0, 0.02), biases 0, running stats (0, 1, count), and each ResnetBlock's two names for its
    Sequential sharing one tensor."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        alias = key.replace(".conv_block.", ".resnetblock_sequential.")
        if alias != key and alias in out:
            out[key] = out[alias]
        elif key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(1234, dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = torch.ones(shape)
        elif key.endswith(("running_mean", "bias")):
            out[key] = torch.zeros(shape)
        else:
            out[key] = torch.randn(*shape, generator=gen) * 0.02
    return out


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory) -> Path:
    """A released-style checkpoints folder: 15_net_G.pth, 15_net_D.pth, 15_net_Dm.pth."""
    folder = tmp_path_factory.mktemp("checkpoints_meta-renderer")
    for seed, (net, shapes) in enumerate(layout().items()):
        torch.save(random_state(shapes, seed), folder / f"15_{FILES[net]}.pth")
    return folder


@pytest.fixture(scope="module")
def loaded(official_folder: Path) -> dict:
    return official.load_official(official_folder)


def test_our_modules_have_exactly_the_official_keys_and_shapes() -> None:
    modules = official.expected_modules(paper_config())
    for net, shapes in layout().items():
        ours = {k: list(v.shape) for k, v in modules[OURS[net]].state_dict().items()}
        assert list(ours) == list(shapes), net  # same keys, in the same order
        assert ours == shapes, net
    g = modules["generator"]
    assert g.model_down_seg[13].conv_block is g.model_down_seg[13].resnetblock_sequential


def test_official_files_load_strictly_into_our_modules(official_folder: Path, loaded: dict) -> None:
    assert loaded["official_epoch"] == "15" and loaded["config"]["architecture"] == "head2head"
    for net, name in FILES.items():
        raw = torch.load(official_folder / f"15_{name}.pth", weights_only=True, mmap=True)
        assert set(loaded[OURS[net]]) == set(raw)
        key = next(k for k in raw if k.endswith("weight"))
        assert torch.equal(loaded[OURS[net]][key], raw[key])
    with torch.device("meta"):
        g = Head2HeadGenerator(paper_config().generator)
    g.load_state_dict(loaded["generator"], strict=True, assign=True)
    d = Head2HeadDiscriminator(12, 64, 3, 2)
    d.load_state_dict(loaded["image_d"], strict=True)
    d.load_state_dict(loaded["mouth_d"], strict=True)
    assert int(g.model_down_seg[2].num_batches_tracked) == 1234


@pytest.mark.slow  # the paper-size generator: one 256x256 frame / one training step
def test_an_official_actor_is_served_and_renders_a_256_frame(tmp_path: Path, official_folder: Path) -> None:
    """``ned import-actor`` registers the folder; the registry's renderer (what Manipulate uses)
    renders a 256x256 frame with the official generator."""
    from ned_server.api.import_actor import import_actor_main
    from ned_server.orchestration.models import Models
    from ned_server.runtime.assets import load_manifest
    from ned_server.runtime.store import Store

    store_dir = tmp_path / "store"
    assert import_actor_main(["tarantino", "--from", str(official_folder), "--store", str(store_dir)]) == 0
    assert import_actor_main(["tarantino", "--from", str(official_folder), "--store", str(store_dir)]) == 2
    store = Store(store_dir)
    meta = store.require_actor("tarantino")
    assert meta["ready"] and meta["resolution"] == 256 and "epoch 15" in meta["base"]
    assert sorted(f.name for f in (store_dir / "actors" / "tarantino" / "training").iterdir()) == [
        "15_net_D.pth", "15_net_Dm.pth", "15_net_G.pth"]  # the files as released
    renderer = Models(tmp_path / "models", load_manifest(), store, "cpu").renderer("tarantino")
    assert isinstance(renderer.generator, Head2HeadGenerator) and renderer.resolution == 256
    rng = np.random.default_rng(0)
    cond = rng.random((1, 9, 256, 256), dtype=np.float32)
    mask = np.zeros((1, 256, 256), np.float32)
    mask[:, 64:192, 64:192] = 1
    out = renderer.render_sequence(cond, mask)
    assert out.shape == (1, 3, 256, 256) and np.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1 and np.all(out[:, :, mask[0] == 0] == 0)
    assert out[:, :, mask[0] == 1].std() > 0  # the random generator draws something, not a constant


def test_the_official_start_of_a_sequence_is_kept() -> None:
    """Zeros as the previous frames of frame 0, (0, g0) for frame 1, feedback black outside the mask."""
    torch.manual_seed(0)
    g = Head2HeadGenerator(replace(paper_config().generator, ngf=4, n_blocks=3)).eval()
    cond = torch.rand(2, 9, 16, 16)
    masks = torch.zeros(2, 1, 16, 16)
    masks[..., 4:12] = 1
    out = generate_sequence(g, cond, masks, convention=HEAD2HEAD)
    with torch.no_grad():
        c0, c1 = cond[:1], cond[1:]
        g0 = g(torch.cat([c0, c0, c0], 1), torch.zeros(1, 6, 16, 16))
        fb0 = g0 * masks[:1] - (1 - masks[:1])
        g1 = g(torch.cat([c0, c0, c1], 1), torch.cat([torch.zeros(1, 3, 16, 16), fb0], 1))
    assert torch.allclose(out[:1], g0, atol=1e-6) and torch.allclose(out[1:], g1, atol=1e-6)
    rec = Recurrence(HEAD2HEAD)
    rec.push(c0, g0, masks[:1])
    rec.push(c1, g1, masks[:1])
    _, prev = rec.inputs(c1)
    assert torch.allclose(prev[:, 3:], g1 * masks[:1] - (1 - masks[:1]))


def test_instance_norm_uses_the_image_statistics_in_eval_mode_too() -> None:
    """The authors never call eval(): the running statistics in the files are never used."""
    norm = InstanceStatsNorm(3)
    norm.running_mean.fill_(5.0)
    x = torch.randn(1, 3, 8, 8) * 3 + 1
    expected = torch.nn.functional.instance_norm(x)
    assert torch.allclose(norm.eval()(x), expected, atol=1e-5)
    assert torch.all(norm.running_mean == 5.0)  # eval leaves the buffers alone
    assert torch.allclose(norm.train()(x), expected, atol=1e-5)
    assert not torch.all(norm.running_mean == 5.0)  # training updates them, as the original does


@pytest.mark.slow  # the paper-size generator: one 256x256 frame / one training step
def test_official_meta_renderer_is_an_init_from_for_fine_tuning(tmp_path: Path, official_folder: Path,
                                                               loaded: dict) -> None:
    """``init_from`` an official folder (what ``ned train-renderer --init-from`` and TrainActor pass):
    the base's networks and weights win over the settings given, both discriminators come from the
    files, and one iteration (at 32 px, to be quick: the networks are fully convolutional; the
    release was trained at 256) moves the weights. Its state (what a checkpoint holds) keeps the official keys."""
    from ned_server.renderer.train import RendererTrainer
    from ned_server.synthetic.toy_actor import toy_clip

    trainer = RendererTrainer([toy_clip(1, 4, 32)], tmp_path / "anna", replace(tiny_config(32), seq_len=2,
                              batch_size=1), init_from=official_folder)
    assert isinstance(trainer.nets.generator, Head2HeadGenerator) and trainer.config.resolution == 32
    assert trainer.config.architecture == "head2head" and str(official_folder) == trainer.base
    for ours in ("generator", "image_d", "mouth_d"):
        state = getattr(trainer.nets, ours).state_dict()
        assert all(torch.equal(state[k], v) for k, v in loaded[ours].items())
    losses, fake = trainer.step(trainer.dataset.batch(trainer.batch_indices(0)))
    assert fake.shape == (1, 2, 3, 32, 32) and all(np.isfinite(v) for v in losses.values())
    key = "model_down_seg.1.weight"
    tuned = trainer.state_dict()
    assert not torch.equal(tuned["generator"][key], loaded["generator"][key])  # it trained
    assert (tuned["generator"][key] - loaded["generator"][key]).abs().max() < 1e-2  # from the file's weights
    assert not torch.equal(tuned["image_d"]["scale1_layer0.0.weight"], loaded["image_d"]["scale1_layer0.0.weight"])
    for ours in ("generator", "image_d", "mouth_d"):
        assert set(tuned[ours]) == set(loaded[ours])  # still the official keys: a NED tool reads them back


def test_a_file_of_another_layout_is_refused_with_what_differs(tmp_path: Path, official_folder: Path) -> None:
    folder = tmp_path / "checkpoints_other"
    folder.mkdir()
    for net in ("G", "Dm"):
        (folder / f"15_net_{net}.pth").symlink_to(official_folder / f"15_net_{net}.pth")
    state = torch.load(official_folder / "15_net_D.pth", weights_only=True)
    del state["scale0_layer4.0.bias"]
    state["scale0_layer5.0.weight"] = torch.zeros(1)
    state["scale1_layer0.0.weight"] = torch.zeros(64, 13, 4, 4)  # a D conditioned on the mask too
    torch.save(state, folder / "15_net_D.pth")
    with pytest.raises(official.OfficialLayoutError) as err:
        official.load_official(folder)
    msg = str(err.value)
    assert "15_net_D.pth" in msg and "image discriminator" in msg
    assert "1 keys missing (scale0_layer4.0.bias)" in msg and "1 unexpected keys (scale0_layer5.0.weight)" in msg
    assert "scale1_layer0.0.weight (64, 13, 4, 4) (expected (64, 12, 4, 4))" in msg
    with pytest.raises(ckpt_io.RendererCheckpointError, match="layout"):
        ckpt_io.load(folder)  # the same error wherever a renderer checkpoint is read

    ours = {k: v for k, v in random_state(layout()["image_discriminator"], 0).items()}
    with pytest.raises(official.OfficialLayoutError, match=r"337 keys missing .*38 unexpected keys"):
        official.check_layout(ours, official.expected_modules(paper_config())["generator"], "generator", "x.pth")


def test_unsafe_or_missing_official_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "evil"
    folder.mkdir()
    with open(folder / "15_net_G.pth", "wb") as fh:
        pickle.dump({"weights": logging.getLogger}, fh)  # a pickle naming a callable: never unpickled
    with pytest.raises(ckpt_io.RendererCheckpointError, match="tensors only"):
        official.load_official(folder)
    with pytest.raises(ckpt_io.RendererCheckpointError, match=r"no epoch 7 in .*epochs 15"):
        official.find(folder, epoch=7)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ckpt_io.RendererCheckpointError, match="official NED"):
        ckpt_io.load(empty)


def test_the_highest_epoch_is_taken_unless_one_is_named(tmp_path: Path) -> None:
    for name in ("05_net_G.pth", "15_net_G.pth", "15_net_D.pth", "15_net_Dm.pth", "latest_net_G.pth",
                 "20_net_D.pth"):
        (tmp_path / name).touch()
    files = official.find(tmp_path)
    assert files.epoch == "15" and files.image_d == tmp_path / "15_net_D.pth"
    assert official.find(tmp_path, 5).mouth_d is None
    assert official.find(tmp_path / "05_net_G.pth").epoch == "05"
    assert official.find(tmp_path, "latest").generator.name == "latest_net_G.pth"


def test_meta_renderer_and_released_manipulator_are_found_where_the_readme_says(tmp_path: Path) -> None:
    from ned_server.errors import InvalidInput, Precondition
    from ned_server.manipulator.checkpoint import resolve_checkpoint
    from ned_server.orchestration.actor_training import TrainActorParams, base_renderer, check_request
    from ned_server.orchestration.models import META_RENDERER, Models
    from ned_server.runtime.assets import load_manifest
    from ned_server.runtime.store import Store

    assets = load_manifest()
    models_dir = tmp_path / "models"
    models = Models(models_dir, assets, Store(tmp_path / "store"), "cpu")
    with pytest.raises(Precondition, match="renderer/meta_renderer"):
        base_renderer(models.store, models, META_RENDERER)
    meta = models_dir / "renderer" / "meta_renderer"
    meta.mkdir(parents=True)
    for net in ("G", "D", "Dm"):
        (meta / f"15_net_{net}.pth").touch()
        assert assets[f"ned_meta_renderer{'' if net == 'G' else '_' + net.lower()}"].location(models_dir) == \
            meta / f"15_net_{net}.pth"
    assert base_renderer(models.store, models, META_RENDERER) == meta / "15_net_G.pth"
    with pytest.raises(InvalidInput, match=r"reserved|released meta-renderer"):
        check_request(models.store, models, TrainActorParams(META_RENDERER, ["sh010"]))

    released = models_dir / "manipulator" / "02_nets_finetuned.pth"
    released.parent.mkdir(parents=True)
    released.touch()
    assert assets["ned_manipulator"].found(models_dir)
    assert models.manipulator_source() == released
    (released.parent / "01_nets.pth").touch()
    assert resolve_checkpoint(released.parent) == released
    released.rename(released.parent / "07_nets_finetuned.pth")
    assert models.manipulator_source() == released.parent
    assert resolve_checkpoint(released.parent).name == "07_nets_finetuned.pth"
