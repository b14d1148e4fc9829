"""Load: eight clients stream shots at once over loopback and all get correct results; the server's
memory does not grow from one such round to the next; a busy device queues requests in arrival
order and answers RESOURCE_EXHAUSTED, with a retry hint, only past its set limit, while the cheap
RPCs (GetInfo, ListJobs, CancelJob) still answer.

The memory check runs a real server process (tests/server_process.py) so that what is weighed is
the server alone. tests/test_server_jobs.py checks the scheduler's FIFO order and bound by itself;
here the same is checked through gRPC.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ned_plugin.client import ConnectionSettings, NedClient, NedClientError, ServerBusy
from tests.pipeline_assets import synthetic_shot
from tests.server_process import PeakMemory, ServerProcess
from tests.shot_clients import concurrent_tracks, expressions, renumbered, track_settings, watchdog

CLIENTS = 8
ROUNDS = 4
# Allowed growth of the peak resident memory from the second round to the last: allocator noise,
# far below what keeping a round's frames (8 shots of 8 plates) or its threads would cost.
GROWTH_BYTES = 24 << 20


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=8, size=96, seed=5)


def test_eight_clients_at_once_get_correct_results_and_memory_stays_bounded(shot, tmp_path) -> None:
    with watchdog(240), ServerProcess(tmp_path / "store", tmp_path / "models") as srv:
        with srv.client() as c:
            reference = expressions(c.track(renumbered(shot, 1001), track_settings(shot, 1001)))
        peaks = []
        for round_no in range(ROUNDS):
            with PeakMemory(srv) as memory:
                outcomes = concurrent_tracks(srv.address, shot, round_no, CLIENTS)
            peaks.append(memory.peak)
            errors = [r for r, _ in outcomes if isinstance(r, Exception)]
            assert errors == [], errors  # nobody was refused: the device queue absorbed the burst
            ids = [r.summary.shot_id for r, _ in outcomes]
            assert ids[0] == ids[1] and len(set(ids)) == CLIENTS - 1
            for result, _ in outcomes:
                assert result.summary.tracked_frames == len(shot.frames)
                np.testing.assert_allclose(expressions(result), reference, atol=1e-4)
            assert srv.alive
        assert peaks[-1] <= peaks[1] + GROWTH_BYTES, [f"{p / 2**20:.0f} MiB" for p in peaks]
        assert "Traceback" not in srv.log()


def test_a_busy_device_queues_in_order_and_refuses_only_past_its_limit(shot, server_config, monkeypatch) -> None:
    from ned_server.api.app import NedServer
    from ned_server.orchestration import shot_tracking

    server_config.workers = 2
    server_config.limits.device_slots, server_config.limits.max_waiting = 1, 3
    server_config.limits.retry_after_s = 7.0
    srv = NedServer(server_config).start()
    address = f"127.0.0.1:{srv.port}"
    try:
        with NedClient(ConnectionSettings(address=address, deadline_s=30)) as c:
            for k in range(4):
                c.track(renumbered(shot, 1001), track_settings(shot, 1001, shot_id=f"q{k}"))
        served: list[str] = []
        real_load = shot_tracking.load_track

        def recording_load(store, shot_id, key, load, exact=True):  # type: ignore[no-untyped-def]
            served.append(shot_id)  # called inside the device slot: the order requests got the device
            return real_load(store, shot_id, key, load, exact)

        monkeypatch.setattr(shot_tracking, "load_track", recording_load)
        sched = srv.pipeline.scheduler
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with sched.slot():
                holding.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(10)
        results: dict[int, object] = {}

        def request(k: int) -> None:
            with NedClient(ConnectionSettings(address=address, deadline_s=30)) as c:
                try:
                    results[k] = c.track((), track_settings(shot, 1001, shot_id=f"q{k}"))
                except NedClientError as exc:
                    results[k] = exc

        waiting = []
        for k in range(3):
            t = threading.Thread(target=request, args=(k,))
            t.start()
            waiting.append(t)
            deadline = time.monotonic() + 10
            while sched.waiting < k + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sched.waiting == k + 1
        request(3)  # one more than the queue holds
        busy = results.pop(3)
        assert isinstance(busy, ServerBusy) and busy.code == "RESOURCE_EXHAUSTED", busy
        assert busy.retry_after_s == 7.0 and "busy" in str(busy)
        with NedClient(ConnectionSettings(address=address, deadline_s=5)) as c:  # cheap calls are not starved
            assert c.info().api == "ned.v1" and c.list_jobs() == []
            with pytest.raises(NedClientError, match="unknown job"):
                c.cancel_job("nothing-to-cancel")
        release.set()
        for t in [holder, *waiting]:
            t.join(30)
        assert served == ["q0", "q1", "q2"]  # first come, first served
        for k in range(3):
            assert results[k].summary.from_cache and results[k].summary.tracked_frames == len(shot.frames)
        assert sched.active == 0 and sched.waiting == 0
    finally:
        srv.stop(grace=1.0)


def test_the_same_shot_sent_by_many_clients_at_once_is_stored_once(tmp_path) -> None:
    """Farm chunks of one shot arrive together: every sender gets the one stored shot, none an error
    from another's rename (the publish step used to race: ENOTEMPTY / FileNotFoundError)."""
    from ned_server.runtime.intake import receive_shot
    from ned_server.runtime.limits import LimitsConfig
    from ned_server.runtime.store import Store
    from tests.hostile import plate

    frames = [(1001 + k, plate(24, 16, seed=k)) for k in range(4)]
    for trial in range(16):  # the race needs two renames to meet: give it many chances
        store = Store(tmp_path / f"store{trial}")
        start = threading.Barrier(CLIENTS)
        outcomes: list[object] = []

        def send(shot_id: str, store=store, start=start, outcomes=outcomes) -> None:  # type: ignore[no-untyped-def]
            def frames_when_all_ready():  # type: ignore[no-untyped-def]
                start.wait(10)
                yield from frames

            try:
                outcomes.append(receive_shot(store, frames_when_all_ready(), LimitsConfig(), shot_id=shot_id))
            except Exception as exc:  # what a client would see as INTERNAL
                outcomes.append(exc)

        threads = [threading.Thread(target=send, args=("sh010" if k % 4 == 0 else "",)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert len({o.content_hash for o in outcomes}) == 1
        named_by_content = f"shot-{outcomes[0].content_hash[:16]}"
        assert {o.shot_id for o in outcomes} == {"sh010", named_by_content}
        assert store.list_shots() == sorted(["sh010", named_by_content])
        assert not list((store.root / "shots").glob(".incoming-*"))


def test_the_server_caps_malloc_arenas_unless_told_otherwise(monkeypatch) -> None:
    from ned_server.runtime.memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert limit_malloc_arenas() is False  # glibc already read the operator's own setting
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_malloc_arenas() is True  # glibc (this platform): capped for the threads to come
