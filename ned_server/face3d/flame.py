"""The FLAME layer: shape, expression and a 5-joint pose -> posed vertices, 68 landmarks, joints.

Joints (FLAME): 0 root/global, 1 neck, 2 jaw, 3 left eye, 4 right eye; the full pose is their 15
axis-angle values in that order. DECA regresses only 6 of them (global and jaw), so ``forward``
also takes a 6-value pose (global, jaw) with neck and eyes at rest.

Landmarks follow DECA: ``landmarks`` are the 17 jaw-contour points picked for the current head
yaw (from the global and neck rotations) followed by the 51 static points, i.e. the points a 2D
landmark detector sees (project them and keep x, y); ``landmarks3d`` are the 68 on the frontal
contour (DECA's 3D landmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ned_server.face3d.config import FlameConfig
from ned_server.face3d.landmark_embedding import MAX_BIN_DEG, LandmarkEmbedding, load_landmark_embedding
from ned_server.face3d.lbs import lbs
from ned_server.face3d.model_file import FlameModel, load_flame_model
from ned_server.face3d.rotations import batch_rodrigues, rot_mat_to_y_angle
from ned_server.face3d.safe_pickle import FlameAssetError

NUM_POSE = 15
DECA_POSE = 6


class FlameInputError(ValueError):
    """Bad parameters for the FLAME layer (the message says which and what shape was expected)."""


@dataclass
class FlameOutput:
    """vertices (B, V, 3); landmarks (B, 68, 3) with the yaw-dependent contour; landmarks3d (B, 68, 3) on the
    frontal contour; joints (B, 5, 3) posed; transforms (B, 5, 4, 4) joint skinning transforms; pose (B, 15)
    the full pose used."""

    vertices: torch.Tensor
    landmarks: torch.Tensor
    landmarks3d: torch.Tensor
    joints: torch.Tensor
    transforms: torch.Tensor
    pose: torch.Tensor


class FlameLayer(nn.Module):
    """FLAME as a torch module (buffers only: nothing here is trained)."""

    # Buffers, declared so a type checker knows them as tensors (nn.Module's __getattr__ says
    # "Tensor | Module"); the landmark ones exist only when a landmark embedding was given.
    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    j_regressor: torch.Tensor
    lbs_weights: torch.Tensor
    faces: torch.Tensor
    static_faces: torch.Tensor
    static_bary: torch.Tensor
    dynamic_faces: torch.Tensor
    dynamic_bary: torch.Tensor
    full_faces: torch.Tensor
    full_bary: torch.Tensor

    def __init__(
        self,
        model: FlameModel | str | Path,
        landmarks: LandmarkEmbedding | str | Path | None = None,
        config: FlameConfig | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        cfg = config or FlameConfig()
        if not isinstance(model, FlameModel):
            model = load_flame_model(model, cfg.shape_components_in_file)
        if cfg.n_shape > model.shape_components or cfg.n_exp > model.expression_components:
            raise FlameAssetError(
                f"the model file holds {model.shape_components} shape and {model.expression_components} expression "
                f"components; asked for {cfg.n_shape} and {cfg.n_exp} (lower n_shape/n_exp in FlameConfig)"
            )
        if model.num_joints != 5:
            raise FlameAssetError(f"FLAME has 5 joints (root, neck, jaw, eyes); this model has {model.num_joints}")
        self.config = cfg
        self.n_shape, self.n_exp = cfg.n_shape, cfg.n_exp
        self.parents = list(model.parents)
        self.model = model
        dirs = np.concatenate(
            [
                model.shapedirs[:, :, : cfg.n_shape],
                model.shapedirs[:, :, model.shape_components : model.shape_components + cfg.n_exp],
            ],
            2,
        )
        f32 = torch.float32
        self.register_buffer("v_template", torch.tensor(model.v_template, dtype=f32))
        self.register_buffer("shapedirs", torch.tensor(dirs, dtype=f32))
        n_pose = model.posedirs.shape[2]
        self.register_buffer("posedirs", torch.tensor(model.posedirs.reshape(-1, n_pose).T.copy(), dtype=f32))
        self.register_buffer("j_regressor", torch.tensor(model.j_regressor, dtype=f32))
        self.register_buffer("lbs_weights", torch.tensor(model.weights, dtype=f32))
        self.register_buffer("faces", torch.tensor(model.faces, dtype=torch.long))
        self.has_landmarks = landmarks is not None
        if landmarks is not None:
            if not isinstance(landmarks, LandmarkEmbedding):
                landmarks = load_landmark_embedding(landmarks)
            landmarks.check(model.faces.shape[0])
            self.register_buffer("static_faces", torch.tensor(landmarks.static_faces, dtype=torch.long))
            self.register_buffer("static_bary", torch.tensor(landmarks.static_bary, dtype=f32))
            self.register_buffer("dynamic_faces", torch.tensor(landmarks.dynamic_faces, dtype=torch.long))
            self.register_buffer("dynamic_bary", torch.tensor(landmarks.dynamic_bary, dtype=f32))
            self.register_buffer("full_faces", torch.tensor(landmarks.full_faces, dtype=torch.long))
            self.register_buffer("full_bary", torch.tensor(landmarks.full_bary, dtype=f32))
        if device is not None:
            self.to(device)

    # ------------------------------------------------------------------ inputs
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def _batch(self, *tensors: torch.Tensor | None, batch_size: int | None) -> int:
        sizes = {int(t.shape[0]) for t in tensors if t is not None}
        sizes.discard(1)
        if len(sizes) > 1:
            raise FlameInputError(f"parameters disagree on the batch size: {sorted(sizes)}")
        if sizes:
            return sizes.pop()
        return batch_size if batch_size is not None else 1

    def _param(self, value: torch.Tensor | None, width: int, name: str, b: int) -> torch.Tensor:
        dev, dt = self.v_template.device, self.v_template.dtype
        if value is None:
            return torch.zeros(b, width, device=dev, dtype=dt)
        value = torch.as_tensor(value, device=dev, dtype=dt)
        if value.dim() == 1:
            value = value[None]
        if value.dim() != 2 or value.shape[1] != width:
            raise FlameInputError(f"{name} must be (batch, {width}), got {tuple(value.shape)}")
        return value.expand(b, width) if value.shape[0] == 1 else value

    def full_pose(
        self,
        pose: torch.Tensor | None = None,
        global_pose: torch.Tensor | None = None,
        neck_pose: torch.Tensor | None = None,
        jaw_pose: torch.Tensor | None = None,
        eye_pose: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """(B, 15) from a full pose, DECA's (B, 6) pose, or the parts (which override the pose's slices)."""
        b = self._batch(pose, global_pose, neck_pose, jaw_pose, eye_pose, batch_size=batch_size)
        dev, dt = self.v_template.device, self.v_template.dtype
        if pose is None:
            full = torch.zeros(b, NUM_POSE, device=dev, dtype=dt)
        else:
            p = torch.as_tensor(pose, device=dev, dtype=dt)
            p = p[None] if p.dim() == 1 else p
            if p.dim() != 2 or p.shape[1] not in (NUM_POSE, DECA_POSE):
                raise FlameInputError(
                    f"pose must be (batch, 15) FLAME or (batch, 6) DECA axis-angles, got {tuple(p.shape)}"
                )
            p = p.expand(b, p.shape[1]) if p.shape[0] == 1 else p
            if p.shape[1] == DECA_POSE:
                zero = torch.zeros(b, 3, device=dev, dtype=dt)
                full = torch.cat([p[:, :3], zero, p[:, 3:], zero, zero], 1)
            else:
                full = p
        parts = []
        for value, start, width, name in (
            (global_pose, 0, 3, "global_pose"),
            (neck_pose, 3, 3, "neck_pose"),
            (jaw_pose, 6, 3, "jaw_pose"),
            (eye_pose, 9, 6, "eye_pose"),
        ):
            parts.append(full[:, start : start + width] if value is None else self._param(value, width, name, b))
        return torch.cat(parts, 1)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        *,
        global_pose: torch.Tensor | None = None,
        neck_pose: torch.Tensor | None = None,
        jaw_pose: torch.Tensor | None = None,
        eye_pose: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> FlameOutput:
        """shape (B|1, n_shape), expression (B|1, n_exp), pose (B|1, 15 or 6); missing parts are zero.

        A batch of 1 broadcasts (one identity over a sequence). ``batch_size`` is only needed when
        every parameter is omitted.
        """
        b = self._batch(shape, expression, pose, global_pose, neck_pose, jaw_pose, eye_pose, batch_size=batch_size)
        full = self.full_pose(pose, global_pose, neck_pose, jaw_pose, eye_pose, batch_size=b)
        betas = torch.cat(
            [self._param(shape, self.n_shape, "shape", b), self._param(expression, self.n_exp, "expression", b)], 1
        )
        res = lbs(
            betas,
            full,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.j_regressor,
            self.parents,
            self.lbs_weights,
        )
        verts = res.vertices
        if self.has_landmarks:
            static = self._landmarks(
                verts, self.static_faces[None].expand(b, -1), self.static_bary[None].expand(b, -1, -1)
            )
            dyn_faces, dyn_bary = self._dynamic(full)
            contour = self._landmarks(verts, dyn_faces, dyn_bary)
            landmarks = torch.cat([contour, static], 1)
            landmarks3d = self._landmarks(
                verts, self.full_faces[None].expand(b, -1), self.full_bary[None].expand(b, -1, -1)
            )
        else:
            landmarks = landmarks3d = verts.new_zeros(b, 0, 3)
        return FlameOutput(
            vertices=verts,
            landmarks=landmarks,
            landmarks3d=landmarks3d,
            joints=res.joints,
            transforms=res.transforms,
            pose=full,
        )

    def _landmarks(self, verts: torch.Tensor, face_idx: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
        """(B, V, 3), (B, L) triangle ids, (B, L, 3) weights -> (B, L, 3)."""
        b, n_l = face_idx.shape
        tri = self.faces[face_idx]  # (B, L, 3)
        idx = torch.arange(b, device=verts.device)[:, None, None]
        pts = verts[idx, tri]  # (B, L, 3, 3)
        return (pts * bary[..., None]).sum(2).view(b, n_l, 3)

    def contour_bins(self, full_pose: torch.Tensor) -> torch.Tensor:
        """DECA's contour bin per item: the rounded yaw of global @ neck (see landmark_embedding.contour_bin)."""
        b = full_pose.shape[0]
        rots = batch_rodrigues(full_pose[:, :6].reshape(b, 2, 3))
        rel = torch.matmul(rots[:, 0], rots[:, 1])
        y = torch.round(torch.clamp(-rot_mat_to_y_angle(rel) * 180.0 / np.pi, max=MAX_BIN_DEG)).long()
        neg = y < 0
        return torch.where(neg, torch.where(y < -MAX_BIN_DEG, torch.full_like(y, 2 * MAX_BIN_DEG), MAX_BIN_DEG - y), y)

    def _dynamic(self, full_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bins = self.contour_bins(full_pose.detach())
        return self.dynamic_faces[bins], self.dynamic_bary[bins]

    def extra_repr(self) -> str:
        return (
            f"vertices={self.num_vertices}, n_shape={self.n_shape}, n_exp={self.n_exp}, landmarks={self.has_landmarks}"
        )
