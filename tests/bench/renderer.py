"""Benchmark of the neural face renderer on a toy actor (CPU).

    python tests/bench/renderer.py           # tiny preset at 64 px, 2000 iterations (a few minutes)
    python tests/bench/renderer.py --quick   # 300 iterations, fewer timing frames (under a minute)

Data: the toy actor of ``ned_server.renderer.toy`` (2D faces whose look is a function of their
NMFC / eye / shape conditioning); the synthetic 3D actor of ``ned_server.synthetic`` has no
aligned-frames-and-conditioning generator yet. Trains the ``tiny`` preset (all of the paper's
losses but VGG) on clips of one actor, then renders held-out clips of the same actor (other
motion) frame by frame and reports the paper's self-reenactment metrics, APD, FAPD and mouth-APD
(0-255 units; the mouth window is 72 px at 256, scaled to 18 px at 64), against the trivial
baseline of the mean training face pasted into each frame's face mask, with their ratios (lower is
better; below 1 beats the baseline). Also: the largest difference between a chunk rendered with
the default preroll and the same frames of a full run, and frames/s at 256x256 of the tiny and
the paper-sized generator (weights do not change the speed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ned_server.renderer import checkpoint as ckpt_io  # noqa: E402
from ned_server.renderer.config import RendererConfig, TrainConfig, paper_config, tiny_config  # noqa: E402
from ned_server.renderer.inference import FaceRenderer, chunk_difference  # noqa: E402
from ned_server.renderer.metrics import all_metrics  # noqa: E402
from ned_server.renderer.networks import Generator  # noqa: E402
from ned_server.renderer.toy import toy_clip  # noqa: E402
from ned_server.renderer.train import RendererTrainer, TrainProgress  # noqa: E402


def untrained(cfg: RendererConfig) -> FaceRenderer:
    torch.manual_seed(0)
    return FaceRenderer({"format": ckpt_io.FORMAT, "config": cfg.to_dict(),
                         "generator": Generator(cfg.generator).state_dict()})


def fps(renderer: FaceRenderer, cond: np.ndarray, masks: np.ndarray) -> float:
    renderer.render_sequence(cond[:1], masks[:1])  # warm-up
    t0 = time.perf_counter()
    renderer.render_sequence(cond, masks)
    return len(cond) / (time.perf_counter() - t0)


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
    iterations = args.iterations or (300 if args.quick else 2000)
    n_train, n_frames = (2, 80) if args.quick else (3, 120)
    train = [toy_clip(1, n_frames, res, seed=s) for s in range(n_train)]
    test = [toy_clip(1, 60, res, seed=100 + s) for s in range(2)]

    tmp = tempfile.TemporaryDirectory()
    out = args.out or Path(tmp.name) / "run"
    last = [time.perf_counter()]

    def progress(p: TrainProgress) -> None:
        if time.perf_counter() - last[0] > 10 or p.iteration == p.total:
            last[0] = time.perf_counter()
            print(f"  iteration {p.iteration}/{p.total}  L1 {p.losses['G/l1']:.4f}  "
                  f"D {p.losses['D/total']:.3f}  eta {p.eta_seconds:.0f}s", flush=True)

    print(f"training the tiny renderer at {res}px on {n_train} toy clips x {n_frames} frames, "
          f"{iterations} iterations ...", flush=True)
    t0 = time.perf_counter()
    result = RendererTrainer(train, out, tiny_config(res), TrainConfig(iterations=iterations, checkpoint_every=500,
                                                                       log_every=10), progress=progress).train()
    train_s = time.perf_counter() - t0
    renderer = FaceRenderer(result.renderer)

    mean_face = np.concatenate([c.frames for c in train]).mean(0)
    ours: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    for clip in test:
        m = clip.masks[:, None]
        gen = renderer.render_sequence(clip.conditioning, clip.masks)
        for k, v in all_metrics(clip.frames, gen * m + clip.frames * (1 - m), clip.masks,
                                clip.mouth_centres).items():
            ours.setdefault(k, []).append(v)
        for k, v in all_metrics(clip.frames, mean_face * m + clip.frames * (1 - m), clip.masks,
                                clip.mouth_centres).items():
            base.setdefault(k, []).append(v)
    o = {k: float(np.mean(v)) for k, v in ours.items()}
    b = {k: float(np.mean(v)) for k, v in base.items()}
    preroll = renderer.config.preroll
    chunk = chunk_difference(renderer, test[0].conditioning, test[0].masks, 30, prerolls=(0, 2, 4, preroll))

    print("timing the generators at 256x256 ...", flush=True)
    big = toy_clip(1, 24 if not args.quick else 9, 256, seed=7, supersample=1)
    fps_tiny = fps(untrained(tiny_config(256)), big.conditioning[1:], big.masks[1:])
    n_paper = 2 if args.quick else 4
    fps_paper = fps(untrained(paper_config()), big.conditioning[1:1 + n_paper], big.masks[1:1 + n_paper])

    figures = {
        "data": "toy actor (ned_server.renderer.toy)",
        "preset": "tiny",
        "resolution": res,
        "train_iterations": result.iterations,
        "train_seconds": round(train_s, 1),
        "train_frames": n_train * n_frames,
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
        "chunk_max_diff_preroll_0": f"{chunk[0]:.2e}",
        "chunk_max_diff_preroll_2": f"{chunk[2]:.2e}",
        "chunk_max_diff_preroll_4": f"{chunk[4]:.2e}",
        f"chunk_max_diff_preroll_{preroll}_default": f"{chunk[preroll]:.2e}",
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
