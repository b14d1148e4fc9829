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

The official NED renderer (``head2head``) was trained with another start, kept for it by the
``HEAD2HEAD`` convention: its previous frames begin as zeros (mid-grey), and until two frames are
generated the missing ones stay zeros rather than copies of the first (frame 1 sees (0, g0)). Its
feedback frames are black outside the mask too (its generator masks its own output that way).
The conditioning window is replicated at the start in both conventions: the authors' test script
renders no output for a sequence's first two frames, while this one gives every frame one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ned_server.renderer.config import N_PREV

BLANK = -1.0  # black in the generator's [-1,1] output range


@dataclass(frozen=True)
class Convention:
    """How a generator was trained to start a sequence (see the module docstring)."""

    start_value: float = BLANK  # the feedback frames before the first generated one
    replicate_first: bool = True  # frame 1 sees (g0, g0) rather than (start, g0)


NED = Convention()
HEAD2HEAD = Convention(start_value=0.0, replicate_first=False)


def convention_for(architecture: str) -> Convention:
    return HEAD2HEAD if architecture == "head2head" else NED


class Recurrence:
    """The state carried from frame to frame: recent conditioning and feedback frames."""

    def __init__(self, convention: Convention = NED) -> None:
        self.convention = convention
        self.conds: list[torch.Tensor] = []
        self.prev: list[torch.Tensor] = []

    def inputs(self, cond_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator inputs for the next frame, given its conditioning (B,9,H,W) in [0,1]."""
        hist = ([*self.conds, cond_t])[-(N_PREV + 1):]
        window = [hist[0]] * (N_PREV + 1 - len(hist)) + hist
        conv = self.convention
        if self.prev and (conv.replicate_first or len(self.prev) == N_PREV):
            prev = [self.prev[0]] * (N_PREV - len(self.prev)) + self.prev
        else:
            start = torch.full((cond_t.shape[0], 3, *cond_t.shape[2:]), conv.start_value, dtype=cond_t.dtype,
                               device=cond_t.device)
            prev = [start] * (N_PREV - len(self.prev)) + self.prev
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
