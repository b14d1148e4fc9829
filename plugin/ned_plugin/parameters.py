"""The one table of every user-facing setting, with its range and default.

GetInfo sends it to the hosts (so a new setting or a changed range reaches Nuke and Blender without
touching node code), the CLI builds its flags' help from it, and the server's manipulator controls
validate against it. It lives in the media core because both sides read it and the host side must
not import the server.
"""

from __future__ import annotations

from dataclasses import dataclass

# The emotion domains, in the index order of the official NED checkpoints. The paper lists them in
# another order; the released checkpoints (so every network output branch) use this one.
EMOTIONS: tuple[str, ...] = ("neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised")

BLEND_METHODS = ("laplacian", "copy", "poisson")
COMPRESSIONS = ("zip", "zips", "piz", "dwaa", "dwab", "rle", "pxr24", "b44", "none")
PIXEL_TYPES = ("half", "float")
# Full-resolution edits: how the edited face is made (see composite.edit).
RENDER_MODES = ("hybrid", "warp", "neural")


@dataclass(frozen=True)
class Parameter:
    name: str
    minimum: float = 0.0
    maximum: float = 0.0
    default: float = 0.0
    description: str = ""
    animatable: bool = False
    choices: tuple[str, ...] = ()
    default_choice: str = ""


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("emotion", description="target emotion", choices=EMOTIONS, default_choice="happy"),
    Parameter("intensity", 0.0, 2.0, 1.0, "0 keeps the actor's own style, 1 the target, >1 exaggerates", True),
    Parameter("speech_preservation", 0.0, 1.0, 0.5, "pull the jaw towards the original's to keep lip sync", True),
    Parameter("seed", 0, 2**31 - 1, 0, "repeatable random style for label targets"),
    Parameter("blend_method", description="how the face is merged", choices=BLEND_METHODS,
              default_choice="laplacian"),
    Parameter("blend_levels", 1, 8, 4, "Laplacian pyramid levels"),
    Parameter("matte_erode", 0.0, 64.0, 2.0, "matte erosion in plate pixels"),
    Parameter("matte_feather", 0.0, 128.0, 6.0, "matte feather (blur) in plate pixels"),
    Parameter("preroll", 0, 500, 25, "frames run before a chunk's first frame so chunks match a full run"),
    Parameter("compression", description="EXR compression of returned plates", choices=COMPRESSIONS,
              default_choice="zip"),
    Parameter("pixel_type", description="EXR pixel type of returned plates", choices=PIXEL_TYPES,
              default_choice="half"),
    # --- full-resolution edits (issue 16) ---
    Parameter("render", description="hybrid: the plate itself warped by the 3D expression change at full "
              "resolution, the neural face only in the mouth and eyes it uncovers; warp: the warp alone (no "
              "renderer network); neural: the renderer's face everywhere (the paper)", choices=RENDER_MODES,
              default_choice="hybrid"),
)


def parameter(name: str) -> Parameter:
    for p in PARAMETERS:
        if p.name == name:
            return p
    raise KeyError(name)
