"""Manipulating a tracked shot: new expressions, re-rendered face, composited face plates, in frame order.

Per shot: the manipulator translates the whole shot's expression sequence at once (thousands of
frames a second, and a frame's result depends only on the 9 frames either side, so any range of
the shot equals the same frames of a full run). Then, block by block in frame order: the
conditioning images of the new expressions are drawn, the actor's renderer generates the face
(its recurrence carried from block to block), masks are smoothed over time in the aligned space,
and each frame is composited into its plate and encoded as an EXR face plate.

Farm chunks: frames before the requested range (``preroll``) run through the renderer and the
matte filter and are thrown away, and the matte filter's reach after the range is rendered too,
so a chunk's plates equal the same frames of one full run (to the renderer's measured preroll
tolerance, see ``renderer.inference``).

Each call also measures the shot's quality control (``composite.qc``: tracking error and
confidence, speech preservation, expression change, flicker against the original's) and hands the
report to ``on_qc`` once the last plate is out.

Pixels outside the face are never touched: the plate is premultiplied with alpha = matte and its
data window is the face box, so a Merge(over) on the original gives the original elsewhere.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from ned_plugin.exr import FrameError, Window, encode_exr, read_exr_region
from ned_server.composite.align import Box
from ned_server.composite.config import CompositeConfig
from ned_server.composite.edit import edit_face, edit_plate
from ned_server.composite.matte import TemporalMatteFilter
from ned_server.composite.plate import FrameRegion, build_plate, empty_plate, plate_box
from ned_server.composite.qc import QcMeter, QcThresholds, ShotQc, shot_qc
from ned_server.conditioning.shot import FaceConditioner, crop_matrices
from ned_server.conditioning.warp import WarpMapper, WarpMaps
from ned_server.errors import Cancelled, InvalidInput
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.mouth import mouth_opening
from ned_server.manipulator.controls import EmotionSettings, resolve_schedule
from ned_server.manipulator.inference import EmotionManipulator
from ned_server.manipulator.sliders import SliderCurve, SliderRig, slide_track
from ned_server.renderer.inference import FaceRenderer
from ned_server.runtime.intake import Shot
from ned_server.runtime.shot_frames import ShotColour
from ned_server.runtime.store import Store
from ned_server.tracking.result import ShotTrack

BLOCK = 8  # frames conditioned and rendered per step: bounded memory, little per-call overhead


@dataclass
class ReenactSettings:
    """What to make of the shot (validated by the caller: see ``Pipeline.manipulate``)."""

    control: EmotionSettings
    composite: CompositeConfig
    first: int | None = None  # frame numbers of the returned range; None: the shot's ends
    last: int | None = None
    preroll: int = 25
    compression: str = "zip"
    pixel_type: str = "half"
    render: str = "hybrid"  # parameters.RENDER_MODES (see orchestration of the modes below)
    sliders: list[SliderCurve] = field(default_factory=list)  # face sliders, applied after the manipulator
    # Frame lists: plates only of these frames of first..last (all still run, as context); (): all.
    output_frames: tuple[int, ...] = ()


@dataclass
class PlateOut:
    """One frame's result, ready for the wire: the header facts and the encoded plate (b"" when
    the frame was untracked and passes through untouched)."""

    frame: int
    tracked: bool
    note: str
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    exr: bytes


@dataclass
class StageTimes:
    """Seconds spent per stage of one Manipulate call, for the server log and the benchmarks:
    the networks (translate, render) against everything around them."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t

    def summary(self) -> str:
        return ", ".join(f"{k} {v:.2f} s" for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1]))


def frame_range(track: ShotTrack, first: int | None, last: int | None) -> tuple[int, int]:
    """Indices [i0, i1] into the track for frame numbers first..last (inclusive), checked."""
    frames = track.frames
    lo, hi = int(frames.min()), int(frames.max())
    f = lo if first is None else int(first)
    la = hi if last is None else int(last)
    if f > la:
        raise InvalidInput(f"frame range {f}-{la} is reversed: the first frame must not come after the last")
    inside = np.flatnonzero((frames >= f) & (frames <= la))
    if inside.size == 0:
        raise InvalidInput(f"frame range {f}-{la} holds no frame of the shot (its frames: {lo}-{hi})")
    return int(inside[0]), int(inside[-1])


