"""Jobs report, cancel, survive restarts; the device queue is fair and bounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ned_server.errors import Busy, Cancelled
from ned_server.runtime.jobs import CANCELLED, RUNNING, SUCCEEDED, JobContext, JobManager
from ned_server.runtime.scheduler import DeviceScheduler
from ned_server.runtime.store import Store


def _counting_job(params: dict):
    def run(ctx: JobContext) -> str:
        start = int(params.get("start", 0)) if params.get("resume") else 0
        for i in range(start, params["n"]):
            ctx.check_cancelled()
            ctx.report(i + 1, params["n"], losses={"l1": 1.0 / (i + 1)})
            time.sleep(params.get("sleep", 0.0))
        return f"counted to {params['n']}"

    return run


def test_job_runs_and_is_watched(tmp_path: Path) -> None:
    jobs = JobManager(Store(tmp_path))
    jobs.register("count", _counting_job)
    job = jobs.submit("count", {"n": 5, "sleep": 0.01}, actor_id="bob")
    updates = list(jobs.watch(job.job_id))
    assert updates[-1].record.state == SUCCEEDED
    assert updates[-1].record.message == "counted to 5"
    assert jobs.get(job.job_id).done == 5
    # the record is on disk for a later server
    again = JobManager(Store(tmp_path))
    assert again.get(job.job_id).state == SUCCEEDED


def test_cancel_stops_within_a_second(tmp_path: Path) -> None:
    jobs = JobManager(Store(tmp_path))
    jobs.register("count", _counting_job)
    job = jobs.submit("count", {"n": 100000, "sleep": 0.01})
    time.sleep(0.1)
    t0 = time.monotonic()
    jobs.cancel(job.job_id)
    final = jobs.wait(job.job_id, timeout=5)
    assert time.monotonic() - t0 < 1.0
    assert final.state == CANCELLED


def test_interrupted_job_resumes_on_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    jobs = JobManager(store)
    jobs.register("count", _counting_job)
    job = jobs.submit("count", {"n": 100000, "sleep": 0.01, "start": 99990})
    time.sleep(0.1)
    jobs.shutdown()
    assert JobManager(store).get(job.job_id).state == RUNNING  # as a killed server leaves it
    restarted = JobManager(store)
    restarted.register("count", _counting_job)
    assert [j.job_id for j in restarted.resume_interrupted()] == [job.job_id]
    final = restarted.wait(job.job_id, timeout=10)
    assert final.state == SUCCEEDED and final.restarts == 1


def test_failing_job_is_reported(tmp_path: Path) -> None:
    jobs = JobManager(Store(tmp_path))

    def factory(params: dict):
        def run(ctx: JobContext) -> str:
            raise RuntimeError("out of memory")

        return run

    jobs.register("boom", factory)
    job = jobs.submit("boom", {})
    final = jobs.wait(job.job_id, timeout=5)
    assert final.state == "failed" and "out of memory" in final.message


def test_scheduler_is_fifo_and_bounded() -> None:
    sched = DeviceScheduler(slots=1, max_waiting=2)
    order: list[int] = []
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        with sched.slot():
            started.set()
            release.wait(5)

    def worker(i: int) -> None:
        with sched.slot():
            order.append(i)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait(5)
    waiters = []
    for i in range(2):
        t = threading.Thread(target=worker, args=(i,))
        t.start()
        waiters.append(t)
        while sched.waiting < i + 1:
            time.sleep(0.005)
    with pytest.raises(Busy, match="busy"), sched.slot():
        pass
    release.set()
    for t in [holder, *waiters]:
        t.join(5)
    assert order == [0, 1]
    assert sched.active == 0 and sched.waiting == 0


def test_scheduler_wait_can_be_cancelled() -> None:
    sched = DeviceScheduler(slots=1, max_waiting=4)
    with sched.slot():
        flag = threading.Event()
        threading.Timer(0.1, flag.set).start()
        with pytest.raises(Cancelled), sched.slot(cancelled=flag.is_set):
            pass
    assert sched.waiting == 0
