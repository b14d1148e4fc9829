"""NED for VFX in Blender's Video Sequencer: change an actor's facial emotion on an image or movie strip.

The sidebar panel (Sequencer > N > NED) connects to a NED server, tracks the active strip's face,
sets the emotion (intensity and mix weights are animatable) and renders face plates that arrive
as an image strip on the channel above, blended with Alpha Over. Work runs on a background
thread; a timer brings progress and results back to Blender's main thread.

The client runtime ``ned_plugin`` (with grpcio and protobuf) must be importable by Blender's
Python: see nodes/README.md. Without it the add-on still registers and says what is missing.
"""

from __future__ import annotations

from . import operators, panels, preferences, properties, runner

_MODULES = (preferences, properties, operators, panels)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    runner.shutdown()
    for module in reversed(_MODULES):
        module.unregister()
