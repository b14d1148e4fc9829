"""NED for VFX in Blender's Video Sequencer: change an actor's facial emotion on an image or movie strip.

The sidebar panel (Sequencer > N > NED) connects to a NED server, tracks the active strip's face,
sets the emotion (intensity and mix weights are animatable) and renders face plates that arrive
as an image strip on the channel above, blended with Alpha Over. Work runs on a background
thread; a timer brings progress and results back to Blender's main thread.

The client runtime ``ned_plugin`` and grpcio/protobuf arrive as wheels inside the extension's zip
(tools/build_blender_extension.py builds one per platform); OpenImageIO is Blender's own. Without
them the add-on still registers and says what is missing.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import bpy

from . import operators, panels, preferences, properties, runner


def _blender_python_modules() -> None:
    """Blender ships OpenImageIO (and OpenColorIO) in its Python's site-packages; Blender as a Python
    module (the bpy wheel) keeps that folder off sys.path. Use Blender's copy there too, where
    present, so the extension needs no OpenImageIO wheel of its own."""
    if importlib.util.find_spec("OpenImageIO") is not None:
        return
    python = bpy.utils.system_resource("PYTHON")
    folder = os.path.join(python, "lib", "python{}.{}".format(*sys.version_info[:2]), "site-packages")
    if python and os.path.isdir(os.path.join(folder, "OpenImageIO")) and folder not in sys.path:
        sys.path.append(folder)

_MODULES = (preferences, properties, operators, panels)


def register() -> None:
    _blender_python_modules()
    for module in _MODULES:
        module.register()


def unregister() -> None:
    runner.shutdown()
    for module in reversed(_MODULES):
        module.unregister()
