"""The renderer trained on the synthetic 3D actor through the tracked-shot bridge (ground-truth tracks):
the training clips it builds, and a tiny renderer that beats the mean face on other motion of the actor."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from ned_server.conditioning.shot import FaceConditioner, crop_matrices
from ned_server.face3d.landmark_embedding import load_flame_masks
from ned_server.renderer.config import TrainConfig, tiny_config
from ned_server.renderer.dataset import RendererDataError
from ned_server.renderer.inference import FaceRenderer
from ned_server.renderer.metrics import all_metrics
from ned_server.renderer.shot_data import actor_clips_from_shot, align_frame, align_frames_to_crop
from ned_server.renderer.train import RendererTrainer
from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig
from ned_server.synthetic.track import ground_truth_track

R = 48  # at 32 px the mouth window is 9 px and the renderer does not beat the mean face there in time
ITERATIONS = 360


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def actor(one_thread):
    return SyntheticActor(3, ActorConfig(width=96, height=96, texture_size=256))


@pytest.fixture(scope="module")
def conditioner(actor):
    with FaceConditioner(actor.flame, load_flame_masks(actor.assets.masks, actor.flame.num_vertices),
                         resolution=R) as fc:
        yield fc


def shot_clips(actor, conditioner, frames: int, emotion: str, seed: int, **kwargs):
    clip = actor.render_sequence(frames, emotion, seed=seed)
    track = ground_truth_track(clip, first_frame=100)
    numbered = zip(track.frames.tolist(), clip.frames, strict=True)
    return actor_clips_from_shot(track, numbered, conditioner, name=f"{emotion}{seed}", actor="synthetic3", **kwargs)


@pytest.fixture(scope="module")
def trained(actor, conditioner, tmp_path_factory):
    """The tiny renderer trained on two shots of the actor, and two held-out shots (other motion).

    Reconstruction losses only, as tests/test_renderer_inference.py: below 64 px the patch
    discriminators add texture noise in so short a run (renderer/config.py, tiny_config). Batches
    of 1 sequence: for about the same time, more steps than with the preset's 2, which this short
    run needs more than larger batches (measured: mouth-APD ratio 0.84 after 360 steps of 1 and
    0.71 after 400; 0.91 after 220 steps of 2)."""
    train = shot_clips(actor, conditioner, 60, "happy", 1, min_length=4) \
        + shot_clips(actor, conditioner, 60, "neutral", 2, min_length=4)
    test = shot_clips(actor, conditioner, 40, "happy", 99, min_length=4) \
        + shot_clips(actor, conditioner, 40, "neutral", 98, min_length=4)
    cfg = tiny_config(R)
    cfg = replace(cfg, batch_size=1, losses=replace(cfg.losses, lambda_adv=0.0, lambda_feat=0.0))
    out = tmp_path_factory.mktemp("renderer3d")
    RendererTrainer(train, out, cfg, TrainConfig(iterations=ITERATIONS, checkpoint_every=10_000,
                                                 sample_every=0)).train()
    return FaceRenderer(out), train, test


def test_shot_becomes_clips_split_at_untracked_frames(actor, conditioner) -> None:
    clip = actor.render_sequence(20, "surprised", seed=5)
    track = ground_truth_track(clip, first_frame=10)
    track.tracked[[6, 13, 14]] = False  # frames 16, 23, 24
    consumed = []

    def frames():
        for t in range(20):
            if t == 9:  # frame 19 never arrives: a hole in what the host sent
                continue
            consumed.append(t)
            yield 10 + t, clip.frames[t]

    clips = actor_clips_from_shot(track, frames(), conditioner, name="shot", actor="a", min_length=3)
    assert consumed == [t for t in range(20) if t != 9]
    # runs: 10-15 (6), 17-18 (2: dropped), 20-22 (3), 25-29 (5)
    assert [c.name for c in clips] == ["shot_10-15", "shot_20-22", "shot_25-29"]
    assert [len(c) for c in clips] == [6, 3, 5] and all(c.actor == "a" for c in clips)
    first = clips[0]
    np.testing.assert_allclose(first.frames, align_frames_to_crop(clip.frames[:6], track.alignment[:6],
                                                                  track.crop_size, R), atol=1e-6)
    cond = conditioner.render(track, np.arange(6))
    np.testing.assert_array_equal(first.conditioning, cond.conditioning)
    np.testing.assert_array_equal(first.masks, cond.face_masks)  # the face is well inside the plate
    np.testing.assert_array_equal(first.mouth_centres, cond.mouth_centres)
    assert first.frames.shape == (6, 3, R, R) and first.frames.min() >= 0 and first.frames.max() <= 1
    # frames out of order or repeated also end a run; nothing long enough gives no clip
    assert actor_clips_from_shot(track, [(10, clip.frames[0]), (10, clip.frames[0])], conditioner,
                                 min_length=2) == []
    with pytest.raises(RendererDataError, match="96x96 frames"):
        actor_clips_from_shot(track, [(10, clip.frames[0][:50])], conditioner)
    with pytest.raises(RendererDataError, match="sRGB floats"):
        actor_clips_from_shot(track, [(10, (clip.frames[0] * 255).astype(np.uint8))], conditioner)


def test_crop_pixels_off_the_plate_leave_the_training_mask(actor, conditioner) -> None:
    motion = actor.sample_motion(6, "neutral", seed=7)
    motion.camera[:, 1] += 0.14  # the head slides right, a third of the face out of the frame
    clip = actor.render(motion)
    track = ground_truth_track(clip)
    (c,) = actor_clips_from_shot(track, enumerate(clip.frames), conditioner, min_length=6)
    face = conditioner.render(track).face_masks
    assert np.all(c.masks <= face) and c.masks.sum() < 0.8 * face.sum()
    m = crop_matrices(track.alignment, track.crop_size, R)
    ys, xs = np.mgrid[0:R, 0:R]
    for t in range(6):
        inv = cv2.invertAffineTransform(m[t])
        plate_x = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
        assert plate_x[c.masks[t] > 0].max() <= clip.size[0] - 0.5  # every mask pixel is on the plate
        assert (face[t] * (plate_x > clip.size[0])).sum() > 20  # and the face did reach off it
    # outside the plate the crop repeats the plate's edge (no black the conditioning cannot explain)
    crop, inside = align_frame(clip.frames[0], m[0], R)
    off = inside < 0.5
    assert off.any() and crop[:, off].min() > 0.0


def test_aligning_a_large_plate_averages_instead_of_aliasing() -> None:
    """A 1-pixel checkerboard shrunk 4x must come out mid-grey, as a real camera would see it;
    plain bilinear sampling would pick a pattern of near-black and near-white pixels."""
    plate = np.indices((512, 512)).sum(0) % 2
    plate = np.repeat(plate[..., None], 3, axis=-1).astype(np.float32)
    alignment = np.array([[[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]]])  # plate px -> 128 px crop
    crop = align_frames_to_crop(plate[None], alignment, crop_size=128, resolution=64)
    assert crop.shape == (1, 3, 64, 64)
    inner = crop[0, :, 2:-2, 2:-2]
    assert abs(inner.mean() - 0.5) < 0.02 and inner.std() < 0.05
    flat = align_frames_to_crop(np.full((1, 40, 60, 3), 0.3, np.float32), np.array([[[2.0, 0.1, -5.0],
                                [-0.1, 2.0, 3.0]]]), 256, 32)
    np.testing.assert_allclose(flat, 0.3, atol=1e-6)  # replicated border: no black outside the plate


def test_renderer_trained_on_the_3d_actor_beats_the_mean_face_on_heldout_motion(trained) -> None:
    renderer, train, test = trained
    assert renderer.iteration == ITERATIONS and sum(len(c) for c in train) == 120
    mean_face = np.concatenate([c.frames for c in train]).mean(0)
    frames = np.concatenate([c.frames for c in test])
    masks = np.concatenate([c.masks for c in test])
    mouths = np.concatenate([c.mouth_centres for c in test])
    generated = np.concatenate([renderer.render_sequence(c.conditioning, c.masks) for c in test])
    m = masks[:, None]
    ours = all_metrics(frames, generated * m + frames * (1 - m), masks, mouths)
    base = all_metrics(frames, mean_face * m + frames * (1 - m), masks, mouths)
    # measured after 360 steps: FAPD and APD 0.61x the baseline's, mouth-APD 0.84x (0.49x / 0.71x after 400)
    assert ours["FAPD"] < 0.75 * base["FAPD"], (ours, base)
    assert ours["APD"] < 0.75 * base["APD"], (ours, base)
    assert ours["mouth_APD"] < 0.92 * base["mouth_APD"], (ours, base)
    assert generated.min() >= 0 and generated.max() <= 1
    assert np.all(generated[np.broadcast_to(m < 0.5, generated.shape)] == 0)


def test_trained_renderer_opens_the_mouth_when_the_jaw_is_manipulated(trained, actor, conditioner) -> None:
    """The Manipulate path end to end: conditioning drawn from an edited expression51 makes the renderer
    draw a darker (open) mouth where the original expression kept it closed."""
    renderer, _, _ = trained
    clip = actor.render_sequence(16, "neutral", seed=97)
    track = ground_truth_track(clip)
    closed, opened = track.expression51.copy(), track.expression51.copy()
    closed[:, 0], opened[:, 0] = 0.0, 0.3
    shut = conditioner.render(track, expression51=closed)
    wide = conditioner.render(track, expression51=opened)
    out_shut = renderer.render_sequence(shut.conditioning, shut.face_masks)
    out_wide = renderer.render_sequence(wide.conditioning, wide.face_masks)
    inner = (wide.mouth_masks > 0.5) & (shut.mouth_masks < 0.5)  # pixels the open mouth adds
    assert inner[4:].sum() > 50
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    dark_wide = np.einsum("c,tchw->thw", luma, out_wide)[4:][inner[4:]].mean()
    dark_shut = np.einsum("c,tchw->thw", luma, out_shut)[4:][inner[4:]].mean()
    assert dark_wide < dark_shut - 0.05, (dark_wide, dark_shut)
