"""FLAME fitted to a whole shot's landmarks at once: one identity, per-frame expression, jaw, pose, camera.

All tracked frames form one problem: the identity (shape) is shared, so every frame constrains it,
and temporal smoothness (squared second differences between consecutive tracked frames) ties
neighbours together, which a frame-by-frame fit cannot do. The camera is DECA's orthographic
(scale, tx, ty) in the face3d convention for the plate (ned_server.face3d.camera: a centred square
of side min(W, H)).

Why Gauss-Newton and not a first-order optimiser: landmarks alone leave a long, flat valley
between a constant head turn and an asymmetric identity (and between a constant expression and the
identity). Adam and L-BFGS crawl along it for thousands of steps; a Gauss-Newton step, which knows
the curvature, crosses it in a few. The problem is a sum of squares whose parameters are mostly
per-frame, so each step is a structured linear system (per-frame blocks, the smoothness coupling
frames up to two apart, the shared identity), solved exactly by a block Cholesky factorisation
along time and a Schur complement for the identity (normal_equations.py): an iterative solver
stalls on exactly the flat directions the step has to cross. Levenberg-Marquardt damping keeps
every accepted step a descent, and the fit converges in a handful of steps. Jacobians are cheap:
FLAME is linear in its coefficients for a fixed pose (``LandmarkFlame.linear_parts``, exact); the
six rotation angles take forward differences, all in one batched model evaluation.

Units inside the loss are chosen so one set of weights suits any plate: landmark residuals are in
percent of the face size (the median landmark-box size of the shot); smoothness is measured in
about the same "percent of the face moved" (radians x 50, camera scale in log units x 50, camera
offsets in percent of the face, the jaw opening and the expression coefficients times how far they
move the landmarks). An expression coefficient counts as moving them at least by what its prior
allows (sqrt(expression_prior)): otherwise the components the landmarks barely see would be free to
wander from frame to frame, held by neither the data nor the smoothness. The jaw opening has its
own, lighter smoothness: speech opens and closes it several times a second.

Priors are squared L2 on the coefficients, which FLAME scales to unit variance. In these units a
coefficient whose unit value moves the landmarks by less than sqrt(prior) percent of the face (RMS)
costs more than it explains: it is held near zero rather than fitted to detector noise. What 2D
landmarks cannot tell apart stays a matter of the priors: a constant expression against the
identity (the identity prior is counted once per frame, like the expression's, so a long shot does
not push a constant smile into the identity), and expression components that move the 68 points
alike.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ned_server.errors import Cancelled
from ned_server.face3d.camera import fit_orthographic_camera, orthographic_to_pixels
from ned_server.face3d.flame import FlameLayer
from ned_server.tracking.alignment import umeyama
from ned_server.tracking.config import FitConfig
from ned_server.tracking.deca import INPUT_SIZE, crop_transform, split_code
from ned_server.tracking.flame_landmarks import LandmarkFlame
from ned_server.tracking.normal_equations import solve_arrow
from ned_server.tracking.smoothing import segments

ROT_UNITS = 50.0  # % of face moved per radian
CAM_SCALE_UNITS = 50.0  # % of face moved per unit of log scale
CHUNK = 128  # frames per Jacobian chunk (bounds memory on long shots)
ROT_STEP = 1e-6  # radians: forward-difference step of the rotation Jacobian (float64)
N_RIGID = 9  # per-frame non-coefficient parameters: global rotation 3, jaw 3, camera 3


@dataclass
class FitResult:
    """Per-frame arrays have one row per frame of the shot (zeros where untracked)."""

    shape: np.ndarray  # (n_shape,)
    expression: np.ndarray  # (T, n_exp)
    pose: np.ndarray  # (T, 15)
    camera: np.ndarray  # (T, 3)
    error: np.ndarray  # (T,) mean landmark distance in plate pixels
    landmarks: np.ndarray  # (T, 68, 2) the fitted model's landmarks in plate pixels
    ms_per_frame: float  # optimisation time
    iterations: int = 0  # Levenberg-Marquardt steps tried, both stages


def landmark_weights(config: FitConfig) -> np.ndarray:
    """(68,) per-point weights from the region weights of the config."""
    w = np.empty(68)
    w[0:17] = config.weight_contour
    w[17:27] = config.weight_brows
    w[27:36] = config.weight_nose
    w[36:48] = config.weight_eyes
    w[48:68] = config.weight_mouth
    return w


def _triples(tracked_rows: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """(K, 3) batch indices of three consecutive tracked frames of the same run (for 2nd differences)."""
    pos = {int(t): i for i, t in enumerate(tracked_rows)}
    out = [(pos[t], pos[t + 1], pos[t + 2]) for start, stop in segments(tracked) for t in range(start, stop - 2)]
    return np.array(out, dtype=np.int64).reshape(-1, 3)


class _Problem:
    """The fit's parameters, loss and Gauss-Newton pieces (see the module docstring)."""

    def __init__(self, model: LandmarkFlame, obs: torch.Tensor, size: tuple[int, int], config: FitConfig,
                 weights: torch.Tensor, shape0: torch.Tensor, x0: torch.Tensor, triples: torch.Tensor,
                 face_px: float) -> None:
        self.model, self.obs, self.size, self.config = model, obs, size, config
        self.B = obs.shape[0]
        self.n_exp = model.n_exp
        self.n_shape = min(config.n_shape, model.n_shape)
        self.k = N_RIGID + self.n_exp
        self.half = min(size) / 2.0
        self.to_pct = 100.0 / face_px
        self.ndc_per_face = face_px / self.half
        self.shape = shape0.clone()  # (1, all shape components); the first n_shape are fitted
        self.x = x0.clone()  # (B, k): rot 3, jaw 3, camera (s, tx, ty) 3, expression
        self.triples = triples
        self.set_weights(weights)
        s_ref = float(x0[:, 6].mean())
        # Smoothness scale per parameter ("% of face moved" per unit); expression set by set_exp_scale.
        kappa = torch.ones(self.k, dtype=x0.dtype, device=x0.device)
        kappa[0:6] = ROT_UNITS
        kappa[6] = CAM_SCALE_UNITS / s_ref
        kappa[7:9] = 100.0 * s_ref / self.ndc_per_face
        self.kappa = kappa
        lam = torch.zeros(self.k, dtype=x0.dtype, device=x0.device)
        lam[0:3] = config.pose_smoothness
        lam[3] = config.jaw_smoothness
        lam[4:6] = config.pose_smoothness
        lam[6:9] = config.camera_smoothness
        lam[9:] = config.expression_smoothness
        self.smooth_lam = lam
        prior = torch.zeros(self.k, dtype=x0.dtype, device=x0.device)
        prior[4:6] = config.jaw_prior * ROT_UNITS**2  # jaw sideways/twist: rare
        prior[3] = config.jaw_prior * 0.01 * ROT_UNITS**2  # jaw opening: free to move
        prior[9:] = config.expression_prior
        self.prior = prior
        # Where the priors pull: zero (FLAME's mean) for a fit from scratch; DECA's per-frame estimate
        # when the fit refines DECA's regression (``fit_shot(deca_codes=...)``).
        self.x_ref = torch.zeros_like(x0)
        self.shape_ref = torch.zeros_like(shape0)
        self.rigid = False

    def set_weights(self, weights: torch.Tensor) -> None:
        self.sqrt_w = (weights / 68.0).sqrt()  # data term = sum over frames of mean over points

    def set_exp_scale(self, jac: torch.Tensor) -> None:
        """Smoothness units of the jaw opening and the coefficients from how far they move the landmarks."""
        cols = torch.cat([torch.tensor([3]), torch.arange(N_RIGID, self.k)]).to(jac.device)
        scale = _sensitivity(jac[:, :, cols])
        self.kappa[3] = scale[0]
        self.kappa[9:] = (scale[1:] ** 2 + self.config.expression_prior).sqrt()

    def active(self) -> torch.Tensor:
        """(k,) mask of the per-frame parameters being fitted in the current stage."""
        mask = torch.ones(self.k, dtype=torch.bool, device=self.x.device)
        if self.rigid:
            mask[3:6] = False
            mask[9:] = False
        return mask

    # ------------------------------------------------------------------ model
    def pose15(self, x: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros_like(x[:, :3])
        return torch.cat([x[:, 0:3], zero, x[:, 3:6], zero, zero], dim=1)

    def project(self, pts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        cam = torch.cat([x[:, 6:7], x[:, 7:9]], dim=1)
        return orthographic_to_pixels(pts, cam, *self.size)

    def points(self, shape: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.model(shape, x[:, N_RIGID:], self.pose15(x))

    def residuals(self, shape: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(B, 68, 2) weighted residuals in % of face."""
        px = self.project(self.points(shape, x), x)
        return (px - self.obs) * self.to_pct * self.sqrt_w[None, :, None]

    def loss(self, shape: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        data = self.residuals(shape, x).pow(2).sum()
        q = x * self.kappa
        smooth = x.new_zeros(())
        if self.triples.numel():
            d2 = q[self.triples[:, 0]] - 2 * q[self.triples[:, 1]] + q[self.triples[:, 2]]
            lam = self.smooth_lam * self.active()
            smooth = (d2.pow(2) * lam).sum()
        if self.rigid:
            return data + smooth
        prior = ((x - self.x_ref).pow(2) * self.prior).sum()
        d_shape = shape[:, : self.n_shape] - self.shape_ref[:, : self.n_shape]
        prior = prior + self.config.shape_prior * self.B * d_shape.pow(2).sum()
        return data + smooth + prior

    # ------------------------------------------------------------------ Jacobians
    def jacobians(self) -> tuple[torch.Tensor, torch.Tensor]:
        """J (B, 136, k) per-frame and Js (B, 136, n_shape) identity Jacobians of the residuals."""
        B, k = self.B, self.k
        dt, dev = self.x.dtype, self.x.device
        jac = torch.zeros(B, 136, k, dtype=dt, device=dev)
        jac_s = torch.zeros(B, 136, self.n_shape if not self.rigid else 0, dtype=dt, device=dev)
        scale = self.to_pct * self.half
        for start in range(0, B, CHUNK):
            sl = slice(start, min(start + CHUNK, B))
            x = self.x[sl]
            s = x[:, 6]
            b = x.shape[0]
            sw = self.sqrt_w[None, :, None]
            # The six rotation angles by forward differences, all in one batched evaluation.
            probe = x.repeat(7, 1)
            for i in range(6):
                probe[(i + 1) * b:(i + 2) * b, i] += ROT_STEP
            all_pts = self.points(self.shape, probe)
            pts = all_pts[:b]
            for i in range(6):
                dpts = (all_pts[(i + 1) * b:(i + 2) * b] - pts) / ROT_STEP
                d = torch.stack([dpts[..., 0], -dpts[..., 1]], dim=-1) * s[:, None, None] * scale
                jac[sl, :, i] = (d * sw).reshape(b, 136)
            # Camera: u = (s (X + tx)) h + W/2, v = -(s (Y + ty)) h + H/2.
            du_ds = torch.stack([pts[..., 0] + x[:, None, 7], -(pts[..., 1] + x[:, None, 8])], dim=-1) * scale
            jac[sl, :, 6] = (du_ds * sw).reshape(b, 136)
            ones = torch.ones_like(pts[..., 0])
            jac[sl, :, 7] = (torch.stack([ones, 0 * ones], -1) * s[:, None, None] * scale * sw).reshape(b, 136)
            jac[sl, :, 8] = (torch.stack([0 * ones, -ones], -1) * s[:, None, None] * scale * sw).reshape(b, 136)
            if not self.rigid:
                a_mat, _ = self.model.linear_parts(self.pose15(x))  # (b, 68, 3, L)
                a_xy = torch.stack([a_mat[:, :, 0], -a_mat[:, :, 1]], dim=2) * (s[:, None, None, None] * scale)
                a_xy = (a_xy * sw[..., None]).reshape(b, 136, -1)
                jac_s[sl] = a_xy[..., : self.n_shape]
                jac[sl, :, N_RIGID:] = a_xy[..., self.model.n_shape:]
        jac = jac * self.active()
        return jac, jac_s

    # ------------------------------------------------------------------ one damped Gauss-Newton step
    def smooth_weights(self) -> torch.Tensor:
        """(k,) weight of each parameter's squared second differences (zero for frozen parameters)."""
        return self.kappa**2 * self.smooth_lam * self.active()

    def smooth_bands(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The smoothness operator D2^T D2 (x) diag(weights) as bands: diagonal (B, k), frame t with
        t + 1 (B - 1, k) and with t + 2 (B - 2, k). A triple (a, a + 1, a + 2) adds c c^T, c = (1, -2, 1)."""
        B, dt, dev = self.B, self.x.dtype, self.x.device
        diag = torch.zeros(B, dtype=dt, device=dev)
        off1 = torch.zeros(max(B - 1, 0), dtype=dt, device=dev)
        off2 = torch.zeros(max(B - 2, 0), dtype=dt, device=dev)
        if self.triples.numel():
            a = self.triples[:, 0]
            ones = torch.ones(len(a), dtype=dt, device=dev)
            diag.index_add_(0, a, ones).index_add_(0, a + 1, 4 * ones).index_add_(0, a + 2, ones)
            off1.index_add_(0, a, -2 * ones).index_add_(0, a + 1, -2 * ones)
            off2.index_add_(0, a, ones)
        w = self.smooth_weights()[None]
        return diag[:, None] * w, off1[:, None] * w, off2[:, None] * w

    def solve(self, jac: torch.Tensor, jac_s: torch.Tensor, grad_x: torch.Tensor, grad_s: torch.Tensor,
              mu: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The Levenberg-Marquardt step (dx (B, k), ds (n_shape,)), solved exactly (normal_equations)."""
        B = self.B
        active = self.active().to(jac.dtype)
        prior = self.prior * active if not self.rigid else torch.zeros_like(self.prior)
        n_s = jac_s.shape[2]
        shape_prior = self.config.shape_prior * self.B
        jtj = jac.transpose(1, 2) @ jac  # (B, k, k)
        cross = jac.transpose(1, 2) @ jac_s  # (B, k, S)
        hss = (jac_s.transpose(1, 2) @ jac_s).sum(0) + shape_prior * torch.eye(n_s, dtype=jac.dtype, device=jac.device)
        sdiag, off1, off2 = self.smooth_bands()
        diag_x = torch.diagonal(jtj, dim1=1, dim2=2) + prior + sdiag
        # Marquardt damping, and frozen parameters pinned to zero steps.
        damp_x = mu * diag_x + 1e-9 + (1 - active)[None]
        blocks = jtj + torch.diag_embed(prior[None].expand(B, -1) + sdiag + damp_x)
        hss_d = hss + torch.diag(mu * torch.diagonal(hss) + 1e-9)
        dx, ds = solve_arrow(blocks, off1, off2, cross, hss_d, -0.5 * grad_x * active, -0.5 * grad_s)
        return dx * active, ds


def _sensitivity(col: torch.Tensor) -> torch.Tensor:
    """RMS landmark motion (% of face) per unit of each Jacobian column, averaged over frames."""
    sens = col.pow(2).sum(dim=1).mean(dim=0).sqrt()  # rows carry sqrt(w / 68): a weighted mean over points
    return sens.clamp_min(1e-3 * float(sens.max().clamp_min(1e-12)))


def fit_shot(landmarks: np.ndarray, tracked: np.ndarray, flame: FlameLayer | LandmarkFlame, config: FitConfig,
             frame_size: tuple[int, int] | None, device: str = "cpu", deca_codes: np.ndarray | None = None,
             progress: Callable[[str, int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> FitResult:
    """Fit FLAME to (T, 68, 2) plate-pixel landmarks of the tracked frames (see the module docstring).

    ``deca_codes`` (T, 236), when given, makes the fit a refinement of DECA's regression: shape
    (median over frames), expression, pose and camera start from DECA's encoder (its crop-space
    camera converted to the plate's), and the priors pull the identity, expression and jaw towards
    DECA's values instead of FLAME's mean, so what the landmarks cannot see (expression components
    that move the 68 points alike) stays DECA's, while landmark agreement and temporal smoothness
    correct the rest.
    """
    tracked = np.asarray(tracked, dtype=bool)
    T = len(tracked)
    rows = np.flatnonzero(tracked)
    width, height = frame_size or (1, 1)
    size = (int(width), int(height))
    dt = torch.float64  # the normal equations of a long shot need the precision; the model is small
    model = copy.deepcopy(flame) if isinstance(flame, LandmarkFlame) else LandmarkFlame(flame)
    model = model.to(device=device, dtype=dt)
    n_exp = model.n_exp
    B = len(rows)
    out = FitResult(np.zeros(model.n_shape, np.float32), np.zeros((T, n_exp), np.float32),
                    np.zeros((T, 15), np.float32), np.zeros((T, 3), np.float32), np.zeros(T, np.float32),
                    np.zeros((T, 68, 2), np.float32), 0.0)
    if B == 0:
        return out
    start_time = time.perf_counter()
    lm_np = np.asarray(landmarks, dtype=np.float64)[rows]
    obs = torch.as_tensor(lm_np, dtype=dt, device=device)
    face_px = max(float(np.median(np.ptp(lm_np, axis=1).mean(axis=1))), 1.0)
    w_np = landmark_weights(config)
    weights = torch.as_tensor(w_np / w_np.mean(), dtype=dt, device=device)
    rigid_w = weights.clone()
    rigid_w[:17] = 0.0  # the contour slides with yaw: leave it out of the rigid start
    rigid_w[48:] *= 0.25  # and the mouth moves with speech

    # ---------------------------------------------------------------- initial values
    shape0 = torch.zeros(1, model.n_shape, dtype=dt, device=device)
    exp0 = torch.zeros(B, n_exp, dtype=dt, device=device)
    pose0 = torch.zeros(B, 15, dtype=dt, device=device)
    with torch.no_grad():
        if deca_codes is not None:
            shape0, exp0, pose0, cam0 = _from_deca(np.asarray(deca_codes)[rows], lm_np, size, model, device)
            shape0, exp0, pose0, cam0 = (t.to(dt) for t in (shape0, exp0, pose0, cam0))
        else:
            neutral = model(shape0, exp0, pose0)
            cam0 = fit_orthographic_camera(neutral, obs, *size, rigid_w[None].expand(B, -1))
            roll = _image_roll(orthographic_to_pixels(neutral, cam0, *size), obs, w_np)
            pose0[:, 2] = torch.as_tensor(-roll, dtype=dt, device=device)
            cam0 = fit_orthographic_camera(model(shape0, exp0, pose0), obs, *size, rigid_w[None].expand(B, -1))
    cam0[:, 0] = cam0[:, 0].clamp_min(1e-6)
    x0 = torch.cat([pose0[:, 0:3], pose0[:, 6:9], cam0, exp0], dim=1)
    triples = torch.as_tensor(_triples(rows, tracked), device=device)
    prob = _Problem(model, obs, size, config, weights, shape0, x0, triples, face_px)
    if deca_codes is not None:
        prob.x_ref = x0.clone()
        prob.shape_ref = shape0.clone()

    stages = [(True, config.rigid_iterations), (False, config.iterations)]
    total = sum(n for _, n in stages)
    done = iterations = 0
    for rigid, max_iter in stages:
        if max_iter <= 0:
            continue
        prob.rigid = rigid
        prob.set_weights(rigid_w if rigid else weights)
        mu = 1e-3
        loss = float(prob.loss(prob.shape, prob.x))
        jac = jac_s = None
        for it in range(max_iter):
            if cancelled is not None and cancelled():
                raise Cancelled("tracking was cancelled")
            done += 1
            if progress is not None:
                progress("fit", done, total)
            if jac is None:
                jac, jac_s = prob.jacobians()
                if not rigid and it == 0:
                    prob.set_exp_scale(jac)
                    loss = float(prob.loss(prob.shape, prob.x))
                shape_v = prob.shape[:, : prob.n_shape].clone().requires_grad_(not rigid)
                x_v = prob.x.clone().requires_grad_(True)
                full_shape = torch.cat([shape_v, prob.shape[:, prob.n_shape:]], dim=1)
                grad = torch.autograd.grad(prob.loss(full_shape, x_v), [x_v, shape_v] if not rigid else [x_v])
                grad_x = grad[0]
                grad_s = grad[1][0] if not rigid else torch.zeros(0, dtype=dt, device=device)
            iterations += 1
            assert jac is not None and jac_s is not None  # made on the first iteration
            dx, ds = prob.solve(jac, jac_s, grad_x, grad_s, mu)
            new_x = prob.x + dx
            new_x[:, 6] = new_x[:, 6].clamp_min(1e-6)
            new_shape = prob.shape.clone()
            if ds.numel():
                new_shape[0, : prob.n_shape] += ds
            with torch.no_grad():
                new_loss = float(prob.loss(new_shape, new_x))
            if math.isfinite(new_loss) and new_loss < loss:
                gain = (loss - new_loss) / max(loss, 1e-12)
                prob.x, prob.shape, loss = new_x, new_shape, new_loss
                mu = max(mu / 3.0, 1e-7)
                jac = None
                if gain < config.convergence_gain:
                    break
            else:
                mu *= 4.0
                if mu > 1e6:
                    break
        done = sum(n for r, n in stages if r) if rigid else total
    if progress is not None:
        progress("fit", total, total)
    elapsed = time.perf_counter() - start_time

    with torch.no_grad():
        x = prob.x
        pts = prob.project(prob.points(prob.shape, x), x)
        err = (pts - obs).norm(dim=-1).mean(dim=1)
    out.shape = prob.shape[0].cpu().numpy().astype(np.float32)
    out.expression[rows] = x[:, N_RIGID:].cpu().numpy()
    out.pose[rows] = prob.pose15(x).cpu().numpy()
    out.camera[rows] = x[:, 6:9].cpu().numpy()
    out.error[rows] = err.cpu().numpy()
    out.landmarks[rows] = pts.cpu().numpy()
    out.ms_per_frame = 1000.0 * elapsed / B
    out.iterations = iterations
    return out


def _image_roll(model_px: torch.Tensor, obs: torch.Tensor, weights: np.ndarray) -> np.ndarray:
    """Per-frame in-plane angle (radians, image coordinates, y down) taking model points onto observed."""
    idx = np.arange(17, 48)  # brows, nose, eyes: stable under expression
    out = np.zeros(obs.shape[0])
    src = model_px.detach().cpu().numpy()
    dst = obs.detach().cpu().numpy()
    for i in range(len(out)):
        A = umeyama(src[i, idx], dst[i, idx], weights[idx])
        out[i] = math.atan2(A[1, 0], A[0, 0])
    return out


def _from_deca(codes: np.ndarray, landmarks: np.ndarray, size: tuple[int, int], model: LandmarkFlame,
               device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape, expression, pose and plate camera from DECA codes of the tracked frames' crops."""
    c = split_code(torch.as_tensor(codes, dtype=torch.float32))
    shape = torch.zeros(1, model.n_shape)
    k = min(model.n_shape, c.shape.shape[1])
    shape[0, :k] = c.shape[:, :k].median(dim=0).values
    exp = torch.zeros(len(codes), model.n_exp)
    k = min(model.n_exp, c.exp.shape[1])
    exp[:, :k] = c.exp[:, :k]
    pose = torch.zeros(len(codes), 15)
    pose[:, 0:3] = c.pose[:, :3]
    pose[:, 6:9] = c.pose[:, 3:]
    # DECA's camera projects onto its 224 crop; the crop is a plate similarity without rotation,
    # so the plate camera follows exactly: project a few points, map them back, solve.
    basis = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.0, 0.1]]])
    basis = basis.expand(len(codes), -1, -1)
    crop_px = orthographic_to_pixels(basis, c.cam, INPUT_SIZE, INPUT_SIZE).numpy()
    plate_px = np.empty_like(crop_px)
    for i, lm in enumerate(landmarks):
        A = crop_transform(lm)
        plate_px[i] = (crop_px[i] - A[:, 2]) / A[0, 0]
    cam = fit_orthographic_camera(basis, torch.as_tensor(plate_px, dtype=torch.float32), size[0], size[1])
    return (shape.to(device), exp.to(device), pose.to(device), cam.to(device))
