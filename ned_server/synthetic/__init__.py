"""synthetic: test fixtures that stand in for real footage and data.

* actor - ``SyntheticActor``: a textured procedural FLAME head rendered talking, blinking and
  emoting over a moving background, with per-frame ground truth (``SyntheticClip``);
* expressions - expression sequences (speech jaw, blinks, emotion styles) and the synthetic
  emotional dataset; semantics - the named expression components and emotion styles;
* texture, background, shading, motion, raster, colour, sheet - the actor's parts.

Exports are loaded lazily so that importing the light expression generators does not pull in
torch and the renderer.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ActorConfig": ".config",
    "ActorMotion": ".actor",
    "SyntheticActor": ".actor",
    "SyntheticActorError": ".actor",
    "SyntheticClip": ".actor",
    "contact_sheet": ".sheet",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
