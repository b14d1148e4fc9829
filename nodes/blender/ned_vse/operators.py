"""The panel's buttons: Connect, Track, Render, Cancel.

Each reads the scene on Blender's main thread into a plain plan, hands the network work to the
runner's background thread and returns at once, so the UI never freezes; a strip that is not EXR is
rendered to EXR by the runner's timer, a frame per tick, not here. Track and Render are undo-safe
operators (``UNDO``): execute() changes nothing but the panel's state, the runner pushes an undo
step once the result strips are added, and every later step finds strips and scenes by name, so an
undo in between leaves no dangling reference. Problems found before the
work starts are reported by the operator (``self.report({'ERROR'}, ...)``); problems during the
work by the runner when it ends. Either way Blender keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from . import colour, preferences, properties, runner, strips

SETTINGS_HINT = "the NED add-on preferences (Edit > Preferences > Add-ons > NED)"
MISSING_RUNTIME = ("NED's client runtime (ned_plugin, grpcio, protobuf) is not installed in Blender's Python: "
                   "see 'Blender > Install' in the NED README")


def _runtime() -> None:
    """A clear error when Blender's Python lacks ned_plugin (imported lazily so the add-on registers)."""
    try:
        import ned_plugin.host.requests  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"{MISSING_RUNTIME} ({exc})") from None


def _fcurve(scene: bpy.types.Scene, data_path: str) -> Any:
    anim = scene.animation_data
    action = anim.action if anim else None
    if action is None:
        return None
    fcurves = getattr(action, "fcurves", None)  # legacy API, still there in 4.x
    if fcurves is None:  # layered actions (Blender 5): the channel bag of the scene's slot
        fcurves = [fc for layer in action.layers for strip in layer.strips
                   for bag in strip.channelbags if bag.slot == anim.action_slot for fc in bag.fcurves]
    for fc in fcurves:
        if fc.data_path == data_path and len(fc.keyframe_points):
            return fc
    return None


class SceneValues:
    """The scene's NED controls as a ned_plugin.host.controls.ValueSource (main thread only)."""

    def __init__(self, scene: bpy.types.Scene) -> None:
        self.scene = scene
        self.params = scene.ned_vse.params
        self.names = {s.name for s in properties.STATE.specs}

    def value(self, name: str) -> Any:
        if name not in self.names:
            raise KeyError(name)
        return getattr(self.params, name)

    def _path(self, name: str) -> str:
        return f"ned_vse.params.{name}"

    def is_animated(self, name: str) -> bool:
        return name in self.names and _fcurve(self.scene, self._path(name)) is not None

    def value_at(self, name: str, frame: int) -> float:
        return float(_fcurve(self.scene, self._path(name)).evaluate(frame))


def _error(op: bpy.types.Operator, exc: BaseException, action: str) -> set[str]:
    try:
        _runtime()
        from ned_plugin.host.messages import artist_message

        text = artist_message(exc, action, SETTINGS_HINT)
    except RuntimeError as missing:
        text = str(missing)
    op.report({"ERROR"}, text)
    return {"CANCELLED"}


def frame_selection(settings: Any, strip: Any) -> tuple[int, int, list[int]]:
    """The strip's frames, or the Frames field's list within them: (first, last, output frames; [] = all).

    A list (``1001-1100x2``, ``1001,1050``) runs its whole span, since the temporal stages need the
    frames between as context, and gets plates of its own frames only; frames off the strip are refused.
    """
    from ned_plugin.host.messages import HostError
    from ned_plugin.sequence import SequenceError, output_frames, parse_frame_range

    lo, hi = strips.strip_range(strip)
    text = settings.frames.strip()
    if not text:
        return lo, hi, []
    try:
        wanted = parse_frame_range(text)
        outside = [f for f in wanted if not lo <= f <= hi]
        if outside:
            raise SequenceError(f"frame(s) {', '.join(map(str, outside[:8]))} are not on the strip {strip.name} "
                                f"(its frames: {lo}-{hi})")
        return wanted[0], wanted[-1], output_frames(wanted, wanted[0], wanted[-1])
    except SequenceError as exc:
        raise HostError(f"the Frames field {text!r}: {exc}") from None


class NED_OT_connect(bpy.types.Operator):
    """Ask the NED server what it offers and build the emotion controls from it"""

    bl_idname = "ned.connect"
    bl_label = "Connect"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            _runtime()
            from ned_plugin.host import controls, requests

            info = requests.server_info(preferences.connection(context, short=True))
        except Exception as exc:
            properties.STATE.summary = "not connected"
            return _error(self, exc, "the connection")
        properties.define_params(controls.knob_specs(info))
        properties.set_actors(controls.actor_choices(info))
        properties.set_colour_spaces(list(info.colour_spaces))
        properties.STATE.summary = controls.server_summary(info)
        self.report({"INFO"}, properties.STATE.summary)
        return {"FINISHED"}


class _StripOperator(bpy.types.Operator):
    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        scene = context.scene
        editor = scene.sequence_editor if scene else None
        strip = editor.active_strip if editor else None
        return strip is not None and strip.type in strips.MEDIA and not runner.busy(scene)


