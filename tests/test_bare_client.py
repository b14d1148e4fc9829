"""The client as a host installs it: `pip install .` with no extras, in a fresh venv, against a real server.

A host's Python (Nuke's, Blender's, a farm node's) gets only what the client needs: no torch, no
OpenColorIO, no tqdm, no zlib-ng. The venv is made from this checkout with pip's cache (the wheels
are the ones the test venv already fetched), then its own `ned` command and the host runtime
(ned_plugin.host: GetInfo controls, Track, Render) run against a server started by the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator
from tests.test_full_loop import write_shot

ROOT = Path(__file__).resolve().parent.parent
LEFT_OUT = ("torch", "opencolorio", "tqdm", "zlib-ng", "zlib_ng")

HOST_DRIVER = r"""
import json, sys
from ned_plugin.host import controls, plates, requests
from ned_plugin.client import ConnectionSettings
from ned_plugin.landmarks_io import read_landmarks
from ned_plugin.wire import pb

cfg = json.loads(sys.argv[1])
connection = ConnectionSettings(address=cfg["address"])
info = requests.server_info(connection)
specs = controls.knob_specs(info)
files = plates.frame_files(cfg["pattern"], cfg["first"], cfg["last"])
settings = pb.TrackSettings(shot_id="bare")
for frame, points in read_landmarks(cfg["landmarks"]).items():
    settings.landmarks.add(frame=frame, points=[float(v) for v in points.reshape(-1)])
tracked = requests.track_shot(requests.TrackJob(connection, settings, files))
render = plates.render_shot(plates.RenderJob(
    connection, pb.ManipulateSettings(shot_id="bare", actor_id="anna", emotion=pb.EmotionControl(emotion="happy")),
    files, cfg["output"], use_cache=True))
missing = [m for m in ("torch", "PyOpenColorIO", "tqdm", "zlib_ng") if m in sys.modules]
print(json.dumps({"knobs": len(specs), "track": requests.track_summary(tracked), "render": render.summary(),
                  "imported": missing}))
"""


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("bare-client") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True, text=True,
                         timeout=1200, env=env, cwd=venv.parent)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return venv


def _env() -> dict[str, str]:
    # Run from outside the checkout so nothing imports this tree instead of the installed client.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NED_TOKEN")}


@pytest.mark.slow
def test_the_bare_client_installs_without_the_server_or_optional_packages(bare_venv: Path) -> None:
    listed = subprocess.run([str(bare_venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True, timeout=120).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert "ned-vfx" in names and "grpcio" in names and "openimageio" in names
    assert not names & set(LEFT_OUT), names & set(LEFT_OUT)


@pytest.mark.slow
def test_the_bare_clients_cli_and_host_runtime_work_against_a_server(bare_venv: Path, server, tmp_path) -> None:
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    address = f"127.0.0.1:{server.port}"
    info = subprocess.run([str(bare_venv / "bin" / "ned"), "info", "--server", address], capture_output=True,
                          text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "ned.v1" in info.stdout and "anna" in info.stdout
    shot = synthetic_shot(frames=6, size=96, seed=2, first=1001, face_scale=(3.2, 3.6))
    pattern, landmarks = write_shot(shot, tmp_path / "plates")
    cfg = {"address": address, "pattern": pattern, "first": 1001, "last": 1006, "landmarks": str(landmarks),
           "output": str(tmp_path / "out" / "bare.####.exr")}
    run = subprocess.run([str(bare_venv / "bin" / "python"), "-c", HOST_DRIVER, json.dumps(cfg)], capture_output=True,
                         text=True, timeout=600, env=_env(), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    assert facts["knobs"] > 0 and "6/6 frames tracked" in facts["track"]
    assert "6 plates written" in facts["render"] and facts["imported"] == []
    assert len(list((tmp_path / "out").glob("bare.*.exr"))) == 6
