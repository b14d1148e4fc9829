"""Renderer data: ActorClip checks, .npz round trips, sequence sampling, the toy actor, metrics."""

from __future__ import annotations

import numpy as np
import pytest

from ned_server.renderer.config import mouth_size_for
from ned_server.renderer.dataset import (
    ActorClip,
    RendererDataError,
    SequenceDataset,
    load_actor_data,
    load_clip,
    save_actor_data,
)
from ned_server.renderer.metrics import MetricInputError, all_metrics, apd, fapd, mouth_apd
from ned_server.synthetic.toy_actor import toy_actor, toy_clip


def _clip(t: int = 5, h: int = 16, seed: int = 0) -> ActorClip:
    rng = np.random.default_rng(seed)
    return ActorClip(
        conditioning=rng.random((t, 9, h, h), dtype=np.float32),
        frames=rng.random((t, 3, h, h), dtype=np.float32),
        masks=(rng.random((t, h, h)) > 0.5).astype(np.float32),
        mouth_centres=rng.uniform(0, h, (t, 2)).astype(np.float32),
        name=f"c{seed}", actor="anna",
    )


def test_actor_clip_rejects_wrong_shapes_with_a_clear_message() -> None:
    c = _clip()
    with pytest.raises(RendererDataError, match=r"conditioning must be \(T,9,H,W\)"):
        ActorClip(c.conditioning[:, :6], c.frames, c.masks, c.mouth_centres)
    with pytest.raises(RendererDataError, match="frames must be"):
        ActorClip(c.conditioning, c.frames[:, :, :8], c.masks, c.mouth_centres)
    with pytest.raises(RendererDataError, match="masks must be"):
        ActorClip(c.conditioning, c.frames, c.masks[:3], c.mouth_centres)
    with pytest.raises(RendererDataError, match="mouth_centres"):
        ActorClip(c.conditioning, c.frames, c.masks, c.mouth_centres[:, :1])
    with pytest.raises(RendererDataError, match="float"):
        ActorClip(c.conditioning, (c.frames * 255).astype(np.uint8), c.masks, c.mouth_centres)


def test_clip_round_trip_through_npz_keeps_values_within_half_precision(tmp_path) -> None:
    clips = [_clip(seed=0), _clip(t=7, seed=1)]
    paths = save_actor_data(tmp_path / "anna", clips)
    assert [p.name for p in paths] == ["clip_000.npz", "clip_001.npz"]
    loaded = load_actor_data(tmp_path / "anna")
    assert len(loaded) == 2
    for a, b in zip(clips, loaded):
        assert b.conditioning.dtype == np.float32 and b.frames.dtype == np.float32
        assert np.abs(a.conditioning - b.conditioning).max() <= 2.0 ** -11
        assert np.abs(a.frames - b.frames).max() <= 2.0 ** -11
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_array_equal(a.mouth_centres, b.mouth_centres)
        assert (b.name, b.actor) == (a.name, a.actor)
    assert load_clip(paths[1]).conditioning.shape == (7, 9, 16, 16)
    assert not list((tmp_path / "anna").glob(".*"))  # no temporaries left behind


def test_loading_bad_folders_says_what_is_wrong(tmp_path) -> None:
    with pytest.raises(RendererDataError, match="does not exist"):
        load_actor_data(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RendererDataError, match=r"no actor clips \(.npz\)"):
        load_actor_data(tmp_path / "empty")
    np.savez(tmp_path / "empty" / "other.npz", x=np.zeros(3))
    with pytest.raises(RendererDataError, match="lacks conditioning"):
        load_actor_data(tmp_path / "empty")


