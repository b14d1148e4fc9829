"""A tracked shot's frames turned into the renderer's training data (``ActorClip``s).

Frames come in one at a time (a shot can be far longer than memory allows at plate size), are cut
into the aligned crop at the renderer's resolution at once, and only the small crops are kept.
The conditioning is drawn for each run of consecutive tracked frames by the ``FaceConditioner``,
so the real face and its conditioning are framed by the same alignment matrices.

An untracked frame (or a frame missing from the track, or a jump in frame numbers) ends a clip:
the renderer trains on sequences of consecutive frames and feeds its previous outputs back, so a
clip must never span a cut. Runs shorter than ``min_length`` are dropped (a training sequence of
the paper preset is 12 frames; shorter clips could never fill one).

Border: pixels of the crop that fall outside the plate are filled by replicating the plate's edge
(``cv2.BORDER_REPLICATE``) and taken out of the clip's training mask. Replicating rather than
filling with black keeps a hard black edge, which nothing in the conditioning explains, out of what
the discriminators see around the face; and since those pixels leave the mask, neither the edge
smear nor black ever becomes a target the generator is trained to draw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from ned_server.conditioning.shot import FaceConditioner, crop_matrices
from ned_server.renderer.dataset import ActorClip, RendererDataError
from ned_server.tracking.result import ShotTrack

log = logging.getLogger(__name__)

# Downscaling warps are drawn at up to this many times the crop size, then area-averaged: a plain
# bilinear warp of a 4K plate's face into 256 px would alias (it samples, it does not average).
# 8 covers an 8x shrink exactly (a 2K-pixel face into 256 px); beyond it some aliasing remains.
MAX_SUPERSAMPLE = 8
DEFAULT_MIN_LENGTH = 12  # the paper preset's training sequence length (RendererConfig.seq_len)


def _check_image(image: np.ndarray, what: str, size: tuple[int, int] | None = None) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise RendererDataError(f"{what} must be an (H, W, 3) RGB image, got shape {img.shape}")
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        raise RendererDataError(f"{what} is {img.shape[1]}x{img.shape[0]} but the track was made on "
                                f"{size[0]}x{size[1]} frames: send the shot's frames at their tracked size")
    if not np.issubdtype(img.dtype, np.floating):
        raise RendererDataError(f"{what} must be display-encoded sRGB floats in [0, 1], got dtype {img.dtype}")
    img = np.ascontiguousarray(img, dtype=np.float32)
    if not np.isfinite(img).all():
        raise RendererDataError(f"{what} holds NaN or infinite pixels")
    return img


def _supersample(matrix: np.ndarray) -> int:
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
    if scale <= 0:
        raise RendererDataError("an alignment matrix is singular: track the shot again")
    return 1 if scale >= 1.0 else min(MAX_SUPERSAMPLE, math.ceil(1.0 / scale - 1e-6))


def _warp(image: np.ndarray, matrix: np.ndarray, resolution: int, border: int) -> np.ndarray:
    """``image`` (H,W,C) through ``matrix`` (plate px -> crop px at R), anti-aliased when shrinking."""
    ss = _supersample(matrix)
    m = matrix * ss
    m[:, 2] += 0.5 * ss - 0.5  # crop px at R -> at R * ss, about pixel edges
    out = cv2.warpAffine(image, m, (resolution * ss, resolution * ss), flags=cv2.INTER_LINEAR,
                         borderMode=border, borderValue=0)
    if ss > 1:
        out = cv2.resize(out, (resolution, resolution), interpolation=cv2.INTER_AREA)
    return out


def align_frame(image: np.ndarray, matrix: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """One plate frame (H,W,3) through ``matrix`` (plate px -> crop px at R): the crop (3,R,R) in [0,1]
    and (R,R) 1 where the crop pixel lies wholly on the plate, else 0."""
    return _align_checked(_check_image(image, "the frame"), matrix, resolution)


def _align_checked(img: np.ndarray, matrix: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    crop = np.clip(_warp(img, matrix, resolution, cv2.BORDER_REPLICATE), 0.0, 1.0)
    return np.ascontiguousarray(crop.transpose(2, 0, 1)), on_plate(matrix, resolution, img.shape[1], img.shape[0])


def on_plate(matrix: np.ndarray, resolution: int, width: int, height: int) -> np.ndarray:
    """(R,R) float32: 1 where the crop pixel's whole footprint lies on the W x H plate.

    Computed from the inverse mapping of the pixel centres (warping a plate-sized image of ones
    would cost as much as the frame itself on a 4K plate); the footprint's half-diagonal, half a
    crop pixel times sqrt(2) in plate pixels, keeps pixels that are only partly on the plate out.
    """
    inv = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    ys, xs = np.mgrid[0:resolution, 0:resolution].astype(np.float64)
    px = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    py = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    margin = math.sqrt(0.5 * abs(float(np.linalg.det(inv[:, :2]))))  # 0.5 * sqrt(2) crop px, in plate px
    lo = -0.5 + margin
    inside = (px >= lo) & (px <= width - 0.5 - margin) & (py >= lo) & (py <= height - 0.5 - margin)
    return inside.astype(np.float32)


def align_frames_to_crop(images: np.ndarray | Sequence[np.ndarray], alignment: np.ndarray, crop_size: int,
                         resolution: int) -> np.ndarray:
    """(T,3,R,R) float32 aligned crops of plate frames (T,H,W,3) display sRGB, given the track's
    (T,2,3) plate -> ``crop_size`` alignment; edge pixels replicated outside the plate (module docstring)."""
    matrices = crop_matrices(alignment, crop_size, resolution)
    if len(images) != len(matrices):
        raise RendererDataError(f"{len(images)} frames for {len(matrices)} alignment matrices")
    out = np.zeros((len(matrices), 3, resolution, resolution), np.float32)
    for t, (image, m) in enumerate(zip(images, matrices, strict=True)):
        out[t] = align_frame(image, m, resolution)[0]
    return out


class _Run:
    """Consecutive tracked frames collected so far: their track positions and aligned crops."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.crops: list[np.ndarray] = []
        self.inside: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.positions)


