"""One frame of a Manipulate, for a quick look at an emotion or face-slider change.

The shot's track is cached on the server, so a preview is the artist's full request narrowed to
one frame with a short preroll: the manipulator translates the whole cached expression track
(milliseconds) and applies the sliders, and only the preroll and the frame itself go through the
renderer, so the change shows in seconds. With a preroll shorter than the renderer's own (the
frames its recurrence needs to settle) the frame can differ slightly from a full render; a
preroll reaching back to the shot's start gives the very frame of a full run.
"""

from __future__ import annotations

from .wire import pb

PREVIEW_PREROLL = 4  # frames rendered before the previewed one: enough for the renderer's previous-frame inputs


def preview_settings(settings: pb.ManipulateSettings, frame: int, preroll: int | None = None
                     ) -> pb.ManipulateSettings:
    """A copy of ``settings`` for frame ``frame`` alone, from the cached shot (no frames to send)."""
    out = pb.ManipulateSettings()
    out.CopyFrom(settings)
    out.range.first = out.range.last = int(frame)
    out.preroll = PREVIEW_PREROLL if preroll is None else int(preroll)
    out.frame_count = 0
    return out
