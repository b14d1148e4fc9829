"""Every call into Nuke's own ``nuke`` module, in one thin file.

The rest of ned_nuke is plain Python that works on the nodes and knobs this file hands it, so it
is tested against a small fake of ``nuke``; this file is what a Nuke upgrade could break, and it
is kept short enough to check by eye against the Nuke Python reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nuke

READ_NAME = "NED_plates"
MERGE_NAME = "NED_merge"
RENDER_NAME = "NED_send"


# ---------------------------------------------------------------------------- session
def is_gui() -> bool:
    return bool(getattr(nuke, "GUI", False))


def message(text: str) -> None:
    nuke.message(text)


def in_main_thread(call: Callable[..., Any], *args: Any) -> None:
    nuke.executeInMainThread(call, args=args)


def progress_task(title: str) -> Any:
    return nuke.ProgressTask(title)


def this_node() -> Any:
    return nuke.thisNode()


def to_node(name: str) -> Any:
    return nuke.toNode(name)


def node_path(node: Any) -> str:
    """A name that finds the node from any context (button scripts run inside their group)."""
    return "root." + node.fullName()


def script_path() -> Path | None:
    """The saved script's path; None while the script is untitled."""
    name = nuke.root().name()
    return None if not name or name == "Root" else Path(name)


def all_groups() -> list[Any]:
    return list(nuke.allNodes("Group"))


def add_menu_command(menu: str, submenu: str, label: str, command: str) -> None:
    nuke.menu(menu).addMenu(submenu).addCommand(label, command)


# ---------------------------------------------------------------------------- knobs
def make_knob(kind: str, name: str, label: str = "", *, value: Any = None, values: Sequence[str] = (),
              minimum: float | None = None, maximum: float | None = None, command: str = "",
              tooltip: str = "", animatable: bool = False, startline: bool = True, hidden: bool = False) -> Any:
    """A knob of one of the kinds the NED_Director uses, ready for ``node.addKnob``."""
    if kind == "tab":
        return nuke.Tab_Knob(name, label or name)
    if kind == "enum":
        knob = nuke.Enumeration_Knob(name, label, list(values))
    elif kind == "button":
        knob = nuke.PyScript_Knob(name, label, command)
    elif kind == "text":
        knob = nuke.Text_Knob(name, label, str(value or ""))
        value = None
    else:
        cls = {"string": nuke.String_Knob, "password": getattr(nuke, "Password_Knob", nuke.String_Knob),
               "file": nuke.File_Knob, "int": nuke.Int_Knob, "float": nuke.Double_Knob,
               "bool": nuke.Boolean_Knob}[kind]
        knob = cls(name, label)
    if minimum is not None and maximum is not None and kind == "float":
        knob.setRange(minimum, maximum)
    if value is not None:
        knob.setValue(value)
    if tooltip:
        knob.setTooltip(tooltip)
    if kind in ("int", "float") and not animatable:
        knob.setFlag(nuke.NO_ANIMATION)
    if startline:
        knob.setFlag(nuke.STARTLINE)
    else:
        knob.clearFlag(nuke.STARTLINE)
    if hidden:
        knob.setFlag(nuke.INVISIBLE)
    return knob


def knob_names(node: Any) -> list[str]:
    return list(node.knobs())


def add_knob(node: Any, knob: Any) -> None:
    node.addKnob(knob)


def get(node: Any, name: str) -> Any:
    return node[name].value()


def set_value(node: Any, name: str, value: Any) -> None:
    node[name].setValue(value)


def set_range(node: Any, name: str, minimum: float, maximum: float) -> None:
    node[name].setRange(minimum, maximum)


def set_choices(node: Any, name: str, values: Sequence[str]) -> None:
    knob = node[name]
    keep = knob.value()
    knob.setValues(list(values))
    if keep in values:
        knob.setValue(keep)


def is_animated(node: Any, name: str) -> bool:
    knob = node[name]
    return bool(getattr(knob, "isAnimated", lambda: False)())


def value_at(node: Any, name: str, frame: int) -> float:
    return float(node[name].getValueAt(frame))


# ---------------------------------------------------------------------------- graph
def create_group(name: str) -> Any:
    """An empty Group (input wired straight to output) named after `name`, in the current graph."""
    group = nuke.createNode("Group", inpanel=False)
    group.setName(name)
    group.begin()
    try:
        inp = nuke.nodes.Input(name="Input1")
        out = nuke.nodes.Output(name="Output1")
        out.setInput(0, inp)
    finally:
        group.end()
    return group


def input_range(group: Any) -> tuple[int, int] | None:
    source = group.input(0)
    if source is None:
        return None
    return int(source.firstFrame()), int(source.lastFrame())


def upstream_exr(group: Any) -> str | None:
    """The file pattern when the input is a plain Read of an EXR sequence, sent as it is on disk."""
    source = group.input(0)
    if source is None or source.Class() != "Read":
        return None
    pattern = nuke.filename(source) or ""
    if not pattern.lower().endswith(".exr") or str(source["frame"].value()).strip():
        return None
    return pattern


def render_input(group: Any, pattern: str, first: int, last: int) -> None:
    """Write the group's input as scene-linear EXRs (when it is not a plain EXR Read)."""
    group.begin()
    try:
        write = nuke.nodes.Write(name=RENDER_NAME, file=pattern, file_type="exr", channels="rgba")
        write.setInput(0, nuke.toNode("Input1"))
        try:
            nuke.execute(write, first, last)
        finally:
            nuke.delete(write)
    finally:
        group.end()


def show_plates(group: Any, pattern: str, first: int, last: int) -> tuple[Any, Any]:
    """Create or update the plates' Read (premultiplied, every layer) and the Merge (over) inside the group."""
    group.begin()
    try:
        read = nuke.toNode(READ_NAME) or nuke.nodes.Read(name=READ_NAME)
        read["file"].setValue(pattern)
        for knob, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
            read[knob].setValue(value)
        read["premultiplied"].setValue(True)
        read["on_error"].setValue("black")
        read["reload"].execute()
        merge = nuke.toNode(MERGE_NAME) or nuke.nodes.Merge2(name=MERGE_NAME)
        merge["operation"].setValue("over")
        merge["also_merge"].setValue("all")  # the matte layer reaches the group's output
        merge.setInput(0, nuke.toNode("Input1"))  # B: the plate
        merge.setInput(1, read)  # A: the face
        nuke.toNode("Output1").setInput(0, merge)
    finally:
        group.end()
    return read, merge
