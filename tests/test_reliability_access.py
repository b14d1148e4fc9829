"""Access: loopback by default, no public bind without a token, the token on every RPC, TLS, ids that
cannot leave the store, and no file from outside ever unpickled or executed.

tests/test_server_app.py covers the basics (GetInfo with and without a token, the CLI refusing
0.0.0.0, a TLS round trip); this suite goes over every RPC the service declares, the address
checks, and the files a server loads.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import os
import re
import time
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest
import torch

from ned_plugin.client import AuthenticationFailed, ConnectionSettings, NedClient, NedClientError, ServerUnreachable
from ned_plugin.wire import pb
from ned_server.synthetic.flame_assets import install_standin_flame
from tests.hostile import pickle_payload
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator

REPO = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"


def _start(config):
    from ned_server.api.app import NedServer

    install_standin_flame(config.models_dir)
    return NedServer(config).start()


# ---------------------------------------------------------------------- binding
def test_default_bind_is_loopback_only(server) -> None:
    from ned_server.api.cli import build_parser
    from ned_server.config import ServerConfig

    assert ServerConfig().host == "127.0.0.1" and build_parser().parse_args([]).host == "127.0.0.1"
    listening = [c for c in psutil.Process().net_connections("inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == server.port]
    assert listening
    for conn in listening:  # gRPC may listen on an IPv6 socket with the v4-mapped loopback address
        address = ipaddress.ip_address(conn.laddr.ip)
        assert (getattr(address, "ipv4_mapped", None) or address).is_loopback, conn


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_no_token(server_config, host: str) -> None:
    server_config.host = host
    assert server_config.is_loopback
    server_config.validate()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.7", "192.168.1.20", "127.example.com",
                                  "localhost.example.com", "::ffff:10.0.0.1", "farm-node-12"])
def test_any_other_address_needs_a_token(server_config, host: str) -> None:
    server_config.host, server_config.token = host, None
    assert not server_config.is_loopback
    with pytest.raises(ValueError, match="needs a token"):
        server_config.validate()
    server_config.token = TOKEN
    with pytest.raises(ValueError, match="without TLS"):  # the token would cross the network in clear text
        server_config.validate()
    server_config.allow_insecure_token = True
    server_config.validate()


def test_public_bind_with_a_token_starts_and_checks_it(server_config) -> None:
    server_config.host, server_config.token = "0.0.0.0", TOKEN
    server_config.allow_insecure_token = True
    srv = _start(server_config)
    try:
        with NedClient(ConnectionSettings(address=f"127.0.0.1:{srv.port}", token=TOKEN)) as good:
            assert good.info().api == "ned.v1"
        with NedClient(ConnectionSettings(address=f"127.0.0.1:{srv.port}")) as bad, \
                pytest.raises(AuthenticationFailed):
            bad.list_actors()
    finally:
        srv.stop(grace=0.5)


# ---------------------------------------------------------------------- the token on every RPC
def _every_method(channel: grpc.Channel) -> list[tuple[str, object]]:
    """(name, callable) for every RPC of every service the server registers: Ned, health, reflection."""
    from grpc_health.v1 import health_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    from ned_plugin.wire import service_pb2

    services = [service_pb2.DESCRIPTOR.services_by_name["Ned"],
                health_pb2.DESCRIPTOR.services_by_name["Health"],
                reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]]
    from google.protobuf import message_factory

    calls = []
    for service in services:
        for method in service.methods:
            request = message_factory.GetMessageClass(method.input_type)()
            reply = message_factory.GetMessageClass(method.output_type)
            path = f"/{service.full_name}/{method.name}"
            kind = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
                    (True, False): channel.stream_unary, (True, True): channel.stream_stream}[
                (method.client_streaming, method.server_streaming)]
            stub = kind(path, request_serializer=lambda m: m.SerializeToString(),
                        response_deserializer=reply.FromString)
            calls.append((f"{service.name}.{method.name}", _caller(stub, request, method.client_streaming,
                                                                    method.server_streaming)))
    return calls


def _caller(stub, request, client_streaming: bool, server_streaming: bool):  # type: ignore[no-untyped-def]
    def call(metadata):  # type: ignore[no-untyped-def]
        result = stub(iter([request]) if client_streaming else request, metadata=metadata, timeout=10)
        return list(result) if server_streaming else result

    return call


@pytest.mark.parametrize("auth_health", [False, True])
def test_every_rpc_refuses_a_missing_or_wrong_token(server_config, auth_health: bool) -> None:
    server_config.token, server_config.auth_health = TOKEN, auth_health
    srv = _start(server_config)
    wrong = [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),),
             (("authorization", f"bearer {TOKEN}"),), (("authorization", f"Bearer {TOKEN} "),),
             (("authorization", f"Bearer {TOKEN[:-1]}"),), (("x-token", f"Bearer {TOKEN}"),)]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            calls = _every_method(channel)
            assert {"Ned.Track", "Ned.TrainActor", "Ned.CancelJob", "Health.Check", "Health.Watch",
                    "ServerReflection.ServerReflectionInfo"} <= {name for name, _ in calls}
            assert len([n for n, _ in calls if n.startswith("Ned.")]) == 9
            for name, call in calls:
                open_health = name.startswith("Health.") and not auth_health
                for metadata in wrong:
                    if open_health:
                        if name == "Health.Check":
                            assert call(metadata).status == 1  # SERVING, with or without a token
                        continue
                    with pytest.raises(grpc.RpcError) as err:
                        call(metadata)
                    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, (name, metadata, err.value)
                    assert "token" in err.value.details()
            good = (("authorization", f"Bearer {TOKEN}"),)
            assert dict(calls)["Ned.GetInfo"](good).api == "ned.v1"
            assert dict(calls)["Health.Check"](good).status == 1
    finally:
        srv.stop(grace=0.5)


def test_tls_with_a_token_on_a_public_bind(server_config, tmp_path: Path) -> None:
    from tests.tls import make_self_signed

    cert, key = make_self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_ca, _ = make_self_signed(tmp_path / "other")
    server_config.host, server_config.token = "0.0.0.0", TOKEN
    server_config.tls_cert, server_config.tls_key = cert, key
    srv = _start(server_config)
    address = f"localhost:{srv.port}"
    try:
        with NedClient(ConnectionSettings(address=address, tls=True, root_certificates=cert, token=TOKEN)) as c:
            assert c.info().api == "ned.v1" and c.list_jobs() == []
        with NedClient(ConnectionSettings(address=address, tls=True, root_certificates=cert)) as no_token, \
                pytest.raises(AuthenticationFailed):
            no_token.info()
        for settings in (ConnectionSettings(address=address, tls=True, root_certificates=other_ca, token=TOKEN,
                                            deadline_s=3, attempts=2),
                         ConnectionSettings(address=address, token=TOKEN, deadline_s=3, attempts=2)):
            with NedClient(settings) as untrusted, pytest.raises(ServerUnreachable):
                untrusted.info()  # an unknown certificate, or plaintext against TLS: no connection at all
    finally:
        srv.stop(grace=0.5)


def test_tls_needs_both_files_and_they_must_exist(server_config, tmp_path: Path) -> None:
    from tests.tls import make_self_signed

    cert, _key = make_self_signed(tmp_path)
    server_config.tls_cert = cert
    with pytest.raises(ValueError, match="both"):
        server_config.validate()
    server_config.tls_key = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match="not found"):
        server_config.validate()


# ---------------------------------------------------------------------- the store's boundary
def test_ids_cannot_leave_the_store_even_through_a_symlink(client, server, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "frames").mkdir(parents=True)
    (outside / "shot.json").write_text(json.dumps({"shot_id": "evil", "content_hash": "x", "frames": [],
                                                   "display_window": [0, 0, 8, 8], "created": 0.0}))
    os.symlink(outside, server.config.store_dir / "shots" / "evil")
    os.symlink(outside, server.config.store_dir / "actors" / "evil")
    with pytest.raises(NedClientError) as err:
        client.track((), pb.TrackSettings(shot_id="evil"))
    assert err.value.code == "INVALID_ARGUMENT" and "escapes the store" in str(err.value)
    with pytest.raises(NedClientError) as err:
        list(client.manipulate(pb.ManipulateSettings(actor_id="evil", emotion=pb.EmotionControl(emotion="sad"))))
    assert err.value.code == "INVALID_ARGUMENT" and "escapes the store" in str(err.value)
    with pytest.raises(NedClientError) as err:
        client.train_actor(pb.TrainActorRequest(actor_id="evil", shot_ids=["evil"], preset="tiny"))
    assert err.value.code == "INVALID_ARGUMENT" and "escapes the store" in str(err.value)
    assert sorted(p.name for p in outside.rglob("*")) == ["frames", "shot.json"]  # nothing written outside


def test_uploaded_frames_are_stored_as_plain_data_under_their_shot(client, server) -> None:
    from tests.hostile import plate

    frames = [(-5, plate(16, 16)), (0, plate(16, 16, seed=1)), (2**40, plate(16, 16, seed=2))]
    with pytest.raises(NedClientError, match="landmark"):  # stored, then tracking needs the detector
        client.track(frames, pb.TrackSettings(shot_id="numbers"))
    folder = server.config.store_dir / "shots" / "numbers"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["frames/-5.exr", "frames/0.exr", f"frames/{2**40}.exr", "shot.json"]
    for path in (folder / "frames").iterdir():
        assert not path.stat().st_mode & 0o111  # never executable


# ---------------------------------------------------------------------- files the server loads
@pytest.fixture(scope="module")
def small_shot():
    return synthetic_shot(frames=8, size=96, seed=5)


def _track(client, shot, shot_id: str) -> None:
    settings = pb.TrackSettings(shot_id=shot_id)
    for frame, pts in shot.landmarks.items():
        settings.landmarks.add(frame=frame, points=pts.reshape(-1).tolist())
    assert client.track(shot.frames, settings).summary.tracked_frames == len(shot.frames)


def _malicious_checkpoint(path: Path, marker: Path, torch_format: bool) -> None:
    """A file that would run ``touch marker`` if anything unpickled it without restriction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if torch_format:
        from tests.hostile import _Payload

        torch.save({"format": "ned-renderer-1", "generator": _Payload(str(marker)), "config": {}}, path)
    else:
        path.write_bytes(pickle_payload(str(marker)))


