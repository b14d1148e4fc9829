"""Face sliders: fitted directions, curves, application to the 3D face, speech kept, pupils following."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ned_plugin.parameters import SLIDER_PREFIX, SLIDERS, parameter
from ned_server.face3d.camera import project_orthographic
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.landmark_embedding import load_landmark_embedding
from ned_server.face3d.model_file import load_flame_model
from ned_server.face3d.sliders import (
    EXPRESSION_SLIDERS,
    TARGETS,
    basis_path,
    fit_slider_basis,
    landmark_jacobian,
    slider_basis_for,
)
from ned_server.manipulator.controls import ControlError
from ned_server.manipulator.sliders import (
    MOUTH_SLIDERS,
    SliderCurve,
    SliderRig,
    apply_sliders,
    as_curves,
    resolve_sliders,
)
from ned_server.synthetic.flame_assets import make_tiny_flame_assets


@pytest.fixture(scope="module")
def assets():
    return make_tiny_flame_assets(None, seed=0)  # the per-user cache the server and the actor share


@pytest.fixture(scope="module")
def layer(assets) -> FlameLayer:
    return FlameLayer(assets.model, assets.landmarks)


@pytest.fixture(scope="module")
def basis(layer):
    return fit_slider_basis(layer)


@pytest.fixture(scope="module")
def rig(layer, basis) -> SliderRig:
    return SliderRig(layer, basis)


def _motion(jac, basis, name, speech=1.0):
    return np.einsum("ldk,k->ld", jac, basis.direction(name, speech))


def test_every_slider_is_in_the_parameter_table_with_a_unit():
    assert set(EXPRESSION_SLIDERS) <= set(SLIDERS)
    for name in SLIDERS:
        p = parameter(SLIDER_PREFIX + name)
        assert p.animatable and p.unit and p.minimum < p.maximum and p.minimum <= p.default <= p.maximum


def test_expression_sliders_move_their_landmarks_the_documented_way(layer, basis):
    points, jac = landmark_jacobian(layer)
    iod = basis.iod
    smile = _motion(jac, basis, "smile")
    assert smile[[48, 54], 1].min() > 0.05 * iod  # corners up
    assert smile[54, 0] - smile[48, 0] > 0.06 * iod  # and apart
    corners = _motion(jac, basis, "mouth_corners")
    assert corners[[48, 54], 1].min() > 0.05 * iod and abs(corners[54, 0] - corners[48, 0]) < 0.04 * iod
    purse = _motion(jac, basis, "purse")
    assert purse[54, 0] - purse[48, 0] < -0.06 * iod
    assert _motion(jac, basis, "pout")[48:60, 2].mean() > 0.03 * iod
    assert _motion(jac, basis, "brow_raise")[17:27, 1].mean() > 0.04 * iod
    furrow = _motion(jac, basis, "brow_furrow")
    assert furrow[22, 0] - furrow[21, 0] < -0.03 * iod and furrow[[21, 22], 1].mean() < 0
    eye_open = _motion(jac, basis, "eye_open")
    assert (eye_open[[37, 38, 43, 44], 1] - eye_open[[41, 40, 47, 46], 1]).mean() > 0.025 * iod
    closed = points + _motion(jac, basis, "blink")
    gap = closed[[37, 38, 43, 44], 1] - closed[[41, 40, 47, 46], 1]
    open_gap = points[[37, 38, 43, 44], 1] - points[[41, 40, 47, 46], 1]
    assert np.abs(gap).max() < 0.35 * open_gap.min()  # shut, not just narrower


def test_sliders_leave_other_regions_nearly_still(layer, basis):
    _, jac = landmark_jacobian(layer)
    for name, spec in TARGETS.items():
        m = np.linalg.norm(_motion(jac, basis, name), axis=1)
        region = list(spec.region)
        assert np.delete(m, region).max() < 0.35 * m[region].max(), name


def test_locked_mouth_sliders_keep_the_inner_lip_opening(layer, basis):
    _, jac = landmark_jacobian(layer)
    for name in MOUTH_SLIDERS:
        m = _motion(jac, basis, name, speech=1.0)
        gaps = [m[up, 1] - m[lo, 1] for up, lo in ((61, 67), (62, 66), (63, 65))]
        assert np.abs(gaps).max() < 0.01 * basis.iod, name


def test_fit_finds_sliders_in_an_unnamed_pca_like_basis(assets):
    """The licensed FLAME's components have no names: mix the procedural ones and fit again."""
    model = load_flame_model(assets.model)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    dirs = model.shapedirs.copy()
    s = model.shape_components
    dirs[:, :, s:s + 50] = np.einsum("vdk,kj->vdj", dirs[:, :, s:s + 50], q)
    mixed = dataclasses.replace(model, shapedirs=dirs)
    layer = FlameLayer(mixed, load_landmark_embedding(assets.landmarks))
    basis = fit_slider_basis(layer)
    _, jac = landmark_jacobian(layer)
    smile = np.einsum("ldk,k->ld", jac, basis.direction("smile", 1.0))
    assert smile[[48, 54], 1].min() > 0.05 * basis.iod
    # the same face motion as the named basis gives, through other coefficients
    named = fit_slider_basis(FlameLayer(model, load_landmark_embedding(assets.landmarks)))
    assert not np.allclose(basis.free, named.free, atol=1e-3)


