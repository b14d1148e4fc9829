"""Shared fixtures: an in-process NED server on a free loopback port, and a client for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests never use a GPU or a user's store, whatever the environment says.
os.environ.setdefault("NED_DEVICE", "cpu")


@pytest.fixture
def server_config(tmp_path: Path):
    from ned_server.config import ServerConfig
    from ned_server.synthetic.flame_assets import install_standin_flame

    install_standin_flame(tmp_path / "models")  # the server has no FLAME of its own: the stand-in head
    return ServerConfig(port=0, store_dir=tmp_path / "store", models_dir=tmp_path / "models", device="cpu",
                        token=None, shutdown_grace_s=2.0)


@pytest.fixture
def server(server_config) -> Iterator:
    from ned_server.api.app import NedServer

    srv = NedServer(server_config).start()
    try:
        yield srv
    finally:
        srv.stop(grace=1.0)


@pytest.fixture
def client(server) -> Iterator:
    from ned_plugin.client import ConnectionSettings, NedClient

    with NedClient(ConnectionSettings(address=f"127.0.0.1:{server.port}", token=server.config.token,
                                      deadline_s=20)) as c:
        yield c


@pytest.fixture(scope="session")
def blender_python() -> Path:
    """The Python of the venv holding the bpy wheel (.venv-blender, made on first use)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("blender_venv", Path(__file__).parent.parent / "tools" /
                                                  "blender_venv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.ensure()
    except module.BlenderVenvError as exc:
        pytest.fail(f"could not make the Blender venv (.venv-blender) the Blender tests run in:\n{exc}",
                    pytrace=False)
