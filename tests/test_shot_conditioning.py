"""The tracked-shot -> conditioning bridge on the synthetic actor's ground truth: the face lands where
the actor's own render put it, NMFC codes stick to the surface, a manipulated jaw only moves the mouth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ned_server.conditioning import ConditioningError, vertex_normals
from ned_server.conditioning.shot import FaceConditioner, ShotConditioning, crop_matrices
from ned_server.errors import InvalidInput
from ned_server.face3d.landmark_embedding import load_flame_masks
from ned_server.renderer.config import COND_CHANNELS
from ned_server.renderer.shot_data import align_frames_to_crop
from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig
from ned_server.synthetic.track import ground_truth_track
from ned_server.tracking.alignment import stable_points
from ned_server.tracking.config import AlignmentConfig
from ned_server.tracking.result import ShotTrack
from ned_server.tracking.template import template_points

R = 64
FRAMES = 12


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def actor(one_thread):
    return SyntheticActor(3, ActorConfig(width=128, height=128, texture_size=256))


@pytest.fixture(scope="module")
def masks(actor):
    return load_flame_masks(actor.assets.masks, actor.flame.num_vertices)


@pytest.fixture(scope="module")
def clip(actor):
    return actor.render_sequence(FRAMES, "happy", seed=1)


@pytest.fixture(scope="module")
def track(clip):
    return ground_truth_track(clip)


@pytest.fixture(scope="module")
def conditioner(actor, masks):
    with FaceConditioner(actor.flame, masks, resolution=R) as fc:
        yield fc


@pytest.fixture(scope="module")
def rendered(conditioner, track):
    return conditioner.render(track)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_ground_truth_track_is_a_valid_track_aligned_on_the_template(clip, track, tmp_path) -> None:
    assert len(track) == FRAMES and track.tracked.all() and track.frame_size == clip.size
    np.testing.assert_array_equal(track.expression51, clip.expression51)
    idx, _ = stable_points(AlignmentConfig())
    a = track.alignment
    mapped = np.einsum("tij,tlj->tli", a[:, :, :2], clip.landmarks[:, idx]) + a[:, None, :, 2]
    # the similarity puts the eye corners and nose within a few crop pixels of the template
    assert np.abs(mapped - template_points(256)[idx]).mean() < 6.0
    again = ShotTrack.load(track.save(tmp_path / "gt.npz"))
    np.testing.assert_array_equal(again.alignment, track.alignment)


def test_output_shapes_ranges_and_channel_order(rendered, track, conditioner) -> None:
    assert isinstance(rendered, ShotConditioning) and len(rendered) == FRAMES and rendered.resolution == R
    assert rendered.conditioning.shape == (FRAMES, COND_CHANNELS, R, R) and rendered.conditioning.dtype == np.float32
    assert rendered.face_masks.shape == rendered.mouth_masks.shape == (FRAMES, R, R)
    assert rendered.mouth_centres.shape == (FRAMES, 2)
    assert rendered.conditioning.min() >= 0.0 and rendered.conditioning.max() <= 1.0
    assert set(np.unique(rendered.face_masks)) <= {0.0, 1.0} and set(np.unique(rendered.mouth_masks)) <= {0.0, 1.0}
    face = rendered.face_masks[:, None] > 0.5
    outside = np.broadcast_to(~face, rendered.conditioning.shape)
    assert np.all(rendered.conditioning[outside] == 0)  # codes only where the renderer synthesises
    nmfc, eyes, shape = rendered.conditioning[:, 0:3], rendered.conditioning[:, 3:6], rendered.conditioning[:, 6:9]
    assert np.all(eyes[:, 1:] == 0) and eyes[:, 0].sum() > 0  # red disks only
    np.testing.assert_array_equal(shape[:, 0], shape[:, 1])  # grey shading
    assert nmfc[np.broadcast_to(face, nmfc.shape)].std() > 0.1  # the codes vary over the face
    # the mouth mask lies inside the face, around the mouth centre, below the eyes
    assert np.all(rendered.mouth_masks <= rendered.face_masks)
    for t in range(FRAMES):
        ys, xs = np.nonzero(rendered.mouth_masks[t])
        assert abs(xs.mean() - rendered.mouth_centres[t, 0]) < 2 and abs(ys.mean() - rendered.mouth_centres[t, 1]) < 3
    m = crop_matrices(track.alignment, track.crop_size, R)
    pupils = np.einsum("tij,tej->tei", m[:, :, :2], track.pupils) + m[:, None, :, 2]
    assert np.all(pupils[..., 1] < rendered.mouth_centres[:, None, 1] - 5)


def test_face_mask_matches_the_synthetic_actors_own_mask(clip, track, rendered) -> None:
    """The actor's renderer and the conditioning draw the same mesh: warped into the crop, the actor's
    face mask covers the same pixels (up to the mask edge: whole triangles there, half-way here)."""
    def warped(mask: np.ndarray) -> np.ndarray:
        rgb = np.repeat(mask[..., None].astype(np.float32), 3, axis=-1)
        return align_frames_to_crop(rgb, track.alignment, track.crop_size, R)[:, 0]

    face = warped(clip.face_mask)
    mouth = warped(clip.mouth_mask)
    for t in range(FRAMES):
        assert _iou(face[t], rendered.face_masks[t]) > 0.9, t  # measured 0.94-0.96
        assert _iou(mouth[t], rendered.mouth_masks[t]) > 0.55, t  # measured 0.7-0.8 (small region)


def test_nmfc_codes_stick_to_the_surface_in_every_frame(actor, masks, track, rendered, conditioner) -> None:
    """A face point shows the same NMFC colour (its template position, normalised) in every frame,
    wherever the head has moved: sampled at the vertex's projection, frame after frame."""
    verts = conditioner.vertices_in_crop(track)
    normals = vertex_normals(verts, conditioner.faces)
    skin = np.zeros(actor.flame.num_vertices, bool)
    skin[masks["face"]] = True
    for region in ("left_eye_region", "right_eye_region", "lips"):  # eyelids and lips can hide each other
        skin[masks[region]] = False
    errors, seen = [], np.zeros(actor.flame.num_vertices, int)
    for t in range(FRAMES):
        inner = np.pad(rendered.face_masks[t], 1)
        inner = np.min([inner[1 + dy:R + 1 + dy, 1 + dx:R + 1 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0)
        px = np.clip(np.rint(verts[t, :, :2]).astype(int), 0, R - 1)
        sel = np.flatnonzero(skin & (inner[px[:, 1], px[:, 0]] > 0.5) & (normals[t, :, 2] < -0.5))
        x, y = verts[t, sel, 0], verts[t, sel, 1]
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        img = rendered.conditioning[t, :3].transpose(1, 2, 0)
        sampled = (img[y0, x0] * (1 - fx) * (1 - fy) + img[y0, x0 + 1] * fx * (1 - fy)
                   + img[y0 + 1, x0] * (1 - fx) * fy + img[y0 + 1, x0 + 1] * fx * fy)
        errors.append(np.abs(sampled - conditioner.colours[sel]).max(axis=1))
        seen[sel] += 1
    e = np.concatenate(errors)
    assert (seen == FRAMES).sum() > 200  # many points visible in every frame, checked in each
    assert np.median(e) < 0.005 and e.max() < 0.06, (np.median(e), e.max())  # measured 0.0013 / 0.032
    assert conditioner.colours.min() >= 0 and conditioner.colours.max() <= 1


def test_an_opened_jaw_changes_the_mouth_but_not_the_upper_face(track, rendered, conditioner) -> None:
    same = conditioner.render(track, expression51=track.expression51)
    np.testing.assert_array_equal(same.conditioning, rendered.conditioning)
    closed, opened = track.expression51.copy(), track.expression51.copy()
    closed[:, 0], opened[:, 0] = 0.0, 0.35
    shut, out = conditioner.render(track, expression51=closed), conditioner.render(track, expression51=opened)
    upper = slice(0, int(0.45 * R))  # above the nose tip (eye line at 0.38 R)
    for other in (shut, out):
        np.testing.assert_array_equal(other.conditioning[:, :, upper], rendered.conditioning[:, :, upper])
        np.testing.assert_array_equal(other.face_masks[:, upper], rendered.face_masks[:, upper])
    lower = slice(int(0.6 * R), R)
    assert np.abs(out.conditioning[:, :, lower] - shut.conditioning[:, :, lower]).mean() > 0.02
    assert np.all(out.mouth_masks.sum((1, 2)) > 1.5 * shut.mouth_masks.sum((1, 2)))  # the interior shows
    assert np.all(out.mouth_centres[:, 1] > shut.mouth_centres[:, 1] + 1.0)  # and the mouth centre drops
    np.testing.assert_allclose(out.mouth_centres[:, 0], shut.mouth_centres[:, 0], atol=1.0)


def test_an_open_mouth_without_an_interior_mesh_stays_in_the_masks(actor, masks, track) -> None:
    """The licensed FLAME has a hole between the lips: the hole must stay in the face and mouth masks
    (or the plate's own mouth would show through), with black codes marking the cavity."""
    no_interior = {k: v for k, v in masks.items() if k != "mouth_interior"}
    opened = track.expression51.copy()
    opened[:, 0] = 0.35
    with FaceConditioner(actor.flame, masks, resolution=R) as full, \
            FaceConditioner(actor.flame, no_interior, resolution=R) as holed:
        ref, out = full.render(track, expression51=opened), holed.render(track, expression51=opened)
    for t in range(FRAMES):
        assert _iou(out.face_masks[t], ref.face_masks[t]) > 0.98  # measured 1.0
        assert _iou(out.mouth_masks[t], ref.mouth_masks[t]) > 0.98  # measured 1.0
    cavity = (out.mouth_masks > 0.5) & (ref.conditioning[:, 0:3].sum(1) > 0) & (out.conditioning[:, 0:3].sum(1) == 0)
    assert cavity.sum(axis=(1, 2)).min() > 10  # the interior's pixels: in the masks, no surface code


def test_indices_and_chunks_give_the_same_images_as_one_call(actor, masks, track, rendered, conditioner) -> None:
    """Frames are independent: any selection or chunking gives the same images (to float32 rounding of
    the batched FLAME evaluation, which moves an edge pixel of a mask once in a blue moon)."""
    def same(a: ShotConditioning, b: ShotConditioning) -> None:
        np.testing.assert_allclose(a.conditioning, b.conditioning, atol=1e-5)
        np.testing.assert_allclose(a.mouth_centres, b.mouth_centres, atol=1e-4)
        for name in ("face_masks", "mouth_masks"):
            assert np.mean(getattr(a, name) != getattr(b, name)) < 1e-3

    with FaceConditioner(actor.flame, masks, resolution=R, chunk=5) as small:
        same(small.render(track), rendered)
    picked = conditioner.render(track, np.array([7, 2, 9]))
    same(picked, ShotConditioning(*(getattr(rendered, n)[[7, 2, 9]] for n in
                                    ("conditioning", "face_masks", "mouth_masks", "mouth_centres"))))
    sliced = conditioner.render(track, slice(3, 8), expression51=track.expression51[3:8])
    same(sliced, ShotConditioning(*(getattr(rendered, n)[3:8] for n in
                                    ("conditioning", "face_masks", "mouth_masks", "mouth_centres"))))
    assert len(conditioner.render(track, np.zeros(0, np.int64))) == 0


def test_bad_inputs_are_refused_with_clear_messages(actor, masks, track, conditioner, tmp_path) -> None:
    assert issubclass(ConditioningError, InvalidInput)  # the service answers INVALID_ARGUMENT
    with pytest.raises(ConditioningError, match=r"expression51 must be \(3, 51\)"):
        conditioner.render(track, np.arange(3), expression51=np.zeros((3, 50)))
    with pytest.raises(ConditioningError, match=r"expression51 must be \(12, 51\)"):
        conditioner.render(track, expression51=np.zeros((3, 51)))
    bad = track.expression51.copy()
    bad[4, 10] = np.nan
    with pytest.raises(ConditioningError, match=r"NaN or infinite values \(rows \[4\]"):
        conditioner.render(track, expression51=bad)
    with pytest.raises(ConditioningError, match="outside the track's 12 frames"):
        conditioner.render(track, np.array([3, 12]))
    with pytest.raises(ConditioningError, match="1-D array"):
        conditioner.render(track, np.array([0.5]))
    broken = ShotTrack.load(track.save(tmp_path / "broken.npz"))
    broken.pose[2, 0] = np.nan
    with pytest.raises(ConditioningError, match="pose holds NaN"):
        conditioner.render(broken, np.arange(4))
    conditioner.render(broken, np.arange(2))  # the other frames still render
    broken.frame_size = (0, 0)
    with pytest.raises(ConditioningError, match="no plate size"):
        conditioner.render(broken, np.arange(2))
    with pytest.raises(ConditioningError, match="resolution"):
        FaceConditioner(actor.flame, masks, resolution=4)
    with pytest.raises(ConditioningError, match="none of the face regions"):
        FaceConditioner(actor.flame, {"scalp": masks["scalp"]}, resolution=R)
    fc = FaceConditioner(actor.flame, masks, resolution=32)
    fc.close()
    assert fc.closed
    with pytest.raises(RuntimeError, match="closed"):
        fc.render(track)
