"""Face sliders as directions of the 3D face: expression directions fitted from the landmark embedding,
and the rotations of the head and the eyeballs (with the pupils they carry).

Why fitted: the licensed FLAME's expression basis is a PCA with no named components, so "smile"
has to be found in it. Each expression slider is a wanted motion of some of the 68 landmarks on
the model's mean face (``TARGETS``: which landmarks move, where to, per unit of the slider, in
fractions of the eye-corner distance ``iod``), every other landmark held still. Landmarks are
linear in the expression coefficients at rest (blend shapes then the barycentric embedding), so
the direction is a weighted ridge least-squares solve over the model's expression blend shapes,
rescaled so that one unit gives the wanted motion along its target (the ridge is the model's
own prior, see ``RIDGE``). This needs only a
FLAME-format model and its landmark embedding, works alike for the licensed FLAME and the
procedural stand-in (whose named actions it finds by itself), and takes milliseconds; the
result is still stored next to the model (``slider_basis_for``) so that every run of a server
uses the very same directions.

Speech: the mouth sliders get two directions. ``free`` only follows the target; ``locked`` also
holds the inner lips' vertical gaps (61-67, 62-66, 63-65) unchanged, so the mouth opening that
carries the speech is the performance's. The speech-preservation control blends them (0 free,
1 locked): it bounds how far a mouth slider may move the opening away from the original track.

Rotations (degrees, in the camera's frame: x to the image's right, y up, z towards the camera):
``head_rotation`` pre-multiplies the global pose; ``eye_rotation`` pre-multiplies both eye joints'
rotations. ``pupil_shift`` poses the front point of each eyeball before and after and returns
the pupils' motion in plate pixels, so the eye conditioning image (red disks at the pupils)
follows the eyeballs and the head.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ned_plugin.files import write_bytes
from ned_server.face3d.camera import project_orthographic
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.rotations import batch_rodrigues, euler_to_rotation_matrix, rotation_matrix_to_axis_angle

log = logging.getLogger(__name__)

BASIS_VERSION = 1  # bump when TARGETS or the solve change: cached files of another version are refitted
MOUTH = tuple(range(48, 68))
BROWS = tuple(range(17, 28))  # the brows and the glabella between them (27, the top of the nose bridge)
EYES = tuple(range(36, 48))
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # upper, lower: the speech's mouth opening
EYE_JOINTS = (3, 4)  # FLAME: left eye, right eye
FREE_WEIGHT = 0.05  # landmarks of the slider's region that are not targeted may follow along
STILL_WEIGHT = 0.5  # landmarks outside the region are held (the leakage the solve avoids)
LOCK_WEIGHT = 20.0  # the inner lips' gaps in the locked (speech-kept) solve
# Prior on the coefficients, relative to the mean diagonal of the normal matrix. FLAME's coefficients
# are PCA units (standard deviations), so |d|^2 is the Gaussian prior of the model itself: strong
# enough that a slider is made of the few components that move its landmarks the most per unit
# (on the procedural head: its named actions, found without being told), not of large amounts of
# weak components that happen to cancel on the landmarks and would bend the mesh between them.
RIDGE = 0.05


@dataclass(frozen=True)
class Target:
    """One expression slider: per unit, landmark -> (outward, up, forward) motion in IOD fractions.

    ``outward`` is along +x on the model's +x side and -x on the other (mirror-symmetric
    sliders); ``region`` is the landmarks allowed to follow; ``mouth`` sliders get a locked solve.
    ``towards`` landmarks move onto another landmark instead (blink: upper lid onto lower lid).
    """

    moves: dict[int, tuple[float, float, float]]
    region: tuple[int, ...]
    mouth: bool = False
    towards: tuple[tuple[int, int], ...] = ()


def _all(points: tuple[int, ...], motion: tuple[float, float, float]) -> dict[int, tuple[float, float, float]]:
    return {i: motion for i in points}


TARGETS: dict[str, Target] = {
    "smile": Target(_all((48, 54), (0.05, 0.08, -0.02)) | _all((60, 64), (0.04, 0.07, -0.02)), MOUTH, mouth=True),
    "mouth_corners": Target(_all((48, 54), (0.0, 0.08, 0.0)) | _all((60, 64), (0.0, 0.07, 0.0)), MOUTH, mouth=True),
    "pout": Target(_all(tuple(range(48, 60)), (0.0, 0.0, 0.05)) | _all((48, 54), (-0.015, 0.0, 0.04)), MOUTH,
                   mouth=True),
    "purse": Target(_all((48, 54), (-0.05, 0.0, 0.0)) | _all((60, 64), (-0.04, 0.0, 0.0)), MOUTH, mouth=True),
    "brow_raise": Target(_all(BROWS, (0.0, 0.06, 0.0)), BROWS),
    "brow_furrow": Target(_all((20, 21, 22, 23), (-0.03, -0.03, 0.0)) | _all((17, 18, 19, 24, 25, 26),
                                                                             (0.0, -0.015, 0.0)), BROWS),
    "eye_open": Target(_all((37, 38, 43, 44), (0.0, 0.03, 0.0)) | _all((40, 41, 46, 47), (0.0, -0.01, 0.0)), EYES),
    "blink": Target(_all((36, 39, 42, 45, 40, 41, 46, 47), (0.0, 0.0, 0.0)), EYES,
                    towards=((37, 41), (38, 40), (43, 47), (44, 46))),
}
EXPRESSION_SLIDERS = tuple(TARGETS)
GAZE_SLIDERS = ("gaze_horizontal", "gaze_vertical")
HEAD_SLIDERS = ("head_pitch", "head_yaw", "head_roll")
JAW_SLIDER = "jaw_offset"


class SliderBasisError(ValueError):
    """A model the sliders cannot be fitted on (no landmark embedding, no expression blend shapes)."""


@dataclass
class SliderBasis:
    """Per expression slider (``names``): ``free`` and ``locked`` (S, n_exp) coefficient directions per
    unit; ``iod`` the mean face's eye-corner distance in model units; ``fingerprint`` of what it came from."""

    names: tuple[str, ...]
    free: np.ndarray
    locked: np.ndarray
    iod: float
    fingerprint: str = ""

    def direction(self, name: str, speech_preservation: float) -> np.ndarray:
        """(n_exp,) per unit; mouth sliders blend free -> locked by the speech preservation (0..1)."""
        i = self.names.index(name)
        p = float(np.clip(speech_preservation, 0.0, 1.0))
        return (1.0 - p) * self.free[i] + p * self.locked[i]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"names": np.array(self.names, dtype=np.str_), "free": self.free, "locked": self.locked,
                "iod": np.array(self.iod), "fingerprint": np.array(self.fingerprint),
                "version": np.array(BASIS_VERSION)}


