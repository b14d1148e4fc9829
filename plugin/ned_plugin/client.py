"""The client a host node uses to talk to a NED server: connect, stream frames, read replies.

Retries on UNAVAILABLE and waiting for a restarting server are gRPC's own (a service-config retry
policy and wait_for_ready), not hand-written loops. Long calls report progress through a callback
and can be cancelled from another thread (a UI's cancel button) through a ``CancelToken``. Errors
come back as ``NedClientError`` subclasses whose message an artist can act on.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from .chunks import MAX_CHUNK_BYTES, FrameAssembler, split_frame
from .wire import SERVICE_NAME, pb, rpc

DEFAULT_ADDRESS = "127.0.0.1:50551"
# Chunks are at most 1 MiB; leave room for the message around them.
MESSAGE_LIMIT = MAX_CHUNK_BYTES + (64 << 10)


# ---------------------------------------------------------------------------- errors
class NedClientError(Exception):
    """A failed call; ``code`` is the gRPC status name (e.g. "INVALID_ARGUMENT")."""

    def __init__(self, message: str, code: str = "UNKNOWN", retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


class ServerUnreachable(NedClientError):
    pass


class AuthenticationFailed(NedClientError):
    pass


class CallCancelled(NedClientError):
    pass


class ServerBusy(NedClientError):
    pass


def _translate(exc: grpc.RpcError, address: str) -> NedClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnreachable(
            f"cannot reach the NED server at {address}: is ned-server running there? ({details})", code.name
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServerUnreachable(f"the NED server at {address} did not answer in time ({details})", code.name)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationFailed(f"the NED server refused the token: {details}", code.name)
    if code == grpc.StatusCode.CANCELLED:
        return CallCancelled(f"cancelled: {details}", code.name)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        retry = None
        trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
        for key, value in trailing or ():
            if key == "retry-after-ms":
                retry = int(value) / 1000.0
        return ServerBusy(details, code.name, retry)
    return NedClientError(details, code.name)


# ---------------------------------------------------------------------------- settings
@dataclass
class ConnectionSettings:
    address: str = field(default_factory=lambda: os.environ.get("NED_SERVER", DEFAULT_ADDRESS))
    token: str | None = field(default_factory=lambda: os.environ.get("NED_TOKEN") or None)
    tls: bool = False
    # PEM file of the CA (or self-signed certificate) to trust; None uses the system roots.
    root_certificates: Path | None = None
    # Override the TLS host name check (when the certificate names another host).
    server_name: str | None = None
    # Seconds for short calls (GetInfo, ListJobs...). Streams have no deadline: a shot takes what it takes.
    deadline_s: float = 30.0
    # Attempts on UNAVAILABLE, with exponential back-off (gRPC's retry policy).
    attempts: int = 4
    # Wait for a (re)starting server instead of failing at once.
    wait_for_ready: bool = False


@dataclass
class ProgressInfo:
    stage: str
    done: int
    total: int
    message: str = ""
    job_id: str = ""
    eta_seconds: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total > 0 else 0.0


ProgressCallback = Callable[[ProgressInfo], None]


def progress_info(p: pb.Progress) -> ProgressInfo:
    return ProgressInfo(p.stage, p.done, p.total, p.message, p.job_id, p.eta_seconds)


class CancelToken:
    """Set from any thread (a UI button) to cancel the call that holds it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._calls: list[grpc.Call] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            for call in self._calls:
                call.cancel()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def attach(self, call: grpc.Call) -> None:
        with self._lock:
            self._calls.append(call)
            if self._event.is_set():
                call.cancel()


