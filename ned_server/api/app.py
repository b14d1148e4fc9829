"""Building, starting and stopping the gRPC server around the pipeline.

Health checking (grpc.health.v1) lets a load balancer route around a sick server; reflection lets
grpcurl and friends discover the API. A non-loopback bind without a token is refused before
anything listens. SIGTERM drains in-flight calls for a grace period, then exits: a farm scheduler
stopping a server never truncates a plate mid-stream.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ned_plugin.wire import SERVICE_NAME, rpc
from ned_server.api.auth import TokenInterceptor
from ned_server.api.service import NedService
from ned_server.config import ServerConfig
from ned_server.orchestration.facade import Pipeline

log = logging.getLogger("ned_server")
# Chunks are at most 1 MiB; allow a little protobuf overhead on top and nothing more.
MESSAGE_LIMIT = (1 << 20) + (64 << 10)


def rpc_threads(config: ServerConfig) -> int:
    """RPC threads: ``workers`` for everything else, plus one for each request the device queue can hold.

    A request waiting for the device keeps its RPC thread, so a pool of only ``workers`` threads is
    used up by queued work long before the queue is full: CancelJob and GetInfo then hang behind
    it, and the queue's own limit (RESOURCE_EXHAUSTED with a retry hint) is never reached.
    """
    return config.workers + config.limits.device_slots + config.limits.max_waiting


class NedServer:
    """A running server: ``start()``, then ``wait()`` or ``stop()``."""

    def __init__(self, config: ServerConfig, pipeline: Pipeline | None = None) -> None:
        config.validate()
        self.config = config
        self.pipeline = pipeline or Pipeline(config)
        interceptors = []
        if config.token:
            interceptors.append(TokenInterceptor(
                config.token, protect_health=config.auth_health, protect_reflection=config.auth_reflection
            ))
        threads = rpc_threads(config)
        self.grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ned-rpc"),
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MESSAGE_LIMIT),
                ("grpc.max_send_message_length", MESSAGE_LIMIT),
                ("grpc.so_reuseport", 0),
                # The server pings idle clients too, and closes a connection whose pings go unanswered.
                ("grpc.keepalive_time_ms", 30000),
                ("grpc.keepalive_timeout_ms", 10000),
                ("grpc.http2.max_pings_without_data", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                # Clients ping every 20 s by default (ned_plugin.client); gRPC's server default would
                # answer pings more frequent than 5 minutes with GOAWAY "too_many_pings".
                ("grpc.http2.min_ping_interval_without_data_ms", 1000),
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
            ],
            maximum_concurrent_rpcs=threads * 4,
        )
        rpc.add_NedServicer_to_server(NedService(self.pipeline), self.grpc_server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.grpc_server,
        )
        self.port = self._bind()
        self._stopped = threading.Event()

    def _bind(self) -> int:
        cfg = self.config
        address = cfg.address
        if cfg.tls_cert and cfg.tls_key:
            creds = grpc.ssl_server_credentials([(Path(cfg.tls_key).read_bytes(), Path(cfg.tls_cert).read_bytes())])
            port = self.grpc_server.add_secure_port(address, creds)
        else:
            port = self.grpc_server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot listen on {address}: the port is taken or the address is not local")
        return port

    def start(self) -> NedServer:
        self.grpc_server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.config.resume_interrupted_jobs:
            for job in self.pipeline.jobs.resume_interrupted():
                log.info("resuming interrupted job %s (%s)", job.job_id, job.kind)
        log.info("listening on %s:%d", self.config.host, self.port)
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish within ``grace`` seconds, then stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        grace = self.config.shutdown_grace_s if grace is None else grace
        done = self.grpc_server.stop(grace)
        self.pipeline.shutdown()
        done.wait(grace + 5)

    def wait(self) -> None:
        self.grpc_server.wait_for_termination()

    def serve_until_signal(self) -> None:
        """Block until SIGTERM or SIGINT, then drain and stop."""
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        log.info("shutting down: draining in-flight calls for up to %.0f s", self.config.shutdown_grace_s)
        self.stop()
        log.info("stopped")
