"""Connections that cannot hang: keepalive, idle bounds on streams, heartbeats, and tokens kept off clear text.

The frozen server is a real ``ned-server`` process stopped with SIGSTOP: its socket stays open (the
kernel still accepts and acknowledges), but nothing answers, which is what a hung GPU driver or a
swapped-out machine looks like. Track and Manipulate must end within a few seconds (the bounds are
set small here) with the message an artist reads.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from ned_plugin.client import (
    AuthenticationFailed,
    ConnectionSettings,
    NedClient,
    ServerUnreachable,
    is_loopback_address,
)
from ned_plugin.watchdog import IdleWatchdog
from ned_plugin.wire import pb
from tests.server_process import ServerProcess

TOKEN = "s3cret-token-for-tests"
QUICK = {"keepalive_s": 1.0, "keepalive_timeout_s": 1.0, "stream_idle_s": 3.0, "deadline_s": 3.0, "attempts": 2}


@pytest.fixture(scope="module")
def frozen_server(tmp_path_factory):
    """A server process, connected to once, then stopped (SIGSTOP) for the test and continued after."""
    root = tmp_path_factory.mktemp("frozen")
    with ServerProcess(root / "store", root / "models") as srv:
        yield srv
        if srv.proc is not None:
            srv.proc.send_signal(signal.SIGCONT)


def _frames(n: int = 3) -> list[tuple[int, bytes]]:
    import numpy as np

    from ned_plugin.exr import Frame, Window, encode_exr

    win = Window(0, 0, 64, 32)
    data = encode_exr(Frame(np.full((32, 64, 4), 0.5, np.float16), ("R", "G", "B", "A"), win, win, {}))
    return [(1001 + i, data) for i in range(n)]


@pytest.mark.parametrize("call", ["track", "manipulate"])
def test_a_frozen_server_ends_track_and_manipulate_within_bounds(frozen_server, call: str) -> None:
    with NedClient(ConnectionSettings(address=frozen_server.address, **QUICK)) as client:
        assert client.health()  # the connection is up before the server freezes
        assert frozen_server.proc is not None
        frozen_server.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            with pytest.raises(ServerUnreachable) as err:
                if call == "track":
                    client.track(_frames(), pb.TrackSettings(shot_id="frozen", frame_count=3))
                else:
                    list(client.manipulate(pb.ManipulateSettings(shot_id="frozen", actor_id="anna"), _frames()))
            elapsed = time.monotonic() - t0
        finally:
            frozen_server.proc.send_signal(signal.SIGCONT)
    assert elapsed < 10, elapsed
    message = str(err.value)
    assert frozen_server.address in message and ("frozen" in message or "cannot reach" in message), message


def test_the_idle_watchdog_cancels_a_silent_call_and_spares_a_talking_one() -> None:
    class Call:
        cancelled = False

        def cancel(self) -> bool:
            self.cancelled = True
            return True

    silent, talking = Call(), Call()
    quiet = IdleWatchdog(0.3, poll_s=0.05)
    quiet.attach(silent)
    busy = IdleWatchdog(0.3, poll_s=0.05)
    busy.attach(talking)
    for _ in range(12):  # 0.6 s in all, a message every 0.05 s
        busy.touch()
        time.sleep(0.05)
    busy.close()
    quiet.close()
    assert silent.cancelled and quiet.expired
    assert not talking.cancelled and not busy.expired


def test_a_busy_stream_sends_heartbeats_while_its_work_says_nothing() -> None:
    from ned_server.runtime.streaming import EventStream, Heartbeat

    def work(emit, stopped):  # type: ignore[no-untyped-def]
        time.sleep(0.6)  # e.g. queued for the device
        emit("plate")
        return "done"

    stream = EventStream(work, lambda: False, heartbeat_s=0.15)
    events = list(stream)
    assert sum(isinstance(e, Heartbeat) for e in events) >= 2 and events[-1] == "plate" and stream.result == "done"


def test_the_servers_keepalive_accepts_the_clients_pings(server) -> None:
    """A client pinging every second must not be sent GOAWAY (too_many_pings) by the server's defaults."""
    with NedClient(ConnectionSettings(address=f"127.0.0.1:{server.port}", keepalive_s=0.5,
                                      keepalive_timeout_s=2.0)) as client:
        for _ in range(4):
            assert client.info().api == "ned.v1"
            time.sleep(1.0)


# ---------------------------------------------------------------------- tokens
def test_a_token_off_loopback_needs_tls_unless_allowed(server_config, tmp_path: Path) -> None:
    from tests.tls import make_self_signed

    server_config.host, server_config.token = "0.0.0.0", TOKEN
    with pytest.raises(ValueError, match="without TLS"):
        server_config.validate()
    server_config.allow_insecure_token = True
    server_config.validate()
    server_config.allow_insecure_token = False
    server_config.tls_cert, server_config.tls_key = make_self_signed(tmp_path)
    server_config.validate()


def test_the_cli_takes_read_roots_and_the_insecure_token_switch(tmp_path: Path) -> None:
    from ned_server.api.cli import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(
        ["--host", "0.0.0.0", "--allow-insecure-token", "--read-root", str(tmp_path), "--read-root", "/"]))
    assert config.allow_insecure_token and config.read_roots == (tmp_path, Path("/"))
    config.token = TOKEN
    config.validate()
    config.read_roots = (tmp_path / "missing",)
    with pytest.raises(ValueError, match="not a folder"):
        config.validate()


def test_over_tls_the_token_travels_as_call_credentials(server_config, tmp_path: Path) -> None:
    from ned_server.api.app import NedServer
    from tests.tls import make_self_signed

    cert, key = make_self_signed(tmp_path)
    server_config.token, server_config.tls_cert, server_config.tls_key = TOKEN, cert, key
    srv = NedServer(server_config).start()
    try:
        settings = ConnectionSettings(address=f"localhost:{srv.port}", token=TOKEN, tls=True, root_certificates=cert,
                                      deadline_s=5, attempts=2)
        with NedClient(settings) as client:
            assert client._metadata == ()  # nothing hand-attached: gRPC's call credentials carry it
            assert client.info().api == "ned.v1"
        with NedClient(ConnectionSettings(**{**settings.__dict__, "token": "wrong"})) as client, \
                pytest.raises(AuthenticationFailed, match="refused the token"):
            client.info()
    finally:
        srv.stop(grace=0.5)


@pytest.mark.parametrize(("address", "loopback"), [("127.0.0.1:50551", True), ("localhost:1", True),
                                                   ("[::1]:50551", True), ("10.0.0.7:50551", False),
                                                   ("farm-node:50551", False)])
def test_loopback_addresses_are_told_apart(address: str, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback
