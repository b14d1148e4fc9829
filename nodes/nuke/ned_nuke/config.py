"""Defaults of the NED_Director node, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DirectorConfig:
    node_name: str = "NED_Director1"
    # Short calls from the UI (Connect): fail fast so Nuke never hangs on a dead address.
    ui_deadline_s: float = 5.0
    ui_attempts: int = 2
    # Plates go to <script folder>/<plates_dir>/<node>/<node>.####.exr unless the node says otherwise.
    plates_dir: str = "ned"
    # Input frames that are not a plain EXR Read are written here (per node) before sending.
    send_dir: str = "ned_send"
    # How often the worker looks at the progress bar's Cancel button.
    cancel_poll_s: float = 0.1
    train_presets: tuple[str, ...] = ("paper", "tiny")
    # Preview frame: frames run before the current one through the recurrent stages (the render's
    # own preroll when smaller). Enough to settle the manipulator's window (N=10), short enough for seconds.
    preview_preroll: int = 10
    tile_color: int = 0x7A3E9DFF  # the node's colour in the graph
    icon: str = "ned_director.png"  # in icons/, on Nuke's plugin path


CONFIG = DirectorConfig()
