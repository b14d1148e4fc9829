"""Every call into Nuke's own ``nuke`` module, in one thin file.

The rest of ned_nuke is plain Python that works on the nodes and knobs this file hands it, so it
is tested against a small fake of ``nuke``; this file is what a Nuke upgrade could break, and it
is kept short enough to check by eye against the Nuke Python reference.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nuke

READ_NAME = "NED_plates"
MERGE_NAME = "NED_merge"
RENDER_NAME = "NED_send"
PREVIEW_READ = "NED_preview"
PREVIEW_MERGE = "NED_preview_merge"
# OCIO's own built-in configs; Nuke ships the same ones as "fn-nuke_<name>" files.
OCIO_BUILTIN_PREFIXES = ("cg-config-", "studio-config-")
STMAP_NAME = "NED_stmap"  # the "use STMap" rebuild of a full-resolution edit
STMAP_ALPHA_NAME = "NED_stmap_alpha"
STMAP_PREMULT_NAME = "NED_stmap_premult"
NEURAL_NAME = "NED_neural"
NEURAL_MERGE_NAME = "NED_neural_over"


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


def add_menu_command(menu: str, submenu: str, label: str, command: str, icon: str = "",
                     tooltip: str = "") -> None:
    nuke.menu(menu).addMenu(submenu, icon=icon).addCommand(label, command, icon=icon, tooltip=tooltip)


def add_plugin_path(path: str) -> None:
    """A folder Nuke searches for icons (and gizmos)."""
    nuke.pluginAddPath(path)


def current_frame() -> int:
    return int(nuke.frame())


# ---------------------------------------------------------------------------- colour
def script_ocio_config() -> str:
    """The OCIO config the script's colour management uses, as a path or an ``ocio://`` URI.

    $OCIO wins (Nuke itself uses it then); else the root's ``OCIO_config``: "custom" is the root's
    custom config path; OCIO's built-in configs (Nuke names its copies "fn-nuke_<name>") are their
    ``ocio://`` URIs; any other name is the config of that name shipped with Nuke.
    """
    env = os.environ.get("OCIO", "").strip()
    if env:
        return env
    root = nuke.root()
    names = set(root.knobs())
    managed = str(root["colorManagement"].value()) if "colorManagement" in names else "Nuke"
    name = str(root["OCIO_config"].value()).strip() if "OCIO_config" in names else ""
    if managed == "Nuke" or not name:
        name = "nuke-default"
    if name == "custom":
        return str(root["customOCIOConfigPath"].value()).strip() if "customOCIOConfigPath" in names else ""
    if name.startswith("ocio://") or name.endswith(".ocio"):
        return name
    bare = name.removeprefix("fn-nuke_")
    if bare.startswith(OCIO_BUILTIN_PREFIXES):
        return "ocio://" + bare
    install = Path(getattr(nuke, "EXE_PATH", "")).parent
    return str(install / "plugins" / "OCIOConfigs" / "configs" / name / "config.ocio")


def source_colour_space(group: Any) -> str:
    """The colour space the group's input frames are sent in.

    A plain EXR Read sends its files as they are: its ``colorspace`` knob ("default" is the root's
    float-file default); anything else is written out by a Write in the working space.
    """
    root = nuke.root()
    names = set(root.knobs())
    source = group.input(0)
    if upstream_exr(group) is not None:
        value = str(source["colorspace"].value()).strip()
        if value and value != "default":
            return value
        return str(root["floatLut"].value()) if "floatLut" in names else "scene_linear"
    return str(root["workingSpaceLUT"].value()) if "workingSpaceLUT" in names else "scene_linear"


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


def remove_knob(node: Any, name: str) -> None:
    node.removeKnob(node[name])


def set_label(node: Any, name: str, label: str) -> None:
    node[name].setLabel(label)


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


def describe_node(group: Any, help_text: str, tile_color: int) -> None:
    """What a gizmo shows: the '?' help of the properties panel and the node's colour."""
    names = set(group.knobs())
    if "help" in names:
        group["help"].setValue(help_text)
    if "tile_color" in names:
        group["tile_color"].setValue(tile_color)


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


