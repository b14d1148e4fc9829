"""The full loop through the real server, from each host: the farm CLI, the Nuke node, the Blender add-on.

The server is the real one (in this process, on a loopback port); the shot is the synthetic actor
as scene-linear EXR files on disk with a landmarks file "from another tracker" (the FAN weights
cannot be downloaded here); the models are tiny and random (their quality is measured elsewhere).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ned_plugin.exr import decode_exr
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=20, size=128, seed=9, first=1001, face_scale=(3.2, 3.6))  # a face of ~40% the frame


def write_shot(shot, folder: Path, first: int | None = None) -> tuple[str, Path]:
    """Plates as name.####.exr and the landmarks as JSON, renumbered from ``first`` if given."""
    folder.mkdir(parents=True, exist_ok=True)
    offset = 0 if first is None else first - shot.first
    for number, data in shot.frames:
        (folder / f"plate.{number + offset:04d}.exr").write_bytes(data)
    lm = folder / "landmarks.json"
    lm.write_text(json.dumps({str(n + offset): pts.tolist() for n, pts in shot.landmarks.items()}))
    return str(folder / "plate.####.exr"), lm


@pytest.fixture
def loaded_server(server):
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    return server


def ned(*args: str) -> int:
    from ned_plugin.cli import main

    return main(list(args))


def test_farm_cli_tracks_once_then_renders_chunks_that_equal_a_full_run(loaded_server, shot, tmp_path, capsys):
    address = f"127.0.0.1:{loaded_server.port}"
    pattern, landmarks = write_shot(shot, tmp_path / "plates")
    track_file = tmp_path / "sh020_neutral.npz"
    assert ned("track", pattern, "--shot-id", "sh020", "--landmarks", str(landmarks), "--out", str(track_file),
               "--server", address, "--progress", "farm") == 0
    out = capsys.readouterr()
    assert "20/20 frames tracked" in out.out and "NED_PROGRESS 100%" in out.err
    with np.load(track_file) as z:  # what `ned train-manipulator --data` reads
        assert z["expression51"].shape == (20, 51) and z["tracked"].all() and z["frames"][0] == 1001
    full = tmp_path / "full" / "sh020.####.exr"
    assert ned("manipulate", "--shot-id", "sh020", "--actor", "anna", "--emotion", "happy", "--output", str(full),
               "--server", address, "--progress", "none") == 0
    chunks = tmp_path / "chunks" / "sh020.####.exr"
    for frames in ("1001-1010", "1011-1020"):
        assert ned("manipulate", "--shot-id", "sh020", "--actor", "anna", "--emotion", "happy", "--frames", frames,
                   "--preroll", "25", "--output", str(chunks), "--server", address, "--progress", "none") == 0
    for n in range(1001, 1021):
        a = Path(str(full).replace("####", f"{n:04d}")).read_bytes()
        b = Path(str(chunks).replace("####", f"{n:04d}")).read_bytes()
        assert a == b, n
        plate = decode_exr(a)
        assert "matte.Y" in plate.channels and plate.data_window != plate.display_window
    # Exit codes a farm manager reads: bad input 2, unreachable 3.
    assert ned("manipulate", "--shot-id", "sh020", "--actor", "ghost", "--emotion", "happy", "--output",
               str(full), "--server", address) == 2
    assert "ghost" in capsys.readouterr().err
    assert ned("manipulate", "--shot-id", "sh020", "--actor", "anna", "--emotion", "happy", "--output",
               str(full), "--server", "127.0.0.1:1", "--timeout", "2") == 3


