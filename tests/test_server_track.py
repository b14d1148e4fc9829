"""The Track RPC end to end: EXR plates over gRPC, tracked on the server, cached per shot."""

from __future__ import annotations

import numpy as np
import pytest

from ned_plugin.client import NedClientError
from ned_plugin.wire import pb
from ned_server.tracking import dlib_landmarks
from tests.pipeline_assets import synthetic_shot


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=20, size=160, seed=5)


def _settings(shot, drop=(), **kw) -> pb.TrackSettings:
    s = pb.TrackSettings(frame_count=len(shot.frames), **kw)
    for frame, pts in shot.landmarks.items():
        if frame not in drop:
            s.landmarks.add(frame=frame, points=pts.reshape(-1).tolist())
    return s


def test_track_streams_progress_frames_and_summary_then_serves_the_cache(client, shot):
    seen: list[str] = []
    first = client.track(shot.frames, _settings(shot, drop={1005}), on_progress=lambda p: seen.append(p.stage))
    s = first.summary
    assert s.shot_id.startswith("shot-") and s.frame_count == 20 and s.tracked_frames == 19
    assert not s.from_cache and s.display_window.width == 160
    assert {"receive", "fit"} <= set(seen)
    by_frame = {f.frame: f for f in first.frames}
    assert sorted(by_frame) == list(range(1001, 1021))
    missing = by_frame[1005]
    assert not missing.tracked and missing.note and not missing.landmarks
    gt = shot.clip
    for f in first.frames:
        if not f.tracked:
            continue
        i = f.frame - 1001
        lm = np.asarray(f.landmarks).reshape(68, 2)
        assert np.abs(lm - gt.landmarks[i]).mean() < 1.5  # smoothed input landmarks stay on the face
        assert len(f.expression) == 51 and len(f.pose) == 15 and len(f.camera) == 3 and len(f.alignment) == 6
        assert len(f.pupils) == 4 and len(f.box) == 4
    jaw = np.array([by_frame[n].expression[0] for n in sorted(by_frame) if by_frame[n].tracked])
    gt_jaw = np.delete(gt.expression51[:, 0], 4)
    assert np.corrcoef(jaw, gt_jaw)[0, 1] > 0.7  # the fitted jaw follows the speech

    again = client.track(shot.frames, _settings(shot, drop={1005}))
    assert again.summary.from_cache and again.summary.shot_id == s.shot_id
    assert [f.expression for f in again.frames] == [f.expression for f in first.frames]
    # By id, no frames sent: the stored shot and its cached track.
    by_id = client.track((), _settings(shot, drop={1005}, shot_id=s.shot_id))
    assert by_id.summary.from_cache and by_id.summary.frame_count == 20
    # New landmarks for the same shot: tracked again, not served stale.
    other = client.track((), _settings(shot, shot_id=s.shot_id))
    assert not other.summary.from_cache and other.summary.tracked_frames == 20


def test_track_errors_name_the_problem_and_the_server_keeps_serving(client, shot, monkeypatch):
    with pytest.raises(NedClientError) as err:
        client.track((), pb.TrackSettings(shot_id="never-sent"))
    assert err.value.code == "NOT_FOUND" and "never-sent" in str(err.value)
    with pytest.raises(NedClientError) as err:
        client.track((), pb.TrackSettings())
    assert err.value.code == "INVALID_ARGUMENT" and "no frames" in str(err.value)
    bad = pb.TrackSettings()
    bad.landmarks.add(frame=1001, points=[1.0, 2.0, 3.0])
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames[:3], bad)
    assert err.value.code == "INVALID_ARGUMENT" and "1001" in str(err.value)
    # Landmarks for frames of no frame of the shot: a wrong file or offset, refused with the frames.
    stray = pb.TrackSettings()
    stray.landmarks.add(frame=5, points=[0.0] * 136)
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames, stray)
    assert err.value.code == "INVALID_ARGUMENT" and "5" in str(err.value)
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames[:4], pb.TrackSettings(colour=pb.ColourSettings(input_space="no such space")))
    assert err.value.code == "INVALID_ARGUMENT" and "no such space" in str(err.value)
    # No landmarks, no FAN weights on this machine and (here, by the test) no dlib either: FAN's
    # missing files are named.
    monkeypatch.setattr(dlib_landmarks, "available", lambda: False)
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames[:4], pb.TrackSettings())
    assert err.value.code == "FAILED_PRECONDITION"
    assert "s3fd-619a316812.pth" in str(err.value) and "2DFAN4" in str(err.value) and "dlib" in str(err.value)
    monkeypatch.undo()
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames, _settings(shot, face_id=3))
    assert err.value.code == "NOT_FOUND"
    assert client.track(shot.frames, _settings(shot)).summary.tracked_frames == 20


def test_a_landmarks_file_covering_more_frames_than_the_shot_is_accepted(client, shot):
    """``ned track --frames 1601-1720 --landmarks all.json`` with a file holding 1001-1720 too."""
    wider = _settings(shot)
    first = min(lm.frame for lm in wider.landmarks)
    for extra in range(first - 30, first):
        wider.landmarks.add(frame=extra, points=[0.0] * 136)
    result = client.track(shot.frames, wider)
    assert result.summary.tracked_frames == 20 and result.summary.landmarker == "given"
    assert [f.frame for f in result.frames] == [n for n, _ in shot.frames]


class TwoFaces:
    """A stand-in for the FAN detector: the actor's face, and a smaller second face beside it that
    appears in the shot's second frame, listed first so the largest is not simply the first."""

    def __init__(self, shot) -> None:
        self.shot = shot

    def detect(self, frame: int, image):  # type: ignore[no-untyped-def]
        from ned_server.tracking.detection import FaceDetection, landmark_box

        big = self.shot.landmarks[frame].astype(np.float32)
        small = ((big - big.mean(0)) * 0.5 + big.mean(0) + np.array([45.0, -40.0])).astype(np.float32)
        faces = [FaceDetection(landmark_box(small), small), FaceDetection(landmark_box(big), big)]
        return faces if frame > self.shot.first else faces[1:]


def test_several_faces_are_separate_identities_and_the_request_chooses_one(client, server, shot, monkeypatch):
    monkeypatch.setattr(server.pipeline.models, "detector", lambda config: TwoFaces(shot))
    default = client.track(shot.frames, pb.TrackSettings(shot_id="two"))
    s = default.summary
    assert len(s.faces) == 2 and s.tracked_frames == 20
    sizes = {f.face_id: f.mean_size for f in s.faces}
    assert s.face_id == max(sizes, key=sizes.get)  # the largest face, whatever its id
    other = min(sizes, key=sizes.get)
    first_frames = {f.face_id: f.first_frame for f in s.faces}
    assert first_frames[s.face_id] == 1001 and first_frames[other] == 1002
    chosen = client.track((), pb.TrackSettings(shot_id="two", face_id=other))
    assert chosen.summary.face_id == other and not chosen.summary.from_cache
    assert chosen.summary.tracked_frames == 19
    untracked = [f for f in chosen.frames if not f.tracked]
    assert [f.frame for f in untracked] == [1001] and "other faces" in untracked[0].note
    lm = np.asarray(next(f for f in chosen.frames if f.frame == 1010).landmarks).reshape(68, 2)
    assert np.abs(lm.mean(0) - (shot.landmarks[1010].mean(0) + np.array([45.0, -40.0]))).max() < 2.0
    # the default choice was cached apart from the explicit one
    assert client.track((), pb.TrackSettings(shot_id="two")).summary.from_cache
