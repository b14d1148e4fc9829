"""Benchmark of full-resolution face edits (render = hybrid | warp | neural) on the synthetic actor.

    python tests/bench/hybrid.py            # 24 frames at 512, sharpness and speed at 512, 2K and 4K
    python tests/bench/hybrid.py --quick    # 8 frames at 384, fewer repetitions (about a minute)

The truth is known: the synthetic actor is filmed talking, then filmed again with a new expression
(the "surprised" style added: brows up, lids wide open, the jaw 0.12 rad more open, so both the
mouth interior and the eyes uncover what the original hides) with the same camera, light,
background and grain. Each mode edits the original towards that expression:

* neural: the paper's path (``composite.plate``): the renderer's aligned face un-aligned and
  blended over the plate. The renderer is an ORACLE: the truth itself, cut to the aligned crop at
  the renderer's resolution (256, the paper's) and masked like a renderer's output, so the figures
  show what resolution alone costs even with a perfect network (a trained one only does worse);
* warp: the plate resampled through the warp's backward map (``conditioning.warp`` +
  ``composite.edit``), no network;
* hybrid: the warp, with the same oracle neural face blended in only where the warp cannot explain
  the frame.

Figures: PSNR and SSIM (display sRGB, over the face box) and FAPD (mean L2 RGB distance in 0-255
over the truth's face pixels, the paper's metric) against the truth, and their ratios; sharpness
= high-frequency energy (mean squared Laplacian of luminance over the face) of the output over the
original's, at 512, 2K (2048x1080) and 4K (4096x2160); speech = correlation over the clip of the
jaw opening re-tracked on the output (landmarks followed from the original by pyramidal
Lucas-Kanade, FAN's weights being unavailable, then the tracker's FLAME fit) with the original's,
next to the same figure for the truth; intensity 0 = the plate comes back bit for bit; speed =
frames/s of map + resample + blend on one face at 2K and 4K against the neural path's non-network
time (conditioning at 256 + un-align + blend), interleaved, best of N.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/bench/composite.py

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ned_server.composite.align import warp_affine  # noqa: E402
from ned_server.composite.config import CompositeConfig  # noqa: E402
from ned_server.composite.edit import edit_face, edit_plate  # noqa: E402
from ned_server.composite.plate import composite_frame, over, plate_box  # noqa: E402
from ned_server.conditioning.shot import FaceConditioner, crop_matrices  # noqa: E402
from ned_server.conditioning.warp import WarpMapper  # noqa: E402
from ned_server.face3d.landmark_embedding import load_flame_masks  # noqa: E402
from ned_server.synthetic.actor import ActorMotion, SyntheticActor, SyntheticClip  # noqa: E402
from ned_server.synthetic.colour import linear_to_srgb  # noqa: E402
from ned_server.synthetic.config import ActorConfig  # noqa: E402
from ned_server.synthetic.semantics import ACTIONS, EMOTION_JAW_OFFSET, EMOTION_STYLES  # noqa: E402
from ned_server.synthetic.track import ground_truth_track  # noqa: E402
from ned_server.tracking.config import TrackingConfig  # noqa: E402
from ned_server.tracking.fitting import fit_shot  # noqa: E402
from tests.edit_measures import high_frequency_energy  # noqa: E402

RENDERER = 256  # the paper's renderer resolution
TARGET = "surprised"
MODES = ("neural", "warp", "hybrid")


# ---------------------------------------------------------------------- the scene
def edited_motion(motion: ActorMotion, emotion: str = TARGET, amount: float = 1.0) -> ActorMotion:
    """The same performance with an emotion's style added (expression and jaw), everything else equal."""
    e = motion.expression.copy()
    for name, weight in EMOTION_STYLES[emotion].items():
        e[:, ACTIONS[name]] += amount * weight
    pose = motion.pose.copy()
    pose[:, 6] += amount * EMOTION_JAW_OFFSET[emotion]
    return ActorMotion(e, pose, motion.camera.copy(), motion.emotion.copy(), motion.seed)