def _stmap_rebuild(read: Any, plate: Any) -> Any:
    """The edit rebuilt in Nuke from the plates' layers (full-resolution edits): STMap of the plate
    through the `stmap` layer, held out by the plates' alpha, with the `neural` layer (premultiplied,
    its own matte) merged over it. Returns the node that replaces the Read as the Merge's A input."""
    stmap = nuke.toNode(STMAP_NAME) or nuke.nodes.STMap(name=STMAP_NAME)
    stmap.setInput(0, read)  # stmap: the plates' Read, whose `stmap` layer holds (u, v)
    stmap.setInput(1, plate)  # src: the original plate, resampled at full resolution
    stmap["uv"].setValue("stmap")
    stmap["channels"].setValue("rgb")
    alpha = nuke.toNode(STMAP_ALPHA_NAME) or nuke.nodes.Copy(name=STMAP_ALPHA_NAME)
    alpha.setInput(0, stmap)  # B
    alpha.setInput(1, read)  # A: where the edit differs from the plate
    alpha["from0"].setValue("rgba.alpha")
    alpha["to0"].setValue("rgba.alpha")
    premult = nuke.toNode(STMAP_PREMULT_NAME) or nuke.nodes.Premult(name=STMAP_PREMULT_NAME)
    premult.setInput(0, alpha)
    neural = nuke.toNode(NEURAL_NAME) or nuke.nodes.Shuffle(name=NEURAL_NAME)
    neural.setInput(0, read)
    neural["in"].setValue("neural")  # absent on warp-only plates: black, and the Merge adds nothing
    over = nuke.toNode(NEURAL_MERGE_NAME) or nuke.nodes.Merge2(name=NEURAL_MERGE_NAME)
    over["operation"].setValue("over")
    over.setInput(0, premult)  # B: the warped plate
    over.setInput(1, neural)  # A: the neural mouth and eyes
    return over


def _plates_over_input(read_name: str, merge_name: str, pattern: str, first: int, last: int,
                       colorspace: str, use_stmap: bool = False) -> tuple[Any, Any]:
    read = nuke.toNode(read_name) or nuke.nodes.Read(name=read_name)
    read["file"].setValue(pattern)
    for knob, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
        read[knob].setValue(value)
    read["premultiplied"].setValue(True)
    read["on_error"].setValue("black")
    if colorspace:  # the plates come back in the space the input was sent in
        with contextlib.suppress(Exception):  # a name this script's config lacks: Nuke's default stays
            read["colorspace"].setValue(colorspace)
    read["reload"].execute()
    merge = nuke.toNode(merge_name) or nuke.nodes.Merge2(name=merge_name)
    merge["operation"].setValue("over")
    merge["also_merge"].setValue("all")  # the matte layer reaches the group's output
    plate = nuke.toNode("Input1")
    merge.setInput(0, plate)  # B: the plate
    merge.setInput(1, _stmap_rebuild(read, plate) if use_stmap else read)  # A: the face
    nuke.toNode("Output1").setInput(0, merge)
    return read, merge


def show_plates(group: Any, pattern: str, first: int, last: int, colorspace: str = "",
                use_stmap: bool = False) -> tuple[Any, Any]:
    """Create or update the plates' Read (premultiplied, every layer, tagged with the plates' colour
    space) and the Merge (over) inside the group; the group's output is that Merge.

    ``use_stmap``: merge the edit rebuilt from the plates' `stmap` and `neural` layers instead of the
    plates' own RGBA (the same picture, but the artist can now grade, soften or re-filter its parts)."""
    group.begin()
    try:
        return _plates_over_input(READ_NAME, MERGE_NAME, pattern, first, last, colorspace, use_stmap)
    finally:
        group.end()


def show_preview(group: Any, pattern: str, frame: int, colorspace: str = "") -> tuple[Any, Any]:
    """The one previewed frame over the input, on its own Read and Merge; the group shows it until
    the next Render puts the plates' Merge back on the output."""
    group.begin()
    try:
        return _plates_over_input(PREVIEW_READ, PREVIEW_MERGE, pattern, frame, frame, colorspace)
    finally:
        group.end()
