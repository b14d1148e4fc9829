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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from ned_plugin.exr import FrameError, Window, encode_exr, read_exr_region
from ned_server.composite.align import Box
from ned_server.composite.config import CompositeConfig
from ned_server.composite.matte import TemporalMatteFilter
from ned_server.composite.plate import FrameRegion, build_plate, empty_plate, plate_box
from ned_server.composite.qc import FlickerMeter, QcThresholds, ShotQc, shot_qc
from ned_server.conditioning.shot import FaceConditioner, crop_matrices
from ned_server.errors import Cancelled, InvalidInput
from ned_server.manipulator.controls import EmotionSettings
from ned_server.manipulator.inference import EmotionManipulator
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


def read_region(store: Store, shot: Shot, frame: int, box: Box) -> FrameRegion:
    """The box of a stored plate (box in frame-array pixels, i.e. relative to the display window)."""
    x, y, w, h = shot.display_window
    try:
        pixels = read_exr_region(shot.path(store, frame), Window(x + box.x, y + box.y, box.width, box.height),
                                 label=f"frame {frame}")
    except FrameError as exc:  # checked on arrival: only disk damage gets here
        raise InvalidInput(f"shot {shot.shot_id!r}: {exc}; send the shot again") from None
    return FrameRegion(pixels, box, (h, w))


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
    on_qc: Callable[[ShotQc], None] | None = None,
    qc_thresholds: QcThresholds | None = None,
) -> Iterator[PlateOut]:
    """Face plates of frames ``settings.first..last`` in frame order (see the module docstring).
    ``times`` accumulates the seconds of each stage; ``on_qc`` receives the QC report at the end."""
    timed = times if times is not None else StageTimes()
    i0, i1 = frame_range(track, settings.first, settings.last)
    with timed("translate"):
        expression = manipulator.translate(track.expression51, settings.control, first_frame=int(track.frames[0]))
    matte_filter = TemporalMatteFilter(settings.composite.temporal_sigma)
    reach = matte_filter.radius
    start = max(0, i0 - max(int(settings.preroll), reach))
    stop = min(len(track) - 1, i1 + reach)
    resolution = renderer.resolution
    alignment = crop_matrices(track.alignment, track.crop_size, resolution)
    stream = renderer.stream()
    faces: dict[int, np.ndarray] = {}
    total = i1 - i0 + 1
    done = 0
    display = shot.display_window
    origin = (display[0], display[1])
    frame_size = (display[3], display[2])
    flicker = FlickerMeter()
    flicker_plate = np.full(total, np.nan)
    flicker_original = np.full(total, np.nan)

    def finish(index: int, mask: torch.Tensor | None) -> PlateOut:
        number = int(track.frames[index])
        face = faces.pop(index)
        if not track.tracked[index] or mask is None:
            flicker.reset()
            plate = empty_plate(frame_size, track.notes[index] or "untracked", origin=origin)
            return PlateOut(number, False, plate.note, plate.data_window, plate.display_window, b"")
        box = plate_box(alignment[index], resolution, frame_size, settings.composite)
        if box.empty:
            flicker.reset()
            plate = empty_plate(frame_size, "the face is outside the frame; nothing to composite", tracked=True,
                                origin=origin)
            return PlateOut(number, False, plate.note, plate.data_window, plate.display_window, b"")
        with timed("decode"):
            original = read_region(store, shot, number, box)
        with timed("colour"):
            linear_face = colour.from_network(np.ascontiguousarray(face.transpose(1, 2, 0)))
        with timed("blend"):
            plate = build_plate(linear_face.transpose(2, 0, 1), original, alignment[index], mask,
                                settings.composite, device=device, origin=origin)
        with timed("qc"):
            background = np.asarray(original.pixels, np.float32)[..., :3]
            composite = plate.rgba[..., :3] + background * (1.0 - plate.rgba[..., 3:4])
            flicker_plate[index - i0], flicker_original[index - i0] = flicker.push(
                (box.x, box.y, box.width, box.height), composite, background, plate.matte)
        with timed("encode"):
            data = encode_exr(plate.to_frame(label=f"frame {number}"), compression=settings.compression,
                              pixel_type=settings.pixel_type)
        return PlateOut(number, True, plate.note, plate.data_window, plate.display_window, data)

    def emit(ready: list) -> Iterator[PlateOut]:
        nonlocal done
        for index, mask in ready:
            if i0 <= index <= i1:
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
            cond = conditioner.render(track, indices, expression51=expression[indices])
        with timed("render"):
            rendered = stream.render(cond.conditioning, cond.face_masks)
        for k, index in enumerate(indices):
            faces[int(index)] = rendered[k]
            mask = torch.from_numpy(cond.face_masks[k]) if track.tracked[index] else None
            yield from emit(matte_filter.push(int(index), mask))
    yield from emit(matte_filter.flush())
    if on_qc is not None:
        span = slice(i0, i1 + 1)
        boxes = track.boxes[span].astype(np.float64)
        face_size = np.sqrt(np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None))
        on_qc(shot_qc(track.frames[span], track.tracked[span], track.fit_error[span], face_size,
                      track.expression51[span], expression[span], flicker_plate, flicker_original, qc_thresholds))
