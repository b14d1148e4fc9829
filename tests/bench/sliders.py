"""Face sliders benchmark on the synthetic actor: does each slider do what its name says, only that,
and keep the speech?

    python tests/bench/sliders.py [--quick] [--frames N]

The synthetic actor (procedural FLAME-format head) speaks a neutral clip with its own head motion,
gaze and blinks. Each slider is applied at its maximum and (for two-sided sliders) its minimum,
and swept from minimum to maximum over the clip, through ``manipulator.sliders.apply_sliders``
with the server's fitted directions (``face3d.sliders``), exactly as Manipulate applies them after
the manipulator. The output face is posed and projected with the track's camera to the landmarks
a detector sees (and the pupils the eye conditioning draws); the baseline is the same clip with
no slider, in the same run. Per slider:

* direction: the landmark feature a user expects (smile: corners up *and* apart; eye open: lid
  distance up; gaze: pupils right/up; head yaw: nose right of the eyes; ...) moves the right way
  at both ends, and by about the documented size (expression sliders: 0.5x-2x the motion their
  description promises, in fractions of the eye-corner distance; gaze: the pupils move as the
  eyeball's front point turned by the angle would; head: the rotation recovered from the 3D
  landmarks by Kabsch is within 30% of the angle asked);
* leakage: the largest landmark motion outside the slider's region over the mean motion of the
  landmarks it targets (head sliders: the non-rigid residual after a 3D rigid fit over the rigid
  motion; gaze: all landmark motion over the pupils' motion);
* jaw correlation: Pearson correlation over time of the inner-lip opening (61-67, 62-66, 63-65)
  with the original's, at both ends and in the sweep (every slider but jaw offset);
* the eye conditioning image: with the gaze at its maximum, the red pupil disks drawn by the
  conditioning renderer move with the pupils (the ratio of the disks' centroid shift to the
  pupils' shift, both in crop pixels, ideally 1).

Figures: slider_direction_ok_fraction, slider_leakage_max, slider_jaw_correlation_min, and
slider_eye_image_follow_ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ned_plugin.parameters import SLIDER_PREFIX, SLIDERS, parameter  # noqa: E402
from ned_server.face3d.camera import project_orthographic  # noqa: E402
from ned_server.face3d.landmark_embedding import load_flame_masks  # noqa: E402
from ned_server.face3d.sliders import TARGETS, eyeball_front_points, fit_slider_basis  # noqa: E402
from ned_server.manipulator.sliders import SliderRig, apply_sliders  # noqa: E402

MOUTH = list(range(48, 68))
LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
UPPER_LIDS, LOWER_LIDS = [37, 38, 43, 44], [41, 40, 47, 46]


def build_clip(frames: int):
    """The synthetic actor's neutral speaking clip: its FLAME layer, shape, motion and pupils."""
    from ned_server.synthetic.actor import SyntheticActor
    from ned_server.synthetic.config import ActorConfig

    actor = SyntheticActor(0, ActorConfig(width=320, height=320, supersample=1, texture_size=256))
    motion = actor.sample_motion(frames, "neutral", seed=3)
    layer = actor.flame
    e51 = np.concatenate([motion.pose[:, 6:7], motion.expression], axis=1).astype(np.float32)
    return actor, layer, actor.identity.shape.astype(np.float32), e51, motion.pose.astype(np.float32), \
        motion.camera.astype(np.float32), (320, 320)


def pose_face(layer, shape, e51, pose, camera, size):
    """Landmarks a detector sees (T, 68, 3: px x, px y down, depth) and the eyeballs' front points (T, 2, 2)."""
    pose = pose.copy()
    pose[:, 6] = e51[:, 0]
    front = torch.as_tensor(eyeball_front_points(layer))
    with torch.no_grad():
        out = layer(torch.as_tensor(shape[None, :layer.n_shape]), torch.as_tensor(e51[:, 1:]), torch.as_tensor(pose))
        cam = torch.as_tensor(camera)
        lm = project_orthographic(out.landmarks, cam, *size).numpy().astype(np.float64)
        pupils = project_orthographic(out.vertices[:, front], cam, *size)[..., :2].numpy().astype(np.float64)
        lm3 = out.landmarks3d.numpy().astype(np.float64)
    return lm, pupils, lm3


