"""The scene's NED settings, and the emotion controls built from the server's GetInfo.

``scene.ned_vse`` holds what does not depend on the server (shot, face, output folder, progress).
The emotion, intensity, mix weights and matte settings are defined on ``NedParams`` when the
artist presses Connect, from ``ned_plugin.host.controls.knob_specs(info)``: their ranges, defaults and the
emotion list are the server's. Values live in the .blend as ID properties, so a file saved with
them keeps them; reconnecting redefines the controls and the values show again. Intensity and mix
weights are animatable (keyframe them to change the emotion over the strip).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)


@dataclass
class ServerState:
    """What the last Connect learned; shared by every scene of this Blender session."""

    specs: list[Any] = field(default_factory=list)  # ned_plugin.host.controls.KnobSpec
    actors: list[tuple[str, str, str]] = field(default_factory=list)  # kept alive for the enum callback
    colour_spaces: list[tuple[str, str, str]] = field(default_factory=list)  # likewise
    summary: str = ""


STATE = ServerState()
NO_ACTOR = "NONE"
FROM_SOURCE = "from the source"  # ned_plugin.colour_choice.FROM_SOURCE (the runtime may be missing here)
_FROM_SOURCE_ITEM = (FROM_SOURCE, "From the strip", "The strip's own colour space in Blender's OCIO config")


def _actor_items(self: Any, context: Any) -> list[tuple[str, str, str]]:
    return STATE.actors or [(NO_ACTOR, "(press Connect)", "No actors known yet")]


def _colour_items(self: Any, context: Any) -> list[tuple[str, str, str]]:
    return STATE.colour_spaces or [_FROM_SOURCE_ITEM]


class NedParams(bpy.types.PropertyGroup):
    """Filled by define_params() from the server's parameters."""


class NedSettings(bpy.types.PropertyGroup):
    params: PointerProperty(type=NedParams)  # type: ignore[valid-type]
    actor: EnumProperty(name="Actor", items=_actor_items,  # type: ignore[valid-type]
                        description="Trained actor whose renderer draws the face")
    shot_id: StringProperty(name="Shot id", default="",  # type: ignore[valid-type]
                            description="Name of the shot on the server; empty: derived from the frames")
    face_id: IntProperty(name="Face", default=-1, min=-1,  # type: ignore[valid-type]
                         description="Which face to follow when several are in shot; -1: the largest")
    input_space: EnumProperty(name="Colour space", items=_colour_items,  # type: ignore[valid-type]
                              description="Colour space of the frames: the strip's own (in Blender's OCIO "
                              "config), or one of the server's (Connect lists them)")
    landmarks_file: StringProperty(name="Landmarks", default="", subtype="FILE_PATH",  # type: ignore[valid-type]
                                   description="Optional 68-point landmarks from another tracker (JSON or CSV), "
                                   "used instead of the server's landmark detector")
    output_dir: StringProperty(name="Plates folder", default="//ned/", subtype="DIR_PATH",  # type: ignore[valid-type]
                               description="Where face plates are written (// = next to the .blend)")
    frames: StringProperty(name="Frames", default="",  # type: ignore[valid-type]
                           description="Frames to render, e.g. 1001-1100x2 (every other frame) or 1001,1050; "
                           "the frames between still run as context. Empty: the strip's frames")
    add_matte: BoolProperty(name="Matte strip", default=True,  # type: ignore[valid-type]
                            description="Also add the matte as a muted strip, for strip-modifier masks")
    # progress of the running job (written by the runner's timer, read by the panel)
    busy: BoolProperty(default=False, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    status: StringProperty(default="")  # type: ignore[valid-type]
    last_error: StringProperty(default="")  # type: ignore[valid-type]
    qc_summary: StringProperty(default="")  # type: ignore[valid-type]  # the last render's QC line
    qc_warnings: StringProperty(default="")  # type: ignore[valid-type]  # its warnings, one per line
    result_strip: StringProperty(default="")  # type: ignore[valid-type]


def define_params(specs: list[Any]) -> None:
    """(Re)define NedParams' controls from KnobSpecs (ned_plugin.host.controls.knob_specs)."""
    for spec in specs:
        options = {"ANIMATABLE"} if spec.animatable else set()
        common: dict[str, Any] = {"name": spec.label, "description": spec.tooltip or spec.label}
        if spec.kind == "enum":
            items = [(c, c, "") for c in spec.choices]
            prop = EnumProperty(items=items, default=spec.default_choice or spec.choices[0], options=options,
                                **common)
        elif spec.kind == "int":
            prop = IntProperty(min=int(spec.minimum), max=int(spec.maximum), default=int(spec.default),
                               options=options, **common)
        else:
            prop = FloatProperty(min=spec.minimum, max=spec.maximum, default=spec.default, options=options,
                                 **common)
        setattr(NedParams, spec.name, prop)
    STATE.specs = list(specs)


def set_actors(actors: list[tuple[str, str]]) -> None:
    STATE.actors = [(a, label, f"actor {a}") for a, label in actors]


def set_colour_spaces(choices: list[str]) -> None:
    """The colour menu: "from the strip", then the server's spaces (GetInfo)."""
    STATE.colour_spaces = [_FROM_SOURCE_ITEM] + [(c, c, f"{c} (the server's OCIO config)")
                                                 for c in choices if c != FROM_SOURCE]


_CLASSES = (NedParams, NedSettings)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.ned_vse = PointerProperty(type=NedSettings)


def unregister() -> None:
    del bpy.types.Scene.ned_vse
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    STATE.specs, STATE.actors, STATE.colour_spaces, STATE.summary = [], [], [], ""