def landmark_jacobian(layer: FlameLayer) -> tuple[np.ndarray, np.ndarray]:
    """The mean face's 68 frontal landmarks (68, 3) and their derivative by the expression (68, 3, n_exp)."""
    if not layer.has_landmarks:
        raise SliderBasisError("face sliders need the model's 68-landmark embedding (landmark_embedding.npy)")
    tri = layer.faces[layer.full_faces].cpu().numpy()  # (68, 3 corners)
    bary = layer.full_bary.cpu().numpy().astype(np.float64)  # (68, 3)
    template = layer.v_template.cpu().numpy().astype(np.float64)
    exp_dirs = layer.shapedirs[:, :, layer.n_shape:].cpu().numpy().astype(np.float64)  # (V, 3, n_exp)
    if exp_dirs.shape[-1] == 0:
        raise SliderBasisError("the model has no expression blend shapes to build sliders from")
    points = np.einsum("lc,lcd->ld", bary, template[tri])
    jac = np.einsum("lc,lcdk->ldk", bary, exp_dirs[tri])
    return points, jac


def _solve(jac: np.ndarray, target: np.ndarray, weight: np.ndarray, extra: list[tuple[np.ndarray, float]]
           ) -> np.ndarray:
    """argmin sum w (J d - t)^2 + sum_extra w (a . d)^2 + ridge |d|^2 over d (n_exp,)."""
    a = jac.reshape(-1, jac.shape[-1])
    w = weight.reshape(-1)
    t = target.reshape(-1)
    normal = a.T @ (w[:, None] * a)
    rhs = a.T @ (w * t)
    for row, wt in extra:
        normal += wt * np.outer(row, row)
    normal += RIDGE * max(float(np.mean(np.diag(normal))), 1e-12) * np.eye(normal.shape[0])
    return np.linalg.solve(normal, rhs)


