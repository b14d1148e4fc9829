"""The Nuke node (nodes/nuke) against a fake `nuke` module and a fake NED server over real gRPC.

The fake refuses node-graph changes from any thread but the main one, as Nuke does, so the GUI
tests also check that the worker thread only talks to the server and the ProgressTask.
"""

from __future__ import annotations

import json
import runpy
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "nodes_fakes"))  # the fake `nuke`
sys.path.insert(0, str(ROOT / "nodes" / "nuke"))  # a NUKE_PATH folder is on sys.path in Nuke

import ned_nuke  # noqa: E402
import nuke  # noqa: E402  (the fake)
from ned_nuke import director, knobs, nuke_api  # noqa: E402

from ned_plugin.exr import decode_exr  # noqa: E402
from ned_plugin.qc_files import report_base  # noqa: E402
from ned_plugin.wire import pb  # noqa: E402
from tests.nodes_fakes.fake_server import EMOTIONS, FakeNed, serve, write_plates  # noqa: E402

assert nuke.__file__.endswith("nodes_fakes/nuke.py"), "the fake nuke module must be the one imported"


@pytest.fixture
def fake():
    servicer = FakeNed(token="tok")
    with serve(servicer) as address:
        servicer.address = address
        yield servicer


@pytest.fixture
def script(tmp_path: Path):
    nuke.reset(str(tmp_path / "comp" / "shot.nk"))
    (tmp_path / "comp").mkdir()
    yield tmp_path
    # a test must leave no worker behind
    for job in list(director._running.values()):
        job.cancel()
        job.wait(5)
    director._running.clear()


def make_director(fake: FakeNed, tmp_path: Path, first: int = 1001, last: int = 1004, token: str = "tok"):  # type: ignore[no-untyped-def]
    """A Read of an EXR sequence wired into a NED_Director that is set up for the fake server."""
    pattern = write_plates(tmp_path / "plates", first, last)
    read = nuke.nodes.Read(file=pattern.replace("####", "%04d"), first=first, last=last)
    node = director.create_director(connect_now=False)
    node.setInput(0, read)
    node["server"].setValue(fake.address)
    node["token"].setValue(token)
    return node


def press(node, button: str) -> None:  # type: ignore[no-untyped-def]
    """Click a button as Nuke does: run its PyScript inside the group, the node as nuke.thisNode()."""
    nuke._this.append(node)
    node.begin()
    try:
        node[button].execute()
    finally:
        node.end()
        nuke._this.pop()


