"""From a sequencer strip to EXR frame files, and from face plates back to strips.

Image strips of EXR files are sent as they are on disk. Anything else (PNG/JPEG sequences, movie
strips) is first rendered to scene-linear EXRs by Blender itself, through a temporary scene that
holds a plain copy of the strip's media (same files, trim and fit; not its modifiers or effects), so
the face is tracked on the footage itself and the plates line up with it.

The result is an image strip on the channel above the source, blended with Alpha Over. The plates
are premultiplied scene-linear EXRs, so the strip's alpha mode is Premultiplied and its colour
space the linear one. Blender's sequencer places an image by its pixel size and ignores EXR data
windows, so plates are written padded to the full frame (ned_plugin.host.uncrop_plate) and the
strip takes the source's fit and transform, which puts every face pixel back where it was. The
plate's alpha is the server's blend matte, so Alpha Over already blends through the matte; the
matte also arrives as its own muted grey strip above, ready to be a strip modifier's mask (grade
just the face, for example).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import bpy

LINEAR = "Linear Rec.709"
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


def frame_files(scene: bpy.types.Scene, strip: Any, first: int, last: int) -> list[tuple[int, Path]]:
    """The strip's frames first..last as EXR files, numbered by scene frame."""
    files = _exr_files(strip, first, last)
    if files is None:
        files = render_strip(scene, strip, first, last, work_dir(scene, strip) / "send")
    missing = [str(p) for _, p in files if not p.is_file()]
    if missing:
        raise StripError(f"{len(missing)} frame file(s) of {strip.name} are missing, e.g. {missing[0]}")
    return files


def render_strip(scene: bpy.types.Scene, strip: Any, first: int, last: int, folder: Path) -> list[tuple[int, Path]]:
    """Render the strip's media alone (a copy, in a temporary scene) to scene-linear EXRs in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = bpy.data.scenes.new("NED send")
    try:
        tmp.render.resolution_x, tmp.render.resolution_y = scene.render.resolution_x, scene.render.resolution_y
        tmp.render.resolution_percentage = 100
        tmp.render.fps, tmp.render.fps_base = scene.render.fps, scene.render.fps_base
        tmp.display_settings.display_device = scene.display_settings.display_device
        tmp.sequencer_colorspace_settings.name = scene.sequencer_colorspace_settings.name
        tmp.sequence_editor_create()
        strips = _strips(tmp)
        if strip.type == "MOVIE":
            copy = strips.new_movie(strip.name, bpy.path.abspath(strip.filepath), 1, int(strip.frame_start),
                                    fit_method=strip_fit(strip))
        else:
            directory = bpy.path.abspath(strip.directory)
            copy = strips.new_image(strip.name, os.path.join(directory, strip.elements[0].filename), 1,
                                    int(strip.frame_start), fit_method=strip_fit(strip))
            for element in strip.elements[1:]:
                copy.elements.append(element.filename)
        copy.frame_offset_start, copy.frame_offset_end = strip.frame_offset_start, strip.frame_offset_end
        tmp.frame_start, tmp.frame_end = first, last
        image = tmp.render.image_settings
        image.file_format, image.color_depth, image.exr_codec = "OPEN_EXR", "16", "ZIP"
        image.color_mode = "RGBA"
        tmp.render.use_file_extension = True
        tmp.render.filepath = str(folder / "input.####")
        bpy.ops.render.render(animation=True, scene=tmp.name)
    finally:
        bpy.data.scenes.remove(tmp)
    return [(n, folder / f"input.{n:04d}.exr") for n in range(first, last + 1)]


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
    # a custom OCIO config without this name keeps the EXR default, which is scene linear too
    with contextlib.suppress(TypeError):
        strip.colorspace_settings.name = LINEAR
    _match(strip, source)
    return strip


def add_result(scene: bpy.types.Scene, source: Any, result: Any, with_matte: bool) -> Any:
    """The face plates as an Alpha Over strip above the source (and the matte, muted, above that)."""
    face = _image_strip(scene, f"{source.name}.ned", result.files, source.channel + 1, source)
    face.blend_type = "ALPHA_OVER"
    face.alpha_mode = "PREMUL"
    if with_matte and result.matte_files:
        matte = _image_strip(scene, f"{source.name}.ned_matte", result.matte_files, face.channel + 1, source)
        matte.mute = True
        matte.blend_type = "REPLACE"
        matte.alpha_mode = "STRAIGHT"
    scene.ned_vse.result_strip = face.name
    return face
