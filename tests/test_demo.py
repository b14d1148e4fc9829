"""The README's main job, `ned demo`, end to end on small settings: a real server process, real gRPC,
EXR plates with their matte, the contact sheet, and reuse of everything on a second run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ned_plugin.colour import Colour
from ned_plugin.exr import read_exr
from ned_plugin.sequence import expand_pattern, find_sequence
from ned_server.synthetic.demo import DemoConfig, demo_main, run
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.landmarkers import make_detector
from tests.edit_measures import composite, detect_all, measure_edit

FRAMES = 6
SIZE = 128


def small(out: Path) -> DemoConfig:
    return DemoConfig(out=out, size=SIZE, shot_frames=FRAMES, renderer_iterations=6, manipulator_preset="tiny",
                      manipulator_epochs=(1, 0), manipulator_clips=1, manipulator_clip_frames=24, sheet_frames=2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoConfig, dict]:
    cfg = small(tmp_path_factory.mktemp("demo"))
    return cfg, run(cfg)


def test_demo_writes_a_plate_with_its_matte_for_every_frame_of_both_emotions(demo) -> None:
    cfg, summary = demo
    assert set(summary["outputs"]) == set(cfg.emotions)
    for emotion in cfg.emotions:
        pattern = summary["outputs"][emotion]
        numbers = [n for n, _ in find_sequence(pattern)]
        assert numbers == list(range(1001, 1001 + FRAMES))
        for n in numbers:
            plate = read_exr(expand_pattern(pattern, n))
            assert plate.display_window.width == SIZE and plate.display_window.height == SIZE
            assert "matte.Y" in plate.channels and {"R", "G", "B", "A"} <= set(plate.channels)
            assert plate.data_window.intersect(plate.display_window) == plate.data_window
            # A face plate, premultiplied: opaque on the face, empty around it.
            pixels = plate.pixels.astype(np.float32)
            matte = pixels[..., plate.channels.index("matte.Y")]
            alpha = pixels[..., plate.channels.index("A")]
            assert matte.min() >= 0.0 and matte.max() <= 1.0 and matte.max() > 0.5
            assert alpha.min() == 0.0 and alpha.max() > 0.5
            rgb = pixels[..., [plate.channels.index(c) for c in "RGB"]]
            assert (rgb[alpha == 0] == 0).all()


def test_demo_writes_each_take_s_qc_report(demo) -> None:
    cfg, summary = demo
    assert set(summary["qc"]) == set(cfg.emotions)
    for emotion in cfg.emotions:
        report = json.loads(Path(summary["qc"][emotion]).read_text())
        frames = report["frames"]
        assert [f["frame"] for f in frames] == list(range(1001, 1001 + FRAMES)) and all(f["tracked"] for f in frames)
        assert report["status"] in ("pass", "warn") and {c["name"] for c in report["checks"]} >= {
            "speech_correlation", "confidence", "untracked_share", "flicker_ratio"}
        # The speech figure is the correlation of its own per-frame mouth columns (the inner lips of
        # the fitted face, original and edited), and the speech check warns exactly when it is under
        # the threshold.
        mouth_o = np.array([f["mouth_original"] for f in frames])
        mouth_e = np.array([f["mouth_edited"] for f in frames])
        assert np.corrcoef(mouth_o, mouth_e)[0, 1] == pytest.approx(report["speech_correlation"], abs=1e-4)
        speech = next(c for c in report["checks"] if c["name"] == "speech_correlation")
        assert speech["passed"] == (report["speech_correlation"] >= speech["threshold"])
        assert speech["passed"] or (report["status"] == "warn" and speech["message"] in report["summary"])
        assert all(f["expression_change"] > 0 for f in frames)  # the emotion was changed
        assert all(f["confidence"] > 0.5 for f in frames)  # landmarks given: the fit is tight


def test_demo_takes_move_the_mouth_corners_the_emotion_s_way(demo) -> None:
    """Measured on what a compositor gets: each take's plates merged over the shot and re-tracked by the
    server's own landmarker (dlib offline), against the original frames tracked the same way."""
    cfg, summary = demo
    detector, _ = make_detector(TrackingConfig().detection)
    colour = Colour()
    numbers = range(1001, 1001 + FRAMES)
    linear = [read_exr(cfg.out / "plates" / f"shot.{n}.exr").full_frame(0.0)[..., :3].astype(np.float32)
              for n in numbers]
    original, found = detect_all(detector, [colour.to_network(x) for x in linear])
    assert found.all()
    takes = {}
    for emotion in cfg.emotions:
        pattern = summary["outputs"][emotion]
        composites = [colour.to_network(composite(Path(expand_pattern(pattern, n)).read_bytes(), x))
                      for n, x in zip(numbers, linear, strict=True)]
        takes[emotion] = measure_edit(original, found, *detect_all(detector, composites))
        assert takes[emotion].frames_compared == FRAMES, (emotion, takes[emotion])
    happy, sad = takes["happy"], takes["sad"]
    # Happy raises the mouth corners and widens the mouth, sad lowers the corners and leaves the mouth
    # narrower than happy does. Sad's own width change is not asserted: it depends on the thread count
    # the run had (measured with these settings: 1 thread corners +0.051 / -0.032 IOD, width +0.039 /
    # -0.002; 2 threads, as CI runs, corners +0.053 / -0.082, width +0.072 / -0.085; before the fit's
    # convergence_gain was loosened, 2 threads gave a sad width of +0.006).
    assert happy.corner_height_change > 0.01 and sad.corner_height_change < 0.0, takes
    assert happy.corner_height_change - sad.corner_height_change > 0.03, takes
    assert happy.mouth_width_change > 0.01 and happy.mouth_width_change - sad.mouth_width_change > 0.02, takes
    # Whether the output's inner lips follow the speech is not asserted here: the 6-iteration renderer
    # paints the mouth the hybrid mode takes from it as a blur, where the landmarker's lip points are
    # its shape prior (measured 0.98 / 0.80 in one run, 0.98 / -0.11 in the next). The speech is checked
    # on the fitted face by the QC report (above) and on the output by tests/bench/real_footage.py.
    assert all(np.isfinite(t.speech_correlation) for t in takes.values()), takes


