"""Faults: a server killed (SIGKILL) mid-training or mid-Track, a cache write cut short, clients that
vanish, and CancelJob while a job is still preparing its data.

The kills run a real ``ned-server`` process (tests/server_process.py) and audit the store it leaves
(tests/store_audit.py) before restarting it on the same store. That a resumed run continues
exactly as the uninterrupted one would is tests/test_renderer_train.py's
(test_resume_after_a_kill_continues_exactly); CancelJob during training is
tests/test_server_manipulate.py's (test_cancel_job_stops_training_within_a_second).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ned_plugin.client import CancelToken, NedClientError
from ned_plugin.wire import pb
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator
from tests.server_process import ServerProcess
from tests.shot_clients import expressions, renumbered, track_settings
from tests.store_audit import audit_store

EVERY = 3  # the server's TrainActor checkpoint interval in these tests (--checkpoint-every)


def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll until ``predicate()`` holds (or give up after ``timeout``); the caller asserts the result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=8, size=96, seed=5)


@pytest.fixture(scope="module")
def proc(tmp_path_factory):
    root = tmp_path_factory.mktemp("killed")
    srv = ServerProcess(root / "store", root / "models", "--checkpoint-every", str(EVERY)).start()
    yield srv
    srv.stop()


# ---------------------------------------------------------------------- SIGKILL
def test_the_checkpoint_interval_is_a_server_setting(server_config) -> None:
    from ned_server.api.cli import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args([])).checkpoint_every is None  # the preset's
    assert config_from_args(build_parser().parse_args(["--checkpoint-every", "7"])).checkpoint_every == 7
    server_config.checkpoint_every = 0
    with pytest.raises(ValueError, match="checkpoint_every"):
        server_config.validate()


def test_killed_during_train_actor_resumes_from_its_last_checkpoint(proc, shot) -> None:
    with proc.client() as c:
        assert c.track(shot.frames, track_settings(shot, shot_id="train-me")).summary.tracked_frames == 8
        job = c.train_actor(pb.TrainActorRequest(actor_id="kim", shot_ids=["train-me"], preset="tiny",
                                                 iterations=24, detach=True))
        seen = 0
        call = c.stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id))
        for update in call:
            seen = max(seen, update.job.done)
            if seen >= 2 * EVERY + 1:
                break
        proc.kill()
        call.cancel()
    training = proc.store / "actors" / "kim" / "training"
    checkpoint = torch.load(training / "latest.pth", map_location="cpu", weights_only=True)
    resumed_at = int(checkpoint["iteration"])
    assert resumed_at % EVERY == 0 and resumed_at >= EVERY
    assert seen - resumed_at <= EVERY  # the kill lost at most one checkpoint interval
    audit = audit_store(proc.store)
    assert audit.problems == [] and audit.checkpoints == 1

    proc.start()
    with proc.client() as c:
        final = c.watch_job(job.job_id)
        assert final.state == pb.JOB_STATE_SUCCEEDED, final.message
        assert final.done == 24
        actor = {a.actor_id: a for a in c.list_actors()}["kim"]
        assert actor.ready and actor.iterations == 24
    assert f"resumed renderer training at iteration {resumed_at} " in proc.log()
    record = json.loads((proc.store / "jobs" / f"{job.job_id}.json").read_text())
    assert record["restarts"] == 1 and record["params"]["checkpoint_every"] == EVERY
    history = [json.loads(line)["iteration"] for line in (training / "losses.jsonl").read_text().splitlines()]
    assert history == sorted(set(history)) and history[-1] == 24  # no iteration logged twice across the kill
    assert audit_store(proc.store).problems == []


@pytest.mark.parametrize("phase", ["receive", "fit", "answered"])
def test_killed_during_track_leaves_the_cache_complete_or_absent(proc, shot, phase: str) -> None:
    first = {"receive": 3001, "fit": 4001, "answered": 5001}[phase]
    shot_id = f"killed-{phase}"
    if not proc.alive:
        proc.start()
    answered = None
    with proc.client(deadline_s=10) as c:
        def on_progress(p) -> None:  # type: ignore[no-untyped-def]
            if p.stage == phase:
                proc.kill()

        try:
            answered = c.track(renumbered(shot, first), track_settings(shot, first, shot_id=shot_id),
                               on_progress=on_progress)
        except NedClientError as exc:
            assert phase != "answered" and exc.code in ("UNAVAILABLE", "CANCELLED", "UNKNOWN"), exc
        if phase == "answered":
            assert answered is not None and answered.summary.tracked_frames == 8
            proc.kill()
    assert not proc.alive
    audit = audit_store(proc.store)
    assert audit.problems == [], audit.problems
    if phase == "answered":  # an answer the client got is never lost
        assert audit.track_lengths.get(f"{shot_id}/auto") == 8
    else:
        assert audit.track_lengths.get(f"{shot_id}/auto") in (None, 8)

    proc.start()
    with proc.client() as c:
        again = c.track(renumbered(shot, first), track_settings(shot, first, shot_id=shot_id))
        assert again.summary.tracked_frames == 8 and again.summary.shot_id == shot_id
        assert again.summary.from_cache == (phase == "answered" or audit.track_lengths.get(f"{shot_id}/auto") == 8)
        reference = c.track(shot.frames, track_settings(shot, shot_id="train-me"))  # tracked before, in the first test
        np.testing.assert_allclose(expressions(again), expressions(reference), atol=1e-4)
        if answered is not None:
            np.testing.assert_allclose(expressions(again), expressions(answered), atol=1e-6)
    assert not list((proc.store / "shots").glob(".incoming-*"))  # what the kill left half-received is swept


# ---------------------------------------------------------------------- torn cache writes, in process
def test_a_cache_write_cut_short_is_served_as_absent_and_tracked_again(client, server, shot) -> None:
    settings = track_settings(shot, shot_id="torn")
    reference = expressions(client.track(shot.frames, settings))
    tracks = server.config.store_dir / "shots" / "torn" / "tracks"
    npz, meta = tracks / "auto.npz", tracks / "auto.json"
    good_npz, good_meta = npz.read_bytes(), meta.read_text()

    def retracked() -> bool:
        result = client.track((), settings)
        np.testing.assert_allclose(expressions(result), reference, atol=1e-5)
        return not result.summary.from_cache

    meta.unlink()  # killed between writing the track and its record
    assert retracked()
    npz.write_bytes(good_npz[: len(good_npz) // 2])  # a torn track file under a good record (disk damage)
    meta.write_text(good_meta)
    assert retracked()
    other = client.track((), track_settings(shot, shot_id="torn", drop={1004}))  # same length, other landmarks
    assert not other.summary.from_cache
    other_npz = npz.read_bytes()
    npz.write_bytes(good_npz)
    meta.write_text(good_meta)
    assert not retracked()  # the pair is whole again: served from the cache
    npz.write_bytes(other_npz)  # two writers interleaved: a record describing another file
    meta.write_text(good_meta)
    assert retracked()
    assert audit_store(server.config.store_dir).problems == []


# ---------------------------------------------------------------------- clients that go away
def _idle(server) -> bool:  # type: ignore[no-untyped-def]
    sched = server.pipeline.scheduler
    busy = [t.name for t in threading.enumerate() if t.name in ("ned-track", "ned-manipulate")]
    incoming = list((server.config.store_dir / "shots").glob(".incoming-*"))
    return sched.active == 0 and sched.waiting == 0 and not busy and not incoming


def test_a_client_that_cancels_mid_upload_frees_the_server(client, server, shot) -> None:
    token = CancelToken()
    release = threading.Event()

    def slow_frames():  # type: ignore[no-untyped-def]
        yield from shot.frames[:2]
        release.wait(30)  # the host hangs, then its user presses cancel
        yield from shot.frames[2:]

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.stage == "receive":
            token.cancel()

    with pytest.raises(NedClientError) as err:
        client.track(slow_frames(), track_settings(shot, shot_id="cancelled"), on_progress=on_progress, cancel=token)
    release.set()
    assert err.value.code == "CANCELLED"
    assert eventually(lambda: _idle(server))
    assert not server.pipeline.store.has_shot("cancelled")
    assert client.track(shot.frames, track_settings(shot, shot_id="after")).summary.tracked_frames == 8


CLIENT = textwrap.dedent("""
    import sys, time
    from ned_plugin.client import ConnectionSettings, NedClient
    from ned_plugin.wire import pb
    frames = [(1001, open(sys.argv[2], "rb").read())]
    def forever():
        yield from frames
        print("sent", flush=True)
        time.sleep(600)
    with NedClient(ConnectionSettings(address=sys.argv[1])) as c:
        c.track(forever(), pb.TrackSettings(shot_id="vanished", frame_count=2))