def _service_config(attempts: int) -> str:
    return json.dumps({
        "methodConfig": [{
            "name": [{"service": SERVICE_NAME}],
            "retryPolicy": {
                "maxAttempts": max(2, min(attempts, 5)),
                "initialBackoff": "0.2s",
                "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }]
    })


# ---------------------------------------------------------------------------- results
@dataclass
class TrackResult:
    summary: pb.TrackSummary
    frames: list[pb.FrameTrack]


@dataclass
class Plate:
    """One face plate from Manipulate: its header and the encoded EXR (empty when untracked)."""

    header: pb.PlateHeader
    exr: bytes


FrameSource = Iterable[tuple[int, bytes]]


def _stream(first: object, kind: type, frames: FrameSource, chunk_bytes: int) -> Iterator[object]:
    yield first
    for number, data in frames:
        for chunk in split_frame(number, data, chunk_bytes):
            yield kind(chunk=chunk)


# ---------------------------------------------------------------------------- client
class NedClient:
    def __init__(self, settings: ConnectionSettings | None = None) -> None:
        self.settings = settings or ConnectionSettings()
        s = self.settings
        options = [
            ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            ("grpc.max_send_message_length", MESSAGE_LIMIT),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", _service_config(s.attempts)),
        ]
        if s.server_name:
            options.append(("grpc.ssl_target_name_override", s.server_name))
        if s.tls:
            roots = Path(s.root_certificates).read_bytes() if s.root_certificates else None
            self.channel = grpc.secure_channel(s.address, grpc.ssl_channel_credentials(roots), options)
        else:
            self.channel = grpc.insecure_channel(s.address, options)
        self.stub = rpc.NedStub(self.channel)
        self._metadata = (("authorization", f"Bearer {s.token}"),) if s.token else ()

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> NedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing
    def _unary(self, method: Callable, request: object, timeout: float | None = None):
        try:
            return method(request, metadata=self._metadata, timeout=timeout or self.settings.deadline_s,
                          wait_for_ready=self.settings.wait_for_ready)
        except grpc.RpcError as exc:
            raise _translate(exc, self.settings.address) from None

    def _streaming(self, method: Callable, request: object, cancel: CancelToken | None) -> Iterator:
        call = method(request, metadata=self._metadata, wait_for_ready=self.settings.wait_for_ready)
        if cancel is not None:
            cancel.attach(call)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise _translate(exc, self.settings.address) from None
        finally:
            call.cancel()  # frees the server side at once if the caller stops reading early

    # -- calls
    def info(self) -> pb.ServerInfo:
        return self._unary(self.stub.GetInfo, pb.GetInfoRequest())

    def health(self, timeout: float = 5.0) -> bool:
        """True when the server answers SERVING (grpc.health.v1)."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        try:
            reply = health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=""), metadata=self._metadata, timeout=timeout
            )
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def list_actors(self) -> list[pb.ActorInfo]:
        return list(self._unary(self.stub.ListActors, pb.ListActorsRequest()).actors)

    def list_jobs(self, active_only: bool = False) -> list[pb.JobInfo]:
        return list(self._unary(self.stub.ListJobs, pb.ListJobsRequest(active_only=active_only)).jobs)

    def cancel_job(self, job_id: str) -> pb.JobInfo:
        return self._unary(self.stub.CancelJob, pb.CancelJobRequest(job_id=job_id)).job

    def track(
        self,
        frames: FrameSource,
        settings: pb.TrackSettings | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        chunk_bytes: int = MAX_CHUNK_BYTES,
    ) -> TrackResult:
        first = pb.TrackRequest(settings=settings or pb.TrackSettings())
        tracks: list[pb.FrameTrack] = []
        summary = pb.TrackSummary()
        requests = _stream(first, pb.TrackRequest, frames, chunk_bytes)
        for reply in self._streaming(self.stub.Track, requests, cancel):
            kind = reply.WhichOneof("item")
            if kind == "progress" and on_progress:
                on_progress(progress_info(reply.progress))
            elif kind == "frame":
                tracks.append(reply.frame)
            elif kind == "summary":
                summary = reply.summary
        return TrackResult(summary, tracks)

    def manipulate(
        self,
        settings: pb.ManipulateSettings,
        frames: FrameSource = (),
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        chunk_bytes: int = MAX_CHUNK_BYTES,
        on_summary: Callable[[pb.ManipulateSummary], None] | None = None,
    ) -> Iterator[Plate]:
        """Face plates in frame order, as they arrive (send no frames when the shot is cached).
        ``on_summary`` receives the closing summary, with the shot's QC report (``summary.qc``)."""
        requests = _stream(pb.ManipulateRequest(settings=settings), pb.ManipulateRequest, frames, chunk_bytes)
        assembler = FrameAssembler()
        header: pb.PlateHeader | None = None
        for reply in self._streaming(self.stub.Manipulate, requests, cancel):
            kind = reply.WhichOneof("item")
            if kind == "progress" and on_progress:
                on_progress(progress_info(reply.progress))
            elif kind == "plate":
                header = reply.plate
                if not header.tracked:
                    yield Plate(header, b"")
                    header = None
            elif kind == "chunk":
                done = assembler.add(reply.chunk)
                if done is not None:
                    if header is None or header.frame != done[0]:
                        raise NedClientError(f"frame {done[0]}: plate arrived without its header", "DATA_LOSS")
                    yield Plate(header, done[1])
                    header = None
            elif kind == "summary" and on_summary:
                on_summary(reply.summary)
        assembler.finish()

    def extract_style(
        self,
        settings: pb.ExtractStyleSettings,
        frames: FrameSource = (),
        cancel: CancelToken | None = None,
    ) -> pb.ExtractStyleReply:
        requests = _stream(pb.ExtractStyleRequest(settings=settings), pb.ExtractStyleRequest, frames,
                           MAX_CHUNK_BYTES)
        future = self.stub.ExtractStyle.future(requests, metadata=self._metadata,
                                               wait_for_ready=self.settings.wait_for_ready)
        if cancel is not None:
            cancel.attach(future)
        try:
            return future.result()
        except grpc.RpcError as exc:
            raise _translate(exc, self.settings.address) from None

    def train_actor(
        self,
        request: pb.TrainActorRequest,
        on_progress: Callable[[pb.JobProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> pb.JobInfo:
        """Start (and, unless ``request.detach``, follow) an actor training job; returns its last state."""
        last = pb.JobInfo()
        for update in self._streaming(self.stub.TrainActor, request, cancel):
            last = update.job
            if on_progress:
                on_progress(update)
        return last

    def watch_job(
        self, job_id: str, on_progress: Callable[[pb.JobProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> pb.JobInfo:
        last = pb.JobInfo()
        for update in self._streaming(self.stub.WatchJob, pb.WatchJobRequest(job_id=job_id), cancel):
            last = update.job
            if on_progress:
                on_progress(update)
        return last
