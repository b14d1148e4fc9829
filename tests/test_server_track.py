"""The Track RPC end to end: EXR plates over gRPC, tracked on the server, cached per shot."""

from __future__ import annotations

import numpy as np
import pytest

from ned_plugin.client import NedClientError
from ned_plugin.wire import pb
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


def test_track_errors_name_the_problem_and_the_server_keeps_serving(client, shot):
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
    stray = _settings(shot)
    stray.landmarks.add(frame=5, points=[0.0] * 136)
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames, stray)
    assert err.value.code == "INVALID_ARGUMENT" and "5" in str(err.value)
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames[:4], pb.TrackSettings(colour=pb.ColourSettings(input_space="no such space")))
    assert err.value.code == "INVALID_ARGUMENT" and "no such space" in str(err.value)
    # No landmarks and no FAN weights on this machine: the missing files are named.
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames[:4], pb.TrackSettings())
    assert err.value.code == "FAILED_PRECONDITION"
    assert "s3fd-619a316812.pth" in str(err.value) and "2DFAN4" in str(err.value)
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames, _settings(shot, face_id=3))
    assert err.value.code == "NOT_FOUND"
    assert client.track(shot.frames, _settings(shot)).summary.tracked_frames == 20
