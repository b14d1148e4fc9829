"""The NED_Director's knobs: the fixed ones, and those built from the server's GetInfo.

Fixed knobs (connection, shot, buttons, output) exist from the node's creation. Emotion, mix,
face slider (the "Face" tab, every one animatable), matte and output-format knobs come from
``ned_plugin.host.controls.knob_specs`` on Connect, so their ranges, defaults and the emotion list are the
server's; pressing Connect again updates them in place and keeps the artist's values and animation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ned_plugin.colour_choice import FROM_SOURCE
from ned_plugin.host.controls import KnobSpec

from . import nuke_api
from .config import CONFIG

MARKER = "ned_director"  # a hidden knob telling NED_Director groups from other groups


def _button(action: str) -> str:
    return f"import ned_nuke\nned_nuke.button({action!r})"


# (kind, name, label, options) in panel order.
FIXED: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("tab", "ned", "NED", {}),
    ("text", MARKER, "", {"hidden": True, "value": "1"}),
    ("string", "server", "server", {"tooltip": "HOST:PORT of the NED server; empty: $NED_SERVER or "
                                    "127.0.0.1:50551"}),
    ("password", "token", "token", {"tooltip": "the server's token; empty: $NED_TOKEN (better on a farm)"}),
    ("button", "connect", "Connect", {"command": _button("connect"), "startline": False,
                                      "tooltip": "ask the server what it offers and build the emotion knobs"}),
    ("text", "server_status", "server", {"value": "not connected: press Connect"}),
    ("string", "shot_id", "shot id", {"tooltip": "name of the shot on the server; empty: derived from the "
                                      "frames when tracking"}),
    ("int", "face_id", "face", {"value": -1, "tooltip": "which face to follow when several are in shot; "
                                "-1: the largest (after Track, click a face below to pick it)"}),
    ("text", "faces", "faces", {"value": "", "tooltip": "the faces Track found; click one to follow it"}),
    ("enum", "input_space", "colour space", {"values": [FROM_SOURCE], "tooltip": (
        "colour space of the input: 'from the source' reads the Read's colorspace and this script's OCIO "
        "config; or pick one of the server's (Connect lists them)")}),
    ("file", "landmarks", "landmarks", {"tooltip": "optional 68-point landmarks from another tracker (JSON or "
                                        "CSV), used instead of the server's landmark detector"}),
    ("button", "track", "Track", {"command": _button("track"), "tooltip": "track the face (once per shot)"}),
    ("enum", "actor", "actor", {"values": [], "tooltip": "trained actor whose renderer draws the face"}),
    ("string", "train_actor", "train as", {"tooltip": "actor id to train from this shot; empty: the actor above"}),
    ("enum", "train_preset", "preset", {"values": list(CONFIG.train_presets), "startline": False}),
    ("button", "train", "Train actor", {"command": _button("train"), "startline": False,
                                        "tooltip": "train (or continue) the actor's renderer on the tracked shot"}),
    ("file", "reference_clip", "reference clip", {"tooltip": "optional EXR sequence whose emotional style is "
                                                  "used instead of the emotion label"}),
    ("file", "output", "plates", {"tooltip": "where the face plates are written (####); empty: next to the "
                                  "script"}),
    ("bool", "input_range", "input range", {"value": True, "tooltip": "work on the input's frame range; "
                                            "off: from first to last"}),
    ("int", "first_frame", "first", {"value": 1001, "startline": False, "tooltip": "first frame to work on"}),
    ("int", "last_frame", "last", {"value": 1100, "startline": False, "tooltip": "last frame to work on"}),
    ("string", "frame_list", "frames", {"tooltip": "a frame list instead, e.g. 1001-1100x2 (every other frame) "
                                        "or 1001,1050: plates of those frames only, the frames between run "
                                        "as context; empty: every frame of the range"}),
    ("button", "preview", "Preview frame", {"command": _button("preview"), "tooltip": (
        "the current frame with these settings in seconds, from the tracked shot (a short preroll: close "
        "to, not equal to, the rendered frame)")}),
    ("bool", "use_stmap", "use STMap", {"tooltip": "rebuild the edit inside the group from the plates' stmap "
                                        "and neural layers (STMap of the plate + Merge) instead of merging the "
                                        "plates' RGBA: same picture, every part open to grading (render = hybrid "
                                        "or warp)"}),
    ("button", "render", "Render", {"command": _button("render"), "startline": False,
                                    "tooltip": "render the face plates and merge them over the input"}),
    ("text", "status", "status", {"value": ""}),
    ("text", "qc", "QC", {"value": ""}),  # the last render's QC summary (speech preservation, tracking, flicker)
)
TABS = {"emotion": "Emotion", "mix": "Emotion", "sliders": "Face", "matte": "Matte", "output": "Matte"}


def add_fixed_knobs(node: Any) -> None:
    existing = set(nuke_api.knob_names(node))
    for kind, name, label, options in FIXED:
        if name not in existing:
            nuke_api.add_knob(node, nuke_api.make_knob(kind, name, label, **options))


HELP = """NED Director: change the actor's facial emotion in this shot while keeping what they say.