class Scene:
    """One clip at one plate size: original, truth, track, and what every mode needs."""

    def __init__(self, actor: SyntheticActor, original: SyntheticClip, truth: SyntheticClip) -> None:
        self.actor = actor
        self.original, self.truth = original, truth
        self.track = ground_truth_track(self.original, crop_size=RENDERER)
        self.new51 = self.truth.expression51
        self.A = crop_matrices(self.track.alignment, self.track.crop_size, RENDERER)
        self.linear = self.original.linear_frames()
        self.truth_linear = self.truth.linear_frames()
        w, h = original.size
        self.size = (h, w)

    @classmethod
    def filmed(cls, actor: SyntheticActor, size: tuple[int, int], frames: int, seed: int) -> Scene:
        motion = actor.sample_motion(frames, "neutral", seed=seed)
        w, h = size
        return cls(actor, actor.render(motion, w, h), actor.render(edited_motion(motion), w, h))

    def enlarged(self, k: int, seed: int = 0) -> Scene:
        """The same scene on a plate k times larger: frames enlarged (cubic) with fresh grain at the new
        resolution, geometry scaled exactly (the orthographic camera scales with the frame)."""
        rng = np.random.default_rng(seed)
        h, w = self.size
        M = np.array([[k, 0.0, 0.0], [0.0, k, 0.0]])
        grain = None

        def big(clip: SyntheticClip) -> SyntheticClip:
            nonlocal grain
            frames = np.stack([cv2.warpAffine(f, M, (w * k, h * k), flags=cv2.INTER_CUBIC,
                                              borderMode=cv2.BORDER_REPLICATE) for f in clip.frames])
            if grain is None:
                grain = rng.normal(0.0, 0.004, frames.shape).astype(np.float32)
            masks = np.stack([cv2.warpAffine(m.astype(np.uint8), M, (w * k, h * k), flags=cv2.INTER_NEAREST)
                              for m in clip.face_mask]).astype(bool)
            return replace(clip, frames=np.clip(frames + grain, 0.0, 1.0), landmarks=clip.landmarks * k,
                           pupils=clip.pupils * k, face_mask=masks, mouth_mask=masks)

        return Scene(self.actor, big(self.original), big(self.truth))


def oracle_face(truth_linear: np.ndarray, A: np.ndarray) -> np.ndarray:
    """(3, S, S): the truth cut to the aligned crop at the renderer's resolution, low-passed first like
    a real image at that resolution (no aliasing)."""
    zoom = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))
    sigma = max(0.0, 0.5 / zoom - 0.5) if zoom < 1 else 0.0
    src = cv2.GaussianBlur(truth_linear, (0, 0), sigma) if sigma > 0.05 else truth_linear
    t = torch.from_numpy(np.ascontiguousarray(src)).permute(2, 0, 1)[None]
    return warp_affine(t, torch.from_numpy(A), (RENDERER, RENDERER))[0].numpy()


