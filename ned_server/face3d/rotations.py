"""Rotation helpers shared by the FLAME layer, the cameras, the tracker and the synthetic actor.

FLAME stores every joint rotation as an axis-angle 3-vector; fitting and smoothing want those,
people reading a shot want yaw/pitch/roll. All functions are batched torch, differentiable and
device-agnostic; numpy callers wrap with ``torch.as_tensor``.

Angle conventions (FLAME frame: x to the subject's left, y up, z out of the face towards the
camera), with R = Ry(yaw) @ Rx(pitch) @ Rz(roll):

* yaw > 0 turns the face towards +x (the subject's left, the image's right in a frontal view);
* pitch > 0 tips the face down (rotation about +x takes +z towards -y);
* roll > 0 rotates about +z (the top of the head goes towards -x).
"""

from __future__ import annotations

import torch

EPS = 1e-8


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(N, 3) -> (N, 3, 3) cross-product matrices."""
    zero = torch.zeros_like(v[:, 0])
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=1).view(-1, 3, 3)


def batch_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3) by Rodrigues' formula.

    The tiny offset added before taking the norm keeps the gradient finite at the zero rotation,
    which is where every fit starts.
    """
    shape = axis_angle.shape
    if shape[-1] != 3:
        raise ValueError(f"axis-angles must have 3 values in the last axis, got shape {tuple(shape)}")
    aa = axis_angle.reshape(-1, 3)
    angle = torch.norm(aa + EPS, dim=1, keepdim=True)
    axis = aa / angle
    sin = torch.sin(angle)[:, :, None]
    cos = torch.cos(angle)[:, :, None]
    k = _skew(axis)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)[None]
    rot = eye + sin * k + (1.0 - cos) * torch.bmm(k, k)
    return rot.view(*shape[:-1], 3, 3)


def rotation_matrix_to_axis_angle(rot: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angles (..., 3), angle in [0, pi].

    Goes through the unit quaternion, which stays accurate near 0 and near pi where the
    classic acos/sin formula loses the axis.
    """
    if rot.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must be (..., 3, 3), got shape {tuple(rot.shape)}")
    q = rotation_matrix_to_quaternion(rot)  # (..., 4) w, x, y, z with w >= 0
    w = q[..., :1].clamp(-1.0, 1.0)
    xyz = q[..., 1:]
    sin_half = torch.norm(xyz, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, w)
    scale = torch.where(sin_half > 1e-7, angle / sin_half.clamp_min(1e-12), 2.0 + 0.0 * sin_half)
    return xyz * scale


def rotation_matrix_to_quaternion(rot: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> unit quaternions (..., 4) as (w, x, y, z), w >= 0 (Shepperd's method)."""
    m = rot.reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    trace = m00 + m11 + m22
    candidates = torch.stack(
        [
            torch.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
            torch.stack(
                [m[:, 2, 1] - m[:, 1, 2], 1 + m00 - m11 - m22, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1
            ),
            torch.stack(
                [m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m00 + m11 - m22, m[:, 1, 2] + m[:, 2, 1]], -1
            ),
            torch.stack(
                [m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m00 - m11 + m22], -1
            ),
        ],
        dim=1,
    )  # (N, 4 choices, 4)
    diag = torch.stack([trace, m00, m11, m22], -1)
    best = diag.argmax(dim=1)
    q = candidates[torch.arange(m.shape[0], device=m.device), best]
    q = q / torch.norm(q, dim=-1, keepdim=True).clamp_min(1e-12)
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.view(*rot.shape[:-2], 4)


def euler_to_rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Yaw, pitch, roll (radians, any equal shapes) -> R = Ry(yaw) @ Rx(pitch) @ Rz(roll), shape (..., 3, 3)."""
    yaw, pitch, roll = torch.broadcast_tensors(yaw, pitch, roll)
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cx, sx = torch.cos(pitch), torch.sin(pitch)
    cz, sz = torch.cos(roll), torch.sin(roll)
    rows = [
        cy * cz + sy * sx * sz,
        -cy * sz + sy * sx * cz,
        sy * cx,
        cx * sz,
        cx * cz,
        -sx,
        -sy * cz + cy * sx * sz,
        sy * sz + cy * sx * cz,
        cy * cx,
    ]
    return torch.stack(rows, dim=-1).view(*yaw.shape, 3, 3)


def rotation_to_yaw_pitch_roll(rot: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> (..., 3) yaw, pitch, roll in radians (inverse of the above).

    Pitch is confined to [-pi/2, pi/2]; away from that gimbal lock the decomposition is unique.
    """
    if rot.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must be (..., 3, 3), got shape {tuple(rot.shape)}")
    yaw = torch.atan2(rot[..., 0, 2], rot[..., 2, 2])
    pitch = torch.asin((-rot[..., 1, 2]).clamp(-1.0, 1.0))
    roll = torch.atan2(rot[..., 1, 0], rot[..., 1, 1])
    return torch.stack([yaw, pitch, roll], dim=-1)


def axis_angle_to_yaw_pitch_roll(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angles (..., 3) -> (..., 3) yaw, pitch, roll in radians."""
    return rotation_to_yaw_pitch_roll(batch_rodrigues(axis_angle))


def yaw_pitch_roll_to_axis_angle(ypr: torch.Tensor) -> torch.Tensor:
    """(..., 3) yaw, pitch, roll in radians -> axis-angles (..., 3)."""
    return rotation_matrix_to_axis_angle(euler_to_rotation_matrix(ypr[..., 0], ypr[..., 1], ypr[..., 2]))


def rot_mat_to_y_angle(rot: torch.Tensor) -> torch.Tensor:
    """The rotation about y that DECA's dynamic contour lookup uses: atan2(-R20, sqrt(R00^2 + R10^2)).

    For a pure yaw this is the yaw itself; it is kept as its own function because the official
    landmark embedding's bins were built with exactly this formula.
    """
    sy = torch.sqrt(rot[..., 0, 0] ** 2 + rot[..., 1, 0] ** 2)
    return torch.atan2(-rot[..., 2, 0], sy)
