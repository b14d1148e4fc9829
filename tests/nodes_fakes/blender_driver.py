"""Runs inside the Blender venv's Python (bpy): installs the ned_vse extension and drives its operators.

Called by tests/test_nodes_blender.py as ``python blender_driver.py config.json``. The extension is
enabled the way Blender enables any extension: a local repository holding the ned_vse folder, then
addon_utils.enable of ``bl_ext.<repo>.ned_vse``; or, with ``zip`` in the config, the built
extension zip installed through Blender's own ``extensions.package_install_files``, as a user
installs one from disk (its wheels go where Blender puts extension wheels). Background mode runs no
timers, so the driver waits on the add-on's runner, which ticks its timer function by hand. The last stdout line is
``RESULT <json>`` with what the test asserts; the process ends with os._exit (bpy's own atexit
can hang once timers were used).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import traceback
from pathlib import Path


def strip_facts(scene) -> list[dict]:  # type: ignore[no-untyped-def]
    editor = scene.sequence_editor
    out = []
    for s in sorted(getattr(editor, "strips", None) or editor.sequences, key=lambda s: s.channel):
        fact = {"name": s.name, "type": s.type, "channel": s.channel, "blend_type": s.blend_type,
                "frame_start": s.frame_start, "frame_final_start": s.frame_final_start,
                "frame_final_end": s.frame_final_end, "mute": s.mute}
        if s.type == "IMAGE":
            fact.update(alpha_mode=s.alpha_mode, colorspace=s.colorspace_settings.name,
                        directory=bpy.path.abspath(s.directory), elements=[e.filename for e in s.elements],
                        fit_method=getattr(s, "fit_method", ""))
        out.append(fact)
    return out


class CheckingLayout:
    """Stands in for UILayout in a panel's draw(): records what is drawn and checks it against RNA.

    Background mode has no UI to draw in; this still catches a wrong property name or icon.
    """

    def __init__(self, log: list) -> None:  # type: ignore[type-arg]
        self.log = log
        self.icons = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())

    def _icon(self, kwargs: dict) -> None:  # type: ignore[type-arg]
        icon = kwargs.get("icon")
        if icon is not None and icon not in self.icons:
            raise ValueError(f"unknown icon {icon}")

    def row(self, **kw):  # type: ignore[no-untyped-def]
        return self

    column = box = row

    def label(self, text: str = "", **kw) -> None:  # type: ignore[no-untyped-def]
        self._icon(kw)
        self.log.append(("label", text))

    def prop(self, data, name: str, **kw) -> None:  # type: ignore[no-untyped-def]
        self._icon(kw)
        if name not in data.bl_rna.properties:
            raise ValueError(f"{data} has no property {name}")
        self.log.append(("prop", name))

    def operator(self, idname: str, **kw) -> None:  # type: ignore[no-untyped-def]
        self._icon(kw)
        module, name = idname.split(".")
        if name not in dir(getattr(bpy.ops, module)):
            raise ValueError(f"no operator {idname}")
        self.log.append(("operator", idname))

    def progress(self, **kw) -> None:  # type: ignore[no-untyped-def]
        self.log.append(("progress", kw.get("text", "")))


def draw_panel(addon) -> list:  # type: ignore[no-untyped-def, type-arg]
    log: list = []  # type: ignore[type-arg]
    panel = type("P", (), {"layout": CheckingLayout(log)})()
    addon.panels.NED_PT_director.draw(panel, bpy.context)
    return log


def op(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run an operator; an ERROR report comes back as its text instead of an exception."""
    try:
        return {"result": sorted(call(*args, **kwargs)), "error": ""}
    except RuntimeError as exc:
        return {"result": ["CANCELLED"], "error": str(exc)}


def add_image_strip(scene, name: str, files: list[str], channel: int, start: int):  # type: ignore[no-untyped-def]
    strips = getattr(scene.sequence_editor, "strips", None) or scene.sequence_editor.sequences
    strip = strips.new_image(name, files[0], channel, start)
    for f in files[1:]:
        strip.elements.append(os.path.basename(f))
    return strip


def _raise(exc: BaseException) -> None:
    raise exc  # addon_utils only prints failures by default; the test must see them


MODULE = "bl_ext.ned_test.ned_vse"


def setup(cfg: dict) -> object:
    global MODULE
    if cfg.get("zip"):
        MODULE = "bl_ext.user_default.ned_vse"
        result = bpy.ops.extensions.package_install_files(filepath=cfg["zip"], repo="user_default",
                                                          enable_on_install=True)
        if result != {"FINISHED"} or MODULE not in bpy.context.preferences.addons:
            raise RuntimeError(f"installing {cfg['zip']} gave {result}")
    else:
        ext_root = Path(cfg["ext_root"])
        shutil.copytree(cfg["ext_src"], ext_root / "ned_vse")
        bpy.context.preferences.extensions.repos.new(name="ned_test", module="ned_test",
                                                     custom_directory=str(ext_root), source="USER")
        addon_utils.enable(MODULE, default_set=True, handle_error=_raise)
    module = MODULE
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.server, prefs.token, prefs.timeout = cfg["address"], cfg["token"], 3.0
    return sys.modules[module]


