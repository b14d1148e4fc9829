"""Head, gaze and camera motion of the synthetic actor (smooth, human-like, repeatable from a seed).

Head motion is a sum of slow random sinusoids plus small faster sway (people drift and nod while
talking); gaze holds fixations and jumps between them in quick saccades; the camera framing
(orthographic scale and offset) drifts slowly like a handheld or reframing shot.
"""

from __future__ import annotations

import numpy as np


def smooth_signal(
    num_frames: int, rng: np.random.Generator, fps: float, periods: tuple[float, float], components: int = 3
) -> np.ndarray:
    """Zero-mean smooth signal of roughly unit amplitude, (T,)."""
    t = np.arange(num_frames) / fps
    out = np.zeros(num_frames)
    for _ in range(components):
        period = rng.uniform(*periods)
        out += np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.5, 1.0)
    return out / np.sqrt(components * 0.58)


def head_pose_track(num_frames: int, rng: np.random.Generator, fps: float = 25.0, amplitude: float = 1.0) -> np.ndarray:
    """(T, 3) yaw, pitch, roll in radians (see face3d.rotations for the conventions)."""
    yaw0, pitch0, roll0 = rng.uniform(-0.2, 0.2), rng.uniform(-0.06, 0.1), rng.uniform(-0.05, 0.05)
    yaw = yaw0 + amplitude * (
        0.16 * smooth_signal(num_frames, rng, fps, (3.0, 9.0)) + 0.02 * smooth_signal(num_frames, rng, fps, (0.6, 1.5))
    )
    pitch = pitch0 + amplitude * (
        0.07 * smooth_signal(num_frames, rng, fps, (2.0, 7.0)) + 0.015 * smooth_signal(num_frames, rng, fps, (0.4, 1.0))
    )
    roll = roll0 + amplitude * 0.05 * smooth_signal(num_frames, rng, fps, (3.0, 10.0))
    return np.column_stack([np.clip(yaw, -0.7, 0.7), np.clip(pitch, -0.4, 0.4), np.clip(roll, -0.35, 0.35)])


def gaze_track(num_frames: int, rng: np.random.Generator, fps: float = 25.0, amplitude: float = 1.0) -> np.ndarray:
    """(T, 2) eye yaw (towards +x) and pitch (down) in radians: fixations joined by fast saccades."""
    out = np.zeros((num_frames, 2))
    target = np.array([rng.normal(0, 0.12), rng.normal(0.02, 0.06)])
    current = target.copy()
    t = 0
    while t < num_frames:
        hold = max(2, int(rng.uniform(0.3, 1.6) * fps))
        for k in range(min(hold, num_frames - t)):
            step = min(1.0, (k + 1) / 3.0)  # a saccade takes about 3 frames
            out[t + k] = current + (target - current) * step
        current = target
        t += hold
        target = np.array([rng.normal(0, 0.14), rng.normal(0.02, 0.07)])
    out *= amplitude
    return np.column_stack([np.clip(out[:, 0], -0.45, 0.45), np.clip(out[:, 1], -0.3, 0.3)])


def camera_track(
    num_frames: int,
    rng: np.random.Generator,
    scale_range: tuple[float, float],
    fps: float = 25.0,
    amplitude: float = 1.0,
) -> np.ndarray:
    """(T, 3) orthographic (scale, tx, ty): the framing, drifting slowly."""
    s0 = rng.uniform(*scale_range)
    scale = s0 * (1 + amplitude * 0.035 * smooth_signal(num_frames, rng, fps, (4.0, 12.0), 2))
    tx = rng.uniform(-0.012, 0.012) + amplitude * 0.006 * smooth_signal(num_frames, rng, fps, (3.0, 10.0), 2)
    ty = rng.uniform(-0.006, 0.01) + amplitude * 0.005 * smooth_signal(num_frames, rng, fps, (3.0, 10.0), 2)
    return np.column_stack([scale, tx, ty])
