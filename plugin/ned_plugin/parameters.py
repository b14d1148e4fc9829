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
    unit: str = ""  # what one step of the value means, shown by the hosts (e.g. "degrees")


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
    # ---- face sliders (issue 19): fine controls applied to the 3D face after the emotion, all
    # animatable; a parameter named SLIDER_PREFIX + name is the slider `name` of ManipulateSettings.
    # Expression sliders move the landmarks named in face3d.sliders by the fraction of the
    # eye-corner distance ("IOD", landmarks 36-45 of the model's mean face) given per unit.
    Parameter("slider_smile", -1.0, 1.0, 0.0, "smile: mouth corners up 8% and out 5% of the eye-corner distance "
              "at 1 (-1 the opposite); the speech's mouth opening is kept", True, unit="action"),
    Parameter("slider_mouth_corners", -1.0, 1.0, 0.0, "mouth corners up (+) or down (-) by 8% of the eye-corner "
              "distance at +-1, without widening; the speech's mouth opening is kept", True, unit="action"),
    Parameter("slider_pout", -1.0, 1.0, 0.0, "lips pushed forward by 5% of the eye-corner distance at 1 (-1 drawn "
              "in); the speech's mouth opening is kept", True, unit="action"),
    Parameter("slider_purse", -1.0, 1.0, 0.0, "mouth narrowed: corners in by 5% of the eye-corner distance each at 1 "
              "(-1 widened); the speech's mouth opening is kept", True, unit="action"),
    Parameter("slider_brow_raise", -1.0, 1.0, 0.0, "brows up by 6% of the eye-corner distance at 1 (-1 down)", True,
              unit="action"),
    Parameter("slider_brow_furrow", -1.0, 1.0, 0.0, "inner brows together and down by 3% of the eye-corner distance "
              "at 1 (-1 apart and up)", True, unit="action"),
    Parameter("slider_eye_open", -1.0, 1.0, 0.0, "upper lids up by 3% and lower lids down by 1% of the eye-corner "
              "distance at 1 (-1 narrowed)", True, unit="action"),
    Parameter("slider_blink", 0.0, 1.0, 0.0, "eyelids closed: 0 as performed, 1 shut (the upper lid on the lower)",
              True, unit="fraction"),
    Parameter("slider_gaze_horizontal", -20.0, 20.0, 0.0, "eyeballs turned towards the image's right (+) or left "
              "(-), in degrees; the pupils of the eye conditioning follow", True, unit="degrees"),
    Parameter("slider_gaze_vertical", -15.0, 15.0, 0.0, "eyeballs turned up (+) or down (-), in degrees; the pupils "
              "of the eye conditioning follow", True, unit="degrees"),
    Parameter("slider_head_pitch", -8.0, 8.0, 0.0, "head tipped up (+) or down (-), in degrees, in the camera's "
              "frame", True, unit="degrees"),
    Parameter("slider_head_yaw", -8.0, 8.0, 0.0, "head turned towards the image's right (+) or left (-), in degrees",
              True, unit="degrees"),
    Parameter("slider_head_roll", -8.0, 8.0, 0.0, "head rolled counter-clockwise on screen (+) or clockwise (-), "
              "in degrees", True, unit="degrees"),
    Parameter("slider_jaw_offset", -5.0, 10.0, 0.0, "jaw opened (+) or closed (-) by this many degrees on top of the "
              "performance (the one mouth slider that changes the speech's jaw)", True, unit="degrees"),
)
SLIDER_PREFIX = "slider_"
SLIDERS: tuple[str, ...] = tuple(p.name.removeprefix(SLIDER_PREFIX) for p in PARAMETERS
                                 if p.name.startswith(SLIDER_PREFIX))


def parameter(name: str) -> Parameter:
    for p in PARAMETERS:
        if p.name == name:
            return p
    raise KeyError(name)