def test_farm_cli_trains_an_actor_reads_a_reference_style_and_follows_jobs(loaded_server, shot, tmp_path, capsys):
    address = f"127.0.0.1:{loaded_server.port}"
    pattern, landmarks = write_shot(shot, tmp_path / "plates")
    assert ned("track", pattern, "--shot-id", "sh030", "--landmarks", str(landmarks), "--server", address,
               "--progress", "none") == 0
    assert ned("train-actor", "carla", "--shot-id", "sh030", "--preset", "tiny", "--iterations", "4",
               "--server", address, "--progress", "none") == 0
    assert "succeeded" in capsys.readouterr().out
    assert ned("actors", "--server", address) == 0
    assert "carla  ready  tiny  4 it" in capsys.readouterr().out
    assert ned("train-actor", "dora", "--shot-id", "sh030", "--preset", "tiny", "--iterations", "3", "--detach",
               "--server", address, "--progress", "none") == 0
    job_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert ned("watch", job_id, "--server", address, "--progress", "none") == 0
    assert "succeeded" in capsys.readouterr().out
    style = tmp_path / "style.json"
    assert ned("extract-style", "--shot-id", "sh030", "--out", str(style), "--server", address) == 0
    assert len(json.loads(style.read_text())["style"]) == 16
    out = tmp_path / "ref" / "sh030.####.exr"
    assert ned("manipulate", "--shot-id", "sh030", "--actor", "carla", "--reference-style", str(style),
               "--output", str(out), "--server", address, "--progress", "none") == 0
    assert len(list(out.parent.glob("*.exr"))) == 20
    assert ned("watch", "no-such-job", "--server", address) == 2


def test_nuke_director_tracks_with_a_landmarks_file_and_renders_from_the_real_server(loaded_server, shot, tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "nodes_fakes"))
    sys.path.insert(0, str(ROOT / "nodes" / "nuke"))
    import nuke  # the fake
    from ned_nuke import director

    from tests.test_nodes_nuke import finish, press

    nuke.reset(str(tmp_path / "comp" / "shot.nk"))
    (tmp_path / "comp").mkdir()
    pattern, landmarks = write_shot(shot, tmp_path / "plates")
    read = nuke.nodes.Read(file=pattern.replace("####", "%04d"), first=1001, last=1020)
    node = director.create_director(connect_now=False)
    node.setInput(0, read)
    node["server"].setValue(f"127.0.0.1:{loaded_server.port}")
    press(node, "connect")
    assert nuke.messages == [] and node["actor"].values() == ["anna"]
    node["landmarks"].setValue(str(landmarks))
    press(node, "track")
    finish(node, 120)
    assert nuke.messages == [], nuke.messages
    assert "20/20 frames tracked" in node["status"].value()
    node["emotion"].setValue("sad")
    press(node, "render")
    finish(node, 120)
    assert nuke.messages == [], nuke.messages
    out = tmp_path / "comp" / "ned" / "NED_Director1"
    files = sorted(out.glob("*.exr"))
    assert len(files) == 20
    plate = decode_exr(files[5].read_bytes())
    assert {"R", "G", "B", "A", "matte.Y", "stmap.R", "stmap.G"} <= set(plate.channels)  # hybrid, the default
    assert float(plate.channel("A").max()) > 0.99
    assert "20 plates written (20 with a face)" in node["status"].value()


@pytest.mark.blender
def test_blender_addon_tracks_and_renders_from_the_real_server(blender_python, loaded_server, shot, tmp_path):
    from tests.test_nodes_blender import EXTENSION, run_driver

    pattern, landmarks = write_shot(shot, tmp_path / "plates", first=1)
    cfg = {"scenario": "real_server", "ext_src": str(EXTENSION), "ext_root": str(tmp_path / "ext"),
           "address": f"127.0.0.1:{loaded_server.port}", "token": "", "first": 1, "last": 20, "width": 128,
           "height": 128, "plates": [pattern.replace("####", f"{n:04d}") for n in range(1, 21)],
           "out_dir": str(tmp_path / "out") + "/", "actor": "anna", "landmarks": str(landmarks)}
    facts = run_driver(blender_python, tmp_path, cfg)
    assert facts["connect"]["error"] == ""
    assert facts["track"]["result"] == ["FINISHED"] and facts["track_wait"] is True
    assert "20/20 frames tracked" in facts["track_status"], facts
    assert facts["render_wait"] is True and facts["last_error"] == "", facts
    assert "20 plates written (20 with a face)" in facts["render_status"]
    strips = {s["name"]: s for s in facts["strips"]}
    face = strips[facts["result_strip"]]
    assert face["blend_type"] == "ALPHA_OVER" and len(face["elements"]) == 20
    plate = decode_exr((Path(face["directory"]) / face["elements"][3]).read_bytes())
    assert float(plate.channel("A").max()) > 0.99