def finish(node, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Run Nuke's main-thread queue until the node's background work has reported back."""
    nuke.process_main_thread(timeout, until=lambda: director.running_job(node) is None)


# ============================================================================ creation and knobs
def test_menu_adds_the_ned_menu(script) -> None:
    runpy.run_path(str(ROOT / "nodes" / "nuke" / "init.py"))
    runpy.run_path(str(ROOT / "nodes" / "nuke" / "menu.py"))
    for name in ("Nuke", "Nodes"):
        assert "NED Director" in nuke.menus[name].items["NED"].items
    command = nuke.menus["Nodes"].items["NED"].items["NED Director"]
    exec(command, {})  # creates the node even with no server running
    node = nuke.toNode("NED_Director1")
    assert node is not None and node.Class() == "Group"
    assert "not connected" in node["server_status"].value()
    assert nuke.messages == []  # creating a node never nags


def test_menu_explains_a_missing_runtime(script, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ned_nuke.nuke_api", None)  # as if ned_plugin could not be imported
    runpy.run_path(str(ROOT / "nodes" / "nuke" / "menu.py"))
    items = nuke.menus["Nuke"].items["NED"].items
    assert list(items) == ["NED is not installed (why?)"]
    items["NED is not installed (why?)"]()
    assert "pip install --target" in nuke.messages[-1]


def test_connect_builds_knobs_from_get_info(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "connect")
    assert nuke.messages == []
    assert node["emotion"].values() == list(EMOTIONS) and node["emotion"].value() == "happy"
    assert node["intensity"].range() == (0, 2) and not node["intensity"].getFlag(nuke.NO_ANIMATION)
    assert node["seed"].getFlag(nuke.NO_ANIMATION)
    assert node["matte_erode"].value() == 2 and node["matte_feather"].range() == (0, 128)
    assert [n for n in node.knobs() if n.startswith("mix_") and n != "mix_label"] == \
        [f"mix_{e}" for e in EMOTIONS]
    assert node["actor"].values() == ["anna"]
    assert isinstance(node["token"], nuke.Password_Knob)
    assert "7 emotions, 1 trained actor" in node["server_status"].value()
    # a second Connect updates in place and keeps the artist's values
    node["emotion"].setValue("sad")
    node["intensity"].setValueAt(0.5, 1001)
    fake.actors.append(("bob", True))
    press(node, "connect")
    assert node["emotion"].value() == "sad" and node["intensity"].isAnimated()
    assert node["actor"].values() == ["anna", "bob"]
    assert node.Class() == "Group" and {n.name() for n in node.nodes()} == {"Input1", "Output1"}


def test_unreachable_server_and_wrong_token_on_connect(fake, script) -> None:
    node = make_director(fake, script, token="nope")
    press(node, "connect")
    assert "refused the token" in nuke.messages[-1] and "NED tab" in nuke.messages[-1]
    node["server"].setValue("127.0.0.1:1")
    press(node, "connect")
    assert "Cannot reach the NED server" in nuke.messages[-1] and "127.0.0.1:1" in nuke.messages[-1]
    assert node["server_status"].value().startswith("not connected")
    node["server"].setValue(fake.address)
    node["token"].setValue("tok")
    press(node, "connect")  # the node keeps working once fixed
    assert "emotion" in node.knobs() and len(nuke.messages) == 2


# ============================================================================ render (GUI)
def test_render_button_writes_plates_and_wires_read_and_merge(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "connect")
    node["emotion"].setValue("angry")
    node["intensity"].setValueAt(0.0, 1001)
    node["intensity"].setValueAt(1.0, 1004)
    node["matte_erode"].setValue(3.0)
    node["mix_happy"].setValue(0.6)
    node["slider_smile"].setValueAt(0.0, 1001)  # a face slider keyed in the Face tab
    node["slider_smile"].setValueAt(0.8, 1004)
    node["slider_gaze_horizontal"].setValue(5.0)
    press(node, "render")
    assert "running" in node["status"].value()
    finish(node)
    assert nuke.messages == []
    out = script / "comp" / "ned" / "NED_Director1"
    assert node["output"].value() == str(out / "NED_Director1.####.exr")
    assert sorted(p.name for p in out.glob("*.exr")) == [f"NED_Director1.{n}.exr" for n in range(1001, 1005)]
    plate = decode_exr((out / "NED_Director1.1003.exr").read_bytes())
    assert "matte.Y" in plate.channels
    # the request: the plain EXR Read's own files were sent, the controls became settings and keys
    sent = fake.recorded.manipulate_settings[-1]
    assert fake.recorded.frames_sent["Manipulate"] == [[1001, 1002, 1003, 1004]]
    assert nuke.executed == []  # no Write was needed
    assert sent.actor_id == "anna" and sent.emotion.emotion == "angry" and sent.blend.erode == 3.0
    assert [(k.frame, round(k.intensity, 3)) for k in sent.emotion.keys] == [(1001, 0.0), (1004, 1.0)]
    assert dict(sent.emotion.keys[0].mix) == pytest.approx({"happy": 0.6})
    assert {c.name: [(k.frame, round(k.value, 3)) for k in c.keys] for c in sent.sliders} == {
        "smile": [(1001, 0.0), (1004, 0.8)], "gaze_horizontal": [(1001, 5.0)]}
    # the graph inside the group: Input1 (B) and the plates' Read (A) into a Merge (over) -> Output1
    node.begin()
    try:
        read, merge, inp, out_node = (nuke.toNode(n) for n in ("NED_plates", "NED_merge", "Input1", "Output1"))
    finally:
        node.end()
    assert read["file"].value() == node["output"].value()
    assert (read["first"].value(), read["last"].value()) == (1001, 1004)
    assert read["premultiplied"].value() is True and read["on_error"].value() == "black"
    assert merge["operation"].value() == "over" and merge["also_merge"].value() == "all"
    assert merge.input(0) is inp and merge.input(1) is read and out_node.input(0) is merge
    task = nuke.progress_tasks[-1]
    assert task.title == "NED render: NED_Director1" and task.progress[-1] == 100
    assert any(m.startswith("render 4/4") for m in task.messages)
    assert "4 plates written" in node["status"].value()
    assert node["qc"].value() == "QC pass: speech 0.97" and nuke.messages == []
    qc_json = report_base(node["output"].value(), (1001, 1004)).with_suffix(".qc.json")
    assert json.loads(qc_json.read_text())["speech_correlation"] == pytest.approx(0.97)
    # speech preservation under the threshold: the artist is told, not only the status line
    fake.qc_speech = 0.5
    press(node, "render")
    finish(node)
    assert node["qc"].value().startswith("QC warn") and nuke.messages == [
        "NED_Director1: speech preservation 0.50 is under 0.9"]
    fake.qc_speech = 0.97
    # rendering again updates the same Read and Merge instead of adding new ones
    press(node, "render")
    finish(node)
    assert sorted(n.name() for n in node.nodes()) == ["Input1", "NED_merge", "NED_plates", "Output1"]


def test_use_stmap_rebuilds_the_edit_from_the_plates_stmap_and_neural_layers(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "connect")
    assert node["render_mode"].value() == "hybrid"  # the full-resolution edit, offered from GetInfo
    node["use_stmap"].setValue(True)
    press(node, "render")
    finish(node)
    assert nuke.messages == []
    assert fake.recorded.manipulate_settings[-1].render == "hybrid"
    node.begin()
    try:
        read, merge, inp, stmap, alpha, premult, neural, over = (nuke.toNode(n) for n in (
            "NED_plates", "NED_merge", "Input1", "NED_stmap", "NED_stmap_alpha", "NED_stmap_premult", "NED_neural",
            "NED_neural_over"))
    finally:
        node.end()
    # STMap(stmap = the plates' stmap layer, src = the plate) -> the plates' alpha -> Premult, the neural
    # layer over it, and that over the plate
    assert stmap.input(0) is read and stmap.input(1) is inp and stmap["uv"].value() == "stmap"
    assert alpha.input(0) is stmap and alpha.input(1) is read and alpha["from0"].value() == "rgba.alpha"
    assert premult.input(0) is alpha and neural.input(0) is read and neural["in"].value() == "neural"
    assert over.input(0) is premult and over.input(1) is neural
    assert merge.input(0) is inp and merge.input(1) is over
    # switched off again: the plates' own RGBA is merged
    node["use_stmap"].setValue(False)
    press(node, "render")
    finish(node)
    assert merge.input(1) is read


def test_the_frames_knob_takes_frame_lists(fake, script) -> None:
    node = make_director(fake, script, last=1006)
    press(node, "connect")
    node["frame_list"].setValue("1001-1006x2")
    press(node, "render")
    finish(node)
    assert nuke.messages == []
    out = script / "comp" / "ned" / "NED_Director1"
    assert sorted(p.name for p in out.glob("*.exr")) == [f"NED_Director1.{n}.exr" for n in (1001, 1003, 1005)]
    assert fake.recorded.frames_sent["Manipulate"] == [[1001, 1002, 1003, 1004, 1005]]  # context between
    sent = fake.recorded.manipulate_settings[-1]
    assert (sent.range.first, sent.range.last) == (1001, 1005) and list(sent.output_frames) == [1001, 1003, 1005]
    assert "3 plates written" in node["status"].value()
    node["frame_list"].setValue("1006-1001")
    press(node, "render")
    assert "is reversed; write 1001-1006" in nuke.messages[-1] and director.running_job(node) is None


def test_input_that_is_not_an_exr_read_is_written_out_first(fake, script) -> None:
    node = make_director(fake, script)
    grade = nuke.nodes.Grade()
    grade.setInput(0, node.input(0))
    grade.first_frame, grade.last_frame = 1001, 1003
    node.setInput(0, grade)
    source = script / "plates"

    def render_hook(write, frame):  # type: ignore[no-untyped-def]
        from ned_plugin.sequence import expand_pattern

        target = Path(expand_pattern(write["file"].value(), frame))
        shutil.copy(source / f"plate.{frame:04d}.exr", target)

    nuke.render_hook = render_hook
    press(node, "connect")
    press(node, "render")
    finish(node)
    assert nuke.messages == []
    assert nuke.executed == [("NED_send", 1001, 1003)]
    assert fake.recorded.frames_sent["Manipulate"] == [[1001, 1002, 1003]]
    assert "NED_send" not in {n.name() for n in node.nodes()}  # the temporary Write is gone


def test_cancel_from_the_progress_bar(fake, script) -> None:
    fake.delay_s = 0.3
    node = make_director(fake, script, last=1010)
    press(node, "connect")
    press(node, "render")
    assert fake.started.wait(10)
    while not nuke.progress_tasks:
        time.sleep(0.01)
    nuke.progress_tasks[-1].press_cancel()
    t0 = time.monotonic()
    finish(node, timeout=5)
    assert time.monotonic() - t0 < 3
    assert nuke.messages == ["The render was cancelled."]
    assert node["status"].value() == "The render was cancelled."
    # the node keeps working
    fake.delay_s = 0
    press(node, "render")
    finish(node)
    assert len(nuke.messages) == 1 and "10 plates written" in node["status"].value()


def test_render_errors_show_a_message_and_leave_the_node_usable(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "render")  # never connected: no actor to render with
    assert "no actor is chosen" in nuke.messages[-1]
    press(node, "connect")
    node["token"].setValue("stale")
    press(node, "render")
    finish(node)
    assert "refused the token" in nuke.messages[-1]
    node["token"].setValue("tok")
    fake.fail["Manipulate"] = (pb_status("FAILED_PRECONDITION"), "actor anna has no trained renderer")
    press(node, "render")
    finish(node)
    assert "actor anna has no trained renderer" in nuke.messages[-1]
    del fake.fail["Manipulate"]
    node.setInput(0, None)
    press(node, "render")
    assert "has no input: connect the plate" in nuke.messages[-1]


def pb_status(name: str):  # type: ignore[no-untyped-def]
    import grpc

    return getattr(grpc.StatusCode, name)


def test_one_job_per_node_at_a_time(fake, script) -> None:
    fake.delay_s = 0.2
    node = make_director(fake, script)
    press(node, "connect")
    press(node, "render")
    press(node, "render")
    assert "still busy" in nuke.messages[-1]
    assert ned_nuke.cancel(node)
    finish(node)


# ============================================================================ track and train (GUI)
def test_track_then_train_actor(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "connect")
    press(node, "track")
    finish(node)
    assert nuke.messages == []
    assert node["shot_id"].value() == "shot-1001"
    assert "4/4 frames tracked" in node["status"].value()
    node["train_actor"].setValue("bob")
    node["train_preset"].setValue("tiny")
    press(node, "train")
    finish(node)
    assert nuke.messages == []
    req = fake.recorded.train_requests[-1]
    assert (req.actor_id, list(req.shot_ids), req.preset) == ("bob", ["shot-1001"], "tiny")
    assert node["actor"].values() == ["anna", "bob"]
    assert "actor bob trained" in node["status"].value()
    # render with the tracked shot: the server has it, nothing is re-sent
    node["actor"].setValue("bob")
    press(node, "render")
    finish(node)
    assert fake.recorded.frames_sent["Manipulate"][-1] == []


def test_train_needs_a_tracked_shot(fake, script) -> None:
    node = make_director(fake, script)
    press(node, "train")
    assert "name the actor to train" in nuke.messages[-1]
    node["train_actor"].setValue("bob")
    press(node, "train")
    assert "press Track first" in nuke.messages[-1]
    assert fake.recorded.train_requests == []


# ============================================================================ farm API (nuke -t)
def test_farm_render_inline_prints_progress(fake, script, capsys) -> None:
    nuke.GUI = False
    node = make_director(fake, script, last=1006)
    director.connect(node, ui=False)
    listed = ned_nuke.render("NED_Director1", frames="1002,1006")
    assert [f for f, _ in listed.files] == [1002, 1006]
    result = ned_nuke.render("NED_Director1", 1002, 1004)
    assert [f for f, _ in result.files] == [1002, 1003, 1004]
    assert "NED_PROGRESS 100% render 3/3" in capsys.readouterr().err
    assert nuke.progress_tasks == [] and nuke.messages == []
    node.begin()
    try:
        assert (nuke.toNode("NED_plates")["first"].value(), nuke.toNode("NED_plates")["last"].value()) == (1002, 1004)
    finally:
        node.end()
    tracked = ned_nuke.track(node)
    assert tracked.summary.tracked_frames == 6 and node["shot_id"].value() == tracked.summary.shot_id
    assert ned_nuke.directors() == ["NED_Director1"]


def test_farm_errors_raise_with_the_artist_message(fake, script) -> None:
    nuke.GUI = False
    node = make_director(fake, script)
    director.connect(node, ui=False)
    node["server"].setValue("127.0.0.1:1")
    with pytest.raises(ned_nuke.NedNukeError, match="Cannot reach the NED server"):
        ned_nuke.render(node)
    with pytest.raises(ned_nuke.NedNukeError, match="no node called 'nope'"):
        ned_nuke.render("nope")
    with pytest.raises(ned_nuke.NedNukeError, match="not a NED_Director"):
        ned_nuke.render(node.input(0))


def test_farm_script_renders_every_director(fake, script, capsys) -> None:
    nuke.GUI = False
    node = make_director(fake, script)
    director.connect(node, ui=False)
    nuke.scriptOpen = lambda path: None  # the fake script is already "open"
    try:
        farm = runpy.run_path(str(ROOT / "nodes" / "nuke" / "ned_render.py"))
        assert farm["main"](["shot.nk", "--frames", "1001-1002"]) == 0
        assert "NED_Director1: 2 plates written" in capsys.readouterr().out
        assert farm["main"](["shot.nk", "--frames", "1001,1004"]) == 0  # a list: its two frames, not four
        assert "NED_Director1: 2 plates written" in capsys.readouterr().out
        assert list(fake.recorded.manipulate_settings[-1].output_frames) == [1001, 1004]
        node["token"].setValue("bad")
        assert farm["main"](["shot.nk"]) == 1
        assert "refused the token" in capsys.readouterr().err
    finally:
        del nuke.scriptOpen


def test_knob_layout_is_what_the_panel_shows(fake, script) -> None:
    node = make_director(fake, script)
    names = list(node.knobs())
    fixed = [name for _, name, _, _ in knobs.FIXED]
    assert names[names.index("ned"):][:len(fixed)] == fixed  # after Nuke's own knobs, in panel order
    assert node[knobs.MARKER].getFlag(nuke.INVISIBLE)
    assert "ned_nuke.button('render')" in node["render"].command
    director.connect(node, ui=False)
    tabs = [n for n, k in node.knobs().items() if isinstance(k, nuke.Tab_Knob)]
    assert tabs == ["ned", "ned_emotion", "ned_matte", "ned_face"]


def test_nuke_calls_stay_in_the_thin_file() -> None:
    package = ROOT / "nodes" / "nuke"
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.name != "nuke_api.py" and "import nuke\n" in p.read_text()]
    # the entry files: ned_render.py (`nuke -t`) opens the script, menu.py explains a missing install
    assert sorted(offenders) == ["menu.py", "ned_render.py"]
    assert nuke_api.READ_NAME == "NED_plates"
    assert pb.PlateHeader  # the node talks the wire types only through ned_plugin