def opening(lm: np.ndarray) -> np.ndarray:
    return np.mean([lm[:, lo, 1] - lm[:, up, 1] for up, lo in LIP_PAIRS], axis=0)


def kabsch_angle(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """Rotation (3, 3) best taking point set a (N, 3) onto b, and the residual max after it."""
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1, 1, d]) @ u.T
    residual = np.linalg.norm((a - ca) @ rot.T + cb - b, axis=1).max()
    return rot, float(residual)


def measure(name: str, value: float, base, moved, iod_px: float, eye_radius_px: float) -> dict[str, float]:
    """Direction sign, size ratio and leakage of one slider at one value (see the module docstring)."""
    lm0, pu0, l30 = base
    lm1, pu1, l31 = moved
    s = float(np.sign(value))
    d = lm1 - lm0
    out: dict[str, float] = {}
    if name in TARGETS:
        spec = TARGETS[name]
        region = list(spec.region)  # the landmarks the slider is allowed to move (face3d.sliders)
        moved_pts = [i for i in spec.moves if any(spec.moves[i])] + [i for i, _ in spec.towards]
        motion = np.linalg.norm(d[..., :2], axis=-1)  # (T, 68) image-plane motion
        if name == "pout":
            motion = np.linalg.norm(d, axis=-1)
        outside = np.delete(motion, region, axis=1).max()
        out["leakage"] = float(outside / max(motion[:, moved_pts].mean(), 1e-9))
        width0 = lm0[:, 54, 0] - lm0[:, 48, 0]
        width1 = lm1[:, 54, 0] - lm1[:, 48, 0]
        corners_up = -(d[:, [48, 54], 1]).mean()
        if name == "smile":
            ok = s * corners_up > 0 and s * (width1 - width0).mean() > 0
            size = s * corners_up / (0.08 * iod_px * abs(value))
        elif name == "mouth_corners":
            ok = s * corners_up > 0
            size = s * corners_up / (0.08 * iod_px * abs(value))
        elif name == "pout":
            toward = -(d[:, 48:60, 2]).mean()  # depth: smaller is nearer
            ok = s * toward > 0
            size = s * toward / (0.05 * iod_px * abs(value))
        elif name == "purse":
            narrower = (width0 - width1).mean()
            ok = s * narrower > 0
            size = s * narrower / (0.10 * iod_px * abs(value))
        elif name == "brow_raise":
            up = -(d[:, 17:27, 1].mean(1) - d[:, 36:48, 1].mean(1)).mean()
            ok = s * up > 0
            size = s * up / (0.06 * iod_px * abs(value))
        elif name == "brow_furrow":
            together = ((lm0[:, 22, 0] - lm0[:, 21, 0]) - (lm1[:, 22, 0] - lm1[:, 21, 0])).mean()
            ok = s * together > 0
            size = s * together / (0.06 * iod_px * abs(value))
        elif name == "eye_open":
            lid0 = (lm0[:, LOWER_LIDS, 1] - lm0[:, UPPER_LIDS, 1]).mean(1)
            lid1 = (lm1[:, LOWER_LIDS, 1] - lm1[:, UPPER_LIDS, 1]).mean(1)
            ok = s * (lid1 - lid0).mean() > 0
            size = s * (lid1 - lid0).mean() / (0.04 * iod_px * abs(value))
        else:  # blink: the lids end (nearly) shut
            lid0 = (lm0[:, LOWER_LIDS, 1] - lm0[:, UPPER_LIDS, 1]).mean(1)
            lid1 = (lm1[:, LOWER_LIDS, 1] - lm1[:, UPPER_LIDS, 1]).mean(1)
            ok = (lid1 < 0.3 * np.maximum(lid0, 1e-6) + 0.01 * iod_px).mean() > 0.9
            size = 1.0
        out["ok"] = float(ok and 0.5 <= size <= 2.0)
        out["size"] = float(size)
    elif name in ("gaze_horizontal", "gaze_vertical"):
        shift = (pu1 - pu0).mean(axis=(0, 1))
        axis = 0 if name == "gaze_horizontal" else 1
        along = shift[axis] if axis == 0 else -shift[axis]
        expected = eye_radius_px * np.sin(np.deg2rad(abs(value)))
        size = s * along / expected
        out["ok"] = float(0.7 <= size <= 1.3)
        out["size"] = float(size)
        out["leakage"] = float(np.linalg.norm(d[..., :2], axis=-1).max()
                               / max(np.linalg.norm(pu1 - pu0, axis=-1).mean(), 1e-9))
    elif name.startswith("head_"):
        angles, residual, rigid = [], 0.0, 0.0
        for t in range(len(l30)):
            a = l30[t]
            b = l31[t]
            rot, res = kabsch_angle(a, b)
            angles.append(rot)
            residual = max(residual, res)
            rigid = max(rigid, float(np.linalg.norm(b - a, axis=1).max()))
        # the rotations are in the model's frame; compare with the asked angle about the camera axis
        rot = angles[0]
        aa = np.array([rot[2, 1] - rot[1, 2], rot[0, 2] - rot[2, 0], rot[1, 0] - rot[0, 1]]) / 2.0
        angle = np.degrees(np.arcsin(np.clip(np.linalg.norm(aa), 0, 1)))
        mouth_nose = lm1[:, 30, :2] - lm1[:, [36, 45], :2].mean(1) - (lm0[:, 30, :2] - lm0[:, [36, 45], :2].mean(1))
        if name == "head_yaw":
            sign_ok = s * mouth_nose[:, 0].mean() > 0
        elif name == "head_pitch":
            sign_ok = s * -mouth_nose[:, 1].mean() > 0
        else:
            e0 = lm0[:, 45, :2] - lm0[:, 36, :2]
            e1 = lm1[:, 45, :2] - lm1[:, 36, :2]
            turn = np.degrees(np.arctan2(-e1[:, 1], e1[:, 0]) - np.arctan2(-e0[:, 1], e0[:, 0]))
            sign_ok = s * turn.mean() > 0
        size = angle / abs(value)
        out["ok"] = float(sign_ok and 0.7 <= size <= 1.3)
        out["size"] = float(size)
        out["leakage"] = residual / max(rigid, 1e-9)
    else:  # jaw offset: the mouth opens (closes)
        change = (opening(lm1) - opening(lm0)).mean()
        out["ok"] = float(s * change > 0)
        out["size"] = 1.0
        keep = list(range(0, 17)) + MOUTH
        motion = np.linalg.norm(d[..., :2], axis=-1)
        out["leakage"] = float(np.delete(motion, keep, axis=1).max() / max(motion[:, 48:68].mean(), 1e-9))
    return out