def strip_frames(scene: bpy.types.Scene, strip: Any, first: int, last: int) -> tuple[Any, Any]:
    """(files, prepare): an EXR strip's own files at once; else a StripRender whose steps the runner
    runs (its ``files`` exist once they are done) and those steps."""
    if not strips.needs_render(strip):
        return strips.exr_frame_files(strip, first, last), None
    render = strips.StripRender(scene, strip, first, last, strips.work_dir(scene, strip) / "send")
    return render.files, render.steps()


class NED_OT_track(_StripOperator):
    """Track the face of the active strip on the NED server (once per shot)"""

    bl_idname = "ned.track"
    bl_label = "Track"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        settings = scene.ned_vse
        try:
            _runtime()
            from ned_plugin.host import requests

            strip = strips.source_strip(scene)
            first, last, _ = frame_selection(settings, strip)  # a frame list: its span is the shot
            files, prepare = strip_frames(scene, strip, first, last)
            handed = colour.handed(settings, strip, rendered=prepare is not None)
            job = requests.TrackJob(preferences.connection(context),
                                    requests.track_settings(settings.shot_id, settings.face_id, handed.space,
                                                            landmarks_file=bpy.path.abspath(settings.landmarks_file)
                                                            if settings.landmarks_file else "",
                                                            colour_config=handed.config),
                                    files)
            runner.start(scene, "tracking", lambda progress, cancel: requests.track_shot(job, progress, cancel),
                         _finish_track, prepare)
        except Exception as exc:
            return _error(self, exc, "tracking")
        return {"FINISHED"}


def _finish_track(scene: bpy.types.Scene, result: Any) -> str:
    from ned_plugin.host.requests import track_summary

    scene.ned_vse.shot_id = result.summary.shot_id
    return track_summary(result)


class NED_OT_render(_StripOperator):
    """Render face plates with the chosen emotion and add them above the strip (Alpha Over)"""

    bl_idname = "ned.render"
    bl_label = "Render"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        settings = scene.ned_vse
        try:
            _runtime()
            from ned_plugin.host import controls
            from ned_plugin.host.messages import HostError

            strip = strips.source_strip(scene)
            if settings.actor in ("", properties.NO_ACTOR):
                raise HostError("no actor is chosen: press Connect to list the server's actors")
            first, last, listed = frame_selection(settings, strip)
            names = [s.name for s in properties.STATE.specs]
            values = controls.take_snapshot(SceneValues(scene), names, first, last)
            preroll = int(values.values.get("preroll", 0) or 0)
            # preroll frames come from before the strip's visible part where the strip has them
            lo = max(first - preroll, int(strip.frame_start))
            files, prepare = strip_frames(scene, strip, lo, last)
            handed = colour.handed(settings, strip, rendered=prepare is not None)
            folder = strips.work_dir(scene, strip)
            plan = {
                "connection": preferences.connection(context), "values": values, "first": first, "last": last,
                "actor": settings.actor, "shot_id": settings.shot_id, "face_id": settings.face_id,
                "input_space": handed.space, "colour_config": handed.config, "frames": files,
                "output_frames": listed,
                "output": str(folder / f"{folder.name}.ned.####.exr"),
                "matte": str(folder / "matte" / f"{folder.name}.matte.####.exr") if settings.add_matte else "",
            }
            strip_name, with_matte = strip.name, settings.add_matte

            def finish(scene: bpy.types.Scene, result: Any) -> str:
                scene.ned_vse.qc_summary = result.qc.summary if result.qc is not None else ""
                scene.ned_vse.qc_warnings = "\n".join(result.qc_warnings)
                source = strips._strips(scene).get(strip_name)
                if source is None:
                    return f"{result.summary()} (the source strip is gone: plates are in {Path(result.output).parent})"
                strips.add_result(scene, source, result, with_matte, handed.space)
                return result.summary()

            runner.start(scene, "the render", lambda progress, cancel: run_render(plan, progress, cancel), finish,
                         prepare)
        except Exception as exc:
            return _error(self, exc, "the render")
        return {"FINISHED"}


def run_render(plan: dict[str, Any], on_progress: Any, cancel: Any) -> Any:
    """Worker thread: settings from the server's GetInfo and the snapshot, then the plates."""
    from ned_plugin.host import controls, plates, requests

    specs = controls.knob_specs(requests.server_info(plan["connection"]))
    settings = requests.manipulate_settings(
        specs, plan["values"], first=plan["first"], last=plan["last"], shot_id=plan["shot_id"],
        actor_id=plan["actor"], face_id=plan["face_id"], input_space=plan["input_space"],
        colour_config=plan["colour_config"], frames=plan["output_frames"])
    job = plates.RenderJob(plan["connection"], settings, plan["frames"], plan["output"],
                           use_cache=bool(plan["shot_id"]), full_frame=True, matte_output=plan["matte"])
    return plates.render_shot(job, on_progress, cancel)


class NED_OT_cancel(bpy.types.Operator):
    """Stop NED's running work in this scene"""

    bl_idname = "ned.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and runner.busy(context.scene)

    def execute(self, context: bpy.types.Context) -> set[str]:
        runner.cancel(context.scene)
        return {"FINISHED"}


_CLASSES = (NED_OT_connect, NED_OT_track, NED_OT_render, NED_OT_cancel)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