def fit_slider_basis(layer: FlameLayer, fingerprint: str = "") -> SliderBasis:
    """Fit every expression slider of ``TARGETS`` on the layer's mean face (see the module docstring)."""
    points, jac = landmark_jacobian(layer)
    iod = float(np.linalg.norm(points[45] - points[36]))
    if not iod > 0:
        raise SliderBasisError("the model's eye corners (landmarks 36 and 45) coincide: not a face model")
    centre_x = float(points[[36, 45], 0].mean())
    outward = np.where(points[:, 0] >= centre_x, 1.0, -1.0)
    gaps = [jac[up, 1] - jac[low, 1] for up, low in INNER_LIP_PAIRS]  # d(upper_y - lower_y) / d coefficients
    free, locked = [], []
    for spec in TARGETS.values():
        target = np.zeros((68, 3))
        weight = np.full((68, 3), STILL_WEIGHT)
        weight[list(spec.region)] = FREE_WEIGHT
        for i, (out, up, fwd) in spec.moves.items():
            target[i] = (out * outward[i] * iod, up * iod, fwd * iod)
            weight[i] = 1.0
        for i, onto in spec.towards:
            target[i] = points[onto] - points[i]
            weight[i] = 1.0
        moved = [i for i in (*spec.moves, *(i for i, _ in spec.towards)) if np.any(target[i] != 0)]
        directions = [_solve(jac, target, weight, [])]
        if spec.mouth:
            directions.append(_solve(jac, target, weight, [(g, LOCK_WEIGHT) for g in gaps]))
        scaled = []
        for d in directions:  # one unit gives the wanted motion along the target
            achieved = np.einsum("ldk,k->ld", jac, d)[moved]
            along = float((achieved * target[moved]).sum())
            scaled.append(d * float((target[moved] ** 2).sum()) / along if along > 1e-12 else d)
        free.append(scaled[0])
        locked.append(scaled[-1])
    return SliderBasis(EXPRESSION_SLIDERS, np.stack(free).astype(np.float32), np.stack(locked).astype(np.float32),
                       iod, fingerprint)


def _fingerprint(*files: Path) -> str:
    digest = hashlib.sha256(f"sliders-v{BASIS_VERSION}:{sorted(TARGETS.items())!r}".encode())
    for path in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:32]


def basis_path(model_file: Path) -> Path:
    """Where a model's fitted sliders are kept: beside the model file."""
    model_file = Path(model_file)
    return model_file.with_name(model_file.stem + ".sliders.npz")


def slider_basis_for(layer: FlameLayer, model_file: Path, landmarks_file: Path) -> SliderBasis:
    """The sliders of the model in these files: read from beside the model when fitted on these very
    files, else fitted and written there (a read-only model folder only costs a refit per load)."""
    fingerprint = _fingerprint(model_file, landmarks_file)
    path = basis_path(model_file)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if (str(data["fingerprint"]) == fingerprint and int(data["version"]) == BASIS_VERSION
                        and data["free"].shape[-1] == layer.n_exp):
                    return SliderBasis(tuple(str(n) for n in data["names"]), data["free"], data["locked"],
                                       float(data["iod"]), fingerprint)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("refitting the face sliders: cannot read %s (%s)", path, exc)
    basis = fit_slider_basis(layer, fingerprint)
    try:
        buf = io.BytesIO()
        arrays: dict[str, Any] = basis.to_arrays()  # Any: savez's keyword arguments are its arrays
        np.savez(buf, **arrays)
        write_bytes(path, buf.getvalue())
    except OSError as exc:
        log.warning("face sliders fitted but not stored beside the model (%s): %s", path, exc)
    return basis


# ----------------------------------------------------------------------------- rotations
def _ypr_matrix(yaw_deg: np.ndarray, pitch_up_deg: np.ndarray, roll_deg: np.ndarray) -> torch.Tensor:
    """(T, 3, 3) rotations in the camera frame from the sliders' conventions (FLAME's pitch is down)."""
    rad = np.deg2rad
    t = [torch.as_tensor(rad(np.asarray(v, np.float64))) for v in (yaw_deg, -np.asarray(pitch_up_deg), roll_deg)]
    return euler_to_rotation_matrix(*t)


