"""Rendering with a trained renderer: quality against a baseline, chunks with preroll, input checks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ned_server.renderer.checkpoint import RendererCheckpointError
from ned_server.renderer.config import InferenceConfig, TrainConfig, tiny_config
from ned_server.renderer.inference import FaceRenderer, RenderInputError, chunk_difference
from ned_server.renderer.metrics import all_metrics
from ned_server.renderer.train import RendererTrainer
from ned_server.synthetic.toy_actor import toy_clip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny renderer trained for a few hundred iterations on a toy actor (reconstruction losses
    only: at 32 px the GAN terms add noise in so short a run), and held-out frames of that actor."""
    cfg = tiny_config(32)
    cfg = replace(cfg, losses=replace(cfg.losses, lambda_adv=0.0, lambda_feat=0.0))
    train = [toy_clip(1, 60, 32, seed=s) for s in range(2)]
    out = tmp_path_factory.mktemp("renderer")
    result = RendererTrainer(train, out, cfg, TrainConfig(iterations=350, checkpoint_every=1000)).train()
    return FaceRenderer(out), train, toy_clip(1, 40, 32, seed=99), result


def test_trained_renderer_beats_the_mean_training_face_on_heldout_frames(trained) -> None:
    renderer, train, test, _ = trained
    out = renderer.render_sequence(test.conditioning, test.masks)
    m = test.masks[:, None]
    ours = all_metrics(test.frames, out * m + test.frames * (1 - m), test.masks, test.mouth_centres)
    mean_face = np.concatenate([c.frames for c in train]).mean(0)
    base = all_metrics(test.frames, mean_face * m + test.frames * (1 - m), test.masks, test.mouth_centres)
    # measured: FAPD about 0.75x the baseline's after 350 iterations (0.58x after 900)
    assert ours["FAPD"] < 0.88 * base["FAPD"], (ours, base)
    assert ours["APD"] < 0.88 * base["APD"]
    assert ours["mouth_APD"] < 0.95 * base["mouth_APD"], (ours, base)


def test_output_is_in_range_and_zero_outside_the_mask(trained) -> None:
    renderer, _, test, _ = trained
    out = renderer.render_sequence(test.conditioning[:6], test.masks[:6])
    assert out.shape == (6, 3, 32, 32) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.all(out[np.broadcast_to(test.masks[:6, None] < 0.5, out.shape)] == 0)
    assert out[np.broadcast_to(test.masks[:6, None] > 0.5, out.shape)].mean() > 0.1
    seen = []
    renderer.render_sequence(test.conditioning[4:6], test.masks[4:6], test.conditioning[:4], test.masks[:4],
                             on_frame=seen.append)
    assert seen == [-4, -3, -2, -1, 0, 1]  # preroll frames come first, numbered before the chunk


def test_chunks_with_the_default_preroll_match_a_full_run(trained) -> None:
    renderer, _, test, _ = trained
    cond, masks = test.conditioning, test.masks
    full = renderer.render_sequence(cond, masks)
    assert renderer.config.preroll == InferenceConfig().preroll == 12
    for start, end in ((14, 22), (25, 40)):
        chunk = renderer.render_range(cond, masks, start, end)
        assert chunk.shape == (end - start, 3, 32, 32)
        assert np.abs(chunk - full[start:end]).max() < 1 / 255
    # a chunk whose preroll reaches frame 0 is the full run itself
    np.testing.assert_array_equal(renderer.render_range(cond, masks, 5, 12), full[5:12])
    # the difference falls with the preroll; without one, the chunk's first frames are visibly off
    diffs = chunk_difference(renderer, cond, masks, 20, prerolls=(0, 2, 12))
    assert diffs[0] > 5 / 255 and diffs[12] < diffs[2] < diffs[0]
    assert diffs[12] < 1 / 255


def test_bad_inputs_and_files_are_refused(trained, tmp_path) -> None:
    renderer, _, test, result = trained
    with pytest.raises(RenderInputError, match=r"conditioning must be \(T,9,32,32\)"):
        renderer.render_sequence(test.conditioning[:, :, :16], test.masks)
    with pytest.raises(RenderInputError, match="masks must be"):
        renderer.render_sequence(test.conditioning, test.masks[:3])
    with pytest.raises(RenderInputError, match="outside the shot"):
        renderer.render_range(test.conditioning, test.masks, 30, 50)
    assert renderer.render_sequence(test.conditioning[:0], test.masks[:0]).shape == (0, 3, 32, 32)
    assert FaceRenderer(result.checkpoint).iteration == renderer.iteration == 350
    with pytest.raises(RendererCheckpointError, match="train the actor first"):
        FaceRenderer(tmp_path)
    (tmp_path / "bad.pth").write_bytes(b"nope")
    with pytest.raises(RendererCheckpointError, match="cannot read"):
        FaceRenderer(tmp_path / "bad.pth")
    torch.save({"generator": {}}, tmp_path / "other.pth")
    with pytest.raises(RendererCheckpointError, match="not a NED renderer checkpoint"):
        FaceRenderer(tmp_path / "other.pth")