""")


def test_a_client_process_killed_mid_upload_frees_the_server(server, shot, tmp_path: Path) -> None:
    plate = tmp_path / "plate.exr"
    plate.write_bytes(shot.frames[0][1])
    child = subprocess.Popen([sys.executable, "-c", CLIENT, f"127.0.0.1:{server.port}", str(plate)],
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
                             env={"PYTHONPATH": ":".join(sys.path)})
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "sent"
        assert eventually(lambda: bool(list((server.config.store_dir / "shots").glob(".incoming-*"))))
        child.kill()
        child.wait(10)
        assert eventually(lambda: _idle(server))  # the broken connection ended the call and its staging
    finally:
        if child.poll() is None:
            child.kill()
    assert not server.pipeline.store.has_shot("vanished")


def test_a_client_that_leaves_the_device_queue_or_stops_reading_frees_its_slot(client, server, shot) -> None:
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    assert client.track(shot.frames, track_settings(shot, shot_id="queued")).summary.tracked_frames == 8
    sched = server.pipeline.scheduler
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sched.slot():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    token = CancelToken()
    outcome: list[str] = []

    def wait_in_queue() -> None:
        try:
            client.track((), track_settings(shot, shot_id="queued"), cancel=token)
            outcome.append("answered")
        except NedClientError as exc:
            outcome.append(exc.code)

    waiter = threading.Thread(target=wait_in_queue)
    waiter.start()
    assert eventually(lambda: sched.waiting == 1)
    token.cancel()
    waiter.join(10)
    assert outcome == ["CANCELLED"]
    assert eventually(lambda: sched.waiting == 0)  # left the queue, did not wait for the device
    release.set()
    holder.join(10)

    plates = client.manipulate(pb.ManipulateSettings(shot_id="queued", actor_id="anna",
                                                     emotion=pb.EmotionControl(emotion="happy")))
    first = next(plates)
    assert first.header.frame == 1001
    plates.close()  # the compositor closed the viewer after one frame
    assert eventually(lambda: _idle(server))
    assert len(list(client.manipulate(pb.ManipulateSettings(shot_id="queued", actor_id="anna",
                                                            emotion=pb.EmotionControl(emotion="happy"))))) == 8


# ---------------------------------------------------------------------- CancelJob while preparing
def test_cancel_job_while_the_job_prepares_its_data_stops_it_within_a_second(client, server, shot) -> None:
    assert client.track(shot.frames, track_settings(shot, shot_id="prep")).summary.tracked_frames == 8
    for actor, wait_for in (("early", None), ("preparing", "preparing shot")):
        job = client.train_actor(pb.TrainActorRequest(actor_id=actor, shot_ids=["prep"], preset="tiny",
                                                      iterations=1000, detach=True))
        if wait_for:
            assert eventually(lambda job=job, text=wait_for: text in server.pipeline.jobs.get(job.job_id).message, 30)
        t0 = time.monotonic()
        client.cancel_job(job.job_id)
        final = client.watch_job(job.job_id)
        assert time.monotonic() - t0 < 1.0
        assert final.state == pb.JOB_STATE_CANCELLED and final.done == 0, final.message
        data = server.config.store_dir / "actors" / actor / "data"
        clips = sorted(p.name for p in data.glob("*.npz")) if data.is_dir() else []
        listed = json.loads((data / "prep.r64.json").read_text())["clips"] if (data / "prep.r64.json").is_file() else []
        assert clips == listed  # a complete set of clips, or none


def test_a_shot_whose_clips_were_cut_short_is_prepared_again(client, server) -> None:
    from ned_server.orchestration.actor_training import TrainActorParams, training_clips
    from ned_server.orchestration.facade import ColourRequest

    long = synthetic_shot(frames=12, size=96, seed=6)
    assert client.track(long.frames, track_settings(long, shot_id="runs", drop={1006})).summary.tracked_frames == 11
    p = TrainActorParams(actor_id="lee", shot_ids=["runs"], preset="tiny")
    colour = server.pipeline.shot_colour(ColourRequest())
    made = training_clips(server.pipeline.store, server.pipeline.models, p, colour, 64, 4)
    assert [c.name for c in made] == ["runs_1001-1005", "runs_1007-1012"]
    data = server.config.store_dir / "actors" / "lee" / "data"
    (data / "runs.r64.json").unlink()
    (data / "runs.r64.001.npz").unlink()  # killed after the first clip of the shot was saved
    again = training_clips(server.pipeline.store, server.pipeline.models, p, colour, 64, 4)
    assert [c.name for c in again] == ["runs_1001-1005", "runs_1007-1012"]
    for a, b in zip(made, again):
        np.testing.assert_array_equal(a.frames, b.frames)
    assert sorted(f.name for f in data.iterdir()) == ["runs.r64.000.npz", "runs.r64.001.npz", "runs.r64.json"]