def test_demo_contact_sheet_has_a_row_per_picked_frame_and_a_column_per_take(demo) -> None:
    cfg, summary = demo
    sheet = cv2.imread(summary["sheet"])
    assert sheet is not None
    assert sheet.shape == (28 + cfg.sheet_frames * SIZE, (2 + len(cfg.emotions)) * SIZE, 3)  # + the STMap
    # The emotion columns differ from the original (the face was re-rendered), the header is white.
    body = sheet[28:].astype(np.float32)
    original, first = body[:, :SIZE], body[:, SIZE:2 * SIZE]
    assert np.abs(original - first).mean() > 0.5
    assert (sheet[:2] == 255).all()


def test_demo_records_its_timings(demo) -> None:
    cfg, summary = demo
    recorded = json.loads((cfg.out / "demo.json").read_text())
    assert recorded["timings"] == summary["timings"]
    expected = {"film_s", "track_train_s", "track_shot_s", "train_models_s", "total_s"}
    expected |= {f"manipulate_{e}_s" for e in cfg.emotions}
    assert expected <= set(recorded["timings"])
    assert "listening on" in (cfg.out / "server.log").read_text()


def test_second_demo_run_reuses_the_models_and_the_footage(demo) -> None:
    cfg, _ = demo
    watched = [*(cfg.out / "models" / "manipulator").glob("*.pth"),
               *(cfg.out / "store" / "actors").glob("*/training/renderer.pth"),
               *(cfg.out / "plates").glob("*.exr")]
    assert len(watched) > 2 * FRAMES
    before = {p: p.stat().st_mtime_ns for p in watched}
    summary = run(cfg)
    assert {p: p.stat().st_mtime_ns for p in watched} == before
    assert "film_s" in summary["timings"]


def test_demo_cli_rejects_anything_but_two_emotions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        demo_main(["--out", str(tmp_path), "--emotions", "happy"])
    assert exc.value.code == 2
    assert "two emotions" in capsys.readouterr().err


def test_demo_refuses_an_unknown_emotion_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert demo_main(["--out", str(out), "--emotions", "happy,smug"]) == 1
    err = capsys.readouterr().err
    assert "unknown emotion 'smug'" in err and "happy" in err
    assert not out.exists()
