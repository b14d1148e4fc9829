"""From a sequencer strip to EXR frame files, and from face plates back to strips.

Image strips of EXR files are sent as they are on disk. Anything else (PNG/JPEG sequences, movie
strips) is first rendered to scene-linear EXRs by Blender itself, through a temporary scene that
holds a plain copy of the strip's media (same files, trim and fit; not its modifiers or effects), so
the face is tracked on the footage itself and the plates line up with it. That render runs one
frame per timer tick (StripRender), never inside an operator's execute(), so the UI keeps going.

The result is an image strip on the channel above the source, blended with Alpha Over. The plates
are premultiplied scene-linear EXRs, so the strip's alpha mode is Premultiplied and its colour
space the linear one. Blender's sequencer places an image by its pixel size and ignores EXR data
windows, so plates are written padded to the full frame (ned_plugin.host.plates.uncrop_plate) and the
strip takes the source's fit and transform, which puts every face pixel back where it was. The
plate's alpha is the server's blend matte, so Alpha Over already blends through the matte; the
matte also arrives as its own muted grey strip above, ready to be a strip modifier's mask (grade
just the face, for example). The face strip is tagged with the colour space its frames were sent
in (see colour.py); the matte is data (Non-Color).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import bpy

MEDIA = ("IMAGE", "MOVIE")


class StripError(ValueError):
    pass


def _strips(scene: bpy.types.Scene) -> Any:
    editor = scene.sequence_editor
    return getattr(editor, "strips", None) or editor.sequences  # "sequences" before Blender 4.4


def source_strip(scene: bpy.types.Scene) -> Any:
    editor = scene.sequence_editor
    strip = editor.active_strip if editor else None
    if strip is None:
        raise StripError("select an image or movie strip first (it becomes the active strip)")
    if strip.type not in MEDIA:
        raise StripError(f"{strip.name} is a {strip.type.lower()} strip: NED works on image or movie strips")
    return strip


def strip_range(strip: Any) -> tuple[int, int]:
    return int(strip.frame_final_start), int(strip.frame_final_end) - 1


def work_dir(scene: bpy.types.Scene, strip: Any) -> Path:
    """<plates folder>/<strip name>: the panel's folder, relative to the .blend (temp when unsaved)."""
    folder = scene.ned_vse.output_dir or "//ned/"
    if folder.startswith("//") and not bpy.data.filepath:
        base = Path(tempfile.gettempdir()) / "ned" / folder[2:]
    else:
        base = Path(bpy.path.abspath(folder))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in strip.name)
    return base / safe


def _exr_files(strip: Any, first: int, last: int) -> list[tuple[int, Path]] | None:
    if strip.type != "IMAGE":
        return None
    names = [e.filename for e in strip.elements]
    if not names or not all(n.lower().endswith(".exr") for n in names):
        return None
    directory = Path(bpy.path.abspath(strip.directory))
    files = []
    for frame in range(first, last + 1):
        index = min(max(frame - int(strip.frame_start), 0), len(names) - 1)  # a still holds over its length
        files.append((frame, directory / names[index]))
    return files


def needs_render(strip: Any) -> bool:
    """True when the strip is not an EXR image sequence, so Blender renders it to EXR first."""
    return _exr_files(strip, 0, 0) is None


def exr_frame_files(strip: Any, first: int, last: int) -> list[tuple[int, Path]]:
    """An EXR strip's own files first..last, numbered by scene frame."""
    files = _exr_files(strip, first, last)
    if files is None:
        raise StripError(f"{strip.name} is not an EXR image strip")
    check_files(strip.name, files)
    return files


def check_files(name: str, files: list[tuple[int, Path]]) -> None:
    missing = [str(p) for _, p in files if not p.is_file()]
    if missing:
        raise StripError(f"{len(missing)} frame file(s) of {name} are missing, e.g. {missing[0]}")


