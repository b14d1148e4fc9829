"""Real footage through the product, as a pipeline TD runs it: a real server process and its client.

    python tests/bench/real_footage.py ../shared/real_footage/d10.mp4 --quick
    python tests/bench/real_footage.py CLIP [--frames 240] [--preset tiny] [--iterations 1500]
        [--emotions happy,sad,surprised] [--manipulator PATH] [--out DIR] [--render hybrid|warp|neural]

CLIP is an mp4 (read with cv2.VideoCapture) or an image sequence (a folder of frames, or a
pattern such as plates.####.png). Its display-referred sRGB frames are converted to scene-linear
through OCIO and sent as EXR plates to a ``ned-server`` started in a child process with an empty
store (tests/server_process.py), as a host node would: Track (detection and landmarks on the
server: FAN when its weights are there, else dlib's offline 68-point predictor), TrainActor
(``--preset``, ``--iterations``), then Manipulate to each emotion and to intensity 0 (the actor's
own style). The returned face plates are merged over the plates (premultiplied ``over``) and the
composites measured by the same landmarker the server uses on this machine, run here on the
originals and on the outputs.

Figures (``name: value`` lines):
* frames_tracked_fraction: frames tracked / frames sent.
* reprojection_px, reprojection_iod_fraction: the fitted 3D face's landmarks against those
  detected, mean over tracked frames, in pixels and as a fraction of the inter-ocular distance.
* jitter_iod, jitter_raw_iod, jitter_ratio: RMS second temporal difference of the track's
  landmarks (and of the raw detections, the baseline), as a fraction of the IOD.
* speech_correlation_<emotion> and speech_correlation_min: correlation over time of the inner-lip
  opening measured on the original and on the output composite (intensity 0 as ``neutral0``).
* qc_speech_correlation_<emotion>, qc_speech_gap_<emotion>, qc_speech_gap_max: the speech figure of
  the server's QC report (on the fitted face) and how far it is from speech_correlation_<emotion>.
* sharpness_ratio_<emotion> and sharpness_ratio_min: high-frequency energy (mean squared
  Laplacian of the luminance) of the output's face over the original's, the face being the hull of
  the original's landmarks; run once with --render hybrid and once with --render neural to compare.
* mouth_width_change_<emotion>, corner_height_change_<emotion>: on the outputs minus on the
  originals, mean over frames, fractions of the IOD (corner height: mouth corners above the lips'
  centre line; positive = raised).
* track_ms_per_frame (the Track RPC's wall time), fit_ms_per_frame (the FLAME fit alone on the
  same landmarks, in this process), train_s, manipulate_ms_per_frame.

The contact sheet (a PNG: originals on the first row, one row per emotion) is written under --out
(default: a folder under the system's temporary directory, never inside the repository). The
manipulator: --manipulator (a checkpoint file or folder, e.g. the released one) or, by default, a
random tiny one written for the run (printed as ``manipulator: random``): then the emotion figures
only show the plumbing, not the method.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "plugin"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from ned_plugin.colour import Colour  # noqa: E402
from ned_plugin.wire import pb  # noqa: E402
from ned_server.face3d.config import FlameConfig  # noqa: E402
from ned_server.face3d.flame import FlameLayer  # noqa: E402
from ned_server.synthetic.flame_assets import LANDMARK_FILE, MODEL_FILE, install_standin_flame  # noqa: E402
from ned_server.tracking.config import TrackingConfig  # noqa: E402
from ned_server.tracking.fitting import fit_shot  # noqa: E402
from ned_server.tracking.landmarkers import make_detector  # noqa: E402
from tests.edit_measures import composite, detect_all, iod, measure_edit, sharpness_ratio  # noqa: E402
from tests.pipeline_assets import exr_plates, write_tiny_manipulator  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402


def read_clip(path: str, start: int, count: int | None) -> np.ndarray:
    """(T, H, W, 3) float32 sRGB in [0, 1] from an mp4 or an image sequence."""
    src = Path(path)
    frames: list[np.ndarray] = []
    if src.is_file() and src.suffix.lower() in (".mp4", ".mov", ".avi", ".mkv", ".webm"):
        cap = cv2.VideoCapture(str(src))
        if not cap.isOpened():
            raise SystemExit(f"cannot open {src} with OpenCV")
        index = 0
        while count is None or len(frames) < count:
            ok, bgr = cap.read()
            if not ok:
                break
            if index >= start:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        cap.release()
    else:
        from ned_plugin.sequence import find_sequence

        files = sorted(src.iterdir()) if src.is_dir() else [p for _, p in find_sequence(str(src))]
        for f in files[start:None if count is None else start + count]:
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SystemExit(f"cannot read {f}")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not frames:
        raise SystemExit(f"no frames read from {src}")
    return np.stack(frames).astype(np.float32) / 255.0


def jitter(points: np.ndarray, ok: np.ndarray, scale: float) -> float:
    rows = [i for i in range(1, len(points) - 1) if ok[i - 1] and ok[i] and ok[i + 1]]
    if not rows:
        return float("nan")
    d2 = np.stack([points[i - 1] - 2 * points[i] + points[i + 1] for i in rows])
    return float(np.sqrt((d2 ** 2).sum(-1).mean()) / scale)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("--quick", action="store_true", help="60 frames, 20 training iterations, 2 emotions")
    ap.add_argument("--start", type=int, default=0, help="first frame of the clip to use (0-based)")
    ap.add_argument("--frames", type=int, help="how many frames (default: all; --quick: 60)")
    ap.add_argument("--preset", default="tiny", help="TrainActor preset (tiny or paper)")
    ap.add_argument("--iterations", type=int, help="TrainActor iterations (default 300; --quick: 20)")
    ap.add_argument("--emotions", help="comma-separated target emotions (default happy,sad,surprised; "
                    "--quick: happy,sad)")
    ap.add_argument("--manipulator", help="manipulator checkpoint file or folder (default: a random tiny one)")
    ap.add_argument("--render", help="Manipulate render mode (hybrid, warp or neural; default: the server's)")
    ap.add_argument("--out", help="folder for the contact sheet (default: under the temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the server's store and models folders")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the server runs (OMP_NUM_THREADS=1): a shared CPU only contends
    # An output on which no face is found measures NaN, on purpose: no warnings about it.
    np.seterr(invalid="ignore", divide="ignore")
    warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
    count = args.frames or (60 if args.quick else None)
    iterations = args.iterations or (20 if args.quick else 300)
    emotions = (args.emotions or ("happy,sad" if args.quick else "happy,sad,surprised")).split(",")
    out_dir = Path(args.out) if args.out else Path(tempfile.gettempdir()) / f"ned_real_footage_{Path(args.clip).stem}"
    if out_dir.resolve().is_relative_to(ROOT):
        raise SystemExit(f"--out {out_dir} is inside the repository: write the contact sheet elsewhere")
    out_dir.mkdir(parents=True, exist_ok=True)

    srgb = read_clip(args.clip, args.start, count)
    T, H, W = srgb.shape[:3]
    colour = Colour()
    first = 1001
    plates = exr_plates(srgb, first, colour)  # sRGB -> scene-linear (OCIO) -> half EXR, as a host sends
    linear = [colour.from_network(f) for f in srgb]
    print(f"clip: {args.clip} frames {args.start}-{args.start + T - 1} ({T}), {W}x{H}")

    work = Path(tempfile.mkdtemp(prefix="ned_real_footage_"))
    store, models = work / "store", work / "models"
    models.mkdir()
    # No licensed FLAME here: the procedural stand-in head, installed where the server looks for FLAME.
    install_standin_flame(models)
    if args.manipulator:
        src = Path(args.manipulator)
        dst = models / "manipulator"
        shutil.copytree(src, dst) if src.is_dir() else (dst.mkdir(), shutil.copy(src, dst / "20_nets.pth"))
        print(f"manipulator: {src}")
    else:
        write_tiny_manipulator(models)
        print("manipulator: random (tiny, untrained: emotion figures show the plumbing only)")

    try:
        return _run(args, srgb, linear, plates, colour, first, emotions, iterations, work, store, models, out_dir)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, srgb: np.ndarray, linear: list[np.ndarray], plates: list[tuple[int, bytes]],
         colour: Colour, first: int, emotions: list[str], iterations: int, work: Path, store: Path, models: Path,
         out_dir: Path) -> int:
    T, H, W = srgb.shape[:3]
    with ServerProcess(store, models, start_timeout_s=180.0) as server, server.client(deadline_s=3600.0) as client:
        info = client.info()
        print(f"landmarker: {info.tracking.landmarker or 'none'} ({info.tracking.landmarker_licence})")
        print(f"tracker: {info.tracking.tracker}")
        t0 = time.perf_counter()
        result = client.track(iter(plates), pb.TrackSettings(shot_id="real", frame_count=T))
        track_ms = 1000.0 * (time.perf_counter() - t0) / T
        s = result.summary
        ok = np.array([f.tracked for f in result.frames])
        lm = np.array([np.reshape(f.landmarks, (68, 2)) if f.tracked else np.zeros((68, 2))
                       for f in result.frames], np.float64)
        err = np.array([f.fit_error for f in result.frames], np.float64)
        notes = sorted({f.note for f in result.frames if f.note})
        print(f"track: {s.tracked_frames}/{s.frame_count} by {s.landmarker} + {s.tracker}"
              + (f"; notes: {'; '.join(notes)}" if notes else ""))

        settings = pb.TrainActorRequest(actor_id="actor", shot_ids=["real"], preset=args.preset,
                                        iterations=iterations)
        t0 = time.perf_counter()
        job = client.train_actor(settings)
        train_s = time.perf_counter() - t0
        if job.state != pb.JOB_STATE_SUCCEEDED:
            raise SystemExit(f"training did not finish: {job}")

        runs = [(e, 1.0, e) for e in emotions] + [(emotions[0], 0.0, "neutral0")]
        composites: dict[str, list[np.ndarray]] = {}
        qc_speech: dict[str, float] = {}
        manip_s = 0.0
        for emotion, intensity, label in runs:
            ms = pb.ManipulateSettings(shot_id="real", actor_id="actor",
                                       emotion=pb.EmotionControl(emotion=emotion, intensity=intensity))
            if args.render:
                if args.render not in info.render_modes:
                    raise SystemExit(f"--render {args.render}: the server offers {', '.join(info.render_modes)}")
                ms.render = args.render
            t0 = time.perf_counter()
            summaries: list[pb.ManipulateSummary] = []
            out = {p.header.frame: p.exr for p in client.manipulate(ms, on_summary=summaries.append)}
            qc_speech[label] = summaries[-1].qc.speech_correlation if summaries and summaries[-1].HasField("qc") \
                else float("nan")
            manip_s += time.perf_counter() - t0
            composites[label] = [colour.to_network(composite(out.get(first + i, b""), linear[i]))
                                 for i in range(T)]

    # ------------------------------------------------------------------ measure
    detector, det_info = make_detector(TrackingConfig().detection)
    raw, raw_ok = detect_all(detector, srgb)
    scale = float(np.median(iod(lm[ok]))) if ok.any() else 1.0
    figures: dict[str, float] = {
        "frames_tracked_fraction": float(ok.mean()),
        "reprojection_px": float(err[ok].mean()) if ok.any() else float("nan"),
        "reprojection_iod_fraction": float((err[ok] / iod(lm[ok])).mean()) if ok.any() else float("nan"),
        "jitter_iod": jitter(lm, ok, scale),
        "jitter_raw_iod": jitter(raw, raw_ok, scale),
    }
    figures["jitter_ratio"] = figures["jitter_iod"] / max(figures["jitter_raw_iod"], 1e-12)
    speech = []
    for label, frames in composites.items():
        output = np.stack(frames)
        got, got_ok = detect_all(detector, output)
        e = measure_edit(raw, raw_ok & ok, got, got_ok)
        speech.append(e.speech_correlation)
        figures[f"speech_correlation_{label}"] = e.speech_correlation
        figures[f"mouth_width_change_{label}"] = e.mouth_width_change
        figures[f"corner_height_change_{label}"] = e.corner_height_change
        figures[f"output_faces_found_fraction_{label}"] = e.output_faces_found_fraction
        figures[f"sharpness_ratio_{label}"] = sharpness_ratio(srgb, output, raw, raw_ok & ok)
        # The server's QC speech figure (on the fitted face) against the one measured on the output.
        figures[f"qc_speech_correlation_{label}"] = qc_speech[label]
        figures[f"qc_speech_gap_{label}"] = abs(qc_speech[label] - e.speech_correlation)
    # NaN when the landmarker found no face on some output (an untrained renderer's blur): that run fails.
    figures["speech_correlation_min"] = float(np.min(speech)) if speech else float("nan")
    sharp = [v for k, v in figures.items() if k.startswith("sharpness_ratio_")]
    figures["sharpness_ratio_min"] = float(np.min(sharp)) if sharp else float("nan")
    gaps = [v for k, v in figures.items() if k.startswith("qc_speech_gap_")]
    figures["qc_speech_gap_max"] = float(np.max(gaps)) if gaps else float("nan")
    flame_fit = _fit_ms(raw, raw_ok, (W, H), models / "flame")
    figures.update(track_ms_per_frame=track_ms, fit_ms_per_frame=flame_fit, train_s=train_s,
                   manipulate_ms_per_frame=1000.0 * manip_s / (T * len(runs)))

    sheet = contact_sheet(srgb, composites)
    sheet_path = out_dir / "contact_sheet.png"
    cv2.imwrite(str(sheet_path), cv2.cvtColor((np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    print(f"measured by: {det_info.name}")
    print(f"contact sheet: {sheet_path}")
    for name, value in figures.items():
        print(f"{name}: {value:.4f}")
    return 0


def _fit_ms(landmarks: np.ndarray, ok: np.ndarray, size: tuple[int, int], flame_dir: Path) -> float:
    """The FLAME fit alone on the raw detections, ms per frame, with the model the server used."""
    flame = FlameLayer(flame_dir / MODEL_FILE, flame_dir / LANDMARK_FILE, FlameConfig())
    return float(fit_shot(landmarks, ok, flame, TrackingConfig().fit, frame_size=size).ms_per_frame)


def contact_sheet(srgb: np.ndarray, composites: dict[str, list[np.ndarray]], columns: int = 6,
                  thumb: int = 160) -> np.ndarray:
    """Originals on the first row, one row per run, ``columns`` frames spread over the clip."""
    picks = np.linspace(0, len(srgb) - 1, min(columns, len(srgb))).round().astype(int)
    rows = [list(srgb[picks])] + [[frames[i] for i in picks] for frames in composites.values()]
    h = thumb
    w = round(thumb * srgb.shape[2] / srgb.shape[1])
    sheet = np.zeros((len(rows) * h, len(picks) * w, 3), np.float32)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = cv2.resize(np.asarray(img, np.float32)[..., :3], (w, h),
                                                                     interpolation=cv2.INTER_AREA)
    return sheet


if __name__ == "__main__":
    raise SystemExit(main())
