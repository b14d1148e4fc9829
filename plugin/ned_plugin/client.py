"""The client a host node uses to talk to a NED server: connect, stream frames, read replies.

Retries on UNAVAILABLE and waiting for a restarting server are gRPC's own (a service-config retry
policy and wait_for_ready), not hand-written loops. No call can hang: short calls have a deadline,
long streams a bound on the idle time between messages (``watchdog.IdleWatchdog``; the server sends
heartbeats while it waits), and keepalive pings notice a dead or frozen server on an idle
connection. A token travels as call credentials over TLS (gRPC then refuses to send it in clear
text) and as plain metadata on a loopback channel without TLS. Long calls report progress through a callback
and can be cancelled from another thread (a UI's cancel button) through a ``CancelToken``. Errors
come back as ``NedClientError`` subclasses whose message an artist can act on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from .chunks import MAX_CHUNK_BYTES, FrameAssembler, split_frame
from .plate_files import PlateFiles, describe_file, under_roots
from .watchdog import IdleWatchdog
from .wire import HEARTBEAT_STAGE, IN_PLACE_REFUSED_KEY, SERVICE_NAME, pb, rpc

log = logging.getLogger("ned")

DEFAULT_ADDRESS = "127.0.0.1:50551"
# Chunks are at most 1 MiB; leave room for the message around them.
MESSAGE_LIMIT = MAX_CHUNK_BYTES + (64 << 10)


# ---------------------------------------------------------------------------- errors
class NedClientError(Exception):
    """A failed call; ``code`` is the gRPC status name (e.g. "INVALID_ARGUMENT")."""

    def __init__(self, message: str, code: str = "UNKNOWN", retry_after_s: float | None = None,
                 in_place_refused: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s
        # The server would not read a plate named by path: send the bytes instead.
        self.in_place_refused = in_place_refused


class ServerUnreachable(NedClientError):
    pass


class AuthenticationFailed(NedClientError):
    pass


class CallCancelled(NedClientError):
    pass


class ServerBusy(NedClientError):
    pass


def _trailing(exc: grpc.RpcError) -> dict[str, str]:
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    return {key: value for key, value in trailing or () if isinstance(value, str)}


def _translate(exc: grpc.RpcError, address: str, idle: IdleWatchdog | None = None) -> NedClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    if idle is not None and idle.expired:
        return ServerUnreachable(
            f"the NED server at {address} sent nothing for {idle.idle_s:g} s: it is frozen, overloaded or gone; "
            "check it (ned health) and try again", grpc.StatusCode.DEADLINE_EXCEEDED.name)
    trailing = _trailing(exc)
    if trailing.get(IN_PLACE_REFUSED_KEY):
        return NedClientError(details, code.name, in_place_refused=True)
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
        retry = int(trailing["retry-after-ms"]) / 1000.0 if "retry-after-ms" in trailing else None
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
    # Seconds for short calls (GetInfo, ListJobs...).
    deadline_s: float = 30.0
    # Long streams (Track, Manipulate, training progress) take what the shot takes, but never this
    # long without a message either way: the server heartbeats every few seconds while it works.
    stream_idle_s: float = 60.0
    # ExtractStyle answers once, at the end: its deadline is deadline_s plus this per frame sent.
    per_frame_s: float = 10.0
    # Keepalive pings on the connection: one every keepalive_s, and a ping unanswered for
    # keepalive_timeout_s closes it (a dead or frozen server ends the call instead of hanging it).
    keepalive_s: float = 20.0
    keepalive_timeout_s: float = 10.0
    # Name plates by path to a server that can read them (it lists its read roots in GetInfo).
    in_place: bool = True
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


def _stream(first: object, kind: type, frames: FrameSource, chunk_bytes: int,
            read_roots: tuple[str, ...] = ()) -> Iterator[object]:
    """The request stream: settings, then each frame as chunks of its bytes or, when it is a file under
    one of the server's read roots, as its path (the server reads it in place)."""
    yield first
    if isinstance(frames, PlateFiles) and read_roots:
        for number, path in frames.files:
            if under_roots(path, read_roots):
                ref = describe_file(number, path)
                yield kind(frame_path=pb.FramePath(frame=ref.frame, path=ref.path, size=ref.size,
                                                    mtime_ns=ref.mtime_ns, crc32=ref.crc32))
            else:
                for chunk in split_frame(number, path.read_bytes(), chunk_bytes):
                    yield kind(chunk=chunk)
        return
    for number, data in frames:
        for chunk in split_frame(number, data, chunk_bytes):
            yield kind(chunk=chunk)


