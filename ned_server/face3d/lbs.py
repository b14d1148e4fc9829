"""Linear blend skinning as FLAME (and SMPL) define it, written out step by step.

The order matters and follows the model's definition: blend shapes move the template in the rest
pose, joints are regressed from that shaped mesh, pose-corrective offsets are added (driven by
R - I of every joint but the root), and only then is the mesh skinned by the joints' world
transforms. Everything is batched, differentiable and stays on the inputs' device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ned_server.face3d.rotations import batch_rodrigues


@dataclass
class SkinningResult:
    """vertices (B, V, 3) posed; joints (B, J, 3) posed; transforms (B, J, 4, 4) world transforms of the
    joints relative to the rest pose (they map a rest-pose point skinned 100% to joint j); shaped
    (B, V, 3) the rest-pose mesh after blend shapes (before pose correctives)."""

    vertices: torch.Tensor
    joints: torch.Tensor
    transforms: torch.Tensor
    shaped: torch.Tensor


def blend_shapes(coefficients: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(B, L) coefficients x (V, 3, L) directions -> (B, V, 3) offsets."""
    return torch.einsum("bl,vcl->bvc", coefficients, directions)


def vertices_to_joints(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """(J, V) dense regressor x (B, V, 3) -> (B, J, 3)."""
    return torch.einsum("jv,bvc->bjc", regressor, vertices)


def rigid_transforms(
    rotations: torch.Tensor, joints: torch.Tensor, parents: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """World transforms of a kinematic chain.

    rotations (B, J, 3, 3) local rotations, joints (B, J, 3) rest positions, parents[j] < j (root -1).
    Returns posed joint positions (B, J, 3) and the skinning transforms (B, J, 4, 4), which already
    subtract the rest position so they apply directly to rest-pose vertices.
    """
    b, n_joints = joints.shape[:2]
    rel = joints.clone()
    rel[:, 1:] = joints[:, 1:] - joints[:, parents[1:]]
    local = torch.zeros(b, n_joints, 4, 4, dtype=joints.dtype, device=joints.device)
    local[:, :, :3, :3] = rotations
    local[:, :, :3, 3] = rel
    local[:, :, 3, 3] = 1.0
    chain = [local[:, 0]]
    for j in range(1, n_joints):
        chain.append(torch.matmul(chain[parents[j]], local[:, j]))
    world = torch.stack(chain, dim=1)
    posed_joints = world[:, :, :3, 3]
    # Skinning transform: x -> R_world (x - J_rest) + J_posed.
    offset = torch.einsum("bjmn,bjn->bjm", world[:, :, :3, :3], joints)
    skin = world.clone()
    skin[:, :, :3, 3] = posed_joints - offset
    return posed_joints, skin


def lbs(
    betas: torch.Tensor,
    pose: torch.Tensor,
    template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    regressor: torch.Tensor,
    parents: list[int],
    weights: torch.Tensor,
) -> SkinningResult:
    """Pose a blend-shape model.

    betas (B, L) coefficients for ``shapedirs`` (V, 3, L); pose (B, J*3) axis-angles; template
    (V, 3); posedirs (P, V*3) with P = (J-1)*9; regressor (J, V); weights (V, J).
    """
    b = betas.shape[0]
    n_joints = regressor.shape[0]
    if pose.shape != (b, n_joints * 3):
        raise ValueError(f"pose must be (batch={b}, {n_joints * 3}) axis-angles, got {tuple(pose.shape)}")
    shaped = template[None] + blend_shapes(betas, shapedirs)
    joints = vertices_to_joints(regressor, shaped)
    rot = batch_rodrigues(pose.reshape(b, n_joints, 3))
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
    pose_feature = (rot[:, 1:] - eye).reshape(b, -1)
    posed = shaped + torch.matmul(pose_feature, posedirs).view(b, -1, 3)
    posed_joints, skin = rigid_transforms(rot, joints, parents)
    per_vertex = torch.einsum("vj,bjmn->bvmn", weights, skin)
    verts = torch.einsum("bvmn,bvn->bvm", per_vertex[:, :, :3, :3], posed) + per_vertex[:, :, :3, 3]
    return SkinningResult(vertices=verts, joints=posed_joints, transforms=skin, shaped=shaped)