def _premultiply(delta: torch.Tensor, axis_angle: np.ndarray) -> np.ndarray:
    rot = batch_rodrigues(torch.as_tensor(axis_angle, dtype=torch.float64))
    return rotation_matrix_to_axis_angle(delta @ rot).numpy()


def head_rotation(pose: np.ndarray, yaw_deg: np.ndarray, pitch_up_deg: np.ndarray, roll_deg: np.ndarray
                  ) -> np.ndarray:
    """(T, 15) pose with the global rotation turned by the head sliders (camera frame)."""
    out = np.array(pose, dtype=np.float64, copy=True)
    out[:, 0:3] = _premultiply(_ypr_matrix(yaw_deg, pitch_up_deg, np.asarray(roll_deg)), out[:, 0:3])
    return out


def eye_rotation(pose: np.ndarray, horizontal_deg: np.ndarray, up_deg: np.ndarray) -> np.ndarray:
    """(T, 15) pose with both eyeballs turned by the gaze sliders (in the head's frame)."""
    out = np.array(pose, dtype=np.float64, copy=True)
    delta = _ypr_matrix(horizontal_deg, up_deg, np.zeros(len(out)))
    for start in (9, 12):
        out[:, start:start + 3] = _premultiply(delta, out[:, start:start + 3])
    return out


def eyeball_front_points(layer: FlameLayer) -> np.ndarray:
    """Vertex index of each eyeball's front-most point, the actor's right eye (-x) first: (2,)."""
    weights = layer.lbs_weights.cpu().numpy()
    template = layer.v_template.cpu().numpy()
    eyes = []
    for joint in EYE_JOINTS:
        members = np.flatnonzero(weights[:, joint] > 0.5)
        if members.size == 0:
            raise SliderBasisError("the model has no eyeball vertices (skinned to the eye joints): gaze sliders "
                                   "need them")
        eyes.append((float(template[members, 0].mean()), int(members[np.argmax(template[members, 2])])))
    eyes.sort()
    return np.array([index for _, index in eyes], dtype=np.int64)


def _width(values: np.ndarray, width: int) -> np.ndarray:
    """Coefficients cut or zero-padded to the layer's width (they are ordered by variance)."""
    v = np.asarray(values, np.float32)
    if v.shape[-1] >= width:
        return v[..., :width]
    return np.concatenate([v, np.zeros((*v.shape[:-1], width - v.shape[-1]), np.float32)], axis=-1)


def pupil_shift(layer: FlameLayer, shape: np.ndarray, expression: np.ndarray, pose_before: np.ndarray,
                pose_after: np.ndarray, camera: np.ndarray, frame_size: tuple[int, int], chunk: int = 64
                ) -> np.ndarray:
    """(T, 2, 2) motion in plate pixels of the eyeballs' front points from one pose to the other,
    ordered like ``ShotTrack.pupils`` (the actor's right eye first)."""
    front = torch.as_tensor(eyeball_front_points(layer), device=layer.v_template.device)
    dev, dt = layer.v_template.device, torch.float32
    n = len(pose_before)
    out = np.zeros((n, 2, 2), np.float64)
    width, height = frame_size
    betas = torch.as_tensor(_width(np.reshape(shape, (1, -1)), layer.n_shape), device=dev, dtype=dt)
    with torch.no_grad():
        for s0 in range(0, n, chunk):
            s1 = min(n, s0 + chunk)
            expr = torch.as_tensor(_width(expression[s0:s1], layer.n_exp), device=dev, dtype=dt)
            cam = torch.as_tensor(np.asarray(camera[s0:s1], np.float32), device=dev, dtype=dt)
            points = []
            for pose in (pose_before, pose_after):
                verts = layer(betas, expr, torch.as_tensor(np.asarray(pose[s0:s1], np.float32), device=dev)).vertices
                points.append(project_orthographic(verts[:, front], cam, width, height)[..., :2].cpu().numpy())
            out[s0:s1] = points[1] - points[0]
    return out
