"""The committed gRPC stubs match the .proto files, and the contract has every RPC the design names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_stubs_are_not_stale() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_proto.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_service_has_every_rpc_of_the_design() -> None:
    from ned_plugin.wire import service_pb2

    service = service_pb2.DESCRIPTOR.services_by_name["Ned"]
    assert service.full_name == "ned.v1.Ned"
    methods = {m.name: m for m in service.methods}
    for name in ("GetInfo", "Track", "Manipulate", "ExtractStyle", "TrainActor", "ListActors", "ListJobs",
                 "CancelJob"):
        assert name in methods
    assert methods["Track"].client_streaming and methods["Track"].server_streaming
    assert methods["Manipulate"].client_streaming and methods["Manipulate"].server_streaming
    assert methods["ExtractStyle"].client_streaming and not methods["ExtractStyle"].server_streaming
    assert methods["TrainActor"].server_streaming and not methods["TrainActor"].client_streaming


def test_client_package_does_not_import_torch() -> None:
    code = ("import sys, ned_plugin, ned_plugin.client, ned_plugin.cli, ned_plugin.chunks, ned_plugin.exr, "
            "ned_plugin.colour; assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