def output_indices(track: ShotTrack, i0: int, i1: int, frames: tuple[int, ...]) -> set[int] | None:
    """Track indices of the listed output frames (None: every frame of i0..i1); a frame outside is refused."""
    if not frames:
        return None
    index = {int(f): i for i, f in enumerate(track.frames[i0:i1 + 1], start=i0)}
    outside = sorted({int(f) for f in frames} - index.keys())
    if outside:
        shown = ", ".join(str(f) for f in outside[:8]) + ("..." if len(outside) > 8 else "")
        raise InvalidInput(f"output frame(s) {shown} are not in the frame range {int(track.frames[i0])}-"
                           f"{int(track.frames[i1])} of the shot; list only frames of the range")
    return {index[int(f)] for f in frames}


def read_region(store: Store, shot: Shot, frame: int, box: Box) -> FrameRegion:
    """The box of a stored plate (box in frame-array pixels, i.e. relative to the display window)."""
    x, y, w, h = shot.display_window
    try:
        pixels = read_exr_region(shot.path(store, frame), Window(x + box.x, y + box.y, box.width, box.height),
                                 label=f"frame {frame}")
    except FrameError as exc:  # checked on arrival: only disk damage gets here
        raise InvalidInput(f"shot {shot.shot_id!r}: {exc}; send the shot again") from None
    return FrameRegion(pixels, box, (h, w))


def no_plate(track: ShotTrack, index: int, frame_size: tuple[int, int], origin: tuple[int, int]) -> PlateOut:
    """The empty plate of a frame that gets no edit: untracked, or its face outside the frame."""
    if track.tracked[index]:
        plate = empty_plate(frame_size, "the face is outside the frame; nothing to composite", tracked=True,
                            origin=origin)
    else:
        plate = empty_plate(frame_size, track.notes[index] or "untracked", origin=origin)
    return PlateOut(int(track.frames[index]), False, plate.note, plate.data_window, plate.display_window, b"")


def _shot_qc(track: ShotTrack, expression: np.ndarray, span: tuple[int, int], wanted: set[int] | None,
             meter: QcMeter, thresholds: QcThresholds | None, flame: FlameLayer) -> ShotQc:
    """The QC report of the frames returned: the range, or the listed frames of it. The speech figure
    is read on the actor's face posed with the original and the edited expression (``face3d.mouth``)."""
    i0, i1 = span
    rows = np.arange(i0, i1 + 1) if wanted is None else np.array(sorted(wanted), dtype=np.int64)
    boxes = track.boxes[rows].astype(np.float64)
    face_size = np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
    original, edited = track.expression51[rows], expression[rows]
    return shot_qc(track.frames[rows], track.tracked[rows], track.fit_error[rows], face_size, original, edited,
                   meter.flicker_plate[rows - i0], meter.flicker_original[rows - i0], thresholds,
                   mouth_original=mouth_opening(flame, track.shape, original),
                   mouth_edited=mouth_opening(flame, track.shape, edited))