def test_sequence_dataset_covers_every_window_and_resizes() -> None:
    clips = [_clip(t=5, h=16, seed=0), _clip(t=3, h=16, seed=1)]
    ds = SequenceDataset(clips, seq_len=3)
    assert len(ds) == 3 + 1
    item = ds[3]  # the only window of the second clip
    assert int(item["clip"]) == 1
    np.testing.assert_array_equal(item["cond"].numpy(), clips[1].conditioning)
    assert item["masks"].shape == (3, 1, 16, 16)
    batch = ds.batch([0, 2])
    assert batch["cond"].shape == (2, 3, 9, 16, 16)
    np.testing.assert_array_equal(batch["frames"][1].numpy(), clips[0].frames[2:5])

    half = SequenceDataset(clips, seq_len=2, resolution=8)
    assert half[0]["cond"].shape == (2, 9, 8, 8)
    np.testing.assert_allclose(half[0]["mouth"].numpy(), clips[0].mouth_centres[:2] / 2, rtol=1e-6)
    # area resizing: each output pixel is the mean of a 2x2 block
    np.testing.assert_allclose(half[0]["frames"][0, 0, 0, 0].item(), clips[0].frames[0, 0, :2, :2].mean(), rtol=1e-5)
    assert set(np.unique(half[0]["masks"].numpy())) <= {0.0, 1.0}

    with pytest.raises(RendererDataError, match="shorter than the training sequence length 6"):
        SequenceDataset(clips, seq_len=6)
    with pytest.raises(RendererDataError, match="differ in size"):
        SequenceDataset([_clip(h=16), _clip(h=8)], seq_len=2)


def test_toy_actor_is_deterministic_and_its_look_follows_its_conditioning() -> None:
    a = toy_clip(3, 6, 32, seed=1)
    b = toy_clip(3, 6, 32, seed=1)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.actor == "toy3" and a.conditioning.shape == (6, 9, 32, 32)
    assert a.conditioning.min() >= 0 and a.conditioning.max() <= 1
    assert a.frames.min() >= 0 and a.frames.max() <= 1
    # conditioning is black off the face; the face covers a sizeable part of the frame
    off = a.masks < 0.5
    assert np.abs(a.conditioning[:, 0:3].transpose(1, 0, 2, 3)[:, off]).max() < 0.6
    assert 0.15 < a.masks.mean() < 0.6
    # eye image: red pupils only
    assert a.conditioning[:, 3].max() > 0.5 and a.conditioning[:, 4:6].max() == 0
    # the mouth centre lies on the face, where the shape image is dark when the mouth is open
    for t in range(6):
        x, y = np.round(a.mouth_centres[t]).astype(int)
        assert a.masks[t, y, x] == 1
    # same motion, other actor: same conditioning geometry, other appearance
    other = toy_clip(toy_actor(4), 6, 32, seed=1)
    assert not np.allclose(other.frames * other.masks[:, None], a.frames * a.masks[:, None])


def test_metrics_on_hand_checkable_arrays() -> None:
    h = w = 8
    real = np.zeros((2, 3, h, w))
    fake = np.zeros((2, 3, h, w))
    fake[:, :, :4] = [[[3 / 255]], [[4 / 255]], [[0]]]  # distance 5 (0-255 units) on the top half
    masks = np.zeros((2, h, w))
    masks[:, :2] = 1  # the face: top quarter, all at distance 5
    masks[:, 6:] = 1  # and the bottom quarter, at distance 0
    assert apd(real, fake) == pytest.approx(2.5)
    assert fapd(real, fake, masks) == pytest.approx(2.5)
    masks[:, 6:] = 0
    assert fapd(real, fake, masks) == pytest.approx(5.0)
    # a 4x4 mouth window centred at (4, 2) covers rows 0..3: all at distance 5
    assert mouth_apd(real, fake, np.array([[4.0, 2.0], [4.0, 2.0]]), size=4) == pytest.approx(5.0)
    # centred at (4, 6): rows 4..7, distance 0; at the corner it is clamped inside the frame
    assert mouth_apd(real, fake, np.array([[4.0, 6.0], [100.0, 100.0]]), size=4) == pytest.approx(0.0)
    # one frame (3,H,W) works too, and all_metrics returns the three figures
    m = all_metrics(real[0], fake[0], masks[0], np.array([4.0, 2.0]), mouth_size=4)
    assert m == pytest.approx({"APD": 2.5, "FAPD": 5.0, "mouth_APD": 5.0})
    assert mouth_size_for(256) == 72 and mouth_size_for(128) == 36
    with pytest.raises(MetricInputError, match="differ in shape"):
        apd(real, fake[:, :, :4])
    with pytest.raises(MetricInputError, match="empty"):
        fapd(real, fake, np.zeros((2, h, w)))