1. Connect (NED tab): the server's emotions, actors and colour spaces become the knobs.
2. Track: once per shot. With several faces in shot, click the one to follow.
3. Pick the actor, emotion and intensity (animatable), then Preview frame (the current frame in
   seconds) or Render (the whole range). The face plates come back premultiplied, in the input's
   colour space, merged over the input inside this node; the matte is the matte.Y layer.
Farm: ned_nuke.render(node) in `nuke -t`, or ned_render.py. More: nodes/README.md."""


def add_face_picker(node: Any, faces: Sequence[tuple[int, str, str]]) -> list[str]:
    """One button per face found (thumbnail and frames as its label; pressing it follows that face),
    replacing the previous Track's; returns the buttons' names. ``faces``: (id, label, thumbnail)."""
    for name in [n for n in nuke_api.knob_names(node) if n.startswith(FACE_PICK)]:
        nuke_api.remove_knob(node, name)
    if faces and FACES_TAB not in nuke_api.knob_names(node):
        nuke_api.add_knob(node, nuke_api.make_knob("tab", FACES_TAB, "Faces"))
    names = []
    for i, (face_id, label, thumbnail) in enumerate(faces):
        html = (f'<img src="{thumbnail}"><br>' if thumbnail else "") + label
        name = f"{FACE_PICK}{face_id}"
        nuke_api.add_knob(node, nuke_api.make_knob(
            "button", name, html, command=f"import ned_nuke\nned_nuke.pick_face({face_id})", startline=i == 0,
            tooltip=f"follow face {face_id}"))
        names.append(name)
    return names


FACE_PICK = "pick_face_"
FACES_TAB = "ned_faces"


def apply_specs(node: Any, specs: Sequence[KnobSpec], actors: Sequence[str],
                colour_spaces: Sequence[str] = ()) -> list[str]:
    """Add the knobs the server describes, or update the ones there; returns the names added."""
    nuke_api.set_choices(node, "actor", list(actors))
    if colour_spaces:
        nuke_api.set_choices(node, "input_space", list(colour_spaces))
    existing = set(nuke_api.knob_names(node))
    added: list[str] = []
    tab = ""
    for spec in specs:
        if spec.name in existing:
            if spec.kind == "enum":
                nuke_api.set_choices(node, spec.name, list(spec.choices))
            elif spec.kind == "float":
                nuke_api.set_range(node, spec.name, spec.minimum, spec.maximum)
            continue
        wanted_tab = TABS[spec.group]
        if wanted_tab != tab:
            tab_name = "ned_" + wanted_tab.lower()
            if tab_name not in existing:
                nuke_api.add_knob(node, nuke_api.make_knob("tab", tab_name, wanted_tab))
                existing.add(tab_name)
            tab = wanted_tab
        if spec.group == "mix" and "mix_label" not in existing:
            nuke_api.add_knob(node, nuke_api.make_knob(
                "text", "mix_label", "mix", value="weights above 0 mix emotions (animatable)"))
            existing.add("mix_label")
        kind = spec.kind
        options: dict[str, Any] = {"tooltip": spec.tooltip, "animatable": spec.animatable}
        if kind == "enum":
            options["values"] = list(spec.choices)
            options["value"] = spec.default_choice
        elif kind == "float":
            options.update(minimum=spec.minimum, maximum=spec.maximum, value=spec.default)
        else:
            options["value"] = int(spec.default)
        nuke_api.add_knob(node, nuke_api.make_knob(kind, spec.name, spec.label, **options))
        existing.add(spec.name)
        added.append(spec.name)
    return added