def manipulate_track(
    store: Store,
    shot: Shot,
    track: ShotTrack,
    manipulator: EmotionManipulator,
    renderer: FaceRenderer,
    conditioner: FaceConditioner,
    colour: ShotColour,
    settings: ReenactSettings,
    device: str = "cpu",
    progress: Callable[[int, int], None] = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
    times: StageTimes | None = None,
    slider_rig: SliderRig | None = None,
    on_qc: Callable[[ShotQc], None] | None = None,
    qc_thresholds: QcThresholds | None = None,
) -> Iterator[PlateOut]:
    """Face plates of frames ``settings.first..last`` in frame order (see the module docstring).
    ``times`` accumulates the seconds of each stage; ``on_qc`` receives the QC report at the end. Face
    sliders (``settings.sliders``, which need ``slider_rig``) nudge the translated expression, the pose
    and the pupils before anything is drawn."""
    timed = times if times is not None else StageTimes()
    i0, i1 = frame_range(track, settings.first, settings.last)
    wanted = output_indices(track, i0, i1, settings.output_frames)
    with timed("translate"):
        expression = manipulator.translate(track.expression51, settings.control, first_frame=int(track.frames[0]))
    posed = track  # the face to draw: the track with the sliders' pose and pupils (``track`` stays the original)
    if settings.sliders:
        if slider_rig is None:
            raise InvalidInput("face sliders were asked for but this server has no slider directions for its model")
        with timed("sliders"):
            expression, posed = slide_track(slider_rig, track, expression, settings.sliders,
                                            settings.control.speech_preservation)
    if settings.render != "neural":
        yield from _edit_track(store, shot, track, posed, expression, manipulator.emotions, renderer, conditioner,
                               colour, settings, (i0, i1), device, progress, cancelled, timed, wanted=wanted,
                               on_qc=on_qc, qc_thresholds=qc_thresholds)
        return
    matte_filter = TemporalMatteFilter(settings.composite.temporal_sigma)
    reach = matte_filter.radius
    start = max(0, i0 - max(int(settings.preroll), reach))
    stop = min(len(track) - 1, i1 + reach)
    resolution = renderer.resolution
    alignment = crop_matrices(track.alignment, track.crop_size, resolution)
    stream = renderer.stream()
    faces: dict[int, np.ndarray] = {}
    total = i1 - i0 + 1 if wanted is None else len(wanted)
    done = 0
    display = shot.display_window
    origin = (display[0], display[1])
    frame_size = (display[3], display[2])
    meter = QcMeter(i0, i1 - i0 + 1)

    def finish(index: int, mask: torch.Tensor | None) -> PlateOut:
        number = int(track.frames[index])
        face = faces.pop(index)
        box = plate_box(alignment[index], resolution, frame_size, settings.composite) if mask is not None else None
        if box is None or box.empty:
            meter.gap()
            return no_plate(track, index, frame_size, origin)
        with timed("decode"):
            original = read_region(store, shot, number, box)
        with timed("colour"):
            linear_face = colour.from_network(np.ascontiguousarray(face.transpose(1, 2, 0)))
        with timed("blend"):
            plate = build_plate(linear_face.transpose(2, 0, 1), original, alignment[index], mask,
                                settings.composite, device=device, origin=origin)
        with timed("qc"):
            meter.measure(index, box.as_tuple(), plate.rgba, plate.matte, original.pixels)
        with timed("encode"):
            data = encode_exr(plate.to_frame(label=f"frame {number}"), compression=settings.compression,
                              pixel_type=settings.pixel_type)
        return PlateOut(number, True, plate.note, plate.data_window, plate.display_window, data)

    def emit(ready: list) -> Iterator[PlateOut]:
        nonlocal done
        for index, mask in ready:
            if i0 <= index <= i1 and (wanted is None or index in wanted):
                yield finish(index, mask)
                done += 1
                progress(done, total)
            else:
                faces.pop(index, None)

    progress(0, total)
    for b0 in range(start, stop + 1, BLOCK):
        if cancelled():
            raise Cancelled("Manipulate was cancelled")
        indices = np.arange(b0, min(b0 + BLOCK, stop + 1))
        with timed("condition"):
            cond = conditioner.render(posed, indices, expression51=expression[indices])
        with timed("render"):
            rendered = stream.render(cond.conditioning, cond.face_masks)
        for k, index in enumerate(indices):
            faces[int(index)] = rendered[k]
            mask = torch.from_numpy(cond.face_masks[k]) if track.tracked[index] else None
            yield from emit(matte_filter.push(int(index), mask))
    yield from emit(matte_filter.flush())
    if on_qc is not None:
        with timed("qc"):
            qc = _shot_qc(track, expression, (i0, i1), wanted, meter, qc_thresholds, conditioner.flame)
        on_qc(qc)


