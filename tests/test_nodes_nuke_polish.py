"""The NED_Director's colour hand-over, frame range knobs, Preview frame, face picker and menu entry.

Same set-up as tests/test_nodes_nuke.py: the fake `nuke` module and the fake NED server over real
gRPC; what the node sent is read back from the fake server's records.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "nodes_fakes"))  # the fake `nuke`
sys.path.insert(0, str(ROOT / "nodes" / "nuke"))  # a NUKE_PATH folder is on sys.path in Nuke

import nuke  # noqa: E402  (the fake)
from ned_nuke import director, knobs, nuke_api  # noqa: E402

from ned_plugin.colour_choice import FROM_SOURCE  # noqa: E402
from ned_plugin.wire import pb  # noqa: E402
from tests.nodes_fakes.fake_server import COLOUR_SPACES, FakeNed, serve  # noqa: E402
from tests.test_nodes_nuke import finish, make_director, press  # noqa: E402


@pytest.fixture
def fake():
    servicer = FakeNed(token="tok")
    with serve(servicer) as address:
        servicer.address = address
        yield servicer


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    nuke.reset(str(tmp_path / "comp" / "shot.nk"))
    (tmp_path / "comp").mkdir()
    yield tmp_path
    for job in list(director._running.values()):
        job.cancel()
        job.wait(5)
    director._running.clear()


def track(node) -> None:  # type: ignore[no-untyped-def]
    press(node, "track")
    finish(node)
    assert nuke.messages == [], nuke.messages


def the_read(node):  # type: ignore[no-untyped-def]
    return node.input(0)


# ============================================================================ menu entry
def test_menu_entry_has_an_icon_a_tooltip_and_the_node_a_help_text(script) -> None:
    runpy.run_path(str(ROOT / "nodes" / "nuke" / "init.py"))
    runpy.run_path(str(ROOT / "nodes" / "nuke" / "menu.py"))
    icons = ROOT / "nodes" / "nuke" / "icons"
    assert str(icons) in nuke.plugin_paths
    for name in ("Nuke", "Nodes"):
        options = nuke.menus[name].items["NED"].command_options["NED Director"]
        assert options["icon"] == "ned_director.png" and (icons / options["icon"]).is_file()
        assert "Track" in options["tooltip"] and "Render" in options["tooltip"]
    assert nuke.menus["Nodes"].items["NED"].options["icon"] == "ned_director.png"
    # the icon is the drawing tools/make_nuke_icon.py makes, small, 24x24
    spec = importlib.util.spec_from_file_location("make_nuke_icon", ROOT / "tools" / "make_nuke_icon.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0
    assert module.read(module.ICON).shape == (24, 24, 4) and module.ICON.stat().st_size < 4096
    node = director.create_director(connect_now=False)
    assert "Preview frame" in node["help"].value() and node["tile_color"].value() == 0x7A3E9DFF


# ============================================================================ colour
def test_colour_space_menu_comes_from_get_info_and_the_source_is_handed_over(fake, script) -> None:
    node = make_director(fake, script)
    assert node["input_space"].values() == [FROM_SOURCE]
    press(node, "connect")
    assert node["input_space"].values() == [FROM_SOURCE, *COLOUR_SPACES]
    assert node["input_space"].value() == FROM_SOURCE
    # a new script: Nuke's own colour management, the Read's "default" is the float-file default
    track(node)
    sent = fake.recorded.track_settings[-1].colour
    assert sent.input_space == "linear"
    assert sent.config == "/opt/Nuke15.1v1/plugins/OCIOConfigs/configs/nuke-default/config.ocio"
    # an ACES show: the script's OCIO config is OCIO's built-in one, the Read says ACEScg
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["OCIO_config"].setValue("fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    the_read(node)["colorspace"].setValue("ACES - ACEScg")
    track(node)
    sent = fake.recorded.track_settings[-1].colour
    assert (sent.config, sent.input_space) == ("ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "ACES - ACEScg")
    press(node, "render")
    finish(node)
    assert nuke.messages == [], nuke.messages
    sent = fake.recorded.manipulate_settings[-1].colour
    assert (sent.config, sent.input_space) == ("ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "ACES - ACEScg")
    node.begin()
    try:  # the plates come back in the input's space: their Read says so
        assert nuke.toNode(nuke_api.READ_NAME)["colorspace"].value() == "ACES - ACEScg"
    finally:
        node.end()
    # a studio's own config file, and $OCIO over everything
    nuke.root()["OCIO_config"].setValue("custom")
    nuke.root()["customOCIOConfigPath"].setValue("/studio/ocio/show.ocio")
    assert director.colour(node).config == "/studio/ocio/show.ocio"
    import os

    os.environ["OCIO"] = "/studio/ocio/env.ocio"
    try:
        assert director.colour(node).config == "/studio/ocio/env.ocio"
    finally:
        del os.environ["OCIO"]
    # a space picked from the server's menu is sent as the server's (no host config)
    node["input_space"].setValue("ACEScg")
    track(node)
    sent = fake.recorded.track_settings[-1].colour
    assert (sent.config, sent.input_space) == ("", "ACEScg")


def test_input_written_out_is_in_the_working_space(fake, script) -> None:
    node = make_director(fake, script)
    the_read(node)["frame"].setValue("frame+1")  # not a plain Read: the input is written out first
    nuke.render_hook = lambda write, frame: __import__("shutil").copy(
        str(script / "plates" / f"plate.{min(frame + 1, 1004):04d}.exr"),
        write["file"].value().replace("####", f"{frame:04d}"))
    nuke.root()["workingSpaceLUT"].setValue("scene_linear")
    track(node)
    assert fake.recorded.track_settings[-1].colour.input_space == "scene_linear"


# ============================================================================ frame range
def test_first_and_last_knobs_give_the_frame_range(fake, script) -> None:
    node = make_director(fake, script)
    assert isinstance(node["first_frame"], nuke.Int_Knob) and isinstance(node["last_frame"], nuke.Int_Knob)
    assert node["input_range"].value() is True
    track(node)
    assert fake.recorded.frames_sent["Track"][-1] == [1001, 1002, 1003, 1004]  # the input's range
    node["input_range"].setValue(False)
    node["first_frame"].setValue(1002)
    node["last_frame"].setValue(1003)
    node["shot_id"].setValue("")
    track(node)
    assert fake.recorded.frames_sent["Track"][-1] == [1002, 1003]
    assert director.frame_range(node) == (1002, 1003)
    node["last_frame"].setValue(1001)
    press(node, "render")
    assert "1002-1001 is empty" in nuke.messages[-1]


# ============================================================================ preview frame
def test_preview_frame_edits_the_current_frame_from_the_tracked_shot(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "connect")
    press(node, "preview")
    assert "press Track first" in nuke.messages[-1]
    nuke.messages.clear()
    track(node)
    nuke.frame(1003)
    node["preroll"].setValue(40)
    press(node, "preview")
    finish(node)
    assert nuke.messages == [], nuke.messages
    sent = fake.recorded.manipulate_settings[-1]
    assert (sent.range.first, sent.range.last, sent.preroll) == (1003, 1003, 10)
    assert fake.recorded.frames_sent["Manipulate"][-1] == []  # the server's cached shot, no frames sent
    assert "preview of frame 1003" in node["status"].value()
    node.begin()
    try:
        read = nuke.toNode(nuke_api.PREVIEW_READ)
        assert (read["first"].value(), read["last"].value()) == (1003, 1003)
        assert "preview" in read["file"].value() and nuke.toNode("Output1").input(0).name() == nuke_api.PREVIEW_MERGE
    finally:
        node.end()
    preview_file = script / "comp" / "ned" / node.name() / "preview" / f"{node.name()}.preview.1003.exr"
    assert preview_file.is_file()
    # Render puts the whole range's plates back on the output
    press(node, "render")
    finish(node)
    node.begin()
    try:
        assert nuke.toNode("Output1").input(0).name() == nuke_api.MERGE_NAME
    finally:
        node.end()
    # the farm/script form
    result = director.run_inline("preview", node)
    assert result.first == result.last == 1003


# ============================================================================ face picker
def test_face_picker_shows_thumbnails_when_several_faces_are_in_shot(fake, script) -> None:
    import OpenImageIO as oiio

    fake.faces = [
        pb.FaceInfo(face_id=0, frames=4, first_frame=1001, last_frame=1004, mean_size=10, thumbnail_frame=1002,
                    thumbnail_box=[2, 3, 12, 15]),
        pb.FaceInfo(face_id=1, frames=2, first_frame=1003, last_frame=1004, mean_size=8, thumbnail_frame=1004,
                    thumbnail_box=[18, 4, 30, 20]),
    ]
    node = make_director(fake, script)
    track(node)
    picks = [n for n in node.knobs() if n.startswith(knobs.FACE_PICK)]
    assert picks == ["pick_face_0", "pick_face_1"] and knobs.FACES_TAB in node.knobs()
    assert "2 faces" in node["faces"].value()
    for face_id in (0, 1):
        label = node[f"pick_face_{face_id}"].label()
        thumb = label.split('<img src="')[1].split('"')[0]
        assert f"face {face_id}" in label and thumb.endswith(f"face_{face_id}.png")
        spec = oiio.ImageInput.open(thumb).spec()
        assert max(spec.width, spec.height) == 64 and spec.nchannels == 3
    press(node, "pick_face_1")
    assert node["face_id"].value() == 1 and "following face 1" in node["faces"].value()
    track(node)
    assert fake.recorded.track_settings[-1].face_id == 1
    # one face again: no picker left behind
    fake.faces = None
    track(node)
    assert not [n for n in node.knobs() if n.startswith(knobs.FACE_PICK)] and node["faces"].value() == ""
