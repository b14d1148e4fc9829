"""Which landmarker and tracker a server uses, as GetInfo reports them; box smoothing; landmark files
covering more than the tracked range; frames a face leaves or the 3D face cannot explain."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from ned_plugin.batch import landmarks_for_frames
from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig
from ned_server.tracking import dlib_landmarks, landmarkers
from ned_server.tracking.config import DetectionConfig, SmoothingConfig, TrackingConfig
from ned_server.tracking.smoothing import savgol_boxes
from ned_server.tracking.track import OUT_OF_FRAME, POOR_FIT, track_shot

FRAMES = 10


@pytest.fixture
def no_fan(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """Empty torch hub and home folders: no FAN weights anywhere."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_without_fan_weights_the_offline_landmarker_is_chosen_and_named(no_fan, tmp_path) -> None:
    info = landmarkers.describe(DetectionConfig(models_dir=tmp_path))
    assert info.name == dlib_landmarks.NAME
    assert "300-W" in info.licence and "research" in info.licence
    assert "FAN unavailable" in info.reason and "2DFAN4" in info.reason
    detector, made = landmarkers.make_detector(DetectionConfig(models_dir=tmp_path))
    assert made == info and isinstance(detector, dlib_landmarks.DlibDetector)
    # Asking for FAN explicitly on this server: nothing, and why.
    fan_only = landmarkers.describe(DetectionConfig(models_dir=tmp_path, backend="fan"))
    assert fan_only.name == "" and "2DFAN4" in fan_only.reason
    with pytest.raises(landmarkers.Precondition, match="no face landmarker"):
        landmarkers.make_detector(DetectionConfig(models_dir=tmp_path, backend="fan"))


def test_getinfo_names_the_landmarker_and_the_tracker(no_fan, client) -> None:
    info = client.info()
    assert info.tracking.landmarker == dlib_landmarks.NAME
    assert "research" in info.tracking.landmarker_licence
    assert info.tracking.tracker == "landmark-fit" and not info.tracking.detail  # no DECA file here
    assert {"deca", "deca_head_template", "deca_fixed_displacement", "deca_uv_face_eye_mask"} <= {
        a.name for a in info.assets}


def test_a_landmark_file_wider_than_the_range_is_cut_to_it_on_the_client() -> None:
    pts = np.zeros((68, 2), np.float32)
    file = {n: pts for n in range(1001, 1721)}
    got = landmarks_for_frames(file, list(range(1601, 1721)), "all.json")
    assert sorted(got) == list(range(1601, 1721))
    with pytest.raises(SystemExit, match="1001-1720"):
        landmarks_for_frames(file, list(range(2001, 2010)), "all.json")


def test_boxes_are_smoothed_by_savitzky_golay_per_run() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(60, dtype=np.float64)
    truth = np.stack([100 + t, 50 + 0.5 * t, 200 + t, 150 + 0.5 * t], axis=1)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    tracked = np.ones(60, bool)
    tracked[40] = False  # two runs: 0-39 and 41-59
    out = savgol_boxes(noisy, tracked, SmoothingConfig())
    err_in = np.abs(noisy - truth)[tracked].mean()
    err_out = np.abs(out - truth)[tracked].mean()
    assert err_out < 0.5 * err_in
    np.testing.assert_array_equal(out[40], noisy[40].astype(np.float32))  # untracked row untouched


@pytest.fixture(scope="module")
def clip() -> Iterator:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    actor = SyntheticActor(2, ActorConfig(width=192, height=192, supersample=1, texture_size=256))
    yield actor, actor.render_sequence(FRAMES, "neutral", seed=2)
    torch.set_num_threads(before)


def test_a_face_leaving_the_frame_and_landmarks_no_face_fits_are_untracked_with_notes(clip) -> None:
    actor, c = clip
    given = {i: c.landmarks[i].copy() for i in range(FRAMES)}
    given[3] = given[3] + np.array([170.0, 0.0])  # most of the face past the right edge
    rng = np.random.default_rng(1)
    given[6] = given[6][rng.permutation(68)]  # a landmarker gone wrong (occlusion, profile)
    track = track_shot([(i, c.frames[i]) for i in range(FRAMES)], actor.flame, TrackingConfig(), landmarks=given)
    assert track.notes[3] == OUT_OF_FRAME and track.notes[6] == POOR_FIT
    assert track.tracked.tolist() == [i not in (3, 6) for i in range(FRAMES)]
    assert np.isfinite(track.expression51).all() and np.isfinite(track.pose).all()
    assert track.fit_error[track.tracked].max() < 0.05 * 40  # the others fit well (IOD ~40 px here)
