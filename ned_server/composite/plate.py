"""From a rendered aligned face to the face plate a compositor merges over the original frame.

Per frame: the face box of the original frame that holds the un-aligned crop (plus the feather's
reach and a margin) is the only region touched. The rendered face and its mask are warped into that
box by the inverse alignment (one grid_sample, no resize-then-paste), the matte is made from the
warped mask, the face is blended into the box's own pixels, and the result comes back as:

- ``rgba``: ``blended * matte`` with alpha = matte, premultiplied scene-linear, face box only.
  Merge(over) of the plate on the original frame therefore gives exactly the pipeline's own
  composite, ``lerp(original, blended, matte)`` (see :func:`composite_frame`), and pixels where the
  matte is 0 (everything outside the box included) stay the original's, as the design requires.
- ``matte``: the same matte as its own layer (``matte.Y`` in the EXR), for grading through it.
- ``data_window``: the face box in the frame; ``display_window``: the whole frame.

Methods: 'laplacian' blends the face into the box with the matte as the blend mask, then holds the
result out with the matte (the low frequencies of the face meet the plate's over the pyramid's
reach inside the matte, so no colour seam shows); 'poisson' does the same with seamless cloning;
'copy' is a plain alpha over of the face itself (``blended`` is the face, so the edge is not
weighted by the matte twice).

The face is taken as it comes out of the renderer, masked: outside its own (warped, un-eroded)
mask it is replaced by the plate before blending, so the renderer's black surround never bleeds
into the coarse pyramid levels. Colour conversion is not done here: the face and the frame are
both scene-linear already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ned_plugin import exr
from ned_plugin.exr import Frame
from ned_server.composite.align import Box, aligned_to_box, as_affine, face_box, warp_affine
from ned_server.composite.blend import blend, laplacian_blend
from ned_server.composite.config import CompositeConfig, CompositeError
from ned_server.composite.matte import make_matte
from ned_server.composite.pyramid import max_levels

Window = tuple[int, int, int, int]  # x, y, width, height (EXR data/display window)


@dataclass
class FacePlate:
    """One frame's face plate: premultiplied scene-linear RGBA and matte over ``data_window`` only."""

    rgba: np.ndarray  # (h, w, 4) float32, premultiplied
    matte: np.ndarray  # (h, w) float32
    data_window: Window
    display_window: Window
    tracked: bool
    note: str = ""
    # Extra layers for the compositor, channel name -> (h, w) float32 over the data window (the
    # full-resolution edit's stmap.R/G and neural.R/G/B/A, composite.edit).
    layers: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def float_channels(self) -> tuple[str, ...]:
        """Channels that must stay 32-bit float whatever the pixel type (an STMap in half precision
        is off by up to 2 px at 4K)."""
        return tuple(n for n in self.layers if n.startswith("stmap."))

    @property
    def empty(self) -> bool:
        """Nothing to merge: an untracked frame, or a face outside the frame."""
        return not bool(np.any(self.rgba[..., 3]))

    def to_frame(self, metadata: Mapping[str, object] | None = None, label: str = "plate") -> Frame:
        """The plate as an EXR frame: R, G, B, A (premultiplied) and the matte layer ``matte.Y``."""
        pixels = np.concatenate([self.rgba, self.matte[..., None], *(v[..., None] for v in self.layers.values())],
                                axis=-1).astype(np.float32)
        meta = dict(metadata or {})
        meta["ned/tracked"] = int(self.tracked)
        if self.note:
            meta["ned/note"] = self.note
        return Frame(pixels, ("R", "G", "B", "A", "matte.Y", *self.layers), exr.Window(*self.data_window),
                     exr.Window(*self.display_window), meta, label=label)


@dataclass
class FrameRegion:
    """Only the part of the original frame a plate needs (its ``plate_box``), for callers that decode
    just that region of a large plate: ``pixels`` (box height, box width, 3) of a frame of
    ``frame_size`` (height, width)."""

    pixels: Any
    box: Box
    frame_size: tuple[int, int]


@dataclass
class FaceBlend:
    """The face box's working images, (1, C, h, w) tensors on the device (what a plate is made from)."""

    box: Box
    face: torch.Tensor  # the rendered face un-aligned into the box, plate-filled outside its mask
    background: torch.Tensor  # the original frame's pixels in the box
    matte: torch.Tensor  # (1, 1, h, w)
    blended: torch.Tensor  # the blend result before the matte holds it out
    note: str = ""


