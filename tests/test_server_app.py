"""The server starts, answers GetInfo/health/reflection, checks tokens, refuses unsafe binds, drains on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from ned_plugin.client import AuthenticationFailed, ConnectionSettings, NedClient, ServerUnreachable
from ned_plugin.wire import pb


def test_get_info(client) -> None:
    info = client.info()
    assert info.api == "ned.v1"
    assert info.device == "cpu"
    assert list(info.emotions) == ["neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised"]
    assert info.max_chunk_bytes == 1 << 20
    names = {a.name for a in info.assets}
    assert {"flame", "deca", "fan_2d", "vgg19", "ned_manipulator"} <= names
    assets = {a.name: a for a in info.assets}
    # the test's models dir holds only the procedural stand-in FLAME (the conftest installs it), and says so
    flame = {"flame", "flame_landmarks", "flame_masks"}
    assert all(assets[n].found and "stand-in" in assets[n].description for n in flame)
    assert all(not a.found and a.source for n, a in assets.items() if n not in flame)
    knobs = {p.name: p for p in info.parameters}
    assert knobs["intensity"].animatable and knobs["intensity"].default_value == 1.0
    assert "happy" in knobs["emotion"].choices
    assert "Linear Rec.709 (sRGB)" in info.colour_spaces
    assert info.default_colour.input_space
    rpcs = {r.name: r for r in info.rpcs}
    assert rpcs["GetInfo"].available and rpcs["ListJobs"].available and rpcs["Track"].available
    assert not rpcs["Manipulate"].available and "manipulator" in rpcs["Manipulate"].reason  # no checkpoint here


def test_without_flame_the_rpcs_that_need_it_say_where_to_get_it(server_config) -> None:
    import shutil

    from ned_server.api.app import NedServer

    shutil.rmtree(server_config.models_dir / "flame")
    srv = NedServer(server_config).start()
    try:
        with NedClient(ConnectionSettings(address=f"127.0.0.1:{srv.port}", deadline_s=20)) as c:
            rpcs = {r.name: r for r in c.info().rpcs}
    finally:
        srv.stop(grace=1.0)
    for name in ("Track", "Manipulate", "ExtractStyle", "TrainActor"):
        assert not rpcs[name].available and "flame" in rpcs[name].reason and "flame.is.tue.mpg.de" in rpcs[name].reason
    assert rpcs["ListActors"].available


def test_health_and_lists(client) -> None:
    assert client.health()
    assert client.list_actors() == []
    assert client.list_jobs() == []


def test_unknown_job_is_not_found(client) -> None:
    from ned_plugin.client import NedClientError

    with pytest.raises(NedClientError) as err:
        client.cancel_job("nope")
    assert err.value.code == "NOT_FOUND"


def test_reflection_lists_the_service(server) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        services = {s.name for r in replies for s in r.list_services_response.service}
    assert "ned.v1.Ned" in services and "grpc.health.v1.Health" in services


@pytest.fixture
def token_server(server_config):
    from ned_server.api.app import NedServer

    server_config.token = "s3cret-token"
    srv = NedServer(server_config).start()
    yield srv
    srv.stop(grace=0.5)


def test_token_is_required(token_server) -> None:
    address = f"127.0.0.1:{token_server.port}"
    with NedClient(ConnectionSettings(address=address, token="s3cret-token")) as good:
        assert good.info().api == "ned.v1"
    for token in (None, "wrong"):
        with NedClient(ConnectionSettings(address=address, token=token)) as bad:
            with pytest.raises(AuthenticationFailed, match="token"):
                bad.info()
            with pytest.raises(AuthenticationFailed):
                bad.list_jobs()
            with pytest.raises(AuthenticationFailed):
                bad.track([(1, b"x")])
            assert bad.health()  # health is open by default, for load balancers
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_non_loopback_without_token_refuses_to_start(server_config) -> None:
    from ned_server.api.app import NedServer

    server_config.host = "0.0.0.0"
    with pytest.raises(ValueError, match="needs a token"):
        NedServer(server_config)


def test_unreachable_server_message() -> None:
    with (NedClient(ConnectionSettings(address="127.0.0.1:1", deadline_s=2, attempts=2)) as c,
          pytest.raises(ServerUnreachable, match=r"cannot reach the NED server at 127\.0\.0\.1:1")):
        c.info()


def test_tls(server_config, tmp_path: Path) -> None:
    from tests.tls import make_self_signed

    cert, key = make_self_signed(tmp_path)
    from ned_server.api.app import NedServer

    server_config.tls_cert, server_config.tls_key = cert, key
    srv = NedServer(server_config).start()
    try:
        settings = ConnectionSettings(address=f"localhost:{srv.port}", tls=True, root_certificates=cert)
        with NedClient(settings) as c:
            assert c.info().api == "ned.v1"
        with (NedClient(ConnectionSettings(address=f"localhost:{srv.port}", deadline_s=3, attempts=2)) as plain,
              pytest.raises(ServerUnreachable)):
            plain.info()
    finally:
        srv.stop(grace=0.5)


def _start_subprocess(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "NED_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ned_server.api.cli", "--port", "0", "--store", str(tmp_path / "store"),
         "--models", str(tmp_path / "models"), "--grace", "5", *extra],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("server did not log 'listening on'")


def test_cli_server_logs_address_and_exits_on_sigterm(tmp_path: Path) -> None:
    proc, port = _start_subprocess(tmp_path)
    try:
        with NedClient(ConnectionSettings(address=f"127.0.0.1:{port}")) as c:
            assert c.info().api == "ned.v1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_refuses_public_bind_without_token(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ned_server.api.cli", "--host", "0.0.0.0", "--port", "0",
                             "--store", str(tmp_path)], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "NED_TOKEN"})
    assert result.returncode == 2
    assert "needs a token" in result.stderr


def test_settings_must_come_first(client) -> None:
    from ned_plugin.client import NedClientError

    call = client.stub.Track(iter([pb.TrackRequest(chunk=pb.FrameChunk(frame=1, count=1))]))
    with pytest.raises(grpc.RpcError) as err:
        list(call)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "settings" in err.value.details()
    with pytest.raises(NedClientError) as err2:
        client.track([], pb.TrackSettings())
    assert err2.value.code == "INVALID_ARGUMENT" and "no frames" in str(err2.value)
