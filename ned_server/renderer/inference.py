"""Rendering a shot with a trained renderer: recurrent, in frame order, chunkable for a farm.

The generator feeds its own previous frames back (``recurrence``), so frame t depends on every
frame before it. A farm renders a shot in chunks, each on another machine; chunk [s, e) starts
``preroll`` frames early from the blank start (see ``recurrence``) and throws those frames away.
Two runs of the same recurrence with the same inputs but different starting states converge when
the trained generator is contractive in its feedback input, which training from blank starts
encourages: the net learns to rebuild a face from the conditioning alone within a frame or two.

Measured on the toy actor (max abs difference, [0,1] units, between a chunk and the same frames
of a full run, chunks starting at frames 14-30): with the tiny preset trained for 350 iterations at
32 px (tests/test_renderer_inference.py) it is 2-8e-2 with no preroll, about 1e-2 after 1 frame,
2e-3 after 2, 1e-4 after 4, 5e-6 after 6, and 2e-7 (float32 rounding) from 8 frames on; the
GAN-trained tiny preset at 64 px (tests/bench/renderer.py) behaves the same (2.4e-4 after 4,
2e-7 at 12). The default preroll, 12 frames (``InferenceConfig.preroll``, the length of a training
sequence), leaves a wide margin under 1/255. The contraction is learnt: an untrained generator
does not forget its start (0.1 after 12 frames). Chunks whose preroll reaches frame 0 are the full
run itself, bit for bit. ``chunk_difference`` measures a given actor.

Outputs are RGB in [0,1] inside the face mask and 0 outside; compositing blends them later.

The generator is the one of the checkpoint's architecture: our own (tiny preset) or the official
NED renderer (paper preset, and the released ``<epoch>_net_G.pth`` folders), each driven with the
recurrence convention it was trained with (``recurrence.convention_for``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ned_server.renderer import checkpoint as ckpt_io
from ned_server.renderer.config import COND_CHANNELS, InferenceConfig, RendererConfig
from ned_server.renderer.networks import build_generator
from ned_server.renderer.recurrence import NED, Convention, Recurrence, convention_for, to_unit


class RenderInputError(ValueError):
    """Conditioning or masks of the wrong shape or range for this renderer."""


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


@torch.no_grad()
def generate_sequence(
    generator: torch.nn.Module,
    cond: torch.Tensor,
    masks: torch.Tensor,
    amp: bool = False,
    on_frame: Callable[[int], None] | None = None,
    recurrence: Recurrence | None = None,
    convention: Convention = NED,
) -> torch.Tensor:
    """Run the recurrence over cond (T,9,H,W) / masks (T,1,H,W) on their device.

    Returns the raw generator output (T,3,H,W) in [-1,1] (not masked). Frames are independent
    batch items only across sequences, never within one, so this is strictly frame by frame.
    ``recurrence`` carries the state over from an earlier call (a shot rendered block by block);
    None starts from ``convention``'s start.
    """
    rec = recurrence if recurrence is not None else Recurrence(convention)
    out = []
    for t in range(cond.shape[0]):
        c = cond[t:t + 1]
        with _autocast(cond.device, amp):
            c27, p6 = rec.inputs(c)
            g = generator(c27, p6).float()
        rec.push(c, g, masks[t:t + 1])
        out.append(g)
        if on_frame is not None:
            on_frame(t)
    return torch.cat(out)


class FaceRenderer:
    """A trained actor's renderer, ready to render conditioning sequences."""

    def __init__(self, checkpoint: str | Path | dict, device: str | torch.device = "cpu",
                 config: InferenceConfig | None = None) -> None:
        ckpt = checkpoint if isinstance(checkpoint, dict) else ckpt_io.load(checkpoint)
        self.config = config or InferenceConfig()
        self.renderer_config: RendererConfig = ckpt_io.config_of(ckpt)
        self.iteration = int(ckpt.get("iteration", 0))
        self.device = torch.device(device)
        self.convention = convention_for(self.renderer_config.architecture)
        self.generator = build_generator(self.renderer_config)
        try:
            self.generator.load_state_dict(ckpt["generator"])
        except RuntimeError as exc:  # keys or shapes of another network than its config describes
            raise ckpt_io.RendererCheckpointError(f"renderer checkpoint {ckpt.get('path', '')} does not match "
                                                  f"its own settings: {exc}") from None
        self.generator.to(self.device).eval().requires_grad_(False)

    @property
    def resolution(self) -> int:
        return self.renderer_config.resolution

    def _tensors(self, conditioning: np.ndarray, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.resolution
        cond = np.asarray(conditioning)
        m = np.asarray(masks)
        if cond.ndim != 4 or cond.shape[1:] != (COND_CHANNELS, r, r):
            raise RenderInputError(f"conditioning must be (T,{COND_CHANNELS},{r},{r}) for this renderer "
                                   f"(NMFC, eyes, shape at its resolution), got {cond.shape}")
        if m.shape != (cond.shape[0], r, r):
            raise RenderInputError(f"masks must be (T,{r},{r}) matching the conditioning, got {m.shape}")
        ct = torch.from_numpy(np.ascontiguousarray(cond, dtype=np.float32)).to(self.device)
        mt = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32)).to(self.device)[:, None]
        return ct, mt

    def render_sequence(
        self,
        conditioning: np.ndarray,
        masks: np.ndarray,
        preroll_conditioning: np.ndarray | None = None,
        preroll_masks: np.ndarray | None = None,
        on_frame: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Render (T,9,R,R) conditioning with (T,R,R) masks -> (T,3,R,R) RGB in [0,1], 0 outside the mask.

        ``preroll_conditioning`` (P,9,R,R): the frames just before this sequence, rendered first to
        warm the recurrence up and discarded (their masks default to the first frame's mask).
        """
        if preroll_conditioning is not None and len(preroll_conditioning):
            if preroll_masks is None:
                preroll_masks = np.repeat(np.asarray(masks)[:1], len(preroll_conditioning), 0)
            conditioning = np.concatenate([preroll_conditioning, conditioning])
            masks = np.concatenate([preroll_masks, masks])
            skip = len(preroll_conditioning)
        else:
            skip = 0
        cond, m = self._tensors(conditioning, masks)
        if cond.shape[0] == 0:
            return np.zeros((0, 3, self.resolution, self.resolution), np.float32)
        raw = generate_sequence(self.generator, cond, m, amp=self.config.amp,
                                on_frame=(lambda t: on_frame(t - skip)) if on_frame and skip else on_frame,
                                convention=self.convention)
        out = to_unit(raw.clamp(-1, 1)) * m
        return out[skip:].cpu().numpy()

    def stream(self) -> RenderStream:
        """A renderer for a shot fed block by block in frame order (bounded memory on long shots)."""
        return RenderStream(self)

    def render_range(
        self,
        all_conditioning: np.ndarray,
        all_masks: np.ndarray,
        start: int,
        end: int,
        preroll: int | None = None,
    ) -> np.ndarray:
        """Frames [start, end) of a shot, as a full run from frame 0 would render them (to the
        tolerance in this module's docstring): rendering starts ``preroll`` frames early."""
        total = len(all_conditioning)
        if not 0 <= start <= end <= total:
            raise RenderInputError(f"frame range [{start}, {end}) is outside the shot's {total} frames")
        p = self.config.preroll if preroll is None else preroll
        if p < 0:
            raise RenderInputError(f"preroll must be >= 0, got {p}")
        s0 = max(0, start - p)
        return self.render_sequence(all_conditioning[start:end], all_masks[start:end],
                                    all_conditioning[s0:start], all_masks[s0:start])


class RenderStream:
    """One shot's recurrence kept across calls: ``render`` blocks of consecutive frames in order and
    get exactly what one ``render_sequence`` call over the concatenated blocks gives."""

    def __init__(self, renderer: FaceRenderer) -> None:
        self.renderer = renderer
        self._recurrence = Recurrence(renderer.convention)

    def render(self, conditioning: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(B,9,R,R) conditioning, (B,R,R) masks -> (B,3,R,R) RGB in [0,1], 0 outside the mask."""
        r = self.renderer
        cond, m = r._tensors(conditioning, masks)
        if cond.shape[0] == 0:
            return np.zeros((0, 3, r.resolution, r.resolution), np.float32)
        raw = generate_sequence(r.generator, cond, m, amp=r.config.amp, recurrence=self._recurrence)
        return (to_unit(raw.clamp(-1, 1)) * m).cpu().numpy()


def chunk_difference(renderer: FaceRenderer, conditioning: np.ndarray, masks: np.ndarray, start: int,
                     prerolls: tuple[int, ...] = (0, 1, 2, 4, 8, 12, 16)) -> dict[int, float]:
    """Max abs difference ([0,1] units) between chunk [start, end) rendered with each preroll and
    the same frames of a full run: how long a preroll this actor needs."""
    full = renderer.render_sequence(conditioning, masks)
    return {p: float(np.abs(renderer.render_range(conditioning, masks, start, len(conditioning), p)
                            - full[start:]).max()) for p in prerolls}