def test_basis_is_stored_beside_the_model_and_reused(assets, layer, tmp_path):
    import shutil

    model = tmp_path / assets.model.name
    lmk = tmp_path / assets.landmarks.name
    shutil.copy(assets.model, model)
    shutil.copy(assets.landmarks, lmk)
    first = slider_basis_for(layer, model, lmk)
    path = basis_path(model)
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    again = slider_basis_for(layer, model, lmk)
    assert path.stat().st_mtime_ns == stamp and np.array_equal(first.free, again.free)
    lmk.write_bytes(lmk.read_bytes() + b"\0")  # other files: refitted
    assert slider_basis_for(layer, model, lmk).fingerprint != first.fingerprint


# ----------------------------------------------------------------------------- curves
def test_curves_interpolate_smoothly_and_hold_outside_the_keys():
    values = resolve_sliders([SliderCurve("smile", [(10, 0.0), (20, 1.0), (30, 0.5)])], np.arange(0, 41))
    v = values["smile"]
    assert v[0] == 0.0 and v[10] == 0.0 and v[20] == pytest.approx(1.0) and v[40] == pytest.approx(0.5)
    assert v.max() <= 1.0 + 1e-9 and np.all(np.diff(v[10:21]) >= -1e-12)  # monotone cubic: no overshoot
    constant = resolve_sliders(as_curves({"slider_gaze_horizontal": 5.0}), [1001, 1002])
    assert np.allclose(constant["gaze_horizontal"], 5.0)


@pytest.mark.parametrize("curves, words", [
    ([SliderCurve("grin", [(0, 1.0)])], "unknown face slider"),
    ([SliderCurve("smile", [(0, 1.5)])], "out of range"),
    ([SliderCurve("smile", [])], "no keys"),
    ([SliderCurve("smile", [(3, 0.1), (3, 0.2)])], "two keys"),
    ([SliderCurve("smile", [(0, 0.1)]), SliderCurve("slider_smile", [(0, 0.2)])], "twice"),
    ([SliderCurve("blink", [(0, float("nan"))])], "out of range"),
])
def test_bad_curves_are_refused_with_a_clear_message(curves, words):
    with pytest.raises(ControlError, match=words):
        resolve_sliders(curves, np.arange(5))


def test_keys_file_mapping_is_checked():
    with pytest.raises(ControlError, match="frame, value"):
        as_curves({"smile": [[1, 2, 3]]})


# ----------------------------------------------------------------------------- application
def _face(layer, n=30, seed=0):
    rng = np.random.default_rng(seed)
    e51 = np.zeros((n, 51), np.float32)
    e51[:, 0] = 0.12 + 0.1 * np.sin(np.arange(n) / 2.0)  # speech
    e51[:, 1:] = rng.normal(0, 0.1, size=(n, 50))
    pose = np.zeros((n, 15), np.float32)
    pose[:, 0:3] = rng.normal(0, 0.05, size=3)
    pose[:, 6] = e51[:, 0]
    camera = np.tile(np.array([[6.0, 0.0, 0.0]], np.float32), (n, 1))
    shape = rng.normal(0, 0.5, size=100).astype(np.float32)
    return e51, pose, camera, shape


def _landmarks(layer, shape, e51, pose, camera, size=(256, 256)):
    pose = pose.copy()
    pose[:, 6] = e51[:, 0]
    with torch.no_grad():
        out = layer(torch.as_tensor(shape[None]), torch.as_tensor(e51[:, 1:]), torch.as_tensor(pose))
        return project_orthographic(out.landmarks3d, torch.as_tensor(camera), *size).numpy()


def _opening(lm):
    return np.mean([lm[:, lo, 1] - lm[:, up, 1] for up, lo in ((61, 67), (62, 66), (63, 65))], axis=0)


def test_mouth_sliders_at_their_extremes_keep_the_speech(layer, rig):
    e51, pose, camera, shape = _face(layer, n=20)
    pupils = np.zeros((len(e51), 2, 2), np.float32)
    original = _opening(_landmarks(layer, shape, e51, pose, camera))
    n = len(e51)
    for name in MOUTH_SLIDERS:
        lo, hi = parameter(SLIDER_PREFIX + name).minimum, parameter(SLIDER_PREFIX + name).maximum
        for values in (np.full(n, lo), np.full(n, hi), np.linspace(lo, hi, n)):
            face = apply_sliders(rig, {name: values}, e51, pose, pupils, shape, camera, (256, 256),
                                 speech_preservation=parameter("speech_preservation").default)
            assert np.array_equal(face.expression51[:, 0], e51[:, 0])  # the jaw track itself is untouched
            moved = _opening(_landmarks(layer, shape, face.expression51, face.pose, camera))
            assert np.corrcoef(original, moved)[0, 1] >= 0.95, name


