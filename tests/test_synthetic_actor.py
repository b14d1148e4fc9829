"""The synthetic actor: deterministic, varied, and its ground truth lands on the right pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ned_server.domains import EMOTIONS
from ned_server.synthetic.actor import ActorMotion, SyntheticActor, SyntheticActorError
from ned_server.synthetic.colour import linear_to_srgb
from ned_server.synthetic.config import ActorConfig
from ned_server.synthetic.flame_assets import make_tiny_flame_assets
from ned_server.synthetic.raster import SoftRasterizer, make_rasterizer
from ned_server.synthetic.semantics import ACTIONS

CFG = ActorConfig(width=192, height=192, texture_size=512)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return make_tiny_flame_assets(tmp_path_factory.mktemp("actor"), seed=0)


@pytest.fixture(scope="module")
def actor(assets):
    return SyntheticActor(3, CFG, assets=assets)


@pytest.fixture(scope="module")
def clip(actor):
    return actor.render_sequence(6, "happy", seed=1)


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], np.float32)


def test_clip_shapes_ranges_and_ground_truth(clip):
    t = 6
    assert clip.frames.shape == (t, 192, 192, 3) and clip.frames.dtype == np.float32
    assert clip.frames.min() >= 0.0 and clip.frames.max() <= 1.0
    assert clip.expression51.shape == (t, 51) and clip.pose.shape == (t, 15) and clip.camera.shape == (t, 3)
    np.testing.assert_array_equal(clip.expression51[:, 0], clip.pose[:, 6])
    np.testing.assert_array_equal(clip.expression51[:, 1:], clip.expression)
    assert clip.landmarks.shape == (t, 68, 2) and clip.pupils.shape == (t, 2, 2)
    assert clip.face_mask.shape == (t, 192, 192) and clip.face_mask.dtype == bool
    assert (clip.emotion == EMOTIONS.index("happy")).all()
    assert clip.expression[:, ACTIONS["smile"]].mean() > 1.5  # the emotion's style is in the parameters
    assert (clip.mouth_mask <= clip.face_mask | clip.mouth_mask).all() and clip.mouth_mask.any()
    np.testing.assert_allclose(linear_to_srgb(clip.linear_frames()), clip.frames, atol=2e-3)
    # Textured, not a flat blob: plenty of distinct colours inside the face and in the background.
    face = clip.frames[0][clip.face_mask[0]]
    assert face.std(0).mean() > 0.03 and clip.frames[0][~clip.face_mask[0]].std(0).mean() > 0.03


def test_landmarks_land_on_the_face(clip):
    for t in range(clip.num_frames):
        mask = cv2.dilate(clip.face_mask[t].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        pts = np.rint(clip.landmarks[t, 17:]).astype(int)
        inside = mask[pts[:, 1], pts[:, 0]]
        assert inside.mean() > 0.97
        # The mouth landmarks are in (or next to) the mouth mask.
        mouth = cv2.dilate(clip.mouth_mask[t].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        mp = np.rint(clip.landmarks[t, 48:68]).astype(int)
        assert mouth[mp[:, 1], mp[:, 0]].mean() >= 0.9  # 18 of 20 at least (wide smile + open jaw: corners)
        # Eye contour landmarks sit on the lash lines: darker than the face on average.
        lum = _luma(clip.frames[t])
        eye = np.rint(clip.landmarks[t, 36:48]).astype(int)
        assert lum[eye[:, 1], eye[:, 0]].mean() < lum[clip.face_mask[t]].mean()


def test_pupils_are_the_dark_centres_of_the_open_eyes(assets):
    actor = SyntheticActor(5, ActorConfig(width=256, height=256, texture_size=512, noise=0.0), assets=assets)
    motion = actor.sample_motion(3, "neutral", seed=2)
    motion.expression[:, ACTIONS["blink"]] = 0.0  # eyes open
    clip = actor.render(motion)
    for t in range(clip.num_frames):
        lum = cv2.GaussianBlur(_luma(clip.frames[t]), (0, 0), 0.8)
        for e, ids in enumerate((range(36, 42), range(42, 48))):
            poly = np.rint(clip.landmarks[t, list(ids)]).astype(np.int32)
            inside = np.zeros(lum.shape, np.uint8)
            cv2.fillPoly(inside, [poly], 1)
            inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0
            vals = lum[inside]
            dark = inside & (lum <= np.quantile(vals, 0.12))
            ys, xs = np.nonzero(dark)
            w = 1.0 - lum[ys, xs]
            centre = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
            assert np.linalg.norm(centre - clip.pupils[t, e]) < 2.5, (t, e, centre, clip.pupils[t, e])
    # Actor's right eye (landmarks 36-41, image left when frontal) first.
    assert (clip.pupils[:, 0, 0] < clip.pupils[:, 1, 0]).all()


def test_deterministic_and_seeds_give_different_identities(assets, actor, clip):
    again = SyntheticActor(3, CFG, assets=assets).render_sequence(6, "happy", seed=1)
    np.testing.assert_array_equal(again.frames, clip.frames)
    np.testing.assert_array_equal(again.landmarks, clip.landmarks)
    other = SyntheticActor(4, CFG, assets=assets)
    assert np.abs(other.identity.shape - actor.identity.shape).mean() > 0.3
    assert np.abs(other.identity.albedo.mean((0, 1)) - actor.identity.albedo.mean((0, 1))).max() > 0.01
    motion = actor.sample_motion(6, "happy", seed=1)
    np.testing.assert_array_equal(motion.pose, clip.pose)
    # Same parameters, another identity: same labels, different pixels.
    o = other.render(motion)
    assert np.abs(o.frames - clip.frames).mean() > 0.02


def test_wide_frames_mixed_emotions_and_bad_requests(actor):
    segs = [("neutral", 4), ("surprised", 4)]
    clip = actor.render_sequence(8, segs, seed=3, width=512, height=384)
    assert clip.frames.shape == (8, 384, 512, 3) and clip.size == (512, 384)
    assert clip.emotion[0] == EMOTIONS.index("neutral") and clip.emotion[-1] == EMOTIONS.index("surprised")
    assert (clip.landmarks[..., 0] > 0).all() and (clip.landmarks[..., 0] < 512).all()
    assert (clip.landmarks[..., 1] > 0).all() and (clip.landmarks[..., 1] < 384).all()
    assert clip.expression[-1, ACTIONS["brow_raise"]] > clip.expression[0, ACTIONS["brow_raise"]] + 1.0
    with pytest.raises(SyntheticActorError):
        actor.render_sequence(5, segs)
    with pytest.raises(SyntheticActorError):
        ActorMotion(np.zeros((3, 50)), np.zeros((2, 15)), np.zeros((3, 3)), np.zeros(3, np.int64))
    with pytest.raises(KeyError):
        actor.render_sequence(2, "bored")


def test_numpy_rasteriser_agrees_with_gl():
    rng = np.random.default_rng(0)
    verts = np.concatenate([rng.uniform(4, 60, (1, 40, 2)), rng.uniform(0, 1, (1, 40, 1))], 2).astype(np.float32)
    faces = rng.integers(0, 40, (60, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    attrs = rng.uniform(0, 1, (1, 40, 2)).astype(np.float32)
    soft = SoftRasterizer(64, 64).rasterize(verts, faces, attrs)
    gl = make_rasterizer(64, 64, "auto").rasterize(verts, faces, attrs)
    agree = (soft.face_index == gl.face_index).mean()
    assert agree > 0.97  # only ties on shared edges may differ
    both = soft.mask & gl.mask & (soft.face_index == gl.face_index)
    np.testing.assert_allclose(soft.attributes[both], gl.attributes[both], atol=1e-4)


def test_numpy_fallback_renders_the_same_clip_and_contact_sheet(assets, tmp_path):
    from ned_server.synthetic import contact_sheet

    cfg = ActorConfig(width=96, height=96, texture_size=256, noise=0.0)
    gl_actor = SyntheticActor(1, cfg, assets=assets)
    np_actor = SyntheticActor(1, ActorConfig(width=96, height=96, texture_size=256, noise=0.0, raster_backend="numpy"),
                              assets=assets)
    motion = gl_actor.sample_motion(2, "sad", seed=0)
    a, b = gl_actor.render(motion), np_actor.render(motion)
    assert np.abs(a.frames - b.frames).mean() < 0.01
    assert (a.face_mask == b.face_mask).mean() > 0.99
    sheet = contact_sheet(tmp_path / "sheet.png", seeds=(0,), emotions=("neutral", "happy"), frames=2, config=cfg,
                          assets=assets.folder.parent)
    assert sheet.shape == (96, 192, 3) and (tmp_path / "sheet.png").stat().st_size > 1000


def test_supersampling_keeps_pixels_aligned_with_the_ground_truth(assets):
    """Landmarks use OpenCV pixel centres at any supersampling: the rendered face must not shift."""
    centroids = []
    for ss in (1, 3):
        actor = SyntheticActor(2, ActorConfig(width=128, height=128, texture_size=256, supersample=ss, noise=0.0),
                               assets=assets)
        clip = actor.render(actor.sample_motion(1, "neutral", seed=0))
        ys, xs = np.nonzero(clip.face_mask[0])
        centroids.append(np.array([xs.mean(), ys.mean()]))
    assert np.abs(centroids[0] - centroids[1]).max() < 0.12
