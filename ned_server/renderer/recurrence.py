"""How the generator is driven over a sequence: one convention shared by training and inference.

At frame t of a sequence (a training sample, a whole shot, or a chunk with its preroll) the
generator sees:

* conditioning of frames t-2, t-1, t (oldest first). Before the sequence's first frame there is no
  conditioning, so the earliest available one is replicated: frame 0 sees (c0, c0, c0), frame 1
  sees (c0, c0, c1).
* the two frames it generated before, t-2 then t-1, as *feedback frames*: the generated RGB inside
  that frame's face mask and black (-1) outside, detached from the graph. Inference has no real
  frame to put outside the mask, so training must not show one either. Missing ones are
  replicated from the earliest generated frame: frame 1 sees (g0, g0). Frame 0 has none and sees
  black (-1 everywhere), the "blank start".

Training always starts its sequences from the blank start, so the generator learns to produce a
correct face from it within a frame or two; that is also what lets a chunk that starts mid-shot
(blank start ``preroll`` frames early) converge to the frames of a full run.
"""

from __future__ import annotations

import torch

from ned_server.renderer.config import N_PREV

BLANK = -1.0  # black in the generator's [-1,1] output range


class Recurrence:
    """The state carried from frame to frame: recent conditioning and feedback frames."""

    def __init__(self) -> None:
        self.conds: list[torch.Tensor] = []
        self.prev: list[torch.Tensor] = []

    def inputs(self, cond_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator inputs for the next frame, given its conditioning (B,9,H,W) in [0,1]."""
        hist = ([*self.conds, cond_t])[-(N_PREV + 1):]
        window = [hist[0]] * (N_PREV + 1 - len(hist)) + hist
        if self.prev:
            prev = [self.prev[0]] * (N_PREV - len(self.prev)) + self.prev
        else:
            prev = [torch.full((cond_t.shape[0], 3, *cond_t.shape[2:]), BLANK, dtype=cond_t.dtype,
                               device=cond_t.device)] * N_PREV
        return torch.cat(window, 1), torch.cat(prev, 1)

    def push(self, cond_t: torch.Tensor, generated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Record frame t: its conditioning and its feedback frame (returned)."""
        fb = feedback_frame(generated, mask)
        self.conds = ([*self.conds, cond_t])[-N_PREV:]
        self.prev = ([*self.prev, fb])[-N_PREV:]
        return fb


def feedback_frame(generated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Generated (B,3,H,W) in [-1,1] kept inside ``mask`` (B,1,H,W), black outside; detached."""
    g = generated.detach().float()
    return g * mask + BLANK * (1.0 - mask)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1,1] -> [0,1]."""
    return (x + 1.0) * 0.5


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0,1] -> [-1,1]."""
    return x * 2.0 - 1.0
