"""Renderer training: progress, outputs, cancel, checkpoints and resume, VGG, CLI, meta-renderer."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from ned_server.api.train_renderer import train_actor_main
from ned_server.renderer import checkpoint as ckpt_io
from ned_server.renderer.config import RendererConfig, TrainConfig, tiny_config
from ned_server.renderer.dataset import save_actor_data
from ned_server.renderer.inference import FaceRenderer
from ned_server.renderer.metrics import fapd
from ned_server.renderer.train import (
    RendererTrainer,
    RendererTrainError,
    TrainProgress,
    fine_tune,
    train_meta_renderer,
)
from ned_server.renderer.vgg import vgg19_feature_shapes
from ned_server.synthetic.toy_actor import toy_clip

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions gain nothing from a second thread and lose a lot when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def recon_config(resolution: int = 32) -> RendererConfig:
    """The tiny preset without the GAN terms of G (at 32 px they only add noise in short runs)."""
    cfg = tiny_config(resolution)
    return replace(cfg, losses=replace(cfg.losses, lambda_adv=0.0, lambda_feat=0.0))


@pytest.fixture(scope="module")
def clips():
    return [toy_clip(1, 24, 32, seed=s) for s in range(2)]


def test_training_reports_progress_and_writes_checkpoints_curves_and_samples(tmp_path, clips) -> None:
    seen: list[TrainProgress] = []
    trainer = RendererTrainer(clips, tmp_path / "run", tiny_config(32),
                              TrainConfig(iterations=6, checkpoint_every=4, sample_every=3, log_every=2),
                              progress=seen.append)
    assert not trainer.use_amp and not trainer.scaler.is_enabled()  # AMP only on CUDA
    result = trainer.train()
    assert [p.iteration for p in seen] == [1, 2, 3, 4, 5, 6] and {p.total for p in seen} == {6}
    assert all(p.eta_seconds >= 0 for p in seen) and seen[-1].eta_seconds == 0
    assert [p.iteration for p in seen if p.sample_png] == [3, 6]
    assert seen[2].sample_png.startswith(PNG)
    keys = {"G/image_adv", "G/mouth_adv", "G/image_feat", "G/mouth_feat", "G/l1", "D/image_real", "D/image_fake",
            "D/mouth_real", "D/mouth_fake", "G/total", "D/total"}
    assert keys <= set(seen[-1].losses) and all(np.isfinite(v) for v in seen[-1].losses.values())
    assert "G/vgg" not in seen[-1].losses  # the tiny preset needs no VGG file
    assert result.iterations == 6 and not result.cancelled
    assert result.plot.read_bytes().startswith(PNG) and result.sheet.read_bytes().startswith(PNG)
    history = [json.loads(line) for line in (tmp_path / "run" / ckpt_io.HISTORY).read_text().splitlines()]
    assert [r["iteration"] for r in history] == [2, 4, 6]
    full = ckpt_io.load(result.checkpoint, prefer=ckpt_io.LATEST)
    assert full["iteration"] == 6 and {"image_d", "mouth_d", "opt_g", "opt_d"} <= set(full)
    light = ckpt_io.load(tmp_path / "run")  # a folder resolves to renderer.pth
    assert light["path"].endswith("renderer.pth") and "opt_g" not in light
    assert ckpt_io.summary(tmp_path / "run") == {"iterations": 6, "resolution": 32, "preset": "tiny", "base": "",
                                                 "actors": ["toy1"]}
    assert not list((tmp_path / "run").glob(".*tmp"))


def test_cancel_stops_at_the_next_iteration_and_keeps_the_work(tmp_path, clips) -> None:
    import threading

    cancel = threading.Event()

    def progress(p: TrainProgress) -> None:
        if p.iteration == 3:
            cancel.set()

    result = RendererTrainer(clips, tmp_path, tiny_config(32), TrainConfig(iterations=50, checkpoint_every=100),
                             progress=progress, cancel=cancel).train()
    assert result.cancelled and result.iterations == 3
    assert ckpt_io.load(tmp_path)["iteration"] == 3


class Killed(Exception):
    pass


def test_resume_after_a_kill_continues_exactly(tmp_path, clips) -> None:
    cfg = tiny_config(32)
    tc = TrainConfig(iterations=6, checkpoint_every=3, log_every=1)

    def kill_at_5(p: TrainProgress) -> None:
        if p.iteration == 5:
            raise Killed  # dies before any checkpoint after iteration 3

    with pytest.raises(Killed):
        RendererTrainer(clips, tmp_path / "a", cfg, tc, progress=kill_at_5).train()
    saved = ckpt_io.load(tmp_path / "a", prefer=ckpt_io.LATEST)
    assert saved["iteration"] == 3

    with pytest.raises(RendererTrainError, match="already holds"):
        RendererTrainer(clips, tmp_path / "a", cfg, tc)
    resumed = RendererTrainer(clips, tmp_path / "a", cfg, tc, resume=True)
    assert resumed.iteration == 3
    for k, v in resumed.nets.generator.state_dict().items():
        assert torch.equal(v, saved["generator"][k]), k
    for k, v in resumed.nets.image_d.state_dict().items():
        assert torch.equal(v, saved["image_d"][k]), k
    assert resumed.opt_g.state_dict()["state"][0]["step"] == saved["opt_g"]["state"][0]["step"]
    result = resumed.train()
    assert result.iterations == 6

    straight = RendererTrainer(clips, tmp_path / "b", cfg, tc).train()
    a = ckpt_io.load(result.renderer)["generator"]
    b = ckpt_io.load(straight.renderer)["generator"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # the history lost iterations 4-5 with the kill and has each iteration once
    history = [json.loads(line)["iteration"] for line in (tmp_path / "a" / ckpt_io.HISTORY).read_text().splitlines()]
    assert history == [1, 2, 3, 4, 5, 6]


def test_perceptual_loss_uses_the_configured_vgg_file(tmp_path, clips) -> None:
    gen = torch.Generator().manual_seed(1)
    state = {k: (torch.randn(s, generator=gen) * 0.05).half() for k, s in vgg19_feature_shapes().items()}
    torch.save(state, tmp_path / "vgg19.pth")
    cfg = replace(tiny_config(32), losses=replace(tiny_config(32).losses, lambda_vgg=10.0), seq_len=2, batch_size=1)
    seen: list[TrainProgress] = []
    RendererTrainer(clips, tmp_path / "run", cfg, TrainConfig(iterations=2, vgg_path=str(tmp_path / "vgg19.pth")),
                    progress=seen.append).train()
    assert seen[-1].losses["G/vgg"] > 0


def test_cli_trains_resumes_and_rejects_bad_input(tmp_path, clips) -> None:
    save_actor_data(tmp_path / "anna", clips)
    out = tmp_path / "out"
    base = ["--data", str(tmp_path / "anna"), "--out", str(out), "--preset", "tiny", "--resolution", "32",
            "--device", "cpu", "--quiet"]
    assert train_actor_main([*base, "--iterations", "3"]) == 0
    assert ckpt_io.summary(out)["iterations"] == 3 and (out / "samples.png").is_file()
    assert ckpt_io.summary(out)["actors"] == ["toy1"]
    assert train_actor_main([*base, "--iterations", "4"]) == 2  # not resumable without --resume
    assert train_actor_main([*base, "--iterations", "5", "--resume"]) == 0
    assert ckpt_io.summary(out)["iterations"] == 5
    assert train_actor_main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert train_actor_main(["--toy-actor", "2", "--toy-frames", "8", "--out", str(tmp_path / "toy"), "--preset",
                             "tiny", "--resolution", "32", "--iterations", "1", "--device", "cpu", "--quiet"]) == 0


def _heldout_fapd(result, clip) -> float:
    out = FaceRenderer(result.renderer).render_sequence(clip.conditioning, clip.masks)
    m = clip.masks[:, None]
    return fapd(clip.frames, out * m + clip.frames * (1 - m), clip.masks)


def test_fine_tuning_a_meta_renderer_beats_training_from_scratch(tmp_path) -> None:
    cfg = recon_config(32)
    meta = train_meta_renderer([toy_clip(a, 40, 32, seed=a) for a in (1, 2, 3)], tmp_path / "meta", cfg,
                               TrainConfig(iterations=300, checkpoint_every=1000, seed=0))
    assert ckpt_io.summary(meta.renderer)["actors"] == ["toy1", "toy2", "toy3"]
    few = toy_clip(7, 12, 32, seed=5)  # a new actor, 12 frames
    heldout = toy_clip(7, 30, 32, seed=6)
    n = 20
    tuned = fine_tune(meta.checkpoint, few, n, tmp_path / "tuned", TrainConfig(checkpoint_every=1000, seed=0))
    scratch = RendererTrainer([few], tmp_path / "scratch", cfg, TrainConfig(iterations=n, checkpoint_every=1000,
                                                                             seed=0)).train()
    assert tuned.iterations == scratch.iterations == n
    assert ckpt_io.summary(tuned.renderer)["base"] == str(meta.checkpoint)
    e_tuned, e_scratch = _heldout_fapd(tuned, heldout), _heldout_fapd(scratch, heldout)
    # measured over seeds 0-2: ratios 0.62-0.74
    assert e_tuned < 0.85 * e_scratch, (e_tuned, e_scratch)


def test_a_reconstruction_only_step_leaves_the_discriminators_alone(tmp_path, clips) -> None:
    trainer = RendererTrainer(clips, tmp_path / "run", recon_config(32), TrainConfig(iterations=2, checkpoint_every=10))
    before = [p.detach().clone() for p in trainer.nets.image_d.parameters()]
    g_before = [p.detach().clone() for p in trainer.nets.generator.parameters()]
    result = trainer.train()
    assert result.iterations == 2
    last = json.loads((tmp_path / "run" / ckpt_io.HISTORY).read_text().splitlines()[-1])
    assert {"G/l1", "G/total"} <= set(last) and not [k for k in last if k.startswith("D/") or "adv" in k]
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.nets.image_d.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.nets.generator.parameters(), strict=True))
