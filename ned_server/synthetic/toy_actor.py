"""A toy actor: 2D "faces" whose look is a fixed function of their conditioning images.

It stands in for tracked footage until the tracking stage (or the synthetic 3D actor of
``ned_server.synthetic``) produces real ``ActorClip``s, so the renderer can be trained, tested,
benchmarked and demonstrated anywhere. A face is a moving, turning ellipse with a mouth that opens
and eyes that look around. Its conditioning follows the real one's conventions:

* NMFC: the face's normalised canonical coordinates (u, v, depth) as RGB, black off the face;
* eye image: red disks at the pupils on black;
* detailed shape: grey Lambert shading of the face, with the lips and the open mouth drawn in.

The real frame is then a deterministic function of those images plus the actor's identity (skin,
lip and iris colours, a skin pattern over the canonical coordinates), so a renderer can learn it,
and different toy actors share structure but not appearance, which is what a meta-renderer
exploits. The background is a moving gradient nothing in the conditioning predicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ned_server.renderer.dataset import ActorClip

MOUTH_V = 0.45  # mouth centre in canonical coordinates (below the face centre)
EYE_U, EYE_V, EYE_R = 0.36, -0.18, 0.15


@dataclass(frozen=True)
class ToyActor:
    seed: int
    skin: tuple[float, float, float]
    lips: tuple[float, float, float]
    iris: tuple[float, float, float]
    pattern_freq: tuple[float, float]
    pattern_phase: tuple[float, float]
    pattern_amp: float
    aspect: float  # width / height of the face

    @property
    def name(self) -> str:
        return f"toy{self.seed}"


def toy_actor(seed: int) -> ToyActor:
    rng = np.random.default_rng([7919, seed])
    skin = rng.uniform([0.45, 0.25, 0.15], [0.95, 0.75, 0.6])
    lips = np.clip(skin * rng.uniform(0.4, 0.7) + np.array([0.25, 0.0, 0.02]), 0, 1)
    return ToyActor(
        seed=seed,
        skin=tuple(float(v) for v in skin),  # type: ignore[arg-type]
        lips=tuple(float(v) for v in lips),  # type: ignore[arg-type]
        iris=tuple(float(v) for v in rng.uniform(0.05, 0.7, 3)),  # type: ignore[arg-type]
        pattern_freq=tuple(float(v) for v in rng.uniform(0.6, 1.3, 2)),  # type: ignore[arg-type]
        pattern_phase=tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 2)),  # type: ignore[arg-type]
        pattern_amp=float(rng.uniform(0.06, 0.14)),
        aspect=float(rng.uniform(0.72, 0.86)),
    )


@dataclass
class ToyMotion:
    """Per-frame pose and expression of a toy face (all arrays of length T)."""

    cx: np.ndarray  # face centre, fraction of the frame
    cy: np.ndarray
    scale: np.ndarray  # face half-height, fraction of the frame
    angle: np.ndarray  # radians
    mouth_open: np.ndarray  # 0..1
    gaze_x: np.ndarray  # -1..1
    gaze_y: np.ndarray


def toy_motion(frames: int, seed: int) -> ToyMotion:
    """Smooth random motion: a few sinusoids per parameter, speech-like mouth opening."""
    rng = np.random.default_rng([104729, seed])
    t = np.arange(frames, dtype=np.float64)

    def wave(amp: float, lo: float = 0.01, hi: float = 0.06) -> np.ndarray:
        out = np.zeros(frames)
        for _ in range(3):
            out += np.sin(2 * np.pi * rng.uniform(lo, hi) * t + rng.uniform(0, 2 * np.pi))
        return amp * out / 3

    syll = np.abs(np.sin(2 * np.pi * rng.uniform(0.08, 0.14) * t + rng.uniform(0, 6)))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.01, 0.03) * t + rng.uniform(0, 6))
    return ToyMotion(
        cx=0.5 + wave(0.06), cy=0.5 + wave(0.05), scale=0.36 + wave(0.03), angle=wave(0.18),
        mouth_open=np.clip(syll * env * 1.2, 0, 1), gaze_x=wave(0.9, 0.03, 0.1), gaze_y=wave(0.6, 0.03, 0.1),
    )


def _render_frame(actor: ToyActor, m: ToyMotion, i: int, res: int, ss: int) -> tuple[np.ndarray, ...]:
    n = res * ss
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float64)
    xs, ys = (xs + 0.5) / n, (ys + 0.5) / n
    b = m.scale[i]
    a = b * actor.aspect
    ca, sa = np.cos(m.angle[i]), np.sin(m.angle[i])
    dx, dy = xs - m.cx[i], ys - m.cy[i]
    u = (ca * dx + sa * dy) / a
    v = (-sa * dx + ca * dy) / b
    r2 = u * u + v * v
    face = r2 < 1.0
    z = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))

    # mouth: an ellipse that opens; lips a ring around it
    hm = 0.03 + 0.17 * m.mouth_open[i]
    mouth_d = (u / 0.32) ** 2 + ((v - MOUTH_V) / hm) ** 2
    interior = face & (mouth_d < 1.0)
    lips = face & ~interior & ((u / 0.38) ** 2 + ((v - MOUTH_V) / (hm + 0.07)) ** 2 < 1.0)
    teeth = interior & (v < MOUTH_V - hm + 0.06) & (m.mouth_open[i] > 0.25)
    # eyes and pupils (the gaze moves the pupils inside the eyes)
    pupils = []
    eye = np.zeros_like(face)
    pupil_disk = np.zeros_like(face)
    iris = np.zeros_like(face)
    for side in (-1.0, 1.0):
        eu, ev = side * EYE_U, EYE_V
        eye |= face & ((u - eu) ** 2 + ((v - ev) / 0.7) ** 2 < EYE_R ** 2)
        pu, pv = eu + 0.06 * m.gaze_x[i], ev + 0.04 * m.gaze_y[i]
        d2 = (u - pu) ** 2 + (v - pv) ** 2
        pupil_disk |= face & (d2 < 0.05 ** 2)
        iris |= eye & (d2 < 0.075 ** 2)
        pupils.append((pu, pv))

    # conditioning
    nmfc = np.stack([(u + 1) / 2, (v + 1) / 2, z]) * face
    eyes_img = np.zeros((3, n, n))
    eyes_img[0] = pupil_disk
    light = np.array([0.35, -0.45, 0.82])
    shade = np.clip(u * light[0] + v * light[1] + z * light[2], 0, 1)
    shape = 0.25 + 0.65 * shade
    shape = np.where(lips, 0.45 * shape, shape)
    shape = np.where(interior, 0.05, shape)
    shape_img = np.repeat((shape * face)[None], 3, 0)

    # appearance
    skin = np.array(actor.skin)[:, None, None]
    f1, f2 = actor.pattern_freq
    p1, p2 = actor.pattern_phase
    pattern = actor.pattern_amp * np.sin(2 * np.pi * f1 * u + p1) * np.cos(2 * np.pi * f2 * v + p2)
    img = skin * (0.45 + 0.55 * shade) + pattern
    img = np.where(lips, np.array(actor.lips)[:, None, None] * (0.6 + 0.4 * shade), img)
    img = np.where(interior, np.array([0.18, 0.03, 0.06])[:, None, None], img)
    img = np.where(teeth, np.array([0.92, 0.9, 0.85])[:, None, None], img)
    img = np.where(eye, np.array([0.95, 0.95, 0.93])[:, None, None], img)
    img = np.where(iris, np.array(actor.iris)[:, None, None], img)
    img = np.where(pupil_disk & eye, 0.03, img)
    bg = np.stack([0.2 + 0.25 * xs, 0.25 + 0.2 * ys * (1 + 0.3 * np.sin(0.2 * i)), 0.35 - 0.15 * xs * ys])
    img = np.where(face, np.clip(img, 0, 1), bg)

    def down(x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], res, ss, res, ss).mean(axis=(2, 4)) if ss > 1 else x

    mask = down(face[None].astype(np.float64))[0] > 0.5
    cond = np.concatenate([down(nmfc), down(eyes_img), down(shape_img)])
    mouth_px = np.array([m.cx[i] + (-sa) * MOUTH_V * b, m.cy[i] + ca * MOUTH_V * b]) * res
    return cond, down(img), mask, mouth_px


def toy_clip(actor: ToyActor | int, frames: int, resolution: int = 64, seed: int = 0, name: str = "",
             supersample: int = 2) -> ActorClip:
    """``frames`` frames of ``actor`` moving with motion ``seed``, at ``resolution`` x ``resolution``."""
    actor = toy_actor(actor) if isinstance(actor, int) else actor
    motion = toy_motion(frames, seed)
    parts = [_render_frame(actor, motion, i, resolution, supersample) for i in range(frames)]
    return ActorClip(
        conditioning=np.stack([p[0] for p in parts]).astype(np.float32),
        frames=np.stack([p[1] for p in parts]).astype(np.float32),
        masks=np.stack([p[2] for p in parts]).astype(np.float32),
        mouth_centres=np.stack([p[3] for p in parts]).astype(np.float32),
        name=name or f"{actor.name}_m{seed}",
        actor=actor.name,
    )