def _tensor(x: Any, device: torch.device, what: str, shape_hint: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(x) if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    except (TypeError, ValueError) as exc:
        raise CompositeError(f"{what} must be an array {shape_hint}: {exc}") from None
    if t.is_complex():
        raise CompositeError(f"{what} must be real-valued {shape_hint}, got {t.dtype}")
    return t.to(device=device, dtype=torch.float32)


def _device(device: torch.device | str | None, *candidates: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    for c in candidates:
        if isinstance(c, torch.Tensor):
            return c.device
    return torch.device("cpu")


def _config(settings: CompositeConfig | Mapping[str, object] | None) -> CompositeConfig:
    if settings is None:
        return CompositeConfig()
    if isinstance(settings, CompositeConfig):
        return settings
    if isinstance(settings, Mapping):
        return CompositeConfig.from_settings(settings)
    raise CompositeError(f"compositing settings must be a CompositeConfig or a mapping, got {type(settings).__name__}")


def box_margin(settings: CompositeConfig) -> int:
    """How far the face box reaches beyond the un-aligned crop: the feather's reach (the matte spreads
    that far past the mask), one pixel of bilinear footprint, and the configured margin."""
    return settings.margin_px + settings.feather_reach + 1


def plate_box(A: Any, crop_size: int, frame_size: tuple[int, int],
              settings: CompositeConfig | Mapping[str, object] | None = None) -> Box:
    """The box of the original frame (height, width) that a plate of this alignment reads and covers."""
    return face_box(A, crop_size, frame_size, margin=box_margin(_config(settings)))


def blend_face(rendered: Any, frame: Any, A: Any, mask: Any,
               settings: CompositeConfig | Mapping[str, object] | None = None,
               device: torch.device | str | None = None) -> FaceBlend | None:
    """Warp, matte and blend one frame's face in its face box; None when the box misses the frame.

    ``rendered``: (3, S, S) scene-linear aligned face; ``frame``: (H, W, 3) scene-linear original;
    ``A``: 2x3 original -> aligned; ``mask``: (S, S) aligned face mask in [0, 1], already smoothed
    over time by the caller (``smooth_mattes(masks, settings.temporal_sigma)`` over the chunk, or
    ``TemporalMatteFilter(settings.temporal_sigma)`` frame by frame). ``frame`` may also be a
    :class:`FrameRegion` holding only the pixels of ``plate_box``. Numpy arrays or tensors; the
    work runs on ``device`` (default: the first tensor argument's device, else the CPU).
    """
    cfg = _config(settings)
    dev = _device(device, rendered, frame, mask)
    face = _tensor(rendered, dev, "the rendered face", "(3, S, S)")
    if face.ndim != 3 or face.shape[0] != 3 or face.shape[1] != face.shape[2] or face.shape[1] < 2:
        raise CompositeError(f"the rendered face must be (3, S, S) channels-first and square, got {tuple(face.shape)}")
    size = face.shape[1]
    alpha = _tensor(mask, dev, "the face mask", "(S, S)")
    if alpha.ndim == 3 and alpha.shape[0] == 1:
        alpha = alpha[0]
    if alpha.shape != (size, size):
        raise CompositeError(f"the face mask must be ({size}, {size}) like the rendered face, got {tuple(alpha.shape)}")
    if not (torch.isfinite(face).all() and torch.isfinite(alpha).all()):
        raise CompositeError("the rendered face or its mask has NaN or infinite values")
    region = frame if isinstance(frame, FrameRegion) else None
    if region is not None:
        frame = region.pixels
    if isinstance(frame, torch.Tensor):
        shape = tuple(frame.shape)
    else:
        frame = np.asarray(frame)
        shape = frame.shape
    if len(shape) != 3 or shape[2] != 3 or shape[0] < 1 or shape[1] < 1:
        raise CompositeError(f"the original frame must be (H, W, 3) scene-linear RGB, got shape {shape}")
    H, W = region.frame_size if region is not None else shape[:2]
    A = as_affine(A, device=dev)
    if A.shape[0] != 1:
        raise CompositeError(f"one 2x3 alignment per frame is expected, got {A.shape[0]}")

    box = face_box(A, size, (H, W), margin=box_margin(cfg))
    if box.empty:
        return None
    if region is not None:
        if region.box != box or shape[:2] != box.size:
            raise CompositeError(f"the frame region {region.box} (pixels {shape[:2]}) is not this plate's box {box}")
        pixels = frame
    else:
        rows, cols = box.slices
        pixels = frame[rows, cols]
    bg = _tensor(pixels, dev, "the original frame", "(H, W, 3)").permute(2, 0, 1)[None].contiguous()
    if not torch.isfinite(bg).all():
        raise CompositeError("the original frame has NaN or infinite values inside the face box")

    to_box = aligned_to_box(A, box, device=dev)
    warped = warp_affine(torch.cat([face, alpha[None]], dim=0)[None], to_box, box.size)
    coverage = warped[:, 3:].clamp(0.0, 1.0)
    fg = torch.lerp(bg, warped[:, :3], coverage)
    matte = make_matte(coverage, cfg.erode_px, cfg.feather_px)

    note = "" if bool((coverage > 0).any()) else "the face mask is empty inside the frame; nothing to composite"
    levels = cfg.levels
    if cfg.method == "laplacian":
        most = max_levels(box.height, box.width)
        if levels > most:
            note = (f"blend levels lowered from {levels} to {most} for this {box.width}x{box.height} face box")
            levels = most
        blended = laplacian_blend(fg, bg, matte, levels, crop_to_mask=False)  # the box is the crop already
    elif cfg.method == "poisson":
        blended = blend(fg, bg, matte, "poisson", iterations=cfg.poisson_iterations)
    else:
        blended = fg
    return FaceBlend(box, fg, bg, matte, blended, note)


def empty_plate(frame_size: tuple[int, int], note: str, tracked: bool = False,
                origin: tuple[int, int] = (0, 0)) -> FacePlate:
    """A transparent 1x1 plate at the display window's corner (EXR cannot hold an empty data window)."""
    H, W = (int(s) for s in frame_size)
    if H < 1 or W < 1:
        raise CompositeError(f"frame size must be positive (height, width), got {frame_size}")
    x, y = origin
    return FacePlate(np.zeros((1, 1, 4), np.float32), np.zeros((1, 1), np.float32), (x, y, 1, 1), (x, y, W, H),
                     tracked, note)


def build_plate(rendered: Any, frame: Any, A: Any, mask: Any,
                settings: CompositeConfig | Mapping[str, object] | None = None,
                device: torch.device | str | None = None, origin: tuple[int, int] = (0, 0)) -> FacePlate:
    """One tracked frame's face plate (see the module notes). ``origin`` is where the frame array's
    top-left pixel sits in EXR coordinates (the display window's corner; 0, 0 for most plates)."""
    if isinstance(frame, FrameRegion):
        H, W = frame.frame_size
    else:
        H, W = (np.asarray(frame).shape if not isinstance(frame, torch.Tensor) else tuple(frame.shape))[:2]
    fb = blend_face(rendered, frame, A, mask, settings, device)
    if fb is None:
        return empty_plate((H, W), "the face is outside the frame; nothing to composite", tracked=True,
                           origin=origin)
    premult = fb.blended * fb.matte
    rgba = torch.cat([premult, fb.matte], dim=1)[0].permute(1, 2, 0)
    x, y = origin
    return FacePlate(
        rgba=rgba.to("cpu", torch.float32).contiguous().numpy(),
        matte=fb.matte[0, 0].to("cpu", torch.float32).contiguous().numpy(),
        data_window=(x + fb.box.x, y + fb.box.y, fb.box.width, fb.box.height),
        display_window=(x, y, int(W), int(H)),
        tracked=True,
        note=fb.note,
    )


def composite_frame(rendered: Any, frame: Any, A: Any, mask: Any,
                    settings: CompositeConfig | Mapping[str, object] | None = None,
                    device: torch.device | str | None = None) -> np.ndarray:
    """The whole blended frame as the pipeline sees it (previews, metrics): the original with the face
    box replaced by ``lerp(original, blended, matte)``. (H, W, 3) float32."""
    out = np.array(frame.cpu() if isinstance(frame, torch.Tensor) else frame, dtype=np.float32, copy=True)
    fb = blend_face(rendered, frame, A, mask, settings, device)
    if fb is None:
        return out
    region = torch.lerp(fb.background, fb.blended, fb.matte)[0].permute(1, 2, 0)
    rows, cols = fb.box.slices
    out[rows, cols] = region.to("cpu", torch.float32).numpy()
    return out


def over(plate: FacePlate, frame: np.ndarray) -> np.ndarray:
    """Nuke's Merge(over) of a premultiplied plate on a frame (H, W, 3) covering its display window:
    A + B * (1 - a) inside the data window, B elsewhere."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise CompositeError(f"over() needs an (H, W, 3) frame, got shape {frame.shape}")
    out = np.array(frame, dtype=np.float32, copy=True)
    dx, dy, dw, dh = plate.display_window
    if frame.shape[:2] != (dh, dw):
        raise CompositeError(f"the frame is {frame.shape[1]}x{frame.shape[0]} but the plate's display window is "
                             f"{dw}x{dh}; merge the plate over the frame it was made for")
    x, y, w, h = plate.data_window
    x0, y0 = max(x - dx, 0), max(y - dy, 0)
    x1, y1 = min(x - dx + w, out.shape[1]), min(y - dy + h, out.shape[0])
    if x1 <= x0 or y1 <= y0:
        return out
    src = plate.rgba[y0 - (y - dy):y1 - (y - dy), x0 - (x - dx):x1 - (x - dx)]
    a = src[..., 3:4]
    out[y0:y1, x0:x1] = src[..., :3] + out[y0:y1, x0:x1] * (1.0 - a)
    return out
