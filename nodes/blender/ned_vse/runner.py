"""Background work for the panel: a worker thread per scene, brought back to Blender by a timer.

The worker (ned_plugin.host.BackgroundJob) never touches bpy data; it only talks to the server and
writes files. ``tick`` runs on Blender's main thread from ``bpy.app.timers`` in the UI: it copies
progress into ``scene.ned_vse`` (the panel's bar), and when a job ends runs its finish function
there (adding the result strips) or shows the artist's message. In background mode (``blender -b``
or the bpy module) no timers run, so scripts call ``wait()``, which ticks by hand.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bpy

TICK_S = 0.1


@dataclass
class Active:
    scene: str
    action: str
    job: Any  # ned_plugin.host.BackgroundJob
    finish: Callable[[bpy.types.Scene, Any], str]  # (scene, result) -> status line


_active: dict[str, Active] = {}


def busy(scene: bpy.types.Scene) -> bool:
    return scene.name in _active


def start(scene: bpy.types.Scene, action: str, work: Callable, finish: Callable) -> None:
    from ned_plugin.host import BackgroundJob

    if scene.name in _active:
        raise RuntimeError(f"NED is still busy with {_active[scene.name].action} in this scene: cancel it first")
    job = BackgroundJob(f"{action} ({scene.name})", work)
    _active[scene.name] = Active(scene.name, action, job, finish)
    settings = scene.ned_vse
    settings.busy, settings.progress, settings.status, settings.last_error = True, 0.0, f"{action}: starting", ""
    job.start()
    if not bpy.app.background:
        wm = bpy.context.window_manager
        wm.progress_begin(0, 100)
        if not bpy.app.timers.is_registered(tick):
            bpy.app.timers.register(tick, first_interval=TICK_S)


def cancel(scene: bpy.types.Scene) -> bool:
    active = _active.get(scene.name)
    if active is None:
        return False
    active.job.cancel()
    scene.ned_vse.status = f"{active.action}: cancelling..."
    return True


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


def _tell(text: str) -> None:
    """Show an error where the artist looks: a popup in the UI, stderr in background mode."""
    print(f"NED: {text}", file=sys.stderr)
    if bpy.app.background:
        return
    lines = text.splitlines()

    def draw(menu: Any, _context: Any) -> None:
        for line in lines:
            menu.layout.label(text=line)

    with contextlib.suppress(Exception):  # no window to show it in (e.g. while Blender closes): stderr has it
        bpy.context.window_manager.popup_menu(draw, title="NED", icon="ERROR")


def tick() -> float | None:
    """Main thread: update progress, finish ended jobs. Returns the delay to the next tick, or None."""
    from ned_plugin.host import artist_message

    for name, active in list(_active.items()):
        scene = bpy.data.scenes.get(name)
        status = active.job.snapshot()
        if scene is None:  # the scene was deleted: let the work end, drop its result
            if status.finished:
                del _active[name]
            continue
        settings = scene.ned_vse
        settings.progress = status.fraction
        settings.status = status.line
        if not bpy.app.background:
            bpy.context.window_manager.progress_update(int(100 * status.fraction))
        if not status.finished:
            continue
        del _active[name]
        settings.busy = False
        if status.error is None:
            try:
                settings.status = active.finish(scene, status.result)
                settings.progress = 1.0
            except Exception as exc:
                status.error = exc
        if status.error is not None:
            text = artist_message(status.error, active.action, "the NED add-on preferences")
            settings.status = text.splitlines()[0]
            settings.last_error = text
            _tell(text)
        if not bpy.app.background and not _active:
            bpy.context.window_manager.progress_end()
    _redraw()
    return TICK_S if _active else None


def wait(timeout: float = 60.0) -> bool:
    """Background mode: tick until every job has finished (True) or the timeout passed (False)."""
    deadline = time.monotonic() + timeout
    while _active:
        tick()
        if not _active:
            break
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def shutdown() -> None:
    """On unregister: cancel running work and stop the timer."""
    for active in list(_active.values()):
        active.job.cancel()
        active.job.wait(2.0)
    _active.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
