"""The Blender extension as a user gets it: a zip carrying its wheels, installed through Blender.

tools/build_blender_extension.py builds the linux-x64 zip (the client's wheels downloaded for that
platform, Blender's own ``extension build --split-platforms``); the test installs it into headless
Blender with ``bpy.ops.extensions.package_install_files`` and runs Track and Render against the real
server. Blender runs from a Python that has only bpy and bpy's own dependencies (no grpcio, no
ned_plugin, no OpenImageIO wheel), so the client can only come from the zip's wheels and OpenImageIO
only from Blender itself.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from ned_plugin.exr import decode_exr
from tests.pipeline_assets import synthetic_shot
from tests.test_full_loop import loaded_server, write_shot  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.blender
# bpy's own requirements (see its wheel's metadata) and what they bring: nothing of the client's.
BPY_ONLY = ("bpy", "bpy-*.dist-info", "numpy", "numpy.libs", "numpy-*.dist-info", "requests", "urllib3", "idna",
            "certifi", "charset_normalizer", "zstandard", "Cython", "cython.py", "pyximport")


def _tool(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FRAMES = 10


@pytest.fixture(scope="module")
def small_shot():
    return synthetic_shot(frames=FRAMES, size=96, seed=9, first=1001, face_scale=(3.2, 3.6))


@pytest.fixture(scope="module")
def extension_zip(blender_python, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ext_dist")
    zips = _tool("build_blender_extension").build(out, ["linux-x64"], blender_python=blender_python)
    assert [z.name for z in zips] == ["ned_vse-0.1.0-linux_x64.zip"]
    return zips[0]


@pytest.fixture(scope="module")
def bare_bpy_python(blender_python, tmp_path_factory) -> Path:
    """A venv whose site-packages holds only bpy and its own dependencies (links into .venv-blender)."""
    venv = tmp_path_factory.mktemp("bare_bpy") / "venv"
    subprocess.run([sys.executable if sys.version_info[:2] == (3, 11) else "python3.11", "-m", "venv",
                    "--without-pip", str(venv)], check=True, capture_output=True)
    source = next((blender_python.parent.parent / "lib").glob("python3*/site-packages"))
    target = next((venv / "lib").glob("python3*/site-packages"))
    for pattern in BPY_ONLY:
        for item in source.glob(pattern):
            os.symlink(item, target / item.name)
    return venv / "bin" / "python"


def test_the_zip_carries_the_clients_wheels_for_its_platform(extension_zip) -> None:
    with zipfile.ZipFile(extension_zip) as z:
        names = z.namelist()
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    wheels = sorted(n for n in names if n.startswith("wheels/"))
    assert manifest["platforms"] == ["linux-x64"]
    assert sorted(w.removeprefix("./") for w in manifest["wheels"]) == wheels
    packages = {w.split("/")[1].split("-")[0].lower() for w in wheels}
    assert {"ned_vfx", "grpcio", "protobuf", "grpcio_health_checking"} <= packages
    assert not packages & {"numpy", "openimageio", "opencolorio"}  # Blender ships those
    assert all("win_amd64" not in w and "macosx" not in w for w in wheels)  # this platform's only
    assert {"__init__.py", "operators.py", "colour.py"} <= set(names)
    requirements = _tool("build_blender_extension").client_requirements()
    assert not [r for r in requirements if r.split(">")[0].lower() in ("numpy", "openimageio", "opencolorio")]


def test_installed_from_the_zip_it_tracks_and_renders_from_the_real_server(
        bare_bpy_python, extension_zip, loaded_server, small_shot, tmp_path) -> None:  # noqa: F811
    from tests.test_nodes_blender import run_driver

    pattern, landmarks = write_shot(small_shot, tmp_path / "plates", first=1)
    cfg = {"scenario": "real_server", "zip": str(extension_zip), "address": f"127.0.0.1:{loaded_server.port}",
           "token": "", "first": 1, "last": FRAMES, "width": 96, "height": 96,
           "plates": [pattern.replace("####", f"{n:04d}") for n in range(1, FRAMES + 1)],
           "out_dir": str(tmp_path / "out") + "/", "actor": "anna", "landmarks": str(landmarks)}
    facts = run_driver(bare_bpy_python, tmp_path, cfg)
    # the client came from the zip's wheels (where Blender put them), OpenImageIO from Blender
    home = tmp_path / "blender_home" / "extensions"
    for name in ("grpc", "google.protobuf", "ned_plugin"):
        assert facts["origins"][name].startswith(str(home)), (name, facts["origins"])
    assert "/bpy/4.5/python/" in facts["origins"]["OpenImageIO"]
    assert facts["connect"]["error"] == ""
    assert facts["track"]["result"] == ["FINISHED"] and facts["track_wait"] is True
    assert f"{FRAMES}/{FRAMES} frames tracked" in facts["track_status"], facts
    assert facts["render_wait"] is True and facts["last_error"] == "", facts
    assert f"{FRAMES} plates written ({FRAMES} with a face)" in facts["render_status"]
    face = {s["name"]: s for s in facts["strips"]}[facts["result_strip"]]
    assert face["blend_type"] == "ALPHA_OVER" and len(face["elements"]) == FRAMES
    assert face["colorspace"] == "Linear Rec.709"  # the EXR strip's own space, handed over and back
    plate = decode_exr((Path(face["directory"]) / face["elements"][3]).read_bytes())
    assert float(plate.channel("A").max()) > 0.99
