"""Long server-side jobs (actor training): run in the background, report, cancel, survive restarts.

A job outlives the RPC that started it: a Nuke session may close while an actor trains for hours.
Each job's record is saved in the store on every state change (and every few seconds of progress),
so ListJobs answers after a restart, and jobs a killed server left running are started again with
``resume`` so training continues from its last checkpoint.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ned_server.errors import Cancelled, NotFound
from ned_server.runtime.store import Store

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
_SAVE_EVERY_S = 2.0


@dataclass
class JobRecord:
    job_id: str
    kind: str
    params: dict[str, Any]
    actor_id: str = ""
    state: str = QUEUED
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    message: str = ""
    done: int = 0
    total: int = 0
    eta_seconds: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    restarts: int = 0


@dataclass
class JobUpdate:
    """One snapshot sent to watchers: the record plus what only travels live (sample images)."""

    record: JobRecord
    sample_png: bytes = b""


class JobContext:
    """What a running job sees: a cancel flag and a way to report progress."""

    def __init__(self, manager: JobManager, job: JobRecord, cancel: threading.Event) -> None:
        self._manager = manager
        self.job = job
        self.cancel_event = cancel

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled(f"job {self.job.job_id} was cancelled")

    def report(
        self,
        done: int,
        total: int,
        message: str = "",
        losses: dict[str, float] | None = None,
        eta_seconds: float = 0.0,
        sample_png: bytes = b"",
    ) -> None:
        job = self.job
        job.done, job.total, job.eta_seconds = int(done), int(total), float(eta_seconds)
        if message:
            job.message = message
        if losses:
            job.losses = {k: float(v) for k, v in losses.items()}
        self._manager._publish(job, sample_png)


JobFunction = Callable[[JobContext], str | None]
JobFactory = Callable[[dict[str, Any]], JobFunction]


class JobManager:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._watchers: dict[str, list[queue.Queue[JobUpdate]]] = {}
        self._last_save: dict[str, float] = {}
        self._factories: dict[str, JobFactory] = {}
        self._shutting_down = False
        for raw in store.load_jobs():
            try:
                record = JobRecord(**raw)
            except TypeError:
                continue
            self._jobs[record.job_id] = record

    def register(self, kind: str, factory: JobFactory) -> None:
        """``factory(params)`` returns the function that runs a job of this kind."""
        self._factories[kind] = factory

    def submit(self, kind: str, params: dict[str, Any], actor_id: str = "") -> JobRecord:
        if kind not in self._factories:
            raise NotFound(f"no job kind {kind!r} on this server")
        record = JobRecord(job_id=uuid.uuid4().hex[:16], kind=kind, params=params, actor_id=actor_id)
        self._start(record)
        return record

    def _start(self, record: JobRecord) -> None:
        fn = self._factories[record.kind](record.params)
        cancel = threading.Event()
        with self._lock:
            self._jobs[record.job_id] = record
            self._cancel[record.job_id] = cancel
        self._save(record, force=True)
        thread = threading.Thread(
            target=self._run, args=(record, fn, cancel), name=f"job-{record.job_id}", daemon=True
        )
        self._threads[record.job_id] = thread
        thread.start()

    def _run(self, record: JobRecord, fn: JobFunction, cancel: threading.Event) -> None:
        record.state = RUNNING
        self._publish(record, force=True)
        try:
            message = fn(JobContext(self, record, cancel))
            if cancel.is_set() and self._shutting_down:
                raise Cancelled("shutdown")
            record.state = CANCELLED if cancel.is_set() else SUCCEEDED
            record.message = message or ("cancelled" if cancel.is_set() else "done")
        except Cancelled as exc:
            if self._shutting_down:  # not the user's cancel: leave it 'running' to resume on restart
                record.message = "interrupted by a server shutdown; resumes when the server restarts"
                self._save(record, force=True)
                return
            record.state, record.message = CANCELLED, str(exc)
        except Exception as exc:  # a failed job is reported, never takes the server down
            log.exception("job %s failed", record.job_id)
            record.state, record.message = FAILED, f"{type(exc).__name__}: {exc}"
        self._publish(record, force=True)

    def resume_interrupted(self) -> list[JobRecord]:
        """Start again the jobs that a killed server left queued or running."""
        resumed = []
        for record in list(self._jobs.values()):
            if record.state in ACTIVE and record.job_id not in self._threads:
                if record.kind not in self._factories:
                    record.state, record.message = FAILED, "interrupted; this server cannot run it"
                    self._save(record, force=True)
                    continue
                record.params = {**record.params, "resume": True}
                record.restarts += 1
                record.state, record.message = QUEUED, "resuming after a server restart"
                self._start(record)
                resumed.append(record)
        return resumed

    def get(self, job_id: str) -> JobRecord:
        with self._lock:
            record = self._jobs.get(job_id)
        if record is None:
            raise NotFound(f"unknown job {job_id!r}")
        return record

    def list(self, active_only: bool = False) -> list[JobRecord]:
        with self._lock:
            jobs = list(self._jobs.values())
        jobs.sort(key=lambda j: j.created)
        return [j for j in jobs if not active_only or j.state in ACTIVE]

    def cancel(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        event = self._cancel.get(job_id)
        if record.state in ACTIVE and event is not None:
            event.set()
            record.message = "cancelling"
            self._publish(record, force=True)
        return record

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
        return self.get(job_id)

    def watch(self, job_id: str, stop: Callable[[], bool] = lambda: False,
              heartbeat_s: float | None = None) -> Iterator[JobUpdate]:
        """Updates of one job until it ends (or ``stop()`` turns true, e.g. the client left); with
        ``heartbeat_s``, the last update again whenever the job says nothing for that long (a queued
        job), so a watcher can bound the idle time of its stream."""
        live = self.get(job_id)
        inbox: queue.Queue[JobUpdate] = queue.Queue(maxsize=256)
        with self._lock:
            self._watchers.setdefault(job_id, []).append(inbox)
        try:
            # A snapshot taken once the inbox is registered: every later change arrives in the inbox.
            # (Testing the live record instead would end the watch, without its final update, when
            # the job ends between two updates.)
            record = _copy(live)
            yield JobUpdate(record)
            last = time.monotonic()
            while record.state in ACTIVE and not stop():
                try:
                    update = inbox.get(timeout=0.2)
                except queue.Empty:
                    if heartbeat_s is not None and time.monotonic() - last >= heartbeat_s:
                        last = time.monotonic()
                        yield JobUpdate(record)
                    continue
                last = time.monotonic()
                record = update.record
                yield update
        finally:
            with self._lock:
                self._watchers.get(job_id, []).remove(inbox)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask running jobs to stop at their next check; their records stay 'running' on disk on
        purpose, so that the next start resumes them from their last checkpoint."""
        self._shutting_down = True
        for job_id, thread in list(self._threads.items()):
            if thread.is_alive():
                self._cancel[job_id].set()
        deadline = time.monotonic() + timeout
        for thread in self._threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _publish(self, record: JobRecord, sample_png: bytes = b"", force: bool = False) -> None:
        record.updated = time.time()
        self._save(record, force=force)
        update = JobUpdate(_copy(record), sample_png)
        with self._lock:
            watchers = list(self._watchers.get(record.job_id, ()))
        for inbox in watchers:
            try:
                inbox.put_nowait(update)
            except queue.Full:  # a slow watcher misses intermediate updates, not the final one
                if record.state not in ACTIVE:
                    inbox.get_nowait()
                    inbox.put_nowait(update)

    def _save(self, record: JobRecord, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_save.get(record.job_id, 0.0) >= _SAVE_EVERY_S:
            self._last_save[record.job_id] = now
            self._store.save_job(asdict(record))


def _copy(record: JobRecord) -> JobRecord:
    return JobRecord(**{**asdict(record), "losses": dict(record.losses)})
