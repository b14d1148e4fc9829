"""Cameras: DECA's orthographic (scale, tx, ty) and a pinhole, projecting FLAME points to pixels.

Pixel convention (everywhere these functions return pixels): OpenCV's, origin at the top-left,
x right, y down, pixel centres at integer coordinates (pixel (0, 0) covers [-0.5, 0.5]^2). The
moderngl rasteriser (ned_server.conditioning) puts pixel centres at +0.5 instead, so add
``RASTER_OFFSET`` to these coordinates before rasterising.

Orthographic, exactly DECA's ``batch_orth_proj`` followed by DECA's mapping to a square crop of
side S: ndc = s * (X[:, :2] + (tx, ty)), ndc_y flipped (y down), pixels = (ndc + 1) * S / 2. For a
W x H image we use S = min(W, H) and centre the square: u = ndc_x * S/2 + W/2, v = ndc_y * S/2 +
H/2, which is DECA's formula whenever W == H. The returned depth is s * (-Z) * S/2 in the same
pixel units: smaller is nearer (FLAME's +z points at the camera).

Pinhole: X_cam = R @ X + t in OpenCV's camera frame (x right, y down, z forward); u = fx X/Z + cx,
v = fy Y/Z + cy; depth = Z_cam. ``frontal_pinhole`` builds the camera in front of the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

RASTER_OFFSET = 0.5  # OpenCV pixel coordinates -> the rasteriser's (pixel centres at +0.5)


class CameraError(ValueError):
    """Bad camera parameters or image size (says what was expected)."""


def _check_points(points: torch.Tensor) -> None:
    if points.dim() != 3 or points.shape[-1] != 3:
        raise CameraError(f"points must be (batch, N, 3), got shape {tuple(points.shape)}")


def _check_size(width: int, height: int) -> None:
    if int(width) < 1 or int(height) < 1:
        raise CameraError(f"image size must be positive, got {width}x{height}")


def orthographic_ndc(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """DECA's ``batch_orth_proj`` then the y flip: (B, N, 3) -> (B, N, 3) = (ndc_x, ndc_y down, s*Z)."""
    _check_points(points)
    if camera.dim() != 2 or camera.shape[-1] != 3:
        raise CameraError(f"orthographic camera must be (batch, 3) = (scale, tx, ty), got {tuple(camera.shape)}")
    s = camera[:, None, 0:1]
    xy = s * (points[..., :2] + camera[:, None, 1:3])
    return torch.cat([xy[..., :1], -xy[..., 1:2], s * points[..., 2:3]], dim=-1)


def project_orthographic(points: torch.Tensor, camera: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, N, 3) FLAME points -> (B, N, 3): pixel x, pixel y (OpenCV convention), depth (smaller nearer)."""
    _check_size(width, height)
    ndc = orthographic_ndc(points, camera)
    half = min(width, height) / 2.0
    u = ndc[..., 0] * half + width / 2.0
    v = ndc[..., 1] * half + height / 2.0
    depth = -ndc[..., 2] * half
    return torch.stack([u, v, depth], dim=-1)


def orthographic_to_pixels(points: torch.Tensor, camera: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, N, 3) -> (B, N, 2) pixel coordinates (OpenCV convention)."""
    return project_orthographic(points, camera, width, height)[..., :2]


def fit_orthographic_camera(
    points: torch.Tensor, pixels: torch.Tensor, width: int, height: int, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Least-squares (scale, tx, ty) putting (B, N, 3) points on (B, N, 2) pixels; the model is linear in
    (s, s*tx, s*ty), so this is one small solve per item (a good start for a landmark fit)."""
    _check_points(points)
    half = min(width, height) / 2.0
    target = torch.stack([(pixels[..., 0] - width / 2.0) / half, -(pixels[..., 1] - height / 2.0) / half], -1)
    w = torch.ones_like(points[..., 0]) if weights is None else weights
    b = points.shape[0]
    # Unknowns a = (s, s*tx, s*ty): x: s*X + s*tx = u ; y: s*Y + s*ty = v.
    rows_x = torch.stack([points[..., 0], torch.ones_like(w), torch.zeros_like(w)], -1)
    rows_y = torch.stack([points[..., 1], torch.zeros_like(w), torch.ones_like(w)], -1)
    a_mat = torch.cat([rows_x, rows_y], 1) * torch.cat([w, w], 1)[..., None]
    rhs = torch.cat([target[..., 0], target[..., 1]], 1) * torch.cat([w, w], 1)
    sol = torch.linalg.lstsq(a_mat, rhs[..., None]).solution[..., 0]  # (B, 3)
    s = sol[:, 0:1]
    safe = torch.where(s.abs() > 1e-9, s, torch.ones_like(s))
    return torch.cat([s, sol[:, 1:] / safe], dim=1).view(b, 3)


@dataclass
class PinholeCamera:
    """fx, fy, cx, cy in pixels (OpenCV convention); rotation (3, 3) and translation (3,) map FLAME
    coordinates into OpenCV's camera frame (x right, y down, z forward)."""

    fx: float
    fy: float
    cx: float
    cy: float
    rotation: np.ndarray
    translation: np.ndarray

    def intrinsics(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], np.float64)


def frontal_pinhole(width: int, height: int, distance: float = 0.6, fov_deg: float = 20.0) -> PinholeCamera:
    """A camera ``distance`` metres in front of the face (on +z), looking at the origin, vertical FOV
    ``fov_deg``: FLAME's y-up/z-towards-camera becomes OpenCV's y-down/z-forward by flipping y and z."""
    _check_size(width, height)
    if distance <= 0 or not 0 < fov_deg < 180:
        raise CameraError(f"need distance > 0 and 0 < fov < 180 degrees, got {distance}, {fov_deg}")
    f = (height / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    return PinholeCamera(
        f, f, (width - 1) / 2.0, (height - 1) / 2.0, np.diag([1.0, -1.0, -1.0]), np.array([0.0, 0.0, distance])
    )


def project_pinhole(points: torch.Tensor, camera: PinholeCamera) -> torch.Tensor:
    """(B, N, 3) FLAME points -> (B, N, 3): pixel x, pixel y (OpenCV convention), depth Z_cam (metres)."""
    _check_points(points)
    rot = torch.as_tensor(camera.rotation, dtype=points.dtype, device=points.device)
    trans = torch.as_tensor(camera.translation, dtype=points.dtype, device=points.device)
    cam = torch.einsum("mn,bvn->bvm", rot, points) + trans
    z = cam[..., 2]
    if bool((z <= 1e-6).any()):
        raise CameraError("some points are at or behind the pinhole camera; move the camera back")
    u = camera.fx * cam[..., 0] / z + camera.cx
    v = camera.fy * cam[..., 1] / z + camera.cy
    return torch.stack([u, v, z], dim=-1)