@pytest.mark.parametrize("torch_format", [True, False])
def test_checkpoints_on_the_server_are_loaded_weights_only(client, server, small_shot, tmp_path: Path,
                                                           torch_format: bool) -> None:
    marker = tmp_path / "executed"
    store, models = server.config.store_dir, server.config.models_dir
    _track(client, small_shot, "sh1")
    # An actor whose renderer file is a pickle with a payload.
    write_tiny_actor(store, "mallory")
    _malicious_checkpoint(store / "actors" / "mallory" / "training" / "renderer.pth", marker, torch_format)
    write_tiny_manipulator(models)
    with pytest.raises(NedClientError) as err:
        list(client.manipulate(pb.ManipulateSettings(shot_id="sh1", actor_id="mallory",
                                                     emotion=pb.EmotionControl(emotion="sad"))))
    assert err.value.code == "FAILED_PRECONDITION" and "mallory" in str(err.value)
    # A manipulator checkpoint with a payload.
    _malicious_checkpoint(models / "manipulator" / "20_nets.pth", marker, torch_format)
    with pytest.raises(NedClientError) as err:
        client.extract_style(pb.ExtractStyleSettings(shot_id="sh1"))
    assert err.value.code == "FAILED_PRECONDITION" and "manipulator" in str(err.value)
    # A training run to resume whose latest.pth carries a payload: the job fails, nothing runs.
    _malicious_checkpoint(store / "actors" / "trent" / "training" / "latest.pth", marker, torch_format)
    job = client.train_actor(pb.TrainActorRequest(actor_id="trent", shot_ids=["sh1"], preset="tiny", iterations=2,
                                                  resume=True))
    assert job.state == pb.JOB_STATE_FAILED and "latest.pth" in job.message
    # A cached track that holds a pickled object array: treated as absent, so the shot is tracked again.
    npz = store / "shots" / "sh1" / "tracks" / "auto.npz"
    arrays = dict(np.load(npz, allow_pickle=False))
    arrays["notes"] = np.array([_payload_object(marker)] * len(arrays["frames"]), dtype=object)
    np.savez(npz, **arrays)
    meta = json.loads(npz.with_suffix(".json").read_text())
    meta.pop("sha256", None)  # as an older server wrote it: only the file's own format protects
    npz.with_suffix(".json").write_text(json.dumps(meta))
    again = client.track((), pb.TrackSettings(shot_id="sh1", landmarks=[
        pb.FrameLandmarks(frame=f, points=p.reshape(-1).tolist()) for f, p in small_shot.landmarks.items()]))
    assert not again.summary.from_cache and again.summary.tracked_frames == len(small_shot.frames)
    time.sleep(0.1)
    assert not marker.exists()
    assert server.pipeline.store.list_actors()  # the server is still serving