# ---------------------------------------------------------------------------- full-resolution edits
def unchanged_frames(track: ShotTrack, posed: ShotTrack, expression: np.ndarray, control: EmotionSettings,
                     emotions: tuple[str, ...] | list[str]) -> np.ndarray:
    """(T,) bool: frames whose edit must be the plate itself (intensity 0 there and no face slider
    moving the head or the eyes, or no change at all). Their expression is reset to the tracked one,
    so the warp is the identity bit for bit. ``posed`` is the track with the sliders' pose and pupils."""
    schedule = resolve_schedule(control, len(track), list(emotions), first_frame=int(track.frames[0]))
    same_pose = np.all(posed.pose == track.pose, axis=1) & np.all(
        (posed.pupils == track.pupils) | (np.isnan(posed.pupils) & np.isnan(track.pupils)), axis=(1, 2))
    same = np.all(expression == track.expression51, axis=1)
    return ((schedule.intensity == 0) | same) & same_pose


def _edit_track(store: Store, shot: Shot, track: ShotTrack, posed_track: ShotTrack, expression: np.ndarray,
                emotions: tuple[str, ...],
                renderer: FaceRenderer,
                conditioner: FaceConditioner, colour: ShotColour, settings: ReenactSettings,
                span: tuple[int, int], device: str, progress: Callable[[int, int], None],
                cancelled: Callable[[], bool], timed: StageTimes,
                wanted: set[int] | None = None, on_qc: Callable[[ShotQc], None] | None = None,
                qc_thresholds: QcThresholds | None = None) -> Iterator[PlateOut]:
    """Plates of the ``hybrid`` and ``warp`` modes: the plate warped at full resolution by the expression
    change (``conditioning.warp``), the neural face blended in only where the warp cannot explain the
    frame (hybrid; ``composite.edit``). The warp of a frame depends on that frame alone, so farm chunks
    equal a full run; hybrid's renderer runs with its preroll exactly as in the neural mode.
    ``posed_track`` is ``track`` with the face sliders' pose and pupils: the head is drawn with it
    (and the new expression), the original plate's geometry comes from ``track``."""
    i0, i1 = span
    cfg = settings.composite
    hybrid = settings.render == "hybrid"
    expression = expression.copy()
    still = unchanged_frames(track, posed_track, expression, settings.control, emotions)
    expression[still] = track.expression51[still]
    resolution = renderer.resolution
    alignment = crop_matrices(track.alignment, track.crop_size, resolution)
    display = shot.display_window
    origin = (display[0], display[1])
    frame_size = (display[3], display[2])
    total = i1 - i0 + 1 if wanted is None else len(wanted)  # a frame list: plates of its frames only
    done = 0
    posed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    meter = QcMeter(i0, i1 - i0 + 1)

    def head_pair(index: int) -> tuple[np.ndarray, np.ndarray]:
        """The head posed with the tracked and with the new expression (plate px), posed BLOCK frames
        at a time (one FLAME call for both expressions of the block). Blocks sit at fixed positions of
        the shot, so a farm chunk poses every frame in the same batch as a full run (bit-equal plates)."""
        if index not in posed:
            b0 = index - index % BLOCK
            block = np.arange(b0, min(b0 + BLOCK, len(track)))
            block = block[track.tracked[block] & ~still[block]]
            if posed_track is track:  # no slider moved the head: one FLAME call for both expressions
                both = np.concatenate([block, block])
                e51 = np.concatenate([track.expression51[block], expression[block]])
                verts = conditioner.plate_vertices(track, both, e51)
                old, new = verts[: len(block)], verts[len(block):]
            else:
                old = conditioner.plate_vertices(track, block, track.expression51[block])
                new = conditioner.plate_vertices(posed_track, block, expression[block])
            for k, i in enumerate(block):
                posed[int(i)] = old[k], new[k]
        return posed.pop(index)

    mapper = WarpMapper(conditioner.faces, feather_px=max(8.0, 2.0 * cfg.feather_px),
                        reveal_vertices=conditioner.reveal_vertices)
    faces: dict[int, np.ndarray] = {}

    def finish(index: int, mask: torch.Tensor | None) -> PlateOut:
        number = int(track.frames[index])
        face = faces.pop(index, None)
        box = plate_box(alignment[index], resolution, frame_size, cfg) if track.tracked[index] else None
        if box is None or box.empty:
            meter.gap()
            return no_plate(track, index, frame_size, origin)
        with timed("warp map"):
            if still[index]:
                maps = WarpMaps.identity_maps(box.as_tuple())
            else:
                old, new = head_pair(index)
                maps = mapper.maps(new, old, box.as_tuple())
        with timed("decode"):
            original = read_region(store, shot, number, box)
        with timed("blend"):
            pixels = torch.from_numpy(np.ascontiguousarray(original.pixels, dtype=np.float32)).to(device)
            pixels = pixels.permute(2, 0, 1)[None].contiguous()
            rendered = None
            if hybrid and face is not None and mask is not None and maps.neural.any():
                with timed("colour"):
                    linear_face = colour.from_network(np.ascontiguousarray(face.transpose(1, 2, 0)))
                rendered = torch.from_numpy(np.ascontiguousarray(linear_face.transpose(2, 0, 1)))
            layers = edit_face(pixels, box, maps.offset, maps.moved, maps.neural if hybrid else None,
                               rendered=rendered, mask=mask, A=alignment[index], feather_px=cfg.feather_px,
                               levels=cfg.levels)
            plate = edit_plate(layers, frame_size, origin, neural_layer=hybrid)
        with timed("qc"):
            meter.measure(index, box.as_tuple(), plate.rgba, plate.matte, original.pixels)
        with timed("encode"):
            data = encode_exr(plate.to_frame(label=f"frame {number}"), compression=settings.compression,
                              pixel_type=settings.pixel_type, float_channels=plate.float_channels)
        return PlateOut(number, True, plate.note, plate.data_window, plate.display_window, data)

    def emit(ready: Sequence[tuple[Hashable, torch.Tensor | None]]) -> Iterator[PlateOut]:
        nonlocal done
        for key, mask in ready:
            assert isinstance(key, int | np.integer), key  # the matte filter hands back the frame positions pushed
            index = int(key)
            if i0 <= index <= i1 and (wanted is None or index in wanted):
                yield finish(index, mask)
                done += 1
                progress(done, total)
            else:
                faces.pop(index, None)

    def plates() -> Iterator[PlateOut]:
        if not hybrid:  # the warp alone: no conditioning, no renderer, no matte filter
            for index in range(i0, i1 + 1):
                if cancelled():
                    raise Cancelled("Manipulate was cancelled")
                yield from emit([(index, None)])
            return
        matte_filter = TemporalMatteFilter(cfg.temporal_sigma)
        reach = matte_filter.radius
        start = max(0, i0 - max(int(settings.preroll), reach))
        stop = min(len(track) - 1, i1 + reach)
        stream = renderer.stream()
        for b0 in range(start, stop + 1, BLOCK):
            if cancelled():
                raise Cancelled("Manipulate was cancelled")
            indices = np.arange(b0, min(b0 + BLOCK, stop + 1))
            with timed("condition"):
                cond = conditioner.render(posed_track, indices, expression51=expression[indices])
            with timed("render"):
                rendered = stream.render(cond.conditioning, cond.face_masks)
            for k, position in enumerate(indices):
                faces[int(position)] = rendered[k]
                mask = torch.from_numpy(cond.face_masks[k]) if track.tracked[position] else None
                yield from emit(matte_filter.push(int(position), mask))
        yield from emit(matte_filter.flush())

    progress(0, total)
    try:
        yield from plates()
    finally:
        mapper.close()
    if on_qc is not None:
        with timed("qc"):
            qc = _shot_qc(track, expression, span, wanted, meter, qc_thresholds, conditioner.flame)
        on_qc(qc)
