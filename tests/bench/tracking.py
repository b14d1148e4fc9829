"""Benchmark of the 3D face analysis (tracking) stage on the synthetic actor (CPU).

    python tests/bench/tracking.py           # full: 6 shots x 100 frames at 256 px, plus a 400-frame shot
    python tests/bench/tracking.py --quick   # 3 shots x 48 frames (well under a minute)

Landmarks come "from another tracker": the actor's true landmarks plus 1 px Gaussian noise (FAN's
weights cannot be downloaded here); frames are the rendered sRGB frames, so pupils are measured from
pixels. Each shot is tracked with ``track_shot`` (the Track RPC's code path) and scored by
``ned_server.tracking.evaluation`` against the ground truth; every accuracy is printed beside a
baseline measured in the same run (zeros or the true shot mean for the expression, the noisy input
for the landmarks and their jitter, the eye's centre for the pupils, one fixed alignment for the
whole shot), averaged over the shots. Timings are CPU wall time on one thread: the whole
``track_shot`` per frame, the FLAME fit alone on the same landmarks, and the fit of a 400-frame shot
(full run only) to show that its cost per frame does not grow with the shot.
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

from ned_server.face3d.camera import orthographic_to_pixels  # noqa: E402
from ned_server.synthetic.actor import SyntheticActor  # noqa: E402
from ned_server.synthetic.config import ActorConfig  # noqa: E402
from ned_server.synthetic.flame_assets import make_tiny_flame_assets  # noqa: E402
from ned_server.tracking.config import TrackingConfig  # noqa: E402
from ned_server.tracking.evaluation import score_track  # noqa: E402
from ned_server.tracking.fitting import fit_shot  # noqa: E402
from ned_server.tracking.track import track_shot  # noqa: E402

NOISE_PX = 1.0
# actor seed, emotion (label or segments), (width, height), head motion, clip seed
SHOTS = [
    (1, "happy", (256, 256), 1.0, 3),
    (2, "angry", (288, 224), 1.5, 4),
    (4, [("neutral", 0.4), ("surprised", 0.6)], (256, 256), 1.0, 5),
    (5, "sad", (224, 288), 1.0, 6),
    (7, "fear", (256, 256), 2.0, 7),
    (8, "disgusted", (256, 256), 1.0, 8),
]


def _emotion(emotion, frames: int):  # type: ignore[no-untyped-def]
    """A label, or segments given as fractions of the shot turned into frame counts."""
    if isinstance(emotion, str):
        return emotion
    counts = [round(f * frames) for _, f in emotion]
    counts[-1] = frames - sum(counts[:-1])
    return [(e, n) for (e, _), n in zip(emotion, counts, strict=True)]


def run_shot(assets, spec, frames: int, supersample: int, config: TrackingConfig) -> dict[str, float]:  # type: ignore[no-untyped-def]
    seed, emotion, (w, h), head, clip_seed = spec
    cfg = ActorConfig(width=w, height=h, texture_size=256 if supersample == 1 else 512, supersample=supersample,
                      head_motion=head)
    actor = SyntheticActor(seed, cfg, assets=assets)
    clip = actor.render_sequence(frames, _emotion(emotion, frames), seed=clip_seed)
    given = clip.landmarks + np.random.default_rng(seed).normal(0.0, NOISE_PX, clip.landmarks.shape)
    t0 = time.perf_counter()
    track = track_shot(list(enumerate(clip.frames)), actor.flame, config, landmarks=dict(enumerate(given)))
    track_s = time.perf_counter() - t0
    fit = fit_shot(given, track.tracked, actor.flame, config.fit, frame_size=track.frame_size)  # as track_shot
    scores = score_track(track, clip, given, actor.flame).as_dict()
    scores.update(track_ms_per_frame=1000.0 * track_s / frames, fit_ms_per_frame=fit.ms_per_frame,
                  fit_iterations=float(fit.iterations), has_blinks=float(clip.blink.max() > 0.5))
    return scores


def long_shot_fit(assets, frames: int, config: TrackingConfig) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Fit time per frame of one long shot (landmarks only, no rendering needed), and its fit error."""
    actor = SyntheticActor(3, ActorConfig(width=256, height=256, texture_size=256), assets=assets)
    motion = actor.sample_motion(frames, "happy", seed=9)
    with torch.no_grad():
        out = actor.flame(torch.tensor(actor.identity.shape)[None], torch.tensor(motion.expression),
                          torch.tensor(motion.pose))
        lm = orthographic_to_pixels(out.landmarks, torch.tensor(motion.camera), 256, 256).numpy()
    lm = lm + np.random.default_rng(0).normal(0.0, NOISE_PX, lm.shape)
    fit = fit_shot(lm, np.ones(frames, bool), actor.flame, config.fit, frame_size=(256, 256))
    return fit.ms_per_frame, float(fit.error.mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a fair CPU figure)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shots = SHOTS[:3] if args.quick else SHOTS
    frames = 48 if args.quick else 100
    supersample = 1 if args.quick else 2
    config = TrackingConfig()

    with tempfile.TemporaryDirectory() as tmp:
        assets = make_tiny_flame_assets(Path(tmp) / "flame", seed=0)
        rows = []
        for spec in shots:
            rows.append(run_shot(assets, spec, frames, supersample, config))
            r = rows[-1]
            print(f"  shot seed {spec[0]} {spec[1] if isinstance(spec[1], str) else 'mixed'}: "
                  f"fit error {r['fit_error_px']:.2f} px, geometry {r['expression_geometry_mm']:.2f} mm, "
                  f"jaw MAE {r['jaw_mae']:.3f}, pupils {r['pupil_error_px']:.2f} px, "
                  f"blink correlation {r['blink_correlation']:.2f}, "
                  f"{r['track_ms_per_frame']:.1f} ms/frame", flush=True)
        long_frames = 400 if not args.quick else 0
        long_ms, long_err = long_shot_fit(assets, long_frames, config) if long_frames else (float("nan"),) * 2

    def mean(key: str, subset: list[dict[str, float]] | None = None) -> float:
        return float(np.mean([r[key] for r in (subset if subset is not None else rows)]))

    def ratio(a: str, b: str) -> float:
        return round(mean(a) / max(mean(b), 1e-12), 3)

    blinking = [r for r in rows if r["has_blinks"]]
    figures = {
        "shots": len(rows),
        "frames_per_shot": frames,
        "landmark_noise_px": NOISE_PX,
        "landmark_reprojection_error_px": round(mean("fit_error_px"), 3),
        "model_landmark_error_px": round(mean("model_landmark_error_px"), 3),
        "input_landmark_error_px_baseline": round(mean("input_landmark_error_px"), 3),
        "model_vs_input_landmark_error_ratio": ratio("model_landmark_error_px", "input_landmark_error_px"),
        "expression51_mae": round(mean("expression_mae"), 4),
        "expression51_mae_zeros_baseline": round(mean("expression_mae_zeros"), 4),
        "expression51_mae_true_mean_oracle": round(mean("expression_mae_true_mean"), 4),
        "expression51_mae_vs_zeros_ratio": ratio("expression_mae", "expression_mae_zeros"),
        "expression51_mae_dynamic": round(mean("expression_mae_dynamic"), 4),
        "expression_mean_cosine": round(mean("mean_expression_cosine"), 3),
        "expression_geometry_mm": round(mean("expression_geometry_mm"), 3),
        "expression_geometry_zeros_baseline_mm": round(mean("expression_geometry_zeros_mm"), 3),
        "expression_geometry_true_mean_oracle_mm": round(mean("expression_geometry_true_mean_mm"), 3),
        "expression_geometry_vs_zeros_ratio": ratio("expression_geometry_mm", "expression_geometry_zeros_mm"),
        "jaw_mae": round(mean("jaw_mae"), 4),
        "jaw_mae_zeros_baseline": round(mean("jaw_mae_zeros"), 4),
        "jaw_mae_true_mean_oracle": round(mean("jaw_mae_true_mean"), 4),
        "jaw_mae_vs_true_mean_ratio": ratio("jaw_mae", "jaw_mae_true_mean"),
        "jaw_correlation": round(mean("jaw_correlation"), 3),
        "expression51_jitter": round(mean("expression_jitter"), 4),
        "expression51_jitter_truth": round(mean("expression_jitter_truth"), 4),
        "expression51_jitter_vs_truth_ratio": ratio("expression_jitter", "expression_jitter_truth"),
        "expression_geometry_jitter_mm": round(mean("expression_geometry_jitter_mm"), 3),
        "expression_geometry_jitter_truth_mm": round(mean("expression_geometry_jitter_truth_mm"), 3),
        "landmark_jitter_model_px": round(mean("landmark_jitter_model"), 3),
        "landmark_jitter_smoothed_px": round(mean("landmark_jitter_smoothed"), 3),
        "landmark_jitter_raw_noisy_px_baseline": round(mean("landmark_jitter_input"), 3),
        "landmark_jitter_truth_px": round(mean("landmark_jitter_truth"), 3),
        "landmark_jitter_smoothed_vs_raw_ratio": ratio("landmark_jitter_smoothed", "landmark_jitter_input"),
        "landmark_jitter_model_vs_truth_ratio": ratio("landmark_jitter_model", "landmark_jitter_truth"),
        "pupil_error_px": round(mean("pupil_error_px"), 3),
        "pupil_error_eye_centre_px_baseline": round(mean("pupil_error_eye_centre_px"), 3),
        "pupil_error_vs_eye_centre_ratio": ratio("pupil_error_px", "pupil_error_eye_centre_px"),
        "blink_correlation": round(mean("blink_correlation", blinking), 3) if blinking else float("nan"),
        "alignment_error_px": round(mean("alignment_error_px"), 3),
        "alignment_motion_px": round(mean("alignment_motion_px"), 3),
        "alignment_motion_fixed_px_baseline": round(mean("alignment_motion_fixed_px"), 3),
        "track_ms_per_frame_cpu": round(mean("track_ms_per_frame"), 2),
        "fit_ms_per_frame_cpu": round(mean("fit_ms_per_frame"), 2),
        "fit_iterations": round(mean("fit_iterations"), 1),
        "long_shot_frames": long_frames,
        "long_shot_fit_ms_per_frame_cpu": round(long_ms, 2),
        "long_shot_fit_error_px": round(long_err, 3),
        "threads": torch.get_num_threads(),
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
