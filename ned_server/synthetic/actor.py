"""The synthetic actor: a textured procedural FLAME head that talks, blinks, looks around and emotes.

``SyntheticActor(seed)`` is one identity (shape coefficients, skin/hair/eye look, lighting) on the
procedural FLAME-format model, loaded through the real FLAME loader. ``render_sequence`` draws a
clip: speech-like jaw motion, blinks and the emotion's expression style (from
``synthetic.expressions``), head motion, gaze and a drifting camera over a moving background,
rendered with deferred shading, together with the exact ground truth of every frame.

Conventions: frames are display-referred sRGB float32 in [0, 1], (T, H, W, 3); ``linear_frames()``
undoes the sRGB curve. Pixel coordinates (landmarks, pupils) follow OpenCV (origin top-left, y
down, pixel centres at integers); ``camera`` is the orthographic (scale, tx, ty) of
``face3d.camera.project_orthographic`` for this frame size. Pupils are ordered actor's right eye
(landmarks 36-41) first. Everything is deterministic from the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, emotion_index
from ned_server.face3d.camera import RASTER_OFFSET, project_orthographic
from ned_server.face3d.config import FlameConfig
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.landmark_embedding import load_flame_masks
from ned_server.face3d.rotations import rotation_to_yaw_pitch_roll, yaw_pitch_roll_to_axis_angle
from ned_server.synthetic.background import MovingBackground
from ned_server.synthetic.colour import linear_to_srgb, srgb_to_linear
from ned_server.synthetic.config import ActorConfig, TinyFlameConfig
from ned_server.synthetic.expressions import emotion_expression_sequence, mix_emotion_sequence
from ned_server.synthetic.flame_assets import TinyFlameAssets, load_tiny_flame_extras, make_tiny_flame_assets
from ned_server.synthetic.flame_generator import vertex_normals
from ned_server.synthetic.motion import camera_track, gaze_track, head_pose_track
from ned_server.synthetic.procedural.mesh import PART_LEFT_EYE, PART_MOUTH, PART_RIGHT_EYE
from ned_server.synthetic.raster import Rasterizer, make_rasterizer
from ned_server.synthetic.semantics import ACTIONS, EMOTION_JAW_OFFSET, EMOTION_STYLES
from ned_server.synthetic.shading import Lighting, shade, socket_occlusion, vertex_occlusion
from ned_server.synthetic.texture import Appearance, TexelMap, paint_textures, texel_map

N_SHAPE, N_EXP = 100, 50


class SyntheticActorError(ValueError):
    """Bad request to the synthetic actor (the message says what is expected)."""


@dataclass
class ActorMotion:
    """Per-frame FLAME parameters of a clip (what ``render`` draws)."""

    expression: np.ndarray  # (T, 50)
    pose: np.ndarray  # (T, 15) global, neck, jaw, left eye, right eye axis-angles
    camera: np.ndarray  # (T, 3) orthographic scale, tx, ty
    emotion: np.ndarray  # (T,) index into EMOTIONS
    seed: int = 0

    def __post_init__(self) -> None:
        t = self.expression.shape[0]
        if self.expression.shape != (t, N_EXP) or self.pose.shape != (t, 15) or self.camera.shape != (t, 3):
            raise SyntheticActorError(
                f"motion arrays must be expression (T, {N_EXP}), pose (T, 15), camera (T, 3); got "
                f"{self.expression.shape}, {self.pose.shape}, {self.camera.shape}"
            )
        if self.emotion.shape != (t,):
            raise SyntheticActorError(f"emotion labels must be (T,) = ({t},), got {self.emotion.shape}")


@dataclass
class SyntheticClip:
    """Rendered frames and their ground truth (see the module docstring for conventions)."""

    frames: np.ndarray  # (T, H, W, 3) float32 sRGB in [0, 1]
    shape: np.ndarray  # (100,)
    expression: np.ndarray  # (T, 50)
    pose: np.ndarray  # (T, 15)
    camera: np.ndarray  # (T, 3)
    expression51: np.ndarray  # (T, 51) jaw opening then the 50 coefficients
    landmarks: np.ndarray  # (T, 68, 2) pixels (yaw-dependent contour, as a 2D detector sees them)
    landmarks3d: np.ndarray  # (T, 68, 3) FLAME-space points on the frontal contour
    face_mask: np.ndarray  # (T, H, W) bool: visible face, eyes and mouth
    mouth_mask: np.ndarray  # (T, H, W) bool: visible lips and mouth interior
    pupils: np.ndarray  # (T, 2, 2) pixels, actor's right eye first
    head_pose: np.ndarray  # (T, 3) yaw, pitch, roll of the head (global then neck) in radians
    blink: np.ndarray  # (T,) the blink coefficient (1 = closed)
    emotion: np.ndarray  # (T,) index into EMOTIONS
    emotions: tuple[str, ...] = EMOTIONS
    fps: float = 25.0
    seed: int = 0
    vertices: np.ndarray | None = field(default=None, repr=False)  # (T, V, 3) when asked for

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    def linear_frames(self) -> np.ndarray:
        """Scene-linear frames: the sRGB curve undone (the pipeline's real colour path is OCIO)."""
        return srgb_to_linear(self.frames)


@dataclass
class ActorIdentity:
    seed: int
    shape: np.ndarray
    look: Appearance
    light: Lighting
    albedo: np.ndarray
    specular: np.ndarray


_TEXEL_MAPS: dict[tuple, TexelMap] = {}
_OCCLUSION: dict[str, np.ndarray] = {}


class SyntheticActor:
    """One synthetic identity (see the module docstring)."""

    def __init__(
        self,
        seed: int = 0,
        config: ActorConfig | None = None,
        assets: TinyFlameAssets | str | Path | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.config = cfg = config or ActorConfig()
        self.seed = int(seed)
        if isinstance(assets, TinyFlameAssets):
            self.assets = assets
        else:
            self.assets = make_tiny_flame_assets(assets, seed=cfg.model_seed, config=TinyFlameConfig())
        self.device = torch.device(device)
        self.flame = FlameLayer(
            self.assets.model, self.assets.landmarks, FlameConfig(N_SHAPE, N_EXP), device=self.device
        )
        extras = load_tiny_flame_extras(self.assets.extras)
        self.uvs, self.part, self.weld = extras.uvs, extras.part, extras.weld
        self.faces = self.flame.faces.cpu().numpy()
        masks = load_flame_masks(self.assets.masks, self.flame.num_vertices)
        self.face_faces = self._faces_in(masks, ("face", "left_eyeball", "right_eyeball", "mouth_interior", "lips"))
        self.mouth_faces = self._faces_in(masks, ("lips", "mouth_interior"))
        template = self.flame.v_template.cpu().numpy()
        key = str(self.assets.model)
        if key not in _OCCLUSION:
            _OCCLUSION[key] = vertex_occlusion(
                template, self.faces, vertex_normals(template, self.faces, self.weld), self.weld
            )
        self.occlusion = _OCCLUSION[key]
        eye_ids = np.flatnonzero(self.part == PART_LEFT_EYE)
        joint = self.flame.j_regressor.cpu().numpy() @ template
        self.eye_radius = float(template[eye_ids, 2].max() - joint[3, 2])
        self.identity = self._make_identity()
        self._rasterizers: dict[tuple[int, int], Rasterizer] = {}

    # ------------------------------------------------------------------ identity
    def _faces_in(self, masks: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
        member = np.zeros(self.flame.num_vertices, bool)
        for n in names:
            if n in masks:
                member[masks[n]] = True
        return member[self.faces].all(1)

    def _make_identity(self) -> ActorIdentity:
        cfg = self.config
        rng = np.random.default_rng([self.seed, 7919])
        shape = np.zeros(N_SHAPE, np.float32)
        shape[:14] = rng.normal(0, 1.0, 14) * cfg.shape_std
        shape[14:] = rng.normal(0, 0.7, N_SHAPE - 14) * cfg.shape_std
        look = Appearance.sample(rng)
        light = Lighting.sample(rng)
        key = (str(self.assets.model), cfg.texture_size)
        if key not in _TEXEL_MAPS:
            _TEXEL_MAPS[key] = texel_map(
                self.flame.v_template.cpu().numpy(), self.faces, self.uvs, self.part, cfg.texture_size
            )
        albedo, spec = paint_textures(_TEXEL_MAPS[key], look, rng)
        return ActorIdentity(self.seed, shape, look, light, albedo, spec)

    # ------------------------------------------------------------------ motion
    def sample_motion(
        self,
        num_frames: int,
        emotion: str | Sequence[tuple[str, int]] = "neutral",
        seed: int | None = None,
        intensity: float = 1.0,
    ) -> ActorMotion:
        """Expression, pose, gaze and camera of a clip; ``emotion`` is one label or [(label, frames), ...]."""
        n = int(num_frames)
        if n < 1 or n != num_frames:
            raise SyntheticActorError(f"num_frames must be a positive integer, got {num_frames!r}")
        cfg = self.config
        clip_seed = self.seed * 1_000_003 + (0 if seed is None else int(seed))
        rng = np.random.default_rng([clip_seed, 31])
        if isinstance(emotion, str):
            label = emotion_index(emotion)
            expr51 = _expression_sequence(EMOTIONS[label], n, rng, intensity, cfg.fps)
            labels = np.full(n, label, np.int64)
        else:
            segments = [(str(e), int(k)) for e, k in emotion]
            if sum(k for _, k in segments) != n:
                raise SyntheticActorError(
                    f"emotion segments cover {sum(k for _, k in segments)} frames, num_frames is {n}"
                )
            expr51, labels = _mixed_sequence(segments, rng, intensity)
        ypr = head_pose_track(n, rng, cfg.fps, cfg.head_motion)
        gaze = gaze_track(n, rng, cfg.fps, cfg.gaze_motion)
        cam = camera_track(n, rng, cfg.face_scale, cfg.fps, cfg.camera_motion)
        pose = np.zeros((n, 15), np.float32)
        pose[:, 0:3] = yaw_pitch_roll_to_axis_angle(torch.tensor(ypr, dtype=torch.float64)).numpy()
        pose[:, 6] = expr51[:, 0]
        # Gaze: the same direction for both eyes with a touch of vergence.
        for j, verge in ((9, -0.02), (12, 0.02)):
            eye = np.column_stack([gaze[:, 0] + verge, gaze[:, 1], np.zeros(n)])
            pose[:, j : j + 3] = yaw_pitch_roll_to_axis_angle(torch.tensor(eye, dtype=torch.float64)).numpy()
        return ActorMotion(
            expression=expr51[:, 1:].astype(np.float32),
            pose=pose,
            camera=cam.astype(np.float32),
            emotion=labels,
            seed=clip_seed,
        )

    # ------------------------------------------------------------------ rendering
    def render_sequence(
        self,
        num_frames: int,
        emotion: str | Sequence[tuple[str, int]] = "neutral",
        seed: int | None = None,
        intensity: float = 1.0,
        width: int | None = None,
        height: int | None = None,
        keep_vertices: bool = False,
    ) -> SyntheticClip:
        """Sample a clip's motion (``sample_motion``) and render it (``render``)."""
        motion = self.sample_motion(num_frames, emotion, seed, intensity)
        return self.render(motion, width, height, keep_vertices=keep_vertices)

    def render(
        self, motion: ActorMotion, width: int | None = None, height: int | None = None, keep_vertices: bool = False
    ) -> SyntheticClip:
        """Render given FLAME parameters (e.g. a manipulated expression track) for this identity."""
        cfg = self.config
        w = int(width or cfg.width)
        h = int(height or cfg.height)
        if w < 16 or h < 16:
            raise SyntheticActorError(f"frames must be at least 16x16, got {w}x{h}")
        n = motion.expression.shape[0]
        ss = cfg.supersample
        geo = self._geometry(motion, w, h, ss)
        verts, proj_ss = geo["vertices"], geo["projected"]
        bg_rng = np.random.default_rng([motion.seed, 101])
        background = MovingBackground(w, h, n, bg_rng, cfg.fps, cfg.background_motion)
        noise_rng = np.random.default_rng([motion.seed, 202])
        key = (w * ss, h * ss)
        if key not in self._rasterizers:
            self._rasterizers[key] = make_rasterizer(w * ss, h * ss, cfg.raster_backend)
        raster = self._rasterizers[key]
        frames = np.zeros((n, h, w, 3), np.float32)
        face_mask = np.zeros((n, h, w), bool)
        mouth_mask = np.zeros((n, h, w), bool)
        px_per_mm = float(np.median(motion.camera[:, 0])) * min(w, h) * ss / 2 / 1000.0
        chunk = 8
        for s0 in range(0, n, chunk):
            s1 = min(n, s0 + chunk)
            normals = np.stack([vertex_normals(v, self.faces, self.weld) for v in verts[s0:s1]])
            attrs = np.concatenate(
                [
                    np.broadcast_to(self.uvs, (s1 - s0, *self.uvs.shape)),
                    normals,
                    np.broadcast_to(self.occlusion[:, None], (s1 - s0, len(self.occlusion), 1)),
                    np.broadcast_to(self.part[:, None].astype(np.float32), (s1 - s0, len(self.part), 1)),
                ],
                2,
            )
            vpx = proj_ss[s0:s1].copy()
            vpx[..., :2] += RASTER_OFFSET * ss  # OpenCV -> raster pixels, at the supersampled scale
            ras = raster.rasterize(vpx.astype(np.float32), self.faces, attrs.astype(np.float32))
            for k in range(s1 - s0):
                t = s0 + k
                frames[t], face_mask[t], mouth_mask[t] = self._shade_frame(
                    ras, k, background.frame(t), w, h, ss, px_per_mm, noise_rng
                )
        expr51 = np.concatenate([motion.pose[:, 6:7], motion.expression], 1).astype(np.float32)
        return SyntheticClip(
            frames=frames,
            shape=self.identity.shape.copy(),
            expression=motion.expression.copy(),
            pose=motion.pose.copy(),
            camera=motion.camera.copy(),
            expression51=expr51,
            landmarks=geo["landmarks"],
            landmarks3d=geo["landmarks3d"],
            face_mask=face_mask,
            mouth_mask=mouth_mask,
            pupils=geo["pupils"],
            head_pose=geo["head_pose"],
            blink=motion.expression[:, ACTIONS["blink"]].copy(),
            emotion=motion.emotion.copy(),
            fps=cfg.fps,
            seed=motion.seed,
            vertices=verts.astype(np.float32) if keep_vertices else None,
        )

    def _geometry(self, motion: ActorMotion, w: int, h: int, ss: int, chunk: int = 64) -> dict[str, np.ndarray]:
        """Pose the model for every frame (in chunks, bounding memory) and project what the frames need."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("vertices", "projected", "landmarks", "landmarks3d",
                                                               "pupils", "head_pose")}
        shape = torch.tensor(self.identity.shape)[None].to(self.device)
        n = motion.expression.shape[0]
        with torch.no_grad():
            for s0 in range(0, n, chunk):
                sl = slice(s0, min(n, s0 + chunk))
                out = self.flame(shape, torch.tensor(motion.expression[sl]).to(self.device),
                                 torch.tensor(motion.pose[sl]).to(self.device))
                cam = torch.tensor(motion.camera[sl]).to(self.device)
                parts["vertices"].append(out.vertices.cpu().numpy())
                parts["projected"].append(project_orthographic(out.vertices, cam, w * ss, h * ss).cpu().numpy())
                parts["landmarks"].append(project_orthographic(out.landmarks, cam, w, h)[..., :2].cpu().numpy())
                parts["landmarks3d"].append(out.landmarks3d.cpu().numpy())
                # Pupil = the eyeball's front pole turned by the eye joint; actor's right eye (joint 4) first.
                eye_rot = out.transforms[:, 3:5, :3, :3]
                front = torch.tensor([0.0, 0.0, self.eye_radius], dtype=eye_rot.dtype, device=eye_rot.device)
                pupils3d = out.joints[:, 3:5] + torch.einsum("bjmn,n->bjm", eye_rot, front)
                parts["pupils"].append(project_orthographic(pupils3d[:, [1, 0]], cam, w, h)[..., :2].cpu().numpy())
                # The neck joint's world rotation is global @ neck: the head's orientation.
                parts["head_pose"].append(rotation_to_yaw_pitch_roll(out.transforms[:, 1, :3, :3]).cpu().numpy())
        return {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}

    def _shade_frame(
        self, ras, k: int, bg: np.ndarray, w: int, h: int, ss: int, px_per_mm: float, noise_rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = ras.attributes[k]
        covered = ras.mask[k]
        fidx = ras.face_index[k]
        uv = a[..., 0:2]
        tex = self.identity.albedo
        ts = tex.shape[0]
        mx = (uv[..., 0] * ts - 0.5).astype(np.float32)
        my = ((1 - uv[..., 1]) * ts - 0.5).astype(np.float32)
        albedo = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        spec = cv2.remap(self.identity.specular, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        part = np.where(covered, np.rint(a[..., 6]).astype(np.int64), -1)
        eye = (part == PART_LEFT_EYE) | (part == PART_RIGHT_EYE)
        ao = np.where(covered, a[..., 5], 1.0) * socket_occlusion(eye, px_per_mm)
        mouth_px = part == PART_MOUTH
        if mouth_px.any():
            ao = ao * socket_occlusion(mouth_px, px_per_mm * 1.5)
        rgb = shade(albedo, spec, a[..., 2:5], ao, part, covered, self.identity.light)
        safe = np.where(covered, fidx, 0)
        facing_back = covered & (a[..., 4] < -0.05) & ~eye & ~mouth_px
        face = covered & (self.face_faces[safe] | facing_back)
        face = covered & (cv2.morphologyEx(face.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0)
        mouth = covered & self.mouth_faces[safe]
        if ss > 1:
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            cov = cv2.resize(covered.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            face = cv2.resize(face.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.5
            mouth = cv2.resize(mouth.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.5
        else:
            cov = covered.astype(np.float32)
        # rgb is premultiplied by coverage after the area average: composite over the background.
        lin = rgb + bg * (1 - cov[..., None])
        out = linear_to_srgb(lin)
        if self.config.noise > 0:
            out = out + noise_rng.normal(0, self.config.noise, out.shape).astype(np.float32)
        return np.clip(out, 0, 1).astype(np.float32), face, mouth


def _expression_sequence(emotion: str, n: int, rng: np.random.Generator, intensity: float, fps: float) -> np.ndarray:
    if emotion_expression_sequence is not None:
        out = np.asarray(emotion_expression_sequence(emotion, n, rng, intensity), np.float32)
        if out.shape == (n, EXPRESSION_DIM):
            return out
    return _fallback_sequence(emotion, n, rng, intensity, fps)


def _mixed_sequence(
    segments: list[tuple[str, int]], rng: np.random.Generator, intensity: float
) -> tuple[np.ndarray, np.ndarray]:
    if mix_emotion_sequence is not None:
        expr, labels = mix_emotion_sequence(segments, rng, intensity=intensity)
        return np.asarray(expr, np.float32), np.asarray(labels, np.int64)
    parts, labels = [], []
    for e, k in segments:
        parts.append(_fallback_sequence(e, k, rng, intensity, 25.0))
        labels.append(np.full(k, emotion_index(e), np.int64))
    return np.concatenate(parts), np.concatenate(labels)


def _fallback_sequence(emotion: str, n: int, rng: np.random.Generator, intensity: float, fps: float) -> np.ndarray:
    """Minimal stand-in for synthetic.expressions (used only if that module is missing)."""
    name = EMOTIONS[emotion_index(emotion)]
    t = np.arange(n) / fps
    jaw = np.clip(
        0.12
        * (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)))
        * (np.sin(2 * np.pi * 0.4 * t + rng.uniform(0, 6)) > -0.3),
        0,
        0.35,
    )
    out = np.zeros((n, EXPRESSION_DIM), np.float32)
    out[:, 0] = np.clip(jaw + EMOTION_JAW_OFFSET[name] * intensity, 0, None)
    for action, weight in EMOTION_STYLES[name].items():
        out[:, 1 + ACTIONS[action]] = weight * intensity
    blink = np.zeros(n)
    for start in np.arange(rng.uniform(0, 2), t[-1] + 1e-9 if n else 0, 3.0):
        blink = np.maximum(blink, np.clip(1 - np.abs(t - start) / 0.12, 0, 1))
    out[:, 1 + ACTIONS["blink"]] = blink
    return out