class Editor:
    """The three modes on one scene, frame by frame."""

    def __init__(self, scene: Scene, conditioner: FaceConditioner, cfg: CompositeConfig) -> None:
        self.s = scene
        self.cond = conditioner
        self.cfg = cfg
        self.mapper = WarpMapper(conditioner.faces, feather_px=max(8.0, 2.0 * cfg.feather_px),
                        reveal_vertices=conditioner.reveal_vertices)

    def neural_inputs(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.s
        c = self.cond.render(s.track, np.array([t]), expression51=s.new51[t:t + 1])
        return oracle_face(s.truth_linear[t], s.A[t]) * c.face_masks[0][None], c.face_masks[0]

    def neural(self, t: int, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return composite_frame(face, self.s.linear[t], self.s.A[t], mask, self.cfg)

    def maps(self, t: int, new51: np.ndarray | None = None):  # type: ignore[no-untyped-def]
        s = self.s
        box = plate_box(s.A[t], RENDERER, s.size, self.cfg)
        e = s.new51[t] if new51 is None else new51
        pair = self.cond.plate_vertices(s.track, np.array([t, t]), np.stack([s.track.expression51[t], e]))
        if np.array_equal(e, s.track.expression51[t]):
            pair[1] = pair[0]
        return box, self.mapper.maps(pair[1], pair[0], box.as_tuple())

    def edit(self, t: int, hybrid: bool, face: np.ndarray | None = None, mask: np.ndarray | None = None,
             new51: np.ndarray | None = None):  # type: ignore[no-untyped-def]
        s = self.s
        box, maps = self.maps(t, new51)
        rows, cols = box.slices
        px = torch.from_numpy(np.ascontiguousarray(s.linear[t][rows, cols])).permute(2, 0, 1)[None].contiguous()
        return edit_face(px, box, maps.offset, maps.moved, maps.neural if hybrid else None,
                         rendered=None if face is None else torch.from_numpy(face),
                         mask=None if mask is None else torch.from_numpy(mask), A=s.A[t],
                         feather_px=self.cfg.feather_px, levels=self.cfg.levels)

    def frame(self, t: int, mode: str) -> np.ndarray:
        s = self.s
        face, mask = self.neural_inputs(t) if mode != "warp" else (None, None)
        if mode == "neural":
            return self.neural(t, face, mask)
        layers = self.edit(t, mode == "hybrid", face, mask)
        plate = edit_plate(layers, s.size)
        return over(plate, s.linear[t])


# ---------------------------------------------------------------------- metrics
def srgb8(linear: np.ndarray) -> np.ndarray:
    return np.clip(linear_to_srgb(np.clip(linear, 0.0, None)), 0.0, 1.0) * 255.0


def face_box(mask: np.ndarray, pad: int = 4) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    return slice(max(0, ys.min() - pad), ys.max() + 1 + pad), slice(max(0, xs.min() - pad), xs.max() + 1 + pad)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the luminance (Gaussian window sigma 1.5, the usual constants), 0-255 images."""
    ya, yb = (x @ np.array([0.2126, 0.7152, 0.0722]) for x in (a, b))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x.astype(np.float64), (0, 0), 1.5)  # noqa: E731
    ma, mb = blur(ya), blur(yb)
    va, vb, cov = blur(ya * ya) - ma * ma, blur(yb * yb) - mb * mb, blur(ya * yb) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def fapd(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1)[mask].mean())


def sharpness(img: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared Laplacian of the luminance over the face (high-frequency energy), of a 0-255 image."""
    return high_frequency_energy(img / 255.0, mask)


def retracked_landmarks(clip: SyntheticClip, frames_srgb: np.ndarray) -> np.ndarray:
    """(T, 68, 2) landmarks of output frames: the original's followed into each output frame by
    pyramidal Lucas-Kanade (a landmark tracker that needs no downloaded weights)."""
    out = []
    for t in range(clip.num_frames):
        a = cv2.cvtColor((clip.frames[t] * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        b = cv2.cvtColor(frames_srgb[t].astype(np.uint8), cv2.COLOR_RGB2GRAY)
        p0 = clip.landmarks[t].astype(np.float32).reshape(-1, 1, 2)
        p1, ok, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, winSize=(21, 21), maxLevel=3)
        p1 = np.where(ok.astype(bool)[..., None], p1, p0)
        out.append(p1.reshape(68, 2))
    return np.stack(out)


def jaw_from_landmarks(flame: torch.nn.Module, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    fit = fit_shot(landmarks, np.ones(len(landmarks), bool), flame, TrackingConfig().fit, frame_size=size)
    return fit.pose[:, 6].astype(np.float64)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


# ---------------------------------------------------------------------- measurements
def quality(scene: Scene, editor: Editor) -> dict[str, float]:
    s = scene
    per: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": [], "fapd": []} for m in MODES}
    outputs: dict[str, list[np.ndarray]] = {m: [] for m in MODES}
    for t in range(s.original.num_frames):
        truth = srgb8(s.truth_linear[t])
        mask = s.truth.face_mask[t]
        rows, cols = face_box(mask | s.original.face_mask[t])
        for m in MODES:
            out = srgb8(editor.frame(t, m))
            outputs[m].append(out)
            per[m]["psnr"].append(psnr(out[rows, cols], truth[rows, cols]))
            per[m]["ssim"].append(ssim(out[rows, cols], truth[rows, cols]))
            per[m]["fapd"].append(fapd(out, truth, mask))
    res = {f"{m}_{k}": float(np.mean(v)) for m in MODES for k, v in per[m].items()}
    res["hybrid_over_neural_fapd"] = res["hybrid_fapd"] / res["neural_fapd"]
    res["warp_over_neural_fapd"] = res["warp_fapd"] / res["neural_fapd"]
    res["hybrid_minus_neural_psnr_db"] = res["hybrid_psnr"] - res["neural_psnr"]
    res["hybrid_over_neural_ssim"] = res["hybrid_ssim"] / res["neural_ssim"]
    # speech: the jaw re-tracked on each output against the original's
    flame = s.actor.flame
    wh = (s.size[1], s.size[0])
    jaw0 = s.original.expression51[:, 0].astype(np.float64)
    truth_lm = retracked_landmarks(s.original, srgb8(s.truth_linear))
    res["truth_speech_corr"] = corr(jaw_from_landmarks(flame, truth_lm, wh), jaw0)
    for m in ("hybrid", "neural"):
        lm = retracked_landmarks(s.original, np.stack(outputs[m]))
        res[f"{m}_speech_corr"] = corr(jaw_from_landmarks(flame, lm, wh), jaw0)
    print(f"quality at {wh[0]}x{wh[1]}, {s.original.num_frames} frames, oracle renderer at {RENDERER}:")
    for m in MODES:
        print(f"  {m:7s} PSNR {res[m + '_psnr']:6.2f} dB  SSIM {res[m + '_ssim']:.4f}  FAPD {res[m + '_fapd']:6.2f}")
    return res


def identity_exact(scene: Scene, editor: Editor) -> dict[str, float]:
    """Intensity 0 (the new expression is the original): the plate comes back bit for bit."""
    s = scene
    exact = True
    for t in range(s.original.num_frames):
        face, mask = editor.neural_inputs(t)
        layers = editor.edit(t, True, face, mask, new51=s.track.expression51[t])
        out = over(edit_plate(layers, s.size), s.linear[t])
        exact &= bool(np.array_equal(out, s.linear[t]))
    return {"hybrid_intensity0_exact": float(exact)}


def sharp_and_speed(scene: Scene, conditioner: FaceConditioner, cfg: CompositeConfig, name: str,
                    reps: int) -> dict[str, float]:
    frames = scene.original.num_frames
    size = (scene.size[1], scene.size[0])
    editor = Editor(scene, conditioner, cfg)
    res: dict[str, float] = {}
    for m in ("hybrid", "warp", "neural"):
        ratios = []
        for t in range(min(frames, 2)):
            mask = scene.truth.face_mask[t]
            ratios.append(sharpness(srgb8(editor.frame(t, m)), mask) / sharpness(srgb8(scene.linear[t]), mask))
        res[f"{m}_sharpness_ratio_{name}"] = float(np.mean(ratios))
    face, mask = editor.neural_inputs(0)
    timings = {"edit": [], "neural": []}

    def edit() -> None:
        editor.edit(0, True, face, mask)

    def neural() -> None:
        f, m = editor.neural_inputs(0)  # conditioning at 256 is the neural path's, outside the network
        editor.neural(0, f, m)

    for fn in (edit, neural):
        fn()
    for _ in range(reps):
        for key, fn in (("edit", edit), ("neural", neural)):
            t0 = time.perf_counter()
            fn()
            timings[key].append(time.perf_counter() - t0)
    res[f"hybrid_{name}_fps"] = 1.0 / min(timings["edit"])
    res[f"neural_nonnet_{name}_fps"] = 1.0 / min(timings["neural"])
    box = plate_box(scene.A[0], RENDERER, scene.size, cfg)
    print(f"{name} {size[0]}x{size[1]} (face box {box.width}x{box.height}): sharpness hybrid "
          f"{res[f'hybrid_sharpness_ratio_{name}']:.3f}, warp {res[f'warp_sharpness_ratio_{name}']:.3f}, neural "
          f"{res[f'neural_sharpness_ratio_{name}']:.3f}; "
          f"map+resample+blend {1e3 * min(timings['edit']):.0f} ms, neural non-network "
          f"{1e3 * min(timings['neural']):.0f} ms")
    editor.mapper.close()
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    frames, size, reps = (8, 384, 2) if args.quick else (24, 512, 5)
    t0 = time.perf_counter()
    actor = SyntheticActor(3, ActorConfig(supersample=1 if args.quick else 2))
    masks = load_flame_masks(actor.assets.masks, actor.flame.num_vertices)
    cfg = CompositeConfig()
    res: dict[str, float] = {}
    with FaceConditioner(actor.flame, masks, resolution=RENDERER) as conditioner:
        scene = Scene.filmed(actor, (size, size), frames, seed=11)
        editor = Editor(scene, conditioner, cfg)
        res.update(quality(scene, editor))
        res.update(identity_exact(scene, editor))
        res.update(sharp_and_speed(scene, conditioner, cfg, "512", reps))
        editor.mapper.close()
        # 2K and 4K: one 512x270 filming enlarged x4 and x8 (rendering the actor at 4K takes minutes)
        small = Scene.filmed(actor, (512, 270), 1, seed=5)
        for name, k in (("2k", 4), ("4k", 8)):
            res.update(sharp_and_speed(small.enlarged(k, seed=k), conditioner, cfg, name, reps))
    sizes = ("512", "2k", "4k")
    res["hybrid_sharpness_ratio"] = min(res[f"hybrid_sharpness_ratio_{n}"] for n in sizes)
    res["neural_sharpness_ratio"] = min(res[f"neural_sharpness_ratio_{n}"] for n in sizes)
    res["warp_sharpness_ratio"] = min(res[f"warp_sharpness_ratio_{n}"] for n in sizes)
    res["hybrid_2k_over_neural_nonnet_speed"] = res["hybrid_2k_fps"] / res["neural_nonnet_2k_fps"]
    res["hybrid_4k_over_neural_nonnet_speed"] = res["hybrid_4k_fps"] / res["neural_nonnet_4k_fps"]
    print(f"({time.perf_counter() - t0:.0f} s, torch {torch.get_num_threads()} threads)")
    for name, value in res.items():
        print(f"{name}: {value:.4g}")


if __name__ == "__main__":
    main()
