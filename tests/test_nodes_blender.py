"""The Blender extension (nodes/blender/ned_vse) in a real, headless Blender (the bpy 4.5 wheel).

bpy lives in its own venv (.venv-blender, made by tools/blender_venv.py) because its numpy pin may
clash with the server's packages. The first run creates it (a few hundred MB of wheels); when that
fails the tests fail with pip's message, they never skip. Each test starts the extension in a
fresh Python with bpy (tests/nodes_fakes/blender_driver.py) against a fake NED server running in
this pytest process, and asserts what the driver reports and what the server received.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from ned_plugin.exr import Window, decode_exr
from tests.nodes_fakes.fake_server import COLOUR_SPACES, FakeNed, serve, write_plates

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "nodes" / "blender" / "ned_vse"
DRIVER = ROOT / "tests" / "nodes_fakes" / "blender_driver.py"

pytestmark = pytest.mark.blender


@pytest.fixture
def fake():
    servicer = FakeNed(token="tok")
    with serve(servicer) as address:
        servicer.address = address
        yield servicer


def run_driver(python: Path, tmp_path: Path, cfg: dict) -> dict:
    config = tmp_path / "driver.json"
    config.write_text(json.dumps(cfg))
    home = tmp_path / "blender_home"
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(home), "BLENDER_USER_CONFIG": str(home / "config"),
           "BLENDER_USER_SCRIPTS": str(home / "scripts"), "BLENDER_USER_EXTENSIONS": str(home / "extensions")}
    env.pop("NED_SERVER", None)
    env.pop("NED_TOKEN", None)
    proc = subprocess.run([str(python), "-u", str(DRIVER), str(config)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and results, (
        f"the Blender driver failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(results[-1][len("RESULT "):])


def base_config(fake: FakeNed, tmp_path: Path, scenario: str, first: int = 1, last: int = 4) -> dict:
    pattern = write_plates(tmp_path / "plates", first, last, width=32, height=24)
    return {"scenario": scenario, "ext_src": str(EXTENSION), "ext_root": str(tmp_path / "ext"),
            "address": fake.address, "token": "tok", "first": first, "last": last, "width": 32, "height": 24,
            "plates": [pattern.replace("####", f"{n:04d}") for n in range(first, last + 1)],
            "out_dir": str(tmp_path / "out") + "/"}


def write_pngs(folder: Path, first: int, last: int) -> list[str]:
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(first, last + 1):
        path = folder / f"graded.{n:04d}.png"
        pixels = np.full((24, 32, 4), 128, np.uint8)
        pixels[..., 3] = 255
        out = oiio.ImageOutput.create(str(path))
        out.open(str(path), oiio.ImageSpec(32, 24, 4, "uint8"))
        out.write_image(pixels)
        out.close()
        paths.append(str(path))
    return paths


def test_manifest_is_a_valid_blender_extension(blender_python) -> None:
    validator = next((blender_python.parent.parent / "lib").glob(
        "python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    proc = subprocess.run([str(blender_python), str(validator), "validate", str(EXTENSION)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr
    manifest = tomllib.loads((EXTENSION / "blender_manifest.toml").read_text())
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "ned_vse"
    assert manifest["type"] == "add-on" and manifest["blender_version_min"] == "4.2.0"
    assert set(manifest["permissions"]) == {"network", "files"}
    assert all(len(reason) <= 64 and not reason.endswith(".") for reason in manifest["permissions"].values())
    assert len(manifest["tagline"]) <= 64 and not manifest["tagline"].endswith(".")
    modules = {p.stem for p in EXTENSION.glob("*.py")}
    assert {"__init__", "operators", "panels", "properties", "preferences"} <= modules


def test_venv_errors_name_the_failing_step() -> None:
    spec = importlib.util.spec_from_file_location("blender_venv", ROOT / "tools" / "blender_venv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(module.BlenderVenvError, match=r"installing bpy failed \(exit 3\).*no wheel"):
        module._run([sys.executable, "-c", "import sys; print('no wheel'); sys.exit(3)"], "installing bpy")
    assert not module.is_ready(ROOT / ".venv-blender-does-not-exist")


def test_venv_installs_the_client_runtimes_requirements() -> None:
    """Blender's venv must get what the package gives the client, or the add-on tests test another runtime."""
    import tomllib

    client = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = importlib.util.spec_from_file_location("blender_venv", ROOT / "tools" / "blender_venv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    def name(requirement: str) -> str:  # numpy's version is left to bpy's own pin
        return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()

    assert {name(r) for r in module.CLIENT_PACKAGES} == {name(r) for r in client}


def test_track_and_render_add_the_face_strip_above(blender_python, fake, tmp_path: Path) -> None:
    fake.untracked = {3}
    cfg = base_config(fake, tmp_path, "render")
    cfg["png"] = write_pngs(tmp_path / "png", 1, 3)
    cfg["plate_space"] = "ACEScg"  # an EXR strip of an ACES show
    facts = run_driver(blender_python, tmp_path, cfg)
    assert facts["version"].startswith("4.5")
    # Connect built the controls from GetInfo
    assert facts["connect"]["error"] == ""
    assert facts["emotion_items"] == ["neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised"]
    assert facts["intensity_range"] == [0.0, 2.0] and "mix_happy" in facts["params"]
    assert facts["actor"] == "anna"
    # the colour menu: the strip's own space first, then the server's (GetInfo)
    assert facts["colour_items"] == ["from the source", *COLOUR_SPACES]
    assert facts["colour_choice"] == "from the source"
    config = facts["blender_config"]
    assert config.endswith("datafiles/colormanagement/config.ocio") and Path(config).is_file()
    assert facts["undoable"] == {"NED_OT_track": ["REGISTER", "UNDO"], "NED_OT_render": ["REGISTER", "UNDO"]}
    # the panel draws the server's controls, and a progress bar with Cancel while work runs
    drawn = [tuple(item) for item in facts["panel_before"]]
    assert ("prop", "emotion") in drawn and ("prop", "mix_sad") in drawn and ("prop", "actor") in drawn
    assert ("prop", "slider_smile") in drawn and ("prop", "slider_gaze_horizontal") in drawn
    assert ("operator", "ned.render") in drawn and not any(kind == "progress" for kind, _ in drawn)
    busy = [tuple(item) for item in facts["panel_busy"]]
    assert any(kind == "progress" for kind, _ in busy) and ("operator", "ned.cancel") in busy
    # Track: background work, shot id back on the scene
    assert facts["track"]["result"] == ["FINISHED"] and facts["track_wait"] is True
    assert facts["track_busy_poll"] is False
    assert facts["shot_id"] == "shot-1" and "3/4 frames tracked" in facts["track_status"]
    # Render: the tracked shot was used (no frames re-sent), the controls became the request
    assert facts["render"]["result"] == ["FINISHED"] and facts["render_wait"] is True, facts
    assert facts["last_error"] == "" and "4 plates written (3 with a face)" in facts["render_status"]
    assert fake.recorded.frames_sent["Track"] == [[1, 2, 3, 4]]
    # the strip's space in Blender's config was handed over, and the plates are tagged with it
    for sent in (fake.recorded.track_settings[0].colour, fake.recorded.manipulate_settings[0].colour):
        assert (sent.config, sent.input_space) == (config, "ACEScg")
    assert fake.recorded.frames_sent["Manipulate"][0] == []
    sent = fake.recorded.manipulate_settings[0]
    assert sent.emotion.emotion == "surprised" and sent.blend.feather == 11.0 and sent.actor_id == "anna"
    assert [(k.frame, round(k.intensity, 3)) for k in sent.emotion.keys] != []
    assert sent.emotion.keys[0].intensity == pytest.approx(0.0) and sent.emotion.keys[-1].intensity == \
        pytest.approx(1.5)
    smile = {c.name: c for c in sent.sliders}["smile"]  # the keyed face slider became a curve
    assert smile.keys[0].value == pytest.approx(0.0) and smile.keys[-1].value == pytest.approx(0.6)
    assert "gaze_horizontal" not in {c.name for c in sent.sliders}  # left at its default: not sent
    # the result: an image strip on the channel above, Alpha Over, premultiplied linear, same frames
    strips = {s["name"]: s for s in facts["strips"]}
    face = strips["plate.ned"]
    assert facts["result_strip"] == "plate.ned"
    assert face["channel"] == 3 and face["blend_type"] == "ALPHA_OVER" and face["alpha_mode"] == "PREMUL"
    assert face["colorspace"] == "ACEScg"
    assert (face["frame_final_start"], face["frame_final_end"]) == (1, 5)
    assert face["elements"] == [f"plate.ned.{n:04d}.exr" for n in range(1, 5)]
    plate = decode_exr((Path(face["directory"]) / face["elements"][1]).read_bytes())
    assert plate.data_window == plate.display_window == Window(0, 0, 32, 24)  # padded for the sequencer
    assert float(plate.channel("A")[12, 16]) == pytest.approx(0.8, abs=1e-3)
    untracked = decode_exr((Path(face["directory"]) / face["elements"][2]).read_bytes())
    assert float(np.abs(untracked.pixels).max()) == 0.0  # frame 3 had no face: transparent
    matte = strips["plate.ned_matte"]
    assert matte["channel"] == 4 and matte["mute"] is True and len(matte["elements"]) == 4
    # the PNG strip was rendered to EXR by Blender, then sent
    assert facts["png_render"]["result"] == ["FINISHED"] and facts["png_error"] == "", facts
    # Blender rendered the PNG to EXR a frame per tick, after execute() had returned
    assert facts["png_sent_after_execute"] == 0 and "starting" in facts["png_status_after_execute"]
    assert facts["png_sent_after_one_tick"] == 1 and "preparing frames 1/3" in facts["png_status_after_one_tick"]
    assert not [s for s in facts["png_scenes_after"] if s.startswith("NED send")]
    assert facts["undo_pushes"] == ["NED tracking", "NED the render", "NED the render"]
    assert fake.recorded.frames_sent["Manipulate"][-1] == [1, 2, 3]
    graded = strips["graded.ned"]
    assert graded["channel"] == 6 and graded["blend_type"] == "ALPHA_OVER"
    sent_png = sorted((tmp_path / "out" / "graded" / "send").glob("input.*.exr"))
    assert len(sent_png) == 3
    linear = decode_exr(sent_png[0].read_bytes()).channel("G").astype(np.float32)
    assert float(linear.mean()) == pytest.approx(0.216, abs=0.02)  # sRGB 128/255 read back as linear
    # ... sent as Blender's scene-linear role in Blender's config; the server's conversion of it to
    # the networks' sRGB gives back the PNG's own 128/255, the strip is tagged linear
    sent = fake.recorded.manipulate_settings[-1].colour
    assert (sent.config, sent.input_space) == (config, "scene_linear")
    from ned_plugin.colour import Colour, plate_colour

    network = plate_colour(Colour("ocio://default"), Colour, sent.config, sent.input_space).to_network(
        decode_exr(sent_png[0].read_bytes()).full_frame()[..., :3].astype(np.float32))
    assert float(np.abs(network - 128 / 255).max()) < 2e-3
    assert graded["colorspace"] == "Linear Rec.709"


def test_the_frames_field_renders_a_frame_list(blender_python, fake, tmp_path: Path) -> None:
    cfg = base_config(fake, tmp_path, "frames", 1, 6)
    cfg["frames"] = "1-6x2"
    facts = run_driver(blender_python, tmp_path, cfg)
    assert ("prop", "frames") in [tuple(item) for item in facts["panel"]]
    assert "9 are not on the strip plate (its frames: 1-6)" in facts["off_strip"]["error"]
    assert facts["render"]["result"] == ["FINISHED"] and facts["render_wait"] is True, facts
    assert facts["last_error"] == "" and "3 plates written" in facts["render_status"]
    sent = fake.recorded.manipulate_settings[-1]
    assert (sent.range.first, sent.range.last) == (1, 5) and list(sent.output_frames) == [1, 3, 5]
    assert fake.recorded.frames_sent["Manipulate"] == [[1, 2, 3, 4, 5]]  # the frames between are context
    # the strip keeps the shot's timing: frames the list left out show a transparent image
    face = {s["name"]: s for s in facts["strips"]}["plate.ned"]
    assert (face["frame_final_start"], face["frame_final_end"]) == (1, 6)
    blank = ".plate.ned.0001.exr.blank.exr"
    assert face["elements"] == ["plate.ned.0001.exr", blank, "plate.ned.0003.exr", blank, "plate.ned.0005.exr"]
    gap = decode_exr((Path(face["directory"]) / blank).read_bytes())
    assert gap.display_window == Window(0, 0, 32, 24) and float(np.abs(gap.pixels).max()) == 0.0
    matte = {s["name"]: s for s in facts["strips"]}["plate.ned_matte"]
    assert len(matte["elements"]) == 5


def test_errors_leave_blender_working(blender_python, fake, tmp_path: Path) -> None:
    fake.delay_s = 0.3
    cfg = base_config(fake, tmp_path, "errors", 1, 8)
    cfg["png"] = write_pngs(tmp_path / "png", 1, 6)
    facts = run_driver(blender_python, tmp_path, cfg)
    assert "press Connect" in facts["render_unconnected"]["error"]
    assert "refused the token" in facts["wrong_token"]["error"]
    assert "add-on preferences" in facts["wrong_token"]["error"]
    assert "Cannot reach the NED server" in facts["unreachable"]["error"]
    assert "127.0.0.1:1" in facts["unreachable"]["error"]
    assert facts["connect"]["error"] == ""
    assert facts["render_bad_token"]["result"] == ["FINISHED"] and facts["bad_token_wait"] is True
    assert "refused the token" in facts["bad_token_error"]
    assert facts["slow_render"]["result"] == ["FINISHED"]
    assert facts["progress_seen"] > 0 and facts["busy_flag"] is True
    assert facts["cancel"]["result"] == ["FINISHED"] and facts["cancel_wait"] is True
    assert facts["cancel_seconds"] < 3.0
    assert facts["cancel_status"] == "The render was cancelled." and facts["busy_after_cancel"] is False
    assert facts["colour_poll"] is False
    assert [s["name"] for s in facts["strips"]] == ["plate", "solid", "graded"]  # nothing half-added
    assert "preparing frames 1/6" in facts["png_preparing"] and facts["png_cancel_wait"] is True
    assert facts["png_cancel_status"] == "The render was cancelled."
    assert not [s for s in facts["scenes_after_cancel"] if s.startswith("NED send")]
