"""NED for VFX in Nuke: the NED_Director node and a Python API for TDs and `nuke -t` farm jobs.

    import ned_nuke
    node = ned_nuke.create_director()                 # what the NED menu does
    ned_nuke.track("NED_Director1")                   # inline: blocks, prints NED_PROGRESS lines
    ned_nuke.render("NED_Director1", 1001, 1050)      # writes the plates, updates the Read/Merge
    ned_nuke.render("NED_Director1", frames="1001-1100x2")  # every other frame (a frame list)

The inline calls raise ``NedNukeError`` with a message meant for the artist; the node's buttons run
the same actions on a worker thread with a progress bar and show that message in a dialog instead.
Only ``ned_plugin`` is used to talk to the server; only ``nuke_api`` touches Nuke.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ned_plugin.client import ProgressCallback
from ned_plugin.host.plates import RenderResult

from . import director, nuke_api
from .director import NedNukeError, connect, create_director, directors, run_inline, running_job, start

__all__ = ["NedNukeError", "button", "cancel", "connect", "create_director", "directors", "pick_face", "preview",
           "render", "track", "train_actor"]


def button(action: str) -> None:
    """Called by the NED_Director's buttons (PyScript knobs) with nuke.thisNode() as the node."""
    node = nuke_api.this_node()
    if action == "connect":
        connect(node, ui=True)
    else:
        start(node, action)


def render(node: Any, first: int | None = None, last: int | None = None,
           on_progress: ProgressCallback | None = None, frames: str | Sequence[int] | None = None) -> RenderResult:
    """Render a NED_Director's plates for first..last (default: its frames knob, first/last knobs or
    input range). ``frames``: a frame list instead (``"1001-1100x2"``, ``"1001,1050"`` or numbers):
    plates of those frames only, with the frames between run as context."""
    return run_inline("render", node, first, last, on_progress=on_progress, frames=frames)


def track(node: Any, first: int | None = None, last: int | None = None,
          on_progress: ProgressCallback | None = None, frames: str | Sequence[int] | None = None) -> Any:
    """Track the face over first..last (a ``frames`` list: over its span); sets the node's shot id.
    Returns the client's TrackResult."""
    return run_inline("track", node, first, last, on_progress=on_progress, frames=frames).result


def preview(node: Any, on_progress: ProgressCallback | None = None) -> RenderResult:
    """The current frame with the node's settings, from the tracked shot (what Preview frame does)."""
    return run_inline("preview", node, on_progress=on_progress)


def pick_face(face_id: int) -> None:
    """Called by the face picker's buttons with nuke.thisNode() as the node."""
    director.pick_face(nuke_api.this_node(), face_id)


def train_actor(node: Any, on_progress: ProgressCallback | None = None) -> Any:
    """Train the node's 'train as' actor on its tracked shot, following the job to its end."""
    return run_inline("train", node, on_progress=on_progress)


def cancel(node: Any) -> bool:
    """Cancel a button's background work on this node (same as the progress bar's Cancel)."""
    job = running_job(node)
    if job is None or not job.running:
        return False
    job.cancel()
    return True