def actor_clips_from_shot(track: ShotTrack, frames: Iterable[tuple[int, np.ndarray]], conditioner: FaceConditioner,
                          name: str = "", actor: str = "", min_length: int = DEFAULT_MIN_LENGTH) -> list[ActorClip]:
    """The renderer's training clips from a tracked shot's frames, given one at a time.

    ``frames`` yields (frame number, display sRGB float (H,W,3) at the track's frame size). Each
    run of consecutive tracked frames becomes one clip at the conditioner's resolution (runs
    shorter than ``min_length`` are dropped, with a log line); clips are named
    ``{name}_{first}-{last}`` by frame number. An empty list means no run was long enough.
    """
    if min_length < 1:
        raise RendererDataError(f"min_length must be >= 1 frame, got {min_length}")
    r = conditioner.resolution
    matrices = crop_matrices(track.alignment, track.crop_size, r)
    position_of = {int(f): i for i, f in enumerate(track.frames)}
    label = name or "shot"
    clips: list[ActorClip] = []
    dropped: list[int] = []
    run = _Run()

    def close_run() -> None:
        nonlocal run
        if len(run) >= min_length:
            clips.append(_clip(track, run, conditioner, label, actor))
        elif len(run):
            dropped.append(len(run))
        run = _Run()

    for number, image in frames:
        pos = position_of.get(int(number))
        if pos is None or not track.tracked[pos]:
            close_run()
            continue
        if run.positions:
            last = run.positions[-1]
            if pos != last + 1 or track.frames[pos] != track.frames[last] + 1:
                close_run()
        img = _check_image(image, f"frame {int(number)}", track.frame_size)
        crop, inside = _align_checked(img, matrices[pos], r)
        run.positions.append(pos)
        run.crops.append(crop)
        run.inside.append(inside)
    close_run()
    if dropped:
        log.info("%s: dropped %d run(s) of consecutive tracked frames shorter than %d frames (lengths %s)",
                 label, len(dropped), min_length, dropped[:10])
    return clips


def _clip(track: ShotTrack, run: _Run, conditioner: FaceConditioner, label: str, actor: str) -> ActorClip:
    positions = np.asarray(run.positions, dtype=np.int64)
    cond = conditioner.render(track, positions)
    inside = np.stack(run.inside)
    first, last = int(track.frames[positions[0]]), int(track.frames[positions[-1]])
    return ActorClip(conditioning=cond.conditioning, frames=np.stack(run.crops),
                     masks=(cond.face_masks * inside).astype(np.float32), mouth_centres=cond.mouth_centres,
                     name=f"{label}_{first}-{last}", actor=actor)
