"""FLAME's 68 landmarks without posing the whole mesh: the fit's inner loop.

A landmark is a barycentric point of one triangle, so it only needs that triangle's three
vertices. Blend shapes, pose correctives and skinning are per-vertex, and the joints come from
the whole shaped mesh only through a linear regressor, which folds into a small (joints x 3 x
components) matrix. So we keep the vertices of the landmark triangles (the static ones and every
yaw bin of the jaw contour) and evaluate FLAME on those alone: the same numbers as the full
FlameLayer's ``landmarks`` at a fraction of the cost, which is what makes fitting a whole shot at
once cheap on a CPU.
"""

from __future__ import annotations

import math

import torch

from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.landmark_embedding import MAX_BIN_DEG
from ned_server.face3d.rotations import batch_rodrigues, rot_mat_to_y_angle


class LandmarkFlame(torch.nn.Module):
    """``forward(shape (1|B, n_shape), expression (B, n_exp), pose (B, 15)) -> (B, 68, 3)`` in iBUG order
    (yaw-dependent jaw contour 0..16, then the 51 static points), as ``FlameLayer(...).landmarks``."""

    static_tri: torch.Tensor  # buffers, declared for the type checker
    static_bary: torch.Tensor
    dynamic_tri: torch.Tensor
    dynamic_bary: torch.Tensor
    template: torch.Tensor
    dirs: torch.Tensor
    posedirs: torch.Tensor
    weights: torch.Tensor
    joint_template: torch.Tensor
    joint_dirs: torch.Tensor

    def __init__(self, flame: FlameLayer, blend_contour: bool = True) -> None:
        super().__init__()
        self.blend_contour = blend_contour
        if not getattr(flame, "has_landmarks", False):
            raise ValueError("the FLAME layer was built without a landmark embedding; tracking needs one "
                             "(landmark_embedding.npy)")
        self.n_shape, self.n_exp = flame.n_shape, flame.n_exp
        self.parents = list(flame.parents)
        faces = flame.faces
        tris = torch.cat([flame.static_faces.reshape(-1), flame.dynamic_faces.reshape(-1)])
        keep = torch.unique(faces[tris].reshape(-1))
        remap = torch.full((flame.num_vertices,), -1, dtype=torch.long, device=faces.device)
        remap[keep] = torch.arange(keep.numel(), device=faces.device)
        n_verts = flame.num_vertices
        self.register_buffer("static_tri", remap[faces[flame.static_faces]])  # (51, 3)
        self.register_buffer("static_bary", flame.static_bary.clone())
        self.register_buffer("dynamic_tri", remap[faces[flame.dynamic_faces]])  # (79, 17, 3)
        self.register_buffer("dynamic_bary", flame.dynamic_bary.clone())
        self.register_buffer("template", flame.v_template[keep].clone())
        self.register_buffer("dirs", flame.shapedirs[keep].clone())  # (n, 3, L)
        n_pose = flame.posedirs.shape[0]
        self.register_buffer("posedirs", flame.posedirs.view(n_pose, n_verts, 3)[:, keep].reshape(n_pose, -1).clone())
        self.register_buffer("weights", flame.lbs_weights[keep].clone())
        self.register_buffer("joint_template", flame.j_regressor @ flame.v_template)  # (J, 3)
        self.register_buffer("joint_dirs", torch.einsum("jv,vcl->jcl", flame.j_regressor, flame.shapedirs))
        self.num_kept = int(keep.numel())

    def forward(self, shape: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        b = expression.shape[0]
        betas = torch.cat([shape.expand(b, -1), expression], dim=1)
        shaped = self.template[None] + torch.einsum("bl,vcl->bvc", betas, self.dirs)
        joints = self.joint_template[None] + torch.einsum("bl,jcl->bjc", betas, self.joint_dirs)
        rot = batch_rodrigues(pose.reshape(b, -1, 3))
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        posed = shaped + ((rot[:, 1:] - eye).reshape(b, -1) @ self.posedirs).view(b, -1, 3)
        skin_rot, skin_t = self._skinning(rot, joints)
        verts = (torch.einsum("vj,bjmn,bvn->bvm", self.weights, skin_rot, posed)
                 + torch.einsum("vj,bjm->bvm", self.weights, skin_t))
        contour = self._contour(verts, pose)
        static = self._points(verts, self.static_tri[None].expand(b, -1, -1),
                              self.static_bary[None].expand(b, -1, -1))
        return torch.cat([contour, static], dim=1)

    def _skinning(self, rot: torch.Tensor, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World rotation (B, J, 3, 3) and translation (B, J, 3) of each joint's skinning transform.

        The kinematic chain as in face3d.lbs, written without in-place writes so that torch.func can
        take per-frame Jacobians through it (the fit's Gauss-Newton steps).
        """
        world_r: list[torch.Tensor] = []
        world_t: list[torch.Tensor] = []
        for j, parent in enumerate(self.parents):
            if parent < 0:
                world_r.append(rot[:, j])
                world_t.append(joints[:, j])
            else:
                rel = joints[:, j] - joints[:, parent]
                world_r.append(world_r[parent] @ rot[:, j])
                world_t.append(world_t[parent] + (world_r[parent] @ rel[..., None])[..., 0])
        r = torch.stack(world_r, dim=1)
        t = torch.stack(world_t, dim=1)
        # x -> R (x - J_rest) + J_posed
        return r, t - (r @ joints[..., None])[..., 0]

    # ------------------------------------------------------------------ linear form
    def linear_parts(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Landmarks as an affine function of the coefficients, for a fixed pose.

        Given the pose, FLAME is linear in the stacked coefficients c = (shape, expression): blend
        shapes are linear, the joints are a linear regression of the shaped mesh, and skinning with
        fixed joint rotations is linear in both. Returns A (B, 68, 3, L) and b (B, 68, 3) with
        ``landmarks = A @ c + b`` (L = n_shape + n_exp): the exact Jacobian the Gauss-Newton fit needs
        for its many coefficients, at the cost of one pass.
        """
        b = pose.shape[0]
        rot = batch_rodrigues(pose.reshape(b, -1, 3))
        n_j = len(self.parents)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        world_r: list[torch.Tensor] = []
        coeffs: list[torch.Tensor] = []  # world translation of joint j = sum_k coeffs[j][:, k] @ J_k
        zero = rot.new_zeros(b, n_j, 3, 3)
        onehot = torch.eye(n_j, dtype=rot.dtype, device=rot.device)[:, None, :, None, None]  # (J, 1, J, 1, 1)
        for j, parent in enumerate(self.parents):
            if parent < 0:
                world_r.append(rot[:, j])
                coeffs.append(zero + onehot[j] * eye)
            else:
                world_r.append(world_r[parent] @ rot[:, j])
                coeffs.append(coeffs[parent] + (onehot[j] - onehot[parent]) * world_r[parent][:, None])
        r_world = torch.stack(world_r, dim=1)  # (B, J, 3, 3)
        # Skinning translation t_j = world_t_j - R_j J_j, still linear in the joints.
        e_mat = torch.stack(coeffs, dim=1) - onehot[:, 0][None] * r_world[:, :, None]  # (B, J, K, 3, 3)
        f_dirs = torch.einsum("bjkmn,knl->bjml", e_mat, self.joint_dirs)
        g_off = torch.einsum("bjkmn,kn->bjm", e_mat, self.joint_template)
        corrective = ((rot[:, 1:] - eye).reshape(b, -1) @ self.posedirs).view(b, -1, 3)
        bidx = torch.arange(b, device=pose.device)[:, None, None]

        def points(tri: torch.Tensor, bary: torch.Tensor, shared: bool) -> tuple[torch.Tensor, torch.Tensor]:
            w = self.weights[tri]  # (B|1, P, 3, J)
            w = w.expand(b, *w.shape[1:])
            r_bar = torch.einsum("bpkj,bjmn->bpkmn", w, r_world)
            bary_b = bary.expand(b, *bary.shape[1:])
            if shared:
                a_mat = torch.einsum("bpk,bpkmn,pknl->bpml", bary_b, r_bar, self.dirs[tri[0]])
            else:
                a_mat = torch.einsum("bpk,bpkmn,bpknl->bpml", bary_b, r_bar, self.dirs[tri])
            a_mat = a_mat + torch.einsum("bpk,bpkj,bjml->bpml", bary_b, w, f_dirs)
            tri_b = tri.expand(b, *tri.shape[1:])
            rest = self.template[tri_b] + corrective[bidx, tri_b]
            off = torch.einsum("bpk,bpkmn,bpkn->bpm", bary_b, r_bar, rest)
            off = off + torch.einsum("bpk,bpkj,bjm->bpm", bary_b, w, g_off)
            return a_mat, off

        a_static, b_static = points(self.static_tri[None], self.static_bary[None], True)
        if self.blend_contour:
            lo, hi, frac = self._blend_bins(pose)
            a_lo, b_lo = points(self.dynamic_tri[lo], self.dynamic_bary[lo], False)
            a_hi, b_hi = points(self.dynamic_tri[hi], self.dynamic_bary[hi], False)
            f = frac[:, None, None]
            a_con, b_con = a_lo + f[..., None] * (a_hi - a_lo), b_lo + f * (b_hi - b_lo)
        else:
            bins = self._deca_bins(pose.detach())
            a_con, b_con = points(self.dynamic_tri[bins], self.dynamic_bary[bins], False)
        return torch.cat([a_con, a_static], dim=1), torch.cat([b_con, b_static], dim=1)

    def _yaw_deg(self, pose: torch.Tensor) -> torch.Tensor:
        """y = -yaw in degrees of global @ neck, the angle DECA's contour bins are built on."""
        b = pose.shape[0]
        rots = batch_rodrigues(pose[:, :6].reshape(b, 2, 3))
        return -rot_mat_to_y_angle(torch.matmul(rots[:, 0], rots[:, 1])) * (180.0 / math.pi)

    def _deca_bins(self, pose: torch.Tensor) -> torch.Tensor:
        """DECA's bin of the rounded angle (FlameLayer.contour_bins, without needing the layer)."""
        y = torch.round(torch.clamp(self._yaw_deg(pose), max=MAX_BIN_DEG)).long()
        return torch.where(y < -MAX_BIN_DEG, torch.full_like(y, 2 * MAX_BIN_DEG), _bin_of(y))

    def _blend_bins(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The two contour bins around the head's exact yaw and the blend weight of the second."""
        y = self._yaw_deg(pose).clamp(-MAX_BIN_DEG, MAX_BIN_DEG)
        lo = torch.floor(y.detach()).clamp(max=MAX_BIN_DEG - 1)
        frac = y - lo
        lo = lo.long()
        return _bin_of(lo), _bin_of(lo + 1), frac

    def _contour(self, verts: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """The jaw contour for the head's yaw.

        DECA picks the contour of the rounded yaw (1-degree bins), which makes the landmarks jump
        when the yaw crosses a bin edge; a quasi-Newton line search then stalls. With
        ``blend_contour`` the two bins around the exact yaw are blended linearly instead: the same
        points at whole degrees, continuous in between.
        """
        if not self.blend_contour:
            bins = self._deca_bins(pose.detach())
            return self._points(verts, self.dynamic_tri[bins], self.dynamic_bary[bins])
        lo, hi, frac = self._blend_bins(pose)
        pts_lo = self._points(verts, self.dynamic_tri[lo], self.dynamic_bary[lo])
        pts_hi = self._points(verts, self.dynamic_tri[hi], self.dynamic_bary[hi])
        return pts_lo + frac[:, None, None] * (pts_hi - pts_lo)

    @staticmethod
    def _points(verts: torch.Tensor, tri: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
        b = verts.shape[0]
        idx = torch.arange(b, device=verts.device)[:, None, None]
        return (verts[idx, tri] * bary[..., None]).sum(2)


def _bin_of(y: torch.Tensor) -> torch.Tensor:
    """Contour bin of a whole number of degrees y = -yaw (DECA's layout, see landmark_embedding.contour_bin)."""
    return torch.where(y < 0, MAX_BIN_DEG - y, y)
