"""The Track entry point: one streaming pass over a shot's frames, then the shot-wide analysis.

Pass 1 (streaming, one frame in memory at a time): detect every face and its 68 landmarks (or take
the landmarks given), measure what needs pixels while the frame is here (pupils; DECA's codes when
the fit is initialised by DECA), and follow the faces as identities. A 4K shot of 1000 frames
therefore costs a few megabytes of landmarks, never the frames.

Then, on the chosen face only: smooth landmarks and pupils over time (zero lag), boxes from the
smoothed landmarks, the FLAME fit over the whole shot at once (on the landmarks as detected: it
has temporal priors of its own), blinks from the fitted eyelids, and the per-frame alignment to the
template. Frames where the face is missing are reported untracked with the reason and hold the
nearest tracked frame's values (all of them, blinks included); the shot goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ned_server.errors import Cancelled, InvalidInput, NotFound
from ned_server.tracking.alignment import align_frames, umeyama
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.deca import Deca, crop_face, load_deca
from ned_server.tracking.detection import (
    FaceDetection,
    LandmarkDetector,
    ProvidedLandmarks,
    check_landmark_map,
    landmark_box,
)
from ned_server.tracking.eyes import blink_signal, find_pupils
from ned_server.tracking.fitting import fit_shot
from ned_server.tracking.identities import IdentityTracker, box_size
from ned_server.tracking.landmarkers import make_detector
from ned_server.tracking.result import N_DETAIL, TRACKER_DECA, TRACKER_FIT, ShotTrack
from ned_server.tracking.smoothing import fill_untracked, savgol_boxes, smooth_track
from ned_server.tracking.template import TEMPLATE_FACE_UNITS

NO_FACE = "no face found"
NO_LANDMARKS = "no landmarks given for this frame"
OTHER_FACES = "the chosen face is not in this frame (other faces are)"
OUT_OF_FRAME = "the face is partly outside the frame"
POOR_FIT = "the landmarks do not fit a face (occlusion, a profile view or a wrong detection)"


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _never() -> bool:
    return False


def _check_frame(frame: int, image: object, size: tuple[int, int] | None) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InvalidInput(f"frame {frame} is a {type(image).__name__}, expected an (H, W, 3) float32 image")
    if image.ndim != 3 or image.shape[2] < 3:
        raise InvalidInput(f"frame {frame} has shape {image.shape}; expected (height, width, 3) RGB")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise InvalidInput(f"frame {frame} is {image.shape[1]}x{image.shape[0]} pixels: too small to hold a face "
                           "(at least 8x8; a face needs far more to be tracked well)")
    if not np.issubdtype(image.dtype, np.floating):
        raise InvalidInput(f"frame {frame} has dtype {image.dtype}; expected float32 display-referred sRGB "
                           "in [0, 1]")
    if size is not None and (image.shape[1], image.shape[0]) != size:
        raise InvalidInput(f"frame {frame} is {image.shape[1]}x{image.shape[0]} but the shot's first frame is "
                           f"{size[0]}x{size[1]}: every frame of a shot must have the same size")
    rgb = image[..., :3]
    if rgb.dtype != np.float32:
        rgb = rgb.astype(np.float32)
    if not np.isfinite(rgb).all():
        rgb = np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)
    return rgb


def _default_detector(config: TrackingConfig, device: str) -> LandmarkDetector:
    return make_detector(config.detection, device=device)[0]


def track_shot(
    frames: Iterable[tuple[int, np.ndarray]],
    flame: Any,
    config: TrackingConfig,
    *,
    landmarks: Mapping[int, np.ndarray] | None = None,
    face_id: int | None = None,
    detector: LandmarkDetector | None = None,
    deca: Deca | None = None,
    device: str = "cpu",
    progress: Callable[[str, int, int], None] = _no_progress,
    cancelled: Callable[[], bool] = _never,
) -> ShotTrack:
    """Track one shot: faces, landmarks, FLAME parameters, pupils, blinks and alignments.

    ``frames`` yields (frame number, display-referred sRGB float32 (H, W, 3) in [0, 1]) and is
    consumed once, one frame at a time. ``landmarks`` (frame -> (68, 2) plate pixels from another
    tracker) replaces the detector; frames it lacks are untracked. ``deca`` (the loaded DECA networks;
    else loaded from ``config.fit.deca_checkpoint`` when set) makes the paper's tracker run: each
    face crop regressed by E_flame and E_detail, the landmark fit refining that estimate. ``flame`` is the FLAME layer
    (ned_server.face3d). ``progress(stage, done, total)`` reports stages "detect", "fit", "align"
    (total 0 when unknown); ``cancelled()`` is polled and raises Cancelled when it returns True.

    Raises InvalidInput (no face at all, bad frames or landmarks), NotFound (unknown ``face_id``),
    Precondition (detector weights missing), Cancelled.
    """
    given = None
    if landmarks is not None:
        given = ProvidedLandmarks(check_landmark_map(landmarks))
        if face_id not in (None, 0):
            raise NotFound(f"face id {face_id} is not in this shot: landmarks given by another tracker describe "
                           "one face, id 0")
    source: LandmarkDetector = given if given is not None else (detector or _default_detector(config, device))
    deca = deca if deca is not None else _load_deca(config, device)
    total = _length(frames, given)

    numbers: list[int] = []
    seen: set[int] = set()
    size: tuple[int, int] | None = None
    # Landmarks from another tracker describe one face: every frame of theirs is that face, however
    # far it moved (a face leaving the frame must not become a second identity).
    identity = replace(config.identity, min_iou=0.0, max_gap=len(seen) + 10**9) if given else config.identity
    tracker = IdentityTracker(identity)
    any_detection = np.zeros(0, dtype=bool)
    found: list[bool] = []
    for index, (frame, image) in enumerate(frames):
        if cancelled():
            raise Cancelled("tracking was cancelled")
        frame = int(frame)
        if frame in seen:
            raise InvalidInput(f"frame {frame} was sent twice; every frame number of a shot must be unique")
        seen.add(frame)
        rgb = _check_frame(frame, image, size)
        size = size or (rgb.shape[1], rgb.shape[0])
        detections = [_checked_detection(d, frame) for d in source.detect(frame, rgb)]
        for det in detections:
            det.pupils = find_pupils(rgb, det.landmarks, config.eyes)
        if deca is not None and detections:
            _deca_codes(deca, rgb, detections, device)
        tracker.update(index, detections)
        numbers.append(frame)
        found.append(bool(detections))
        del rgb, image
        progress("detect", index + 1, total)
    if not numbers:
        raise InvalidInput("the shot has no frames: send at least one frame")
    any_detection = np.array(found)
    if not tracker.faces:
        how = "in the landmarks given" if given is not None else "by the face detector"
        raise InvalidInput(f"no face found in any frame of the shot ({len(numbers)} frames, {numbers[0]}-"
                           f"{numbers[-1]}) {how}; check that the shot shows a face, or send landmarks from "
                           "another tracker")
    face = tracker.choose(numbers, face_id)
    track = _analyse(face.detections, numbers, any_detection, tracker.summaries(numbers), face.id, size, flame,
                     config, given is not None, device, progress, cancelled)
    track.landmarker = "given" if given is not None else str(getattr(source, "name", type(source).__name__))
    return track


def _analyse(detections: Mapping[int, FaceDetection], numbers: list[int], any_detection: np.ndarray,
             faces: list, face_id: int, size: tuple[int, int] | None, flame: Any, config: TrackingConfig,
             given: bool, device: str, progress: Callable[[str, int, int], None],
             cancelled: Callable[[], bool]) -> ShotTrack:
    T = len(numbers)
    tracked = np.zeros(T, dtype=bool)
    raw = np.zeros((T, 68, 2), dtype=np.float64)
    pupils = np.zeros((T, 2, 2), dtype=np.float64)
    deca_codes = np.zeros((T, 236), dtype=np.float32)
    detail = np.zeros((T, N_DETAIL), dtype=np.float32)
    have_deca = False
    for i, det in detections.items():
        tracked[i] = True
        raw[i] = det.landmarks
        pupils[i] = det.pupils if det.pupils is not None else det.landmarks[36:48].reshape(2, 6, 2).mean(axis=1)
        if det.deca is not None:
            deca_codes[i] = det.deca
            have_deca = True
        if det.detail is not None:
            detail[i] = det.detail
    missing = NO_LANDMARKS if given else NO_FACE
    notes = ["" if tracked[i] else (OTHER_FACES if any_detection[i] else missing) for i in range(T)]
    outside = _outside_frame(raw, tracked, size, config.fit.max_outside_fraction)
    for j in np.flatnonzero(outside):
        tracked[j], notes[j] = False, OUT_OF_FRAME
    # Landmarks no face has (a detector confused by a hand, a profile it got wrong) are screened out
    # before the fit, frame by frame: in the fit, the temporal smoothness would let them pull their
    # neighbours off too.
    rows = np.flatnonzero(tracked)
    for j in rows[template_residual(raw[rows]) > config.fit.max_template_residual]:
        tracked[j], notes[j] = False, POOR_FIT
    if not tracked.any():
        raise InvalidInput(f"the face was found in {len(rows) + int(outside.sum())} frames but in none of them can it "
                           f"be tracked ({int(outside.sum())} partly outside the frame, the others with landmarks no "
                           "face has): check the shot, or send landmarks from another tracker")

    face_px = float(np.median([box_size(landmark_box(raw[i])) for i in np.flatnonzero(tracked)]))
    face_px = max(face_px, 1.0)
    sm = config.smoothing
    lm = smooth_track(raw, tracked, face_px, sm, group=2)
    pupil_s = smooth_track(pupils, tracked, face_px, sm, group=2)
    # Boxes as the paper smooths them: a Savitzky-Golay filter over time on the detected boxes.
    boxes = savgol_boxes(np.stack([landmark_box(p) for p in raw]), tracked, sm)

    if cancelled():
        raise Cancelled("tracking was cancelled")
    # The fit takes the landmarks as detected: its own temporal priors tell head motion, speech and
    # expression apart, where smoothing the points beforehand as well would damp the speech twice.
    fit = fit_shot(raw, tracked, flame, config.fit, frame_size=size, device=device,
                   deca_codes=deca_codes if have_deca else None, progress=progress, cancelled=cancelled)
    # Frames the 3D face cannot explain (a hand over the mouth, a profile view the landmarker got
    # wrong) are untracked rather than handed to the renderer: they pass through untouched.
    iod = np.linalg.norm(raw[:, 36:42].mean(axis=1) - raw[:, 42:48].mean(axis=1), axis=1)
    poor = tracked & (fit.error > config.fit.max_error_iod * np.maximum(iod, 1.0))
    for j in np.flatnonzero(poor):
        tracked[j], notes[j] = False, POOR_FIT
    # Blinks from the fitted model's eyelids: the 3D fit ties both eyes and both lids together, so
    # they are steadier than the detected lid points, and nothing smooths a two-frame blink away.
    blink = blink_signal(fit.landmarks, tracked, config.eyes)
    progress("align", 0, T)
    alignment = align_frames(lm, tracked, config.alignment, sm)
    progress("align", T, T)

    expression51 = np.concatenate([fit.pose[:, 6:7], fit.expression], axis=1)
    return ShotTrack(
        frames=np.asarray(numbers, dtype=np.int64), tracked=tracked, notes=notes, face_id=int(face_id), faces=faces,
        boxes=fill_untracked(boxes, tracked), landmarks=fill_untracked(lm, tracked), shape=fit.shape,
        expression=fill_untracked(fit.expression, tracked), pose=fill_untracked(fit.pose, tracked),
        camera=fill_untracked(fit.camera, tracked), expression51=fill_untracked(expression51, tracked),
        pupils=fill_untracked(pupil_s, tracked), blink=fill_untracked(blink, tracked), alignment=alignment,
        frame_size=size or (0, 0), crop_size=config.alignment.crop_size, fit_error=np.where(tracked, fit.error, 0.0),
        tracker=TRACKER_DECA if have_deca else TRACKER_FIT, detail=fill_untracked(detail, tracked))


def template_residual(points: np.ndarray) -> np.ndarray:
    """(T,) mean distance of each frame's landmarks to the face template after the best similarity
    (Umeyama), in inter-ocular distances: ~0.1 for real faces, whatever their expression; far more
    for points that are no face."""
    tpl = TEMPLATE_FACE_UNITS
    out = np.empty(len(points))
    for i, p in enumerate(np.asarray(points, dtype=np.float64)):
        A = umeyama(p, tpl)
        out[i] = np.linalg.norm(p @ A[:, :2].T + A[:, 2] - tpl, axis=1).mean()
    return out


def _outside_frame(points: np.ndarray, tracked: np.ndarray, size: tuple[int, int] | None,
                   max_fraction: float) -> np.ndarray:
    """(T,) frames whose landmarks lie outside the plate for more than ``max_fraction`` of the points
    (a detector or another tracker extrapolates them there: a face leaving the frame)."""
    if size is None:
        return np.zeros(len(tracked), dtype=bool)
    w, h = size
    out = (points[..., 0] < -0.5) | (points[..., 0] > w - 0.5) | (points[..., 1] < -0.5) | (points[..., 1] > h - 0.5)
    return np.asarray(tracked, dtype=bool) & (out.mean(axis=1) > max_fraction)


def _checked_detection(det: FaceDetection, frame: int) -> FaceDetection:
    pts = np.asarray(det.landmarks, dtype=np.float32)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        raise InvalidInput(f"the landmark detector returned unusable landmarks for frame {frame} "
                           f"(shape {pts.shape}); expected 68 finite (x, y) points")
    box = np.asarray(det.box, dtype=np.float32).reshape(4)
    return FaceDetection(box=box, landmarks=pts, score=float(det.score), pupils=det.pupils, deca=det.deca,
                         detail=det.detail)


def _length(frames: Iterable, given: ProvidedLandmarks | None) -> int:
    try:
        return len(frames)  # type: ignore[arg-type]
    except TypeError:
        return len(given.landmarks) if given is not None else 0


def _load_deca(config: TrackingConfig, device: str) -> Deca | None:
    if config.fit.deca_checkpoint is None:
        return None
    return load_deca(config.fit.deca_checkpoint, device=device, allow_pickle=config.fit.deca_allow_pickle)


def _deca_codes(deca: Deca, image: np.ndarray, detections: list[FaceDetection], device: str) -> None:
    """E_flame's and E_detail's codes of every face, each on its 224 x 224 crop around the face."""
    crops = np.stack([crop_face(image, d.landmarks)[0] for d in detections])
    with torch.no_grad():
        inp = torch.from_numpy(crops).to(device)
        code = deca.E_flame(inp).float().cpu().numpy()
        detail = deca.E_detail(inp).float().cpu().numpy()
    for d, c, e in zip(detections, code, detail, strict=True):
        d.deca = c
        d.detail = e