def is_loopback_address(address: str) -> bool:
    """Whether a HOST:PORT target is this machine by itself (an IP literal or "localhost")."""
    import ipaddress

    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address
    host = host.removeprefix("ipv4:").removeprefix("ipv6:").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
            ("grpc.keepalive_time_ms", int(s.keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(s.keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        if s.server_name:
            options.append(("grpc.ssl_target_name_override", s.server_name))
        self._metadata: tuple[tuple[str, str], ...] = ()
        if s.tls:
            roots = Path(s.root_certificates).read_bytes() if s.root_certificates else None
            credentials = grpc.ssl_channel_credentials(roots)
            if s.token:  # call credentials: gRPC attaches them only to calls on a secure channel
                credentials = grpc.composite_channel_credentials(
                    credentials, grpc.access_token_call_credentials(s.token))
            self.channel = grpc.secure_channel(s.address, credentials, options)
        else:
            if s.token and not is_loopback_address(s.address):
                log.warning("sending the NED token to %s without TLS: anyone on the network can read it "
                            "(connect with --tls)", s.address)
            self.channel = grpc.insecure_channel(s.address, options)
            self._metadata = (("authorization", f"Bearer {s.token}"),) if s.token else ()
        self.stub = rpc.NedStub(self.channel)
        self._read_roots: tuple[str, ...] | None = None

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

    def _streaming(self, method: Callable, request: object, cancel: CancelToken | None,
                   requests_streamed: bool = False) -> Iterator:
        idle = IdleWatchdog(self.settings.stream_idle_s)
        if requests_streamed:
            request = idle.watch(request)  # type: ignore[arg-type]
        call = method(request, metadata=self._metadata, wait_for_ready=self.settings.wait_for_ready)
        idle.attach(call)
        if cancel is not None:
            cancel.attach(call)
        try:
            for reply in call:
                idle.touch()
                yield reply
        except grpc.RpcError as exc:
            raise _translate(exc, self.settings.address, idle) from None
        finally:
            idle.close()
            call.cancel()  # frees the server side at once if the caller stops reading early

    def read_roots(self) -> tuple[str, ...]:
        """The folders the server reads plates from in place (GetInfo), asked once per client."""
        if self._read_roots is None:
            self._read_roots = tuple(self.info().read_roots) if self.settings.in_place else ()
        return self._read_roots

    def _in_place_roots(self, frames: FrameSource) -> tuple[str, ...]:
        return self.read_roots() if isinstance(frames, PlateFiles) and self.settings.in_place else ()

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
        roots = self._in_place_roots(frames)
        try:
            return self._track(frames, settings, on_progress, cancel, chunk_bytes, roots)
        except NedClientError as exc:
            if not (roots and exc.in_place_refused):
                raise
            log.warning("%s; sending the frames' bytes instead", exc)
            return self._track(frames, settings, on_progress, cancel, chunk_bytes, ())

    def _track(self, frames: FrameSource, settings: pb.TrackSettings | None, on_progress: ProgressCallback | None,
               cancel: CancelToken | None, chunk_bytes: int, roots: tuple[str, ...]) -> TrackResult:
        first = pb.TrackRequest(settings=settings or pb.TrackSettings())
        tracks: list[pb.FrameTrack] = []
        summary = pb.TrackSummary()
        requests = _stream(first, pb.TrackRequest, frames, chunk_bytes, roots)
        for reply in self._streaming(self.stub.Track, requests, cancel, requests_streamed=True):
            kind = reply.WhichOneof("item")
            if kind == "progress" and on_progress and reply.progress.stage != HEARTBEAT_STAGE:
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
        roots = self._in_place_roots(frames)
        plates = self._manipulate(settings, frames, on_progress, cancel, chunk_bytes, roots, on_summary)
        try:
            first = next(plates, None)  # a refused path comes before any plate: the shot is read first
        except NedClientError as exc:
            if not (roots and exc.in_place_refused):
                raise
            log.warning("%s; sending the frames' bytes instead", exc)
            plates = self._manipulate(settings, frames, on_progress, cancel, chunk_bytes, (), on_summary)
            first = next(plates, None)
        if first is not None:
            yield first
            yield from plates

    def _manipulate(self, settings: pb.ManipulateSettings, frames: FrameSource,
                    on_progress: ProgressCallback | None, cancel: CancelToken | None, chunk_bytes: int,
                    roots: tuple[str, ...],
                    on_summary: Callable[[pb.ManipulateSummary], None] | None) -> Iterator[Plate]:
        requests = _stream(pb.ManipulateRequest(settings=settings), pb.ManipulateRequest, frames, chunk_bytes,
                           roots)
        assembler = FrameAssembler()
        header: pb.PlateHeader | None = None
        for reply in self._streaming(self.stub.Manipulate, requests, cancel, requests_streamed=True):
            kind = reply.WhichOneof("item")
            if kind == "progress" and on_progress and reply.progress.stage != HEARTBEAT_STAGE:
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
        roots = self._in_place_roots(frames)
        try:
            return self._extract_style(settings, frames, cancel, roots)
        except NedClientError as exc:
            if not (roots and exc.in_place_refused):
                raise
            log.warning("%s; sending the frames' bytes instead", exc)
            return self._extract_style(settings, frames, cancel, ())

    def _extract_style(self, settings: pb.ExtractStyleSettings, frames: FrameSource, cancel: CancelToken | None,
                       roots: tuple[str, ...]) -> pb.ExtractStyleReply:
        requests = _stream(pb.ExtractStyleRequest(settings=settings), pb.ExtractStyleRequest, frames,
                           MAX_CHUNK_BYTES, roots)
        # One answer at the end: a deadline sized to the frames it has to read (keepalive catches a
        # dead server sooner).
        timeout = self.settings.deadline_s + self.settings.per_frame_s * max(settings.frame_count, 1)
        future = self.stub.ExtractStyle.future(requests, metadata=self._metadata, timeout=timeout,
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
