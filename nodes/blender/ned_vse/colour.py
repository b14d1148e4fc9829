"""Which colour a strip hands over: its own space in Blender's OCIO config, or the artist's pick.

Blender's colour management is OCIO with its own config (``datafiles/colormanagement/config.ocio``,
or $OCIO when set, as Blender itself does). An EXR strip is sent as it is on disk, so its space is
the strip's ``colorspace_settings.name`` ("Linear Rec.709", "ACEScg", ...); frames Blender renders
for us (PNG, movies) are written in the scene's linear space, the config's ``scene_linear`` role.
The server converts between Blender's config and its own (names like "Linear Rec.709" only exist in
Blender's), and the plates come back in the space sent, so the result strip is tagged with it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import bpy

from . import properties

SCENE_LINEAR = "scene_linear"  # the role Blender writes float renders in
LINEAR = "Linear Rec.709"  # its name in Blender's own config


def blender_config() -> str:
    """The OCIO config Blender is using: $OCIO, else the one in Blender's datafiles."""
    env = os.environ.get("OCIO", "").strip()
    if env:
        return env
    datafiles = bpy.utils.system_resource("DATAFILES")
    return os.path.join(datafiles, "colormanagement", "config.ocio") if datafiles else ""


def handed(settings: Any, strip: Any, rendered: bool) -> Any:
    """The ned_plugin.colour_choice.HandedColour to send for this strip's frames."""
    from ned_plugin.colour_choice import handed_colour

    source = SCENE_LINEAR if rendered else str(strip.colorspace_settings.name)
    choice = settings.input_space
    return handed_colour("" if choice == properties.FROM_SOURCE else choice, source, blender_config())


def tag(strip: Any, space: str) -> None:
    """Tag a result strip with the plates' colour space (Blender's name for the scene-linear role)."""
    name = LINEAR if space in ("", SCENE_LINEAR) else space
    for candidate in (name, LINEAR):
        with contextlib.suppress(TypeError):  # a name this config lacks: try the next
            strip.colorspace_settings.name = candidate
            return