def scene_with_strip(cfg: dict, name: str = "plate"):  # type: ignore[no-untyped-def]
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = cfg["width"], cfg["height"]
    scene.frame_start, scene.frame_end = cfg["first"], cfg["last"]
    scene.sequence_editor_create()
    strip = add_image_strip(scene, name, cfg["plates"], 2, cfg["first"])
    if cfg.get("plate_space"):
        strip.colorspace_settings.name = cfg["plate_space"]
    scene.sequence_editor.active_strip = strip
    scene.ned_vse.output_dir = cfg["out_dir"]
    return scene, strip


def render_scenario(cfg: dict, addon) -> dict:  # type: ignore[no-untyped-def]
    runner = addon.runner
    scene, _strip = scene_with_strip(cfg)
    facts: dict = {"connect": op(bpy.ops.ned.connect)}
    params = scene.ned_vse.params
    facts["params"] = [s.name for s in addon.properties.STATE.specs]
    facts["emotion_items"] = [i.identifier for i in params.bl_rna.properties["emotion"].enum_items]
    facts["intensity_range"] = [params.bl_rna.properties["intensity"].hard_min,
                                params.bl_rna.properties["intensity"].hard_max]
    facts["actor"] = scene.ned_vse.actor
    facts["colour_items"] = [i[0] for i in addon.properties._colour_items(None, None)]
    facts["colour_choice"] = scene.ned_vse.input_space
    facts["blender_config"] = addon.colour.blender_config()
    facts["undoable"] = {name: sorted(getattr(addon.operators, name).bl_options)
                         for name in ("NED_OT_track", "NED_OT_render")}
    params.emotion = "surprised"
    params.matte_feather = 11.0
    params.intensity = 0.0
    params.keyframe_insert("intensity", frame=cfg["first"])
    params.intensity = 1.5
    params.keyframe_insert("intensity", frame=cfg["last"])
    if "slider_smile" in facts["params"]:  # a face slider keyed like any Blender property
        params.slider_smile = 0.0
        params.keyframe_insert("slider_smile", frame=cfg["first"])
        params.slider_smile = 0.6
        params.keyframe_insert("slider_smile", frame=cfg["last"])
    facts["panel_before"] = draw_panel(addon)
    facts["track"] = op(bpy.ops.ned.track)
    facts["panel_busy"] = draw_panel(addon)
    facts["track_busy_poll"] = bpy.ops.ned.render.poll()  # one job per scene at a time
    facts["track_wait"] = runner.wait(30)
    facts["shot_id"] = scene.ned_vse.shot_id
    facts["track_status"] = scene.ned_vse.status
    facts["render"] = op(bpy.ops.ned.render)
    facts["render_wait"] = runner.wait(60)
    facts["render_status"] = scene.ned_vse.status
    facts["last_error"] = scene.ned_vse.last_error
    facts["result_strip"] = scene.ned_vse.result_strip
    # a PNG strip is rendered to EXR by Blender before it is sent
    if cfg.get("png"):
        png = add_image_strip(scene, "graded", cfg["png"], 5, cfg["first"])
        scene.sequence_editor.active_strip = png
        scene.ned_vse.shot_id = ""
        send = Path(cfg["out_dir"]) / "graded" / "send"
        facts["png_render"] = op(bpy.ops.ned.render)
        # execute() returned: nothing rendered yet, the runner's ticks render a frame each
        facts["png_sent_after_execute"] = len(list(send.glob("*.exr"))) if send.is_dir() else 0
        facts["png_status_after_execute"] = scene.ned_vse.status
        runner.tick()
        facts["png_sent_after_one_tick"] = len(list(send.glob("*.exr")))
        facts["png_status_after_one_tick"] = scene.ned_vse.status
        facts["png_wait"] = runner.wait(60)
        facts["png_scenes_after"] = [s.name for s in bpy.data.scenes]
        facts["png_status"] = scene.ned_vse.status
        facts["png_error"] = scene.ned_vse.last_error
    facts["undo_pushes"] = list(runner.UNDO_PUSHES)
    facts["strips"] = strip_facts(scene)
    return facts


def frames_scenario(cfg: dict, addon) -> dict:  # type: ignore[no-untyped-def]
    """The panel's Frames field: a frame list renders its own frames; a frame off the strip is refused."""
    runner = addon.runner
    scene, _strip = scene_with_strip(cfg)
    facts: dict = {"connect": op(bpy.ops.ned.connect)}
    facts["panel"] = draw_panel(addon)
    scene.ned_vse.frames = "1-9"  # off the strip (frames 1-6): refused before any work
    facts["off_strip"] = op(bpy.ops.ned.render)
    scene.ned_vse.frames = cfg["frames"]
    facts["render"] = op(bpy.ops.ned.render)
    facts["render_wait"] = runner.wait(60)
    facts["render_status"] = scene.ned_vse.status
    facts["last_error"] = scene.ned_vse.last_error
    facts["strips"] = strip_facts(scene)
    return facts


