"""The QC report of an edited shot (ned_server.composite.qc) on hand-made arrays, its wire message
and the files the client writes from it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ned_plugin.qc_files import plot_available, report_base, report_dict, write_report
from ned_server.api.convert import qc_report
from ned_server.composite.qc import FlickerMeter, QcThresholds, correlation, shot_qc, tracking_confidence

T = 40


def arrays(edited_jaw: np.ndarray | None = None, tracked: np.ndarray | None = None, fit_px: float = 1.0):
    t = np.arange(T)
    jaw = 0.1 + 0.1 * np.sin(t / 3.0)
    original = np.zeros((T, 51))
    original[:, 0] = jaw
    edited = original.copy()
    edited[:, 0] = jaw if edited_jaw is None else edited_jaw
    edited[:, 1] = 2.0  # a smile added on every frame: mean |change| over 51 = 2/51 (+ the jaw's)
    return dict(frames=t + 1001, tracked=np.ones(T, bool) if tracked is None else tracked,
                fit_error_px=np.full(T, fit_px), face_size_px=np.full(T, 100.0), original51=original,
                edited51=edited, flicker_plate=np.full(T, 0.011), flicker_original=np.full(T, 0.01))


def test_a_faithful_edit_passes_every_check():
    qc = shot_qc(**arrays())
    assert qc.status == "pass" and qc.passed
    assert qc.speech_correlation == pytest.approx(1.0)
    assert qc.flicker_ratio == pytest.approx(1.1)
    assert np.allclose(qc.expression_change, 2.0 / 51)
    assert np.allclose(qc.fit_error, 0.01) and np.allclose(qc.confidence, 1 / (1 + 0.25))
    assert qc.summary().startswith("QC pass: speech 1.00, 40/40 tracked, flicker x1.10")


def test_a_lost_jaw_warns_on_speech_and_names_the_fix():
    rng = np.random.default_rng(0)
    qc = shot_qc(**arrays(edited_jaw=0.1 + 0.05 * rng.standard_normal(T)))
    speech = next(c for c in qc.checks if c.name == "speech_correlation")
    assert not speech.passed and speech.value < 0.5 and "raise speech preservation" in speech.message
    assert qc.status == "warn" and speech.message in qc.summary()


def test_untracked_frames_and_weak_tracking_warn_and_are_left_out_of_the_speech_figure():
    tracked = np.ones(T, bool)
    tracked[5:10] = False
    a = arrays(tracked=tracked, fit_px=3.0)
    a["edited51"][5:10, 0] = 5.0  # garbage on untracked frames must not count
    qc = shot_qc(**a)
    assert qc.speech_correlation == pytest.approx(1.0)
    checks = {c.name: c for c in qc.checks}
    assert not checks["untracked_share"].passed and checks["untracked_share"].value == pytest.approx(5 / T)
    assert not checks["confidence"].passed  # 3% of the face size: confidence 1 / (1 + 1.5^2)
    assert checks["confidence"].value == pytest.approx(1 / (1 + 1.5 ** 2))
    assert np.isnan(qc.fit_error_px[5:10]).all() and (qc.confidence[5:10] == 0).all()


def test_a_still_jaw_is_not_measured_rather_than_failed():
    a = arrays()
    a["original51"][:, 0] = 0.05
    a["edited51"][:, 0] = 0.05
    qc = shot_qc(**a)
    speech = next(c for c in qc.checks if c.name == "speech_correlation")
    assert math.isnan(speech.value) and speech.passed and "not measured" in speech.message
    assert math.isnan(correlation(np.ones(5), np.arange(5)))


def test_an_edit_that_stops_the_speaking_mouth_scores_zero_and_warns():
    a = arrays()
    a["edited51"][:, 0] = 0.0  # the original speaks, the edit's jaw is shut on every frame
    qc = shot_qc(**a)
    speech = next(c for c in qc.checks if c.name == "speech_correlation")
    assert speech.value == 0.0 and not speech.passed and qc.status == "warn"


def test_the_mouth_opening_is_the_speech_measure_when_given():
    a = arrays()
    t = np.arange(T)
    mouth = 0.2 + 0.1 * np.sin(t / 2.0)
    # The jaw follows exactly, but the lips the expression moves do not: the mouth measure sees it.
    qc = shot_qc(**a, mouth_original=mouth, mouth_edited=np.roll(mouth, 7))
    assert qc.speech_correlation == pytest.approx(correlation(mouth, np.roll(mouth, 7)))
    assert qc.speech_correlation < 0.5 and qc.status == "warn"
    assert np.allclose(qc.mouth_original, mouth) and np.allclose(qc.jaw_edited, a["edited51"][:, 0])
    # Without it (a model without a landmark embedding) the jaw rotation is the measure.
    assert np.isnan(shot_qc(**a).mouth_original).all() and shot_qc(**a).speech_correlation == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mouth openings"):
        shot_qc(**a, mouth_original=mouth[:5], mouth_edited=mouth)


def test_flicker_thresholds_and_custom_limits():
    a = arrays()
    a["flicker_plate"] = np.full(T, 0.03)
    assert next(c for c in shot_qc(**a).checks if c.name == "flicker_ratio").passed is False
    loose = shot_qc(**a, thresholds=QcThresholds(flicker_ratio=4.0))
    assert loose.passed


def test_flicker_meter_compares_the_overlap_of_two_boxes_under_the_matte():
    meter = FlickerMeter()
    a = np.zeros((4, 4, 3), np.float32)
    matte = np.ones((4, 4), np.float32)
    assert all(math.isnan(v) for v in meter.push((0, 0, 4, 4), a, a, matte))
    # The next frame's box is shifted by 2 px: only its left half overlaps the first box.
    b = np.zeros((4, 4, 3), np.float32)
    b[:, :2] = 0.5  # the overlap changed by 0.5 in the composite
    b[:, 2:] = 9.0  # outside the overlap: never compared
    plate, original = meter.push((2, 0, 4, 4), b, np.zeros_like(b), matte)
    assert plate == pytest.approx(0.5) and original == 0.0
    meter.reset()
    assert math.isnan(meter.push((2, 0, 4, 4), b, b, matte)[0])
    rel, conf = tracking_confidence(np.array([0.0, 2.0]), np.array([100.0, 100.0]))
    assert conf[0] == 1.0 and conf[1] == pytest.approx(0.5) and rel[1] == pytest.approx(0.02)


def test_the_report_travels_as_a_message_and_lands_as_json_and_a_plot(tmp_path: Path):
    tracked = np.ones(T, bool)
    tracked[0] = False
    qc = shot_qc(**arrays(tracked=tracked))
    message = qc_report(qc)
    assert message.status == qc.status and len(message.frames) == T and len(message.checks) == len(qc.checks)
    assert message.frames[3].jaw_edited == pytest.approx(qc.jaw_edited[3])
    assert math.isnan(message.frames[3].mouth_edited)  # not measured here: NaN, not a made-up 0
    assert math.isnan(message.frames[0].fit_error_px)  # untracked: NaN on the wire, null in the file
    files = write_report(message, str(tmp_path / "out" / "sh010_happy.####.exr"), (1001, 1040))
    assert files[0] == tmp_path / "out" / "sh010_happy.1001-1040.qc.json"
    doc = json.loads(files[0].read_text())
    assert doc["status"] == qc.status and doc["frames"][0]["fit_error_px"] is None
    assert doc == report_dict(message)
    if plot_available():  # matplotlib is a server dependency, optional on a client
        assert files[1].suffix == ".png" and files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert len(files) == 1
    assert report_base("plates/sh010.%04d.exr") == Path("plates/sh010.qc")
    assert report_base("sh010_####_v2.exr") == Path("sh010_v2.qc")
