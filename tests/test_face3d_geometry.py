"""Rotation helpers and cameras of face3d against hand-checkable values and DECA's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ned_server.face3d.camera import (
    CameraError,
    fit_orthographic_camera,
    frontal_pinhole,
    orthographic_ndc,
    project_orthographic,
    project_pinhole,
)
from ned_server.face3d.rotations import (
    axis_angle_to_yaw_pitch_roll,
    batch_rodrigues,
    euler_to_rotation_matrix,
    rot_mat_to_y_angle,
    rotation_matrix_to_axis_angle,
    rotation_to_yaw_pitch_roll,
    yaw_pitch_roll_to_axis_angle,
)


def test_rodrigues_known_rotations_and_zero():
    aa = torch.tensor([[0.0, 0.0, 0.0], [0.0, math.pi / 2, 0.0], [math.pi / 2, 0.0, 0.0]], dtype=torch.float64)
    r = batch_rodrigues(aa)
    assert torch.allclose(r[0], torch.eye(3, dtype=torch.float64), atol=1e-7)
    # 90 degrees about y takes +z (the face direction) to +x.
    assert torch.allclose(
        r[1] @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
        torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
        atol=1e-7,
    )
    # 90 degrees about x takes +z to -y (pitch down).
    assert torch.allclose(
        r[2] @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
        torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64),
        atol=1e-7,
    )


def test_axis_angle_round_trip_including_near_pi_and_gradient_at_zero():
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(50, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, math.pi - 1e-3, 48), [1e-6, math.pi - 1e-5]])
    aa = torch.tensor(axes * angles[:, None])
    back = rotation_matrix_to_axis_angle(batch_rodrigues(aa))
    assert torch.allclose(batch_rodrigues(back), batch_rodrigues(aa), atol=1e-6)
    zero = torch.zeros(1, 3, requires_grad=True)
    batch_rodrigues(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_yaw_pitch_roll_conventions_and_round_trip():
    ypr = torch.tensor([[0.3, -0.2, 0.1], [-0.5, 0.4, -0.25]], dtype=torch.float64)
    r = euler_to_rotation_matrix(ypr[:, 0], ypr[:, 1], ypr[:, 2])
    assert torch.allclose(rotation_to_yaw_pitch_roll(r), ypr, atol=1e-9)
    assert torch.allclose(axis_angle_to_yaw_pitch_roll(yaw_pitch_roll_to_axis_angle(ypr)), ypr, atol=1e-6)
    # A pure yaw is also what DECA's contour lookup reads.
    pure = euler_to_rotation_matrix(torch.tensor(0.4), torch.tensor(0.0), torch.tensor(0.0))
    assert float(rot_mat_to_y_angle(pure)) == pytest.approx(0.4)
    # Positive yaw turns the face (+z) towards +x.
    assert float((pure @ torch.tensor([0.0, 0.0, 1.0]))[0]) > 0.3


def test_orthographic_matches_deca_crop_formula():
    pts = torch.tensor([[[0.01, 0.02, 0.05], [-0.03, -0.04, 0.0]]])
    cam = torch.tensor([[8.0, 0.01, -0.02]])
    size = 224
    # DECA: batch_orth_proj, flip y, then (x + 1) * size / 2.
    ndc = cam[:, None, 0:1] * (pts[..., :2] + cam[:, None, 1:])
    expected = torch.stack([ndc[..., 0], -ndc[..., 1]], -1) * size / 2 + size / 2
    got = project_orthographic(pts, cam, size, size)
    assert torch.allclose(got[..., :2], expected, atol=1e-4)
    assert torch.allclose(orthographic_ndc(pts, cam)[..., 2], 8.0 * pts[..., 2])
    # Nearer (larger z) has smaller depth.
    assert got[0, 0, 2] < got[0, 1, 2]
    # Non-square: the shorter side plays DECA's crop, centred.
    wide = project_orthographic(pts, cam, 512, 384)
    assert torch.allclose(wide[..., 0], ndc[..., 0] * 192 + 256, atol=1e-4)
    assert torch.allclose(wide[..., 1], -ndc[..., 1] * 192 + 192, atol=1e-4)
    with pytest.raises(CameraError):
        project_orthographic(pts, cam[:, :2], size, size)


def test_fit_orthographic_camera_recovers_parameters():
    rng = np.random.default_rng(1)
    pts = torch.tensor(rng.normal(0, 0.05, (2, 30, 3)), dtype=torch.float64)
    cam = torch.tensor([[7.5, 0.01, -0.02], [5.0, -0.03, 0.015]], dtype=torch.float64)
    pix = project_orthographic(pts, cam, 320, 240)[..., :2]
    assert torch.allclose(fit_orthographic_camera(pts, pix, 320, 240), cam, atol=1e-6)


def test_pinhole_frontal_camera_projects_origin_to_centre_and_flips_y():
    cam = frontal_pinhole(400, 300, distance=0.5, fov_deg=30)
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.05, 0.0], [0.05, 0.0, 0.0], [0.0, 0.0, 0.1]]])
    px = project_pinhole(pts, cam)
    assert px[0, 0, 0] == pytest.approx(199.5) and px[0, 0, 1] == pytest.approx(149.5)
    assert px[0, 1, 1] < px[0, 0, 1]  # up in FLAME is up in the image
    assert px[0, 2, 0] > px[0, 0, 0]  # +x (subject's left) is image right
    assert px[0, 3, 2] < px[0, 0, 2]  # closer to the camera, smaller depth
    f = 150 / math.tan(math.radians(15))
    assert float(px[0, 1, 1]) == pytest.approx(149.5 - f * 0.05 / 0.5, rel=1e-5)
    with pytest.raises(CameraError):
        project_pinhole(torch.tensor([[[0.0, 0.0, 0.6]]]), cam)