def test_speech_preservation_bounds_how_far_the_opening_may_leave_the_original(layer, rig):
    e51, pose, camera, shape = _face(layer)
    pupils = np.zeros((len(e51), 2, 2), np.float32)
    lm = _landmarks(layer, shape, e51, pose, camera)
    base = _opening(lm)
    iod_px = np.linalg.norm(lm[:, 45, :2] - lm[:, 36, :2], axis=1).mean()
    change = []
    for sp in (0.0, 1.0):
        face = apply_sliders(rig, {"pout": np.full(len(e51), 1.0)}, e51, pose, pupils, shape, camera, (256, 256),
                             speech_preservation=sp)
        change.append(np.abs(_opening(_landmarks(layer, shape, face.expression51, face.pose, camera)) - base).mean())
    assert change[1] <= change[0] + 0.05  # px: locked never leaves the track more than free
    # under 1.5% of the eye-corner distance (what is left comes from the jaw's rotation of the lips)
    assert change[1] < 0.015 * iod_px


def test_sliders_add_on_top_of_the_translated_expression(layer, rig):
    e51, pose, camera, shape = _face(layer)
    pupils = np.zeros((len(e51), 2, 2), np.float32)
    values = {"smile": np.full(len(e51), 0.5), "brow_raise": np.linspace(0, 1, len(e51))}
    a = apply_sliders(rig, values, e51, pose, pupils, shape, camera, (256, 256))
    b = apply_sliders(rig, values, e51 + 0.3, pose, pupils, shape, camera, (256, 256))
    assert np.allclose(b.expression51[:, 1:] - a.expression51[:, 1:], 0.3, atol=1e-5)  # linear, combines


def test_jaw_offset_opens_the_jaw_in_degrees(layer, rig):
    e51, pose, camera, shape = _face(layer)
    face = apply_sliders(rig, {"jaw_offset": np.full(len(e51), 5.0)}, e51, pose, np.zeros((len(e51), 2, 2)),
                         shape, camera, (256, 256))
    assert np.allclose(face.expression51[:, 0] - e51[:, 0], np.deg2rad(5.0), atol=1e-6)
    assert np.array_equal(face.pose[:, 6], face.expression51[:, 0])


def test_gaze_turns_the_eyeballs_and_moves_the_pupils(layer, rig):
    e51, pose, camera, shape = _face(layer, n=4)
    pupils = np.full((4, 2, 2), 100.0, np.float32)
    right = apply_sliders(rig, {"gaze_horizontal": np.full(4, 15.0)}, e51, pose, pupils, shape, camera, (256, 256))
    up = apply_sliders(rig, {"gaze_vertical": np.full(4, 10.0)}, e51, pose, pupils, shape, camera, (256, 256))
    shift_r = right.pupils - pupils
    shift_u = up.pupils - pupils
    assert (shift_r[..., 0] > 0.5).all() and (np.abs(shift_r[..., 1]) < np.abs(shift_r[..., 0])).all()
    assert (shift_u[..., 1] < -0.5).all()  # image y is down
    assert not np.allclose(right.pose[:, 9:15], pose[:, 9:15]) and np.allclose(right.pose[:, :9], pose[:, :9])
    assert np.array_equal(right.expression51, e51)


def test_head_sliders_turn_the_head_the_documented_way(layer, rig):
    e51, pose, camera, shape = _face(layer, n=3)
    pose[:, :3] = 0.0
    pupils = np.zeros((3, 2, 2), np.float32)
    base = _landmarks(layer, shape, e51, pose, camera)

    def nose_vs_eyes(name, value):
        face = apply_sliders(rig, {name: np.full(3, value)}, e51, pose, pupils, shape, camera, (256, 256))
        lm = _landmarks(layer, shape, face.expression51, face.pose, camera)
        return (lm[:, 30, :2] - lm[:, [36, 45], :2].mean(1)) - (base[:, 30, :2] - base[:, [36, 45], :2].mean(1)), \
            lm, face

    yaw, _, face = nose_vs_eyes("head_yaw", 8.0)
    assert (yaw[:, 0] > 0.3).all()
    assert (np.abs(face.pupils).sum() > 0)  # the pupils ride with the head
    pitch, _, _ = nose_vs_eyes("head_pitch", 8.0)
    assert (pitch[:, 1] < -0.3).all()  # nose up in the image
    _, lm, _ = nose_vs_eyes("head_roll", 8.0)
    eye_line = lm[:, 45, :2] - lm[:, 36, :2]
    base_line = base[:, 45, :2] - base[:, 36, :2]
    angle = np.degrees(np.arctan2(-eye_line[:, 1], eye_line[:, 0]) - np.arctan2(-base_line[:, 1], base_line[:, 0]))
    assert np.allclose(angle, 8.0, atol=1.0)  # counter-clockwise on screen


def test_blink_closes_what_the_performance_left_open(layer, rig):
    e51, pose, camera, shape = _face(layer, n=2)
    already = np.array([0.0, 1.0])
    face = apply_sliders(rig, {"blink": np.ones(2)}, e51, pose, np.zeros((2, 2, 2)), shape, camera, (256, 256),
                         blink=already)
    assert not np.allclose(face.expression51[0], e51[0]) and np.allclose(face.expression51[1], e51[1])