def real_server_scenario(cfg: dict, addon) -> dict:  # type: ignore[no-untyped-def]
    """Against the real server: Track with landmarks from another tracker, then Render."""
    runner = addon.runner
    scene, _strip = scene_with_strip(cfg)
    facts: dict = {"connect": op(bpy.ops.ned.connect)}
    scene.ned_vse.actor = cfg["actor"]
    scene.ned_vse.params.emotion = "happy"
    scene.ned_vse.landmarks_file = cfg["landmarks"]
    facts["track"] = op(bpy.ops.ned.track)
    facts["track_wait"] = runner.wait(120)
    facts["track_status"] = scene.ned_vse.status
    facts["shot_id"] = scene.ned_vse.shot_id
    facts["render"] = op(bpy.ops.ned.render)
    facts["render_wait"] = runner.wait(120)
    facts["render_status"] = scene.ned_vse.status
    facts["last_error"] = scene.ned_vse.last_error
    facts["result_strip"] = scene.ned_vse.result_strip
    facts["strips"] = strip_facts(scene)
    facts["origins"] = {name: getattr(sys.modules.get(name), "__file__", "") or ""
                        for name in ("grpc", "google.protobuf", "ned_plugin", "OpenImageIO")}
    return facts


def errors_scenario(cfg: dict, addon) -> dict:  # type: ignore[no-untyped-def]
    runner = addon.runner
    prefs = bpy.context.preferences.addons[MODULE].preferences
    scene, strip = scene_with_strip(cfg)
    facts: dict = {}
    facts["render_unconnected"] = op(bpy.ops.ned.render)
    prefs.token = "wrong"
    facts["wrong_token"] = op(bpy.ops.ned.connect)
    prefs.server = "127.0.0.1:1"
    facts["unreachable"] = op(bpy.ops.ned.connect)
    prefs.server, prefs.token = cfg["address"], cfg["token"]
    facts["connect"] = op(bpy.ops.ned.connect)
    # the token goes stale while the work runs: reported when it ends
    prefs.token = "stale"
    facts["render_bad_token"] = op(bpy.ops.ned.render)
    facts["bad_token_wait"] = runner.wait(30)
    facts["bad_token_status"] = scene.ned_vse.status
    facts["bad_token_error"] = scene.ned_vse.last_error
    prefs.token = cfg["token"]
    # cancel a slow render half way
    facts["slow_render"] = op(bpy.ops.ned.render)
    import time

    deadline = time.monotonic() + 20
    while scene.ned_vse.progress <= 0.0 and time.monotonic() < deadline:
        runner.tick()
        time.sleep(0.02)
    facts["progress_seen"] = scene.ned_vse.progress
    facts["busy_flag"] = scene.ned_vse.busy
    facts["cancel"] = op(bpy.ops.ned.cancel)
    t0 = time.monotonic()
    facts["cancel_wait"] = runner.wait(10)
    facts["cancel_seconds"] = time.monotonic() - t0
    facts["cancel_status"] = scene.ned_vse.status
    facts["busy_after_cancel"] = scene.ned_vse.busy
    # a non-media strip is refused with a message
    strips = getattr(scene.sequence_editor, "strips", None) or scene.sequence_editor.sequences
    colour = strips.new_effect("solid", "COLOR", 4, frame_start=1, frame_end=3)
    scene.sequence_editor.active_strip = colour
    facts["colour_poll"] = bpy.ops.ned.render.poll()
    scene.sequence_editor.active_strip = strip
    # a PNG strip cancelled while Blender renders it to EXR: the temporary scene goes, nothing is added
    if cfg.get("png"):
        png = add_image_strip(scene, "graded", cfg["png"], 5, cfg["first"])
        scene.sequence_editor.active_strip = png
        facts["png_render"] = op(bpy.ops.ned.render)
        runner.tick()
        facts["png_preparing"] = scene.ned_vse.status
        facts["png_cancel"] = op(bpy.ops.ned.cancel)
        facts["png_cancel_wait"] = runner.wait(10)
        facts["png_cancel_status"] = scene.ned_vse.status
        facts["scenes_after_cancel"] = [s.name for s in bpy.data.scenes]
        scene.sequence_editor.active_strip = strip
    facts["strips"] = strip_facts(scene)
    return facts


if __name__ == "__main__":
    code = 0
    try:
        cfg = json.loads(Path(sys.argv[1]).read_text())
        import bpy  # first: it puts Blender's own modules (addon_utils...) on sys.path

        addon_utils = __import__("addon_utils")

        addon = setup(cfg)
        scenario = {"render": render_scenario, "errors": errors_scenario, "frames": frames_scenario,
                    "real_server": real_server_scenario}[cfg["scenario"]]
        facts = scenario(cfg, addon)
        facts["version"] = bpy.app.version_string
        print("RESULT " + json.dumps(facts), flush=True)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        code = 1
    sys.stdout.flush()
    os._exit(code)
