"""DECA's detail for the detailed shape image: D_detail's UV displacement on DECA's UV layout.

When the shot was tracked by DECA (``ShotTrack.tracker`` is ``TRACKER_DECA``), each frame has a
128-d detail code. With the frame's jaw pose and expression (the manipulated ones for an edited
shot, so wrinkles follow the new expression, as in NED) D_detail decodes it into a 256 x 256 UV
displacement in FLAME units; DECA applies it inside its face-and-eyes UV mask and adds a fixed
displacement: ``uv_z * mask + fixed``. The conditioning renderer samples that map at each pixel's
UV (``images.UVDisplacement``) and bump-maps the shading normal, so the detail is finer than the
mesh. UVs come from DECA's ``head_template.obj`` (FLAME's topology with texture coordinates).

An OBJ's texture coordinates belong to face corners, and a vertex on a UV seam has several; the
renderer takes one UV per vertex, so each vertex keeps the first corner's UV. The seams of DECA's
layout run along the back and top of the head, which the renderer never draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ned_server.conditioning.config import ConditioningError
from ned_server.tracking.deca import UV_SIZE, Deca


@dataclass
class DecaUV:
    """DECA's UV data for one FLAME topology: uvs (V, 2) in [0, 1], v = 0 at the map's top row;
    fixed (256, 256) displacement in FLAME units; mask (256, 256) in [0, 1]."""

    uvs: np.ndarray
    fixed: np.ndarray
    mask: np.ndarray


def read_obj_uvs(path: str | Path, n_vertices: int) -> np.ndarray:
    """(V, 2) per-vertex UVs of an OBJ with ``vt`` lines and ``f v/vt ...`` faces, v flipped to go down."""
    path = Path(path)
    texcoords: list[tuple[float, float]] = []
    uvs = np.full((n_vertices, 2), np.nan, dtype=np.float64)
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("vt "):
                u, v = line.split()[1:3]
                texcoords.append((float(u), float(v)))
            elif line.startswith("f "):
                for corner in line.split()[1:]:
                    parts = corner.split("/")
                    if len(parts) < 2 or not parts[1]:
                        raise ConditioningError(f"{path}: face corner {corner!r} has no texture coordinate; "
                                                "DECA's head_template.obj has 'v/vt' corners")
                    vi, ti = int(parts[0]) - 1, int(parts[1]) - 1
                    if not 0 <= vi < n_vertices:
                        raise ConditioningError(f"{path} indexes vertex {vi + 1}, but the FLAME model in use has "
                                                f"{n_vertices} vertices: the UV template belongs to another model")
                    if np.isnan(uvs[vi, 0]):
                        uvs[vi] = texcoords[ti]
    if np.isnan(uvs).any():
        missing = int(np.isnan(uvs[:, 0]).sum())
        raise ConditioningError(f"{path} gives no texture coordinate to {missing} of the model's {n_vertices} "
                                "vertices: it is not the UV template of the FLAME model in use")
    uvs[:, 1] = 1.0 - uvs[:, 1]  # OBJ's v goes up; the map's rows go down
    return uvs.astype(np.float32)


def load_deca_uv(head_template: str | Path, fixed_displacement: str | Path, face_eye_mask: str | Path,
                 n_vertices: int) -> DecaUV:
    """DECA's UV files (models/manifest.json: deca_head_template, deca_fixed_displacement, deca_uv_face_eye_mask)."""
    uvs = read_obj_uvs(head_template, n_vertices)
    try:
        fixed = np.load(fixed_displacement, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise ConditioningError(f"cannot read DECA's fixed displacement {fixed_displacement}: {exc}") from None
    fixed = np.squeeze(fixed)
    if fixed.ndim != 2 or not np.isfinite(fixed).all():
        raise ConditioningError(f"{fixed_displacement} must hold a finite (H, W) map, got shape {fixed.shape}")
    mask = cv2.imread(str(face_eye_mask), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ConditioningError(f"cannot read DECA's UV face-eye mask {face_eye_mask}")
    size = (UV_SIZE, UV_SIZE)
    fixed = cv2.resize(fixed, size, interpolation=cv2.INTER_LINEAR) if fixed.shape != size else fixed
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR) if mask.shape != size else mask
    return DecaUV(uvs=uvs, fixed=fixed, mask=(mask.astype(np.float32) / 255.0))


class DetailDisplacement:
    """D_detail on DECA's UV layout: per-frame displacement maps (FLAME units) from the track's codes."""

    def __init__(self, deca: Deca, uv: DecaUV) -> None:
        if deca.D_detail is None:
            raise ConditioningError("the DECA file in use has no D_detail: the detailed shape needs the full "
                                    "deca_model.tar")
        self.deca = deca
        self.uv = uv
        self.device = next(deca.parameters()).device

    def maps(self, jaw_pose: np.ndarray, expression: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """(B, 256, 256) float32 displacement, FLAME units: D_detail's output in the mask, plus the fixed map."""
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, np.float32), device=self.device)

        uv_z = self.deca.displacement(t(jaw_pose), t(expression), t(detail)).float().cpu().numpy()
        return (uv_z * self.uv.mask[None] + self.uv.fixed[None]).astype(np.float32)