def _payload_object(marker: Path) -> object:
    from tests.hostile import _Payload

    return _Payload(str(marker))


def _calls(tree: ast.AST, dotted: str) -> list[ast.Call]:
    module, _, name = dotted.rpartition(".")
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
            base = node.func.value
            if isinstance(base, ast.Name) and base.id == module.rsplit(".", 1)[-1]:
                out.append(node)
    return out


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else kw.value
    return None


def test_no_server_or_plugin_code_unpickles_without_restriction() -> None:
    """Every torch.load is weights-only and every np.load refuses pickles; the one opt-in (a DECA file
    the operator trusts, TrackingConfig.fit.deca_allow_pickle, default False) is the only exception."""
    from ned_server.tracking.config import TrackingConfig

    assert TrackingConfig().fit.deca_allow_pickle is False
    unsafe = []
    files = [*sorted((REPO / "ned_server").rglob("*.py")), *sorted((REPO / "plugin" / "ned_plugin").rglob("*.py"))]
    for path in files:
        if "wire" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(REPO).as_posix()
        for call in _calls(tree, "torch.load"):
            if _keyword(call, "weights_only") is not True and not (
                    where == "ned_server/tracking/deca.py" and _keyword(call, "weights_only") is False):
                unsafe.append(f"{where}:{call.lineno} torch.load without weights_only=True")
        for call in _calls(tree, "np.load"):
            if _keyword(call, "allow_pickle") not in (None, False):
                unsafe.append(f"{where}:{call.lineno} np.load with allow_pickle")
        for name in ("pickle.load", "pickle.loads", "marshal.loads", "dill.load", "joblib.load"):
            if where != "ned_server/face3d/safe_pickle.py":
                unsafe += [f"{where}:{c.lineno} {name}" for c in _calls(tree, name)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
                unsafe.append(f"{where}:{node.lineno} {node.func.id}()")
    deca = (REPO / "ned_server" / "tracking" / "deca.py").read_text()
    assert re.search(r"if not allow_pickle:\s+raise", deca)  # the full load sits behind the opt-in
    assert unsafe == []