class StripRender:
    """Renders a strip's media alone (a copy, in a temporary scene) to scene-linear EXRs, one frame
    per step, so the caller runs the steps from a timer between UI events instead of freezing
    Blender in one long call. Steps run on the main thread (bpy is not thread-safe); each one finds
    its temporary scene by name, so an undo in between (which drops it) costs a rebuild, not a crash.
    """

    def __init__(self, scene: bpy.types.Scene, strip: Any, first: int, last: int, folder: Path) -> None:
        self.scene_name, self.first, self.last, self.folder = scene.name, first, last, folder
        self.source = {
            "name": strip.name, "type": strip.type, "fit": strip_fit(strip), "frame_start": int(strip.frame_start),
            "offsets": (strip.frame_offset_start, strip.frame_offset_end),
            "filepath": bpy.path.abspath(strip.filepath) if strip.type == "MOVIE" else "",
            "directory": bpy.path.abspath(strip.directory) if strip.type == "IMAGE" else "",
            "elements": [e.filename for e in strip.elements] if strip.type == "IMAGE" else [],
        }
        self.tmp_name = f"NED send {strip.name}"
        self.files = [(n, folder / f"input.{n:04d}.exr") for n in range(first, last + 1)]

    def _tmp_scene(self) -> bpy.types.Scene:
        tmp = bpy.data.scenes.get(self.tmp_name)
        if tmp is not None:
            return tmp
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None:
            raise StripError(f"the scene {self.scene_name} is gone")
        src = self.source
        tmp = bpy.data.scenes.new(self.tmp_name)
        tmp.render.resolution_x, tmp.render.resolution_y = scene.render.resolution_x, scene.render.resolution_y
        tmp.render.resolution_percentage = 100
        tmp.render.fps, tmp.render.fps_base = scene.render.fps, scene.render.fps_base
        tmp.display_settings.display_device = scene.display_settings.display_device
        tmp.sequencer_colorspace_settings.name = scene.sequencer_colorspace_settings.name
        tmp.sequence_editor_create()
        strips = _strips(tmp)
        if src["type"] == "MOVIE":
            copy = strips.new_movie(src["name"], src["filepath"], 1, src["frame_start"], fit_method=src["fit"])
        else:
            copy = strips.new_image(src["name"], os.path.join(src["directory"], src["elements"][0]), 1,
                                    src["frame_start"], fit_method=src["fit"])
            for element in src["elements"][1:]:
                copy.elements.append(element)
        copy.frame_offset_start, copy.frame_offset_end = src["offsets"]
        tmp.frame_start, tmp.frame_end = self.first, self.last
        image = tmp.render.image_settings
        image.file_format, image.color_depth, image.exr_codec = "OPEN_EXR", "16", "ZIP"
        image.color_mode = "RGBA"
        tmp.render.use_file_extension = True
        return tmp

    def steps(self) -> Any:
        """A generator: renders one frame per next(), yielding (done, total); cleans up when closed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            for i, (number, path) in enumerate(self.files):
                tmp = self._tmp_scene()
                tmp.frame_current = number
                tmp.render.filepath = str(path.with_suffix(""))
                _render_still(tmp.name)
                yield i + 1, len(self.files)
            check_files(self.source["name"], self.files)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        tmp = bpy.data.scenes.get(self.tmp_name)
        if tmp is not None:
            bpy.data.scenes.remove(tmp)


def _render_still(scene_name: str) -> None:
    """Render one frame of a scene to its file. Timers run without a window in their context, so in
    the UI the render gets the first window's (background mode has none and needs none)."""
    windows = [] if bpy.app.background else list(bpy.context.window_manager.windows)
    if windows:
        with bpy.context.temp_override(window=windows[0]):
            bpy.ops.render.render(write_still=True, scene=scene_name)
    else:
        bpy.ops.render.render(write_still=True, scene=scene_name)


def strip_fit(strip: Any) -> str:
    return getattr(strip, "fit_method", None) or "FIT"


def _match(target: Any, source: Any) -> None:
    """Same placement as the source: the plate has the source's pixel size, so the face lines up."""
    for name in ("offset_x", "offset_y", "scale_x", "scale_y", "rotation", "origin"):
        if hasattr(source.transform, name):
            setattr(target.transform, name, getattr(source.transform, name))
    for name in ("min_x", "max_x", "min_y", "max_y"):
        setattr(target.crop, name, getattr(source.crop, name))
    target.use_flip_x, target.use_flip_y = source.use_flip_x, source.use_flip_y


def _image_strip(scene: bpy.types.Scene, name: str, files: list[tuple[int, Path]], channel: int,
                 source: Any) -> Any:
    strips = _strips(scene)
    old = strips.get(name)
    if old is not None:
        strips.remove(old)
    first = files[0][0]
    strip = strips.new_image(name, str(files[0][1]), channel, first, fit_method=strip_fit(source))
    for _, path in files[1:]:
        strip.elements.append(path.name)
    _match(strip, source)
    return strip


def _holes_filled(files: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
    """Every frame from the first plate to the last: a frame list's left-out frames get one
    transparent image (an image strip plays its elements one per frame, so holes would shift time)."""
    from ned_plugin.files import write_bytes
    from ned_plugin.host.plates import blank_like

    have = dict(files)
    first, last = files[0][0], files[-1][0]
    if len(have) == last - first + 1:
        return files
    blank = files[0][1].parent / f".{files[0][1].name}.blank.exr"
    write_bytes(blank, blank_like(files[0][1].read_bytes(), str(files[0][1])))
    return [(n, have.get(n, blank)) for n in range(first, last + 1)]


def add_result(scene: bpy.types.Scene, source: Any, result: Any, with_matte: bool, space: str = "") -> Any:
    """The face plates as an Alpha Over strip above the source (and the matte, muted, above that),
    tagged with the colour space the frames were sent in (the plates come back in it)."""
    from . import colour

    face = _image_strip(scene, f"{source.name}.ned", _holes_filled(result.files), source.channel + 1, source)
    colour.tag(face, space)
    face.blend_type = "ALPHA_OVER"
    face.alpha_mode = "PREMUL"
    if with_matte and result.matte_files:
        matte = _image_strip(scene, f"{source.name}.ned_matte", _holes_filled(result.matte_files), face.channel + 1,
                             source)
        matte.mute = True
        matte.blend_type = "REPLACE"
        matte.alpha_mode = "STRAIGHT"
        colour.tag(matte, "Non-Color")
    scene.ned_vse.result_strip = face.name
    return face
