"""Benchmark of the neural face renderer on the synthetic 3D actor, through the tracked-shot bridge (CPU).

    python tests/bench/renderer.py           # tiny preset at 64 px, 2000 iterations (several minutes)
    python tests/bench/renderer.py --quick   # 250 iterations of 1 sequence, less data (under a minute)

Data: the synthetic 3D actor of ``ned_server.synthetic`` (a textured FLAME head that talks, blinks,
looks around and moves in front of a moving background), each shot turned into a ground-truth
track (``synthetic.track.ground_truth_track``: exact FLAME parameters, alignment by the tracking
stage's own Procrustes) and then into training clips exactly as a tracked shot is:
``renderer.shot_data.actor_clips_from_shot`` (frames cut into the aligned crop, anti-aliased) with
the conditioning drawn by ``conditioning.shot.FaceConditioner`` (GLSL, headless EGL). Trains the
``tiny`` preset (all of the paper's losses but VGG) on shots of one actor, then renders held-out
shots of the same actor (other motion, same emotions) frame by frame and reports the paper's
self-reenactment metrics, APD, FAPD and mouth-APD (0-255 units; the mouth window is 72 px at 256,
18 px at 64), against the trivial baseline of the mean training face pasted into each frame's
face mask, with their ratios (lower is better; below 1 beats the baseline). Where dlib's
face-recognition ResNet is installed (optional: ``pip install dlib-bin face-recognition-models``,
see ``renderer.fid``), also the paper's FID on face-recognition features of the held-out frames
against the rendered ones (and against the mean-face baseline); without it the figure is skipped
with the reason printed.

Also: the largest difference between a chunk rendered with each preroll and the same frames of a
full run (on a held-out shot); frames/s of the bridge itself at 256x256 (FLAME, conditioning
images and the aligned frame, per frame); and frames/s at 256x256 of the tiny and the paper-sized
generator (weights do not change the speed), on that bridge's conditioning.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ned_server.conditioning.shot import FaceConditioner  # noqa: E402
from ned_server.face3d.landmark_embedding import load_flame_masks  # noqa: E402
from ned_server.renderer import checkpoint as ckpt_io  # noqa: E402
from ned_server.renderer.config import RendererConfig, TrainConfig, paper_config, tiny_config  # noqa: E402
from ned_server.renderer.dataset import ActorClip  # noqa: E402
from ned_server.renderer.fid import face_feature_extractor, frechet_distance  # noqa: E402
from ned_server.renderer.inference import FaceRenderer, chunk_difference  # noqa: E402
from ned_server.renderer.metrics import all_metrics  # noqa: E402
from ned_server.renderer.networks import build_generator  # noqa: E402
from ned_server.renderer.shot_data import actor_clips_from_shot  # noqa: E402
from ned_server.renderer.train import RendererTrainer, TrainProgress  # noqa: E402
from ned_server.synthetic.actor import SyntheticActor  # noqa: E402
from ned_server.synthetic.config import ActorConfig  # noqa: E402
from ned_server.synthetic.track import ground_truth_track  # noqa: E402

ACTOR_SEED = 3
EMOTIONS = ("happy", "neutral", "surprised", "sad")


def untrained(cfg: RendererConfig) -> FaceRenderer:
    torch.manual_seed(0)
    return FaceRenderer({"format": ckpt_io.FORMAT, "config": cfg.to_dict(),
                         "generator": build_generator(cfg).state_dict()})


def fps(renderer: FaceRenderer, cond: np.ndarray, masks: np.ndarray) -> float:
    renderer.render_sequence(cond[:1], masks[:1])  # warm-up
    t0 = time.perf_counter()
    renderer.render_sequence(cond, masks)
    return len(cond) / (time.perf_counter() - t0)


def shot(actor: SyntheticActor, conditioner: FaceConditioner, frames: int, emotion: str, seed: int) -> ActorClip:
    """One synthetic shot through the bridge: ground-truth track, frames one at a time, one clip."""
    clip = actor.render_sequence(frames, emotion, seed=seed)
    track = ground_truth_track(clip)
    (out,) = actor_clips_from_shot(track, enumerate(clip.frames), conditioner, name=f"{emotion}{seed}",
                                   actor=f"synthetic{ACTOR_SEED}", min_length=frames)
    return out


def bridge_fps(actor: SyntheticActor, conditioner: FaceConditioner, frames: int) -> tuple[float, ActorClip]:
    """Frames/s of the bridge from 256x256 plates at the conditioner's size (plates rendered beforehand)."""
    clip = actor.render_sequence(frames + 1, "happy", seed=7, width=256, height=256)
    track = ground_truth_track(clip)
    actor_clips_from_shot(track, [(0, clip.frames[0])], conditioner, min_length=1)  # warm-up
    t0 = time.perf_counter()
    (out,) = actor_clips_from_shot(track, list(enumerate(clip.frames))[1:], conditioner, min_length=1)
    return frames / (time.perf_counter() - t0), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--iterations", type=int)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: this machine's cores are shared)")
    ap.add_argument("--out", type=Path, help="keep the training folder (curves, samples) here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = 64
    iterations = args.iterations or (250 if args.quick else 2000)
    # --quick: batches of 1 sequence, more steps for the time (what a run this short needs most)
    cfg = replace(tiny_config(res), batch_size=1) if args.quick else tiny_config(res)
    n_train, n_frames = (2, 60) if args.quick else (4, 120)
    n_test, test_frames = (2, 40) if args.quick else (4, 60)

    t0 = time.perf_counter()
    actor = SyntheticActor(ACTOR_SEED, ActorConfig(width=128, height=128, texture_size=256 if args.quick else 512))
    masks = load_flame_masks(actor.assets.masks, actor.flame.num_vertices)
    with FaceConditioner(actor.flame, masks, resolution=res) as conditioner:
        train = [shot(actor, conditioner, n_frames, EMOTIONS[i % len(EMOTIONS)], 1 + i) for i in range(n_train)]
        test = [shot(actor, conditioner, test_frames, EMOTIONS[i % len(EMOTIONS)], 100 + i) for i in range(n_test)]
    data_s = time.perf_counter() - t0

    tmp = tempfile.TemporaryDirectory()
    out = args.out or Path(tmp.name) / "run"
    last = [time.perf_counter()]

    def progress(p: TrainProgress) -> None:
        if time.perf_counter() - last[0] > 10 or p.iteration == p.total:
            last[0] = time.perf_counter()
            print(f"  iteration {p.iteration}/{p.total}  L1 {p.losses['G/l1']:.4f}  "
                  f"D {p.losses.get('D/total', float('nan')):.3f}  eta {p.eta_seconds:.0f}s", flush=True)

    print(f"training the tiny renderer at {res}px on {n_train} synthetic 3D shots x {n_frames} frames "
          f"(bridge: {data_s:.1f}s), {iterations} iterations ...", flush=True)
    t0 = time.perf_counter()
    result = RendererTrainer(train, out, cfg, TrainConfig(iterations=iterations, checkpoint_every=500,
                                                                       log_every=10), progress=progress).train()
    train_s = time.perf_counter() - t0
    renderer = FaceRenderer(result.renderer)

    mean_face = np.concatenate([c.frames for c in train]).mean(0)
    ours: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    composites: dict[str, list[np.ndarray]] = {"real": [], "renderer": [], "mean_face": []}
    for clip in test:
        m = clip.masks[:, None]
        gen = renderer.render_sequence(clip.conditioning, clip.masks)
        composites["real"].append(clip.frames)
        composites["renderer"].append(gen * m + clip.frames * (1 - m))
        composites["mean_face"].append(mean_face * m + clip.frames * (1 - m))
        for k, v in all_metrics(clip.frames, gen * m + clip.frames * (1 - m), clip.masks,
                                clip.mouth_centres).items():
            ours.setdefault(k, []).append(v)
        for k, v in all_metrics(clip.frames, mean_face * m + clip.frames * (1 - m), clip.masks,
                                clip.mouth_centres).items():
            base.setdefault(k, []).append(v)
    o = {k: float(np.mean(v)) for k, v in ours.items()}
    b = {k: float(np.mean(v)) for k, v in base.items()}
    preroll = renderer.config.preroll
    chunk = chunk_difference(renderer, test[0].conditioning, test[0].masks, test_frames // 2,
                             prerolls=(0, 2, 4, preroll))

    fid_figures: dict[str, float | str] = {}
    extract, fid_network = face_feature_extractor()
    if extract is None:
        print(f"FID skipped: {fid_network}", flush=True)
    else:
        feats = {k: extract(np.concatenate(v).transpose(0, 2, 3, 1)) for k, v in composites.items()}
        fid_r = frechet_distance(feats["real"], feats["renderer"])
        fid_b = frechet_distance(feats["real"], feats["mean_face"])
        fid_figures = {"FID_network": fid_network.split(" (")[0], "FID_renderer": round(fid_r, 4),
                       "FID_mean_face": round(fid_b, 4), "FID_ratio_vs_mean_face": round(fid_r / max(fid_b, 1e-12), 3)}

    print("timing the bridge and the generators at 256x256 ...", flush=True)
    with FaceConditioner(actor.flame, masks, resolution=256) as conditioner256:
        fps_bridge, big = bridge_fps(actor, conditioner256, 8 if args.quick else 24)
    fps_tiny = fps(untrained(tiny_config(256)), big.conditioning, big.masks)
    n_paper = 2 if args.quick else 4
    fps_paper = fps(untrained(paper_config()), big.conditioning[:n_paper], big.masks[:n_paper])

    figures = {
        "data": "synthetic 3D actor via ground-truth track -> FaceConditioner -> actor_clips_from_shot",
        "preset": "tiny",
        "batch_size": cfg.batch_size,
        "resolution": res,
        "train_iterations": result.iterations,
        "train_seconds": round(train_s, 1),
        "bridge_seconds": round(data_s, 1),
        "train_frames": sum(len(c) for c in train),
        "heldout_frames": sum(len(c) for c in test),
        "APD_renderer": round(o["APD"], 2),
        "APD_mean_face": round(b["APD"], 2),
        "APD_ratio_vs_mean_face": round(o["APD"] / b["APD"], 3),
        "FAPD_renderer": round(o["FAPD"], 2),
        "FAPD_mean_face": round(b["FAPD"], 2),
        "FAPD_ratio_vs_mean_face": round(o["FAPD"] / b["FAPD"], 3),
        "mouth_APD_renderer": round(o["mouth_APD"], 2),
        "mouth_APD_mean_face": round(b["mouth_APD"], 2),
        "mouth_APD_ratio_vs_mean_face": round(o["mouth_APD"] / b["mouth_APD"], 3),
        **fid_figures,
        "chunk_max_diff_preroll_0": f"{chunk[0]:.2e}",
        "chunk_max_diff_preroll_2": f"{chunk[2]:.2e}",
        "chunk_max_diff_preroll_4": f"{chunk[4]:.2e}",
        f"chunk_max_diff_preroll_{preroll}_default": f"{chunk[preroll]:.2e}",
        "fps_256_bridge_cpu": round(fps_bridge, 2),
        "fps_256_tiny_cpu": round(fps_tiny, 2),
        "fps_256_paper_cpu": round(fps_paper, 3),
        "fps_ratio_tiny_vs_paper": round(fps_tiny / fps_paper, 1),
        "threads": torch.get_num_threads(),
    }
    if args.out:
        print(f"curves: {result.plot}\nsamples: {result.sheet}")
    for key, value in figures.items():
        print(f"{key}: {value}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
