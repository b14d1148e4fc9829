"""Manipulate, ExtractStyle and TrainActor through real gRPC on a tracked synthetic shot.

The models are tiny and random (the quality of trained ones is measured in the stage tests and
benchmarks); what is checked here is the contract: plates in frame order, premultiplied with their
matte layer and a cropped data window, untracked frames passed through, repeatable results, chunks
equal to a full run, cached tracking reused, and every bad request answered with a clear status.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ned_plugin.client import NedClientError
from ned_plugin.exr import decode_exr
from ned_plugin.wire import pb
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator

DROPPED = 1005


@pytest.fixture(scope="module")
def shot():
    # a face small enough in the 160 px frame that its aligned crop (about twice the face) fits inside it
    return synthetic_shot(frames=24, size=160, seed=7, face_scale=(4.6, 5.4))


@pytest.fixture
def tracked(client, server, shot):
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    settings = pb.TrackSettings(shot_id="sh010")
    for frame, pts in shot.landmarks.items():
        if frame != DROPPED:
            settings.landmarks.add(frame=frame, points=pts.reshape(-1).tolist())
    assert client.track(shot.frames, settings).summary.tracked_frames == 23
    return "sh010"


def _run(client, **kw) -> tuple[list, list[str]]:
    stages: list[str] = []
    emotion = kw.pop("emotion", pb.EmotionControl(emotion="happy"))
    settings = pb.ManipulateSettings(shot_id=kw.pop("shot_id", "sh010"), actor_id=kw.pop("actor", "anna"),
                                     emotion=emotion, **kw)
    plates = list(client.manipulate(settings, on_progress=lambda p: stages.append(p.stage)))
    return plates, stages


def test_plates_arrive_in_frame_order_premultiplied_with_matte_and_cropped(client, tracked):
    plates, stages = _run(client)
    assert [p.header.frame for p in plates] == list(range(1001, 1025))
    assert "render" in stages
    for p in plates:
        h = p.header
        assert h.display_window.width == 160 and h.display_window.height == 160
        if h.frame == DROPPED:
            assert not h.tracked and h.note and p.exr == b""
            continue
        assert h.tracked and p.exr
        frame = decode_exr(p.exr)
        # hybrid (the default): the edit, its matte, the STMap and the neural layer with its own matte
        assert frame.channels[:4] == ("R", "G", "B", "A")  # EXR sorts the other layers by name
        assert set(frame.channels[4:]) == {"matte.Y", "stmap.R", "stmap.G", "neural.R", "neural.G", "neural.B",
                                           "neural.A"}
        dw = frame.data_window
        assert (dw.x, dw.y, dw.width, dw.height) == (h.data_window.x, h.data_window.y, h.data_window.width,
                                                     h.data_window.height)
        assert dw.x >= 0 and dw.x + dw.width <= 160 and dw.width * dw.height < 160 * 160  # cropped to the face
        px = frame.pixels.astype(np.float32)
        alpha = px[..., 3]
        assert np.array_equal(alpha, px[..., 4])  # the matte layer is the alpha
        assert alpha.max() > 0.99 and alpha.min() == 0.0
        assert np.all(px[..., :3][alpha == 0] == 0)  # premultiplied: nothing where the matte is 0
        uv = frame.layer("stmap")
        assert uv.dtype == np.float32 and uv.min() > 0.0 and uv.max() < 1.0  # source pixels inside the frame
        neural_alpha = px[..., frame.channels.index("neural.A")]
        assert np.all(alpha[neural_alpha > 0] == 1.0)  # the neural face only inside the edit


def test_render_modes_neural_is_the_papers_plate_warp_needs_no_renderer(client, tracked):
    neural, _ = _run(client, render="neural")
    warp, _ = _run(client, render="warp")
    assert len(neural) == len(warp) == 24
    for n, w in zip(neural, warp):
        if not n.header.tracked:
            continue
        assert decode_exr(n.exr).channels == ("R", "G", "B", "A", "matte.Y")
        assert set(decode_exr(w.exr).channels) == {"R", "G", "B", "A", "matte.Y", "stmap.R", "stmap.G"}
    # intensity 0: the warp is the identity and every plate is empty (the original, bit for bit)
    still, _ = _run(client, render="hybrid", emotion=pb.EmotionControl(emotion="happy", intensity=0.0))
    for p in still:
        if p.header.tracked:
            assert not decode_exr(p.exr).channel("A").any()


def test_the_summary_carries_the_shot_s_qc_report(client, tracked):
    summaries: list[pb.ManipulateSummary] = []
    settings = pb.ManipulateSettings(shot_id="sh010", actor_id="anna", emotion=pb.EmotionControl(emotion="happy"),
                                     range=pb.FrameRange(first=1003, last=1012))
    plates = list(client.manipulate(settings, on_summary=summaries.append))
    assert len(summaries) == 1 and summaries[0].HasField("qc")
    qc = summaries[0].qc
    assert [f.frame for f in qc.frames] == [p.header.frame for p in plates] == list(range(1003, 1013))
    assert [f.tracked for f in qc.frames] == [f != DROPPED for f in range(1003, 1013)]
    dropped = qc.frames[DROPPED - 1003]
    assert np.isnan(dropped.fit_error_px) and dropped.confidence == 0.0 and np.isnan(dropped.flicker_plate)
    kept = [f for f in qc.frames if f.tracked]
    assert all(f.confidence > 0 and f.expression_change > 0 for f in kept)
    # Flicker is measured from the second frame of each tracked run on (a gap restarts it).
    measured = [f.frame for f in qc.frames if np.isfinite(f.flicker_plate)]
    assert measured == [f for f in range(1004, 1013) if f not in (DROPPED, DROPPED + 1)]
    checks = {c.name: c for c in qc.checks}
    assert set(checks) == {"speech_correlation", "confidence", "untracked_share", "flicker_ratio"}
    assert checks["untracked_share"].value == pytest.approx(0.1) and not checks["untracked_share"].passed
    assert qc.status == "warn" and checks["untracked_share"].message in qc.summary
    # The speech figure: the mouth opening of the fitted face, original against edited (the float32
    # columns on the wire round it a little).
    mouth_o = np.array([f.mouth_original for f in kept])
    mouth_e = np.array([f.mouth_edited for f in kept])
    assert np.isfinite(mouth_o).all() and mouth_o.std() > 0
    assert qc.speech_correlation == pytest.approx(np.corrcoef(mouth_o, mouth_e)[0, 1], abs=1e-4)


def test_results_are_repeatable_emotion_dependent_and_chunks_equal_a_full_run(client, tracked):
    full, _ = _run(client)
    again, _ = _run(client)
    assert [p.exr for p in full] == [p.exr for p in again]
    sad, _ = _run(client, emotion=pb.EmotionControl(emotion="sad"))
    differs = [np.abs(decode_exr(a.exr).pixels.astype(np.float32)[..., :3]
                      - decode_exr(b.exr).pixels.astype(np.float32)[..., :3]).max()
               for a, b in zip(full, sad) if a.exr and b.exr and a.header.data_window == b.header.data_window]
    assert differs and max(differs) > 0  # repeats are bit-identical, so any change is the emotion's
    # A farm chunk whose preroll reaches back to the shot's start renders the very same frames.
    chunk, _ = _run(client, range=pb.FrameRange(first=1010, last=1015), preroll=25)
    assert [p.header.frame for p in chunk] == list(range(1010, 1016))
    by_frame = {p.header.frame: p.exr for p in full}
    assert all(p.exr == by_frame[p.header.frame] for p in chunk)
    # A frame list (e.g. 1010-1015x2 and 1015): the range still runs as context, only its frames come back.
    listed, _ = _run(client, range=pb.FrameRange(first=1010, last=1015), preroll=25, output_frames=[1010, 1012, 1015])
    assert [p.header.frame for p in listed] == [1010, 1012, 1015]
    assert all(p.exr == by_frame[p.header.frame] for p in listed)


def test_bad_requests_get_clear_statuses_and_the_server_keeps_serving(client, server, tracked):
    cases = [
        (dict(actor="nobody"), "NOT_FOUND", "nobody"),
        (dict(emotion=pb.EmotionControl(emotion="smug")), "INVALID_ARGUMENT", "smug"),
        (dict(emotion=pb.EmotionControl(emotion="happy", intensity=9.0)), "INVALID_ARGUMENT", "intensity"),
        (dict(range=pb.FrameRange(first=1020, last=1010)), "INVALID_ARGUMENT", "reversed"),
        (dict(range=pb.FrameRange(first=5000, last=5010)), "INVALID_ARGUMENT", "5000"),
        (dict(blend=pb.BlendSettings(method="smudge")), "INVALID_ARGUMENT", "smudge"),
        (dict(blend=pb.BlendSettings(levels=40)), "INVALID_ARGUMENT", "blend_levels"),
        (dict(output=pb.OutputSettings(compression="jpeg")), "INVALID_ARGUMENT", "jpeg"),
        (dict(shot_id="no-such-shot"), "NOT_FOUND", "no-such-shot"),
        (dict(shot_id="../../etc"), "INVALID_ARGUMENT", "invalid shot id"),
        (dict(emotion=pb.EmotionControl(reference_style=[0.1] * 3)), "INVALID_ARGUMENT", "16"),
        (dict(face_id=4), "NOT_FOUND", "face id 4"),
        (dict(render="painted"), "INVALID_ARGUMENT", "painted"),
        (dict(range=pb.FrameRange(first=1010, last=1015), output_frames=[1012, 1030]), "INVALID_ARGUMENT", "1030"),
    ]
    for kw, code, text in cases:
        with pytest.raises(NedClientError) as err:
            _run(client, **kw)
        assert err.value.code == code, (kw, err.value)
        assert text in str(err.value), (kw, str(err.value))
    write_tiny_actor(server.config.store_dir, "bob")
    (server.config.store_dir / "actors" / "bob" / "training" / "renderer.pth").unlink()
    with pytest.raises(NedClientError) as err:
        _run(client, actor="bob")
    assert err.value.code == "FAILED_PRECONDITION" and "train" in str(err.value)
    plates, _ = _run(client)
    assert len(plates) == 24
    # the face the default track chose, asked for by its id, is the same track
    assert [p.exr for p in _run(client, face_id=0)[0]] == [p.exr for p in plates]


def test_manipulate_without_a_manipulator_names_the_missing_asset(client, server, shot):
    write_tiny_actor(server.config.store_dir, "anna")
    with pytest.raises(NedClientError) as err:
        list(client.manipulate(pb.ManipulateSettings(actor_id="anna", emotion=pb.EmotionControl(emotion="sad")),
                               shot.frames[:3]))
    assert err.value.code == "FAILED_PRECONDITION" and "manipulator" in str(err.value)


def test_untracked_frames_sent_to_manipulate_are_tracked_by_the_servers_landmarker(client, server, shot):
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    settings = pb.ManipulateSettings(actor_id="anna", emotion=pb.EmotionControl(emotion="sad"))
    # Asked for FAN, whose weights this server lacks: the error names the missing S3FD file.
    server.config.tracking.detection.backend = "fan"
    with pytest.raises(NedClientError) as err:
        list(client.manipulate(settings, shot.frames[:12]))
    assert err.value.code == "FAILED_PRECONDITION" and "s3fd" in str(err.value)
    # The default falls back to the offline dlib landmarker, which finds the synthetic face.
    server.config.tracking.detection.backend = "auto"
    plates = list(client.manipulate(settings, shot.frames[:12]))
    assert [p.header.frame for p in plates] == list(range(1001, 1013))
    assert sum(p.header.tracked for p in plates) >= 10


def test_extract_style_reads_a_tracked_reference(client, tracked):
    reply = client.extract_style(pb.ExtractStyleSettings(shot_id=tracked))
    assert len(reply.style) == 16 and np.all(np.isfinite(reply.style))
    assert reply.windows == 24 - 9 and reply.shot_id == tracked
    assert set(reply.emotion_similarity) == {"neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised"}
    part = client.extract_style(pb.ExtractStyleSettings(shot_id=tracked, range=pb.FrameRange(first=1001, last=1012)))
    assert part.windows == 3 and list(part.style) != list(reply.style)
    # The style drives Manipulate as a reference.
    plates, _ = _run(client, emotion=pb.EmotionControl(reference_style=reply.style))
    assert len(plates) == 24
    with pytest.raises(NedClientError) as err:
        client.extract_style(pb.ExtractStyleSettings(shot_id="absent"))
    assert err.value.code == "NOT_FOUND"


def test_train_actor_job_trains_streams_progress_and_the_actor_renders(client, tracked):
    updates: list[pb.JobProgress] = []
    job = client.train_actor(pb.TrainActorRequest(actor_id="carla", shot_ids=[tracked], preset="tiny",
                                                  iterations=6), updates.append)
    assert job.state == pb.JOB_STATE_SUCCEEDED, job.message
    assert updates[-1].job.done == 6 and any(u.losses for u in updates)
    actor = {a.actor_id: a for a in client.list_actors()}["carla"]
    assert actor.ready and actor.iterations == 6 and actor.preset == "tiny" and list(actor.shot_ids) == [tracked]
    plates, _ = _run(client, actor="carla")
    assert sum(p.header.tracked for p in plates) == 23
    # Asking again without resume is refused (the run exists); with resume it continues.
    with pytest.raises(NedClientError) as err:
        client.train_actor(pb.TrainActorRequest(actor_id="carla", shot_ids=[tracked], preset="tiny", iterations=8))
    assert err.value.code == "INVALID_ARGUMENT" and "resume" in str(err.value)
    job = client.train_actor(pb.TrainActorRequest(actor_id="carla", shot_ids=[tracked], preset="tiny",
                                                  iterations=8, resume=True))
    assert job.state == pb.JOB_STATE_SUCCEEDED and job.done == 8


def test_train_actor_refuses_bad_requests_before_queueing(client, tracked, shot):
    for request, code in [
        (pb.TrainActorRequest(actor_id="dan", shot_ids=["nope"], preset="tiny"), "NOT_FOUND"),
        (pb.TrainActorRequest(actor_id="dan", shot_ids=[tracked], preset="huge"), "INVALID_ARGUMENT"),
        (pb.TrainActorRequest(actor_id="dan", shot_ids=[], preset="tiny"), "INVALID_ARGUMENT"),
        (pb.TrainActorRequest(actor_id="../dan", shot_ids=[tracked], preset="tiny"), "INVALID_ARGUMENT"),
        (pb.TrainActorRequest(actor_id="dan", shot_ids=[tracked], preset="tiny", init_from="ghost"), "NOT_FOUND"),
    ]:
        with pytest.raises(NedClientError) as err:
            client.train_actor(request)
        assert err.value.code == code, (request, err.value)
    assert not client.list_jobs()


def test_cancel_job_stops_training_within_a_second(client, tracked):
    job = client.train_actor(pb.TrainActorRequest(actor_id="erin", shot_ids=[tracked], preset="tiny",
                                                  iterations=100000, detach=True))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = {j.job_id: j for j in client.list_jobs()}[job.job_id]
        if state.done > 0:
            break
        time.sleep(0.1)
    t = time.monotonic()
    client.cancel_job(job.job_id)
    final = client.watch_job(job.job_id)
    assert final.state == pb.JOB_STATE_CANCELLED
    assert time.monotonic() - t < 1.0