def eye_image_follow(actor, layer, rig, shape, e51, pose, camera, size) -> float:
    """Ratio of the red disks' centroid shift in the eye conditioning image to the pupils' shift."""
    from ned_server.conditioning.shot import FaceConditioner, crop_matrices
    from ned_server.synthetic.actor import ActorMotion
    from ned_server.synthetic.track import ground_truth_track

    n = 4
    clip = actor.render(ActorMotion(expression=e51[:n, 1:], pose=pose[:n], camera=camera[:n],
                                    emotion=np.zeros(n, np.int64)), *size)
    track = ground_truth_track(clip)
    value = parameter(SLIDER_PREFIX + "gaze_horizontal").maximum
    face = apply_sliders(rig, {"gaze_horizontal": np.full(n, value)}, track.expression51, track.pose,
                         track.pupils, track.shape, track.camera, track.frame_size, track.blink)
    moved = type(track)(**{**track.__dict__, "pose": face.pose, "pupils": face.pupils})
    masks = load_flame_masks(actor.assets.masks, layer.num_vertices)
    with FaceConditioner(layer, masks, resolution=256) as cond:
        before = cond.render(track).conditioning[:, 3]
        after = cond.render(moved, expression51=face.expression51).conditioning[:, 3]
    m = crop_matrices(track.alignment, track.crop_size, 256)
    shift_crop = np.einsum("bij,bej->bei", m[:, :, :2], face.pupils - track.pupils).mean(1)[:, 0]

    def centroid_x(img: np.ndarray) -> np.ndarray:
        xs = np.arange(img.shape[2])[None, None, :]
        w = np.clip(img, 0, None)
        return (w * xs).sum((1, 2)) / np.maximum(w.sum((1, 2)), 1e-9)

    seen = centroid_x(after) - centroid_x(before)
    return float(np.median(seen / np.where(np.abs(shift_crop) > 1e-6, shift_crop, np.nan)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short clip (under a minute)")
    parser.add_argument("--frames", type=int, default=0)
    args = parser.parse_args()
    frames = args.frames or (24 if args.quick else 200)
    t0 = time.perf_counter()
    actor, layer, shape, e51, pose, camera, size = build_clip(frames)
    rig = SliderRig(layer, fit_slider_basis(layer))
    speech = parameter("speech_preservation").default
    base = pose_face(layer, shape, e51, pose, camera, size)
    iod_px = float(np.linalg.norm(base[0][:, 45, :2] - base[0][:, 36, :2], axis=1).mean())
    front = eyeball_front_points(layer)
    joints = layer.j_regressor.numpy() @ layer.v_template.numpy()
    radius = float(np.mean([np.linalg.norm(layer.v_template.numpy()[front[k]] - joints[j])
                            for k, j in ((0, 4), (1, 3))]))
    eye_radius_px = radius * float(camera[:, 0].mean()) * min(size) / 2.0
    pupils = base[1].astype(np.float32)
    blink = np.clip(e51[:, 13], 0.0, 1.0)  # the synthetic actor's blink action (its tracked blink)
    results: dict[str, list[dict[str, float]]] = {}
    correlations: dict[str, float] = {}
    for name in SLIDERS:
        p = parameter(SLIDER_PREFIX + name)
        ends = [v for v in (p.maximum, p.minimum) if v != p.default]
        rows = []
        corr = []
        for value in [*ends, None]:
            values = np.linspace(p.minimum, p.maximum, frames) if value is None else np.full(frames, value)
            face = apply_sliders(rig, {name: values}, e51, pose, pupils, shape, camera, size, blink=blink,
                                 speech_preservation=speech)
            moved = pose_face(layer, shape, face.expression51, face.pose, camera, size)
            moved = (moved[0], face.pupils.astype(np.float64), moved[2])
            if value is not None:
                rows.append(measure(name, value, base, moved, iod_px, eye_radius_px))
            if name != "jaw_offset":
                corr.append(float(np.corrcoef(opening(base[0]), opening(moved[0]))[0, 1]))
        results[name] = rows
        if corr:
            correlations[name] = min(corr)
        sizes = ", ".join(f"{r['size']:.2f}" for r in rows)
        print(f"  {name:16s} ok {sum(r['ok'] for r in rows):.0f}/{len(rows)}  size {sizes:12s} "
              f"leakage {max(r['leakage'] for r in rows):.3f}  jaw corr "
              f"{correlations.get(name, float('nan')):.4f}")
    follow = eye_image_follow(actor, layer, rig, shape, e51, pose, camera, size)
    every = [r for rows in results.values() for r in rows]
    print(f"  ({frames} frames, {time.perf_counter() - t0:.1f} s)")
    print(f"slider_direction_ok_fraction: {sum(r['ok'] for r in every) / len(every):.4f}")
    print(f"slider_leakage_max: {max(r['leakage'] for r in every):.4f}")
    print(f"slider_jaw_correlation_min: {min(correlations.values()):.4f}")
    print(f"slider_eye_image_follow_ratio: {follow:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
