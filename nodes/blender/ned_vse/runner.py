"""Background work for the panel: a worker thread per scene, brought back to Blender by a timer.

The worker (ned_plugin.host.background.BackgroundJob) never touches bpy data; it only talks to the
server and writes files. Work that must use bpy (Blender rendering a non-EXR strip to EXR) comes
first as a ``prepare`` generator that the timer advances one short step per tick, on the main
thread, so the UI stays live and Cancel works between steps; the worker starts when it is exhausted.
After a finish function changes the scene (result strips added), an undo step is pushed, so Ctrl+Z
removes exactly what NED added. ``tick`` runs on Blender's main thread from ``bpy.app.timers`` in
the UI: it copies progress into ``scene.ned_vse`` (the panel's bar), and when a job ends runs its
finish function there (adding the result strips) or shows the artist's message. In background mode
(``blender -b`` or the bpy module) no timers run, so scripts call ``wait()``, which ticks by hand.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import bpy

TICK_S = 0.1


@dataclass
class Active:
    scene: str
    action: str
    job: Any  # ned_plugin.host.background.BackgroundJob
    finish: Callable[[bpy.types.Scene, Any], str]  # (scene, result) -> status line
    # main-thread steps before the job: yields (done, total); None once done
    prepare: Generator[tuple[int, int], None, None] | None = None
    prepare_error: BaseException | None = None
    cancelled: bool = False


_active: dict[str, Active] = {}


def busy(scene: bpy.types.Scene) -> bool:
    return scene.name in _active


def start(scene: bpy.types.Scene, action: str, work: Callable, finish: Callable,
          prepare: Generator[tuple[int, int], None, None] | None = None) -> None:
    """Run ``work`` on a worker thread (after ``prepare``'s main-thread steps, if any), then
    ``finish(scene, result)`` on the main thread. Returns at once."""
    from ned_plugin.host.background import BackgroundJob

    if scene.name in _active:
        raise RuntimeError(f"NED is still busy with {_active[scene.name].action} in this scene: cancel it first")
    job = BackgroundJob(f"{action} ({scene.name})", work)
    _active[scene.name] = Active(scene.name, action, job, finish, prepare)
    settings = scene.ned_vse
    settings.busy, settings.progress, settings.status, settings.last_error = True, 0.0, f"{action}: starting", ""
    if prepare is None:
        job.start()
    if not bpy.app.background:
        wm = bpy.context.window_manager
        wm.progress_begin(0, 100)
        if not bpy.app.timers.is_registered(tick):
            bpy.app.timers.register(tick, first_interval=TICK_S)


def _advance(active: Active, settings: Any) -> bool:
    """One main-thread step of the preparation; True while steps remain."""
    assert active.prepare is not None
    try:
        done, total = next(active.prepare)
    except StopIteration:
        active.prepare = None
        active.job.start()
        return False
    except Exception as exc:  # the render failed: reported like the job's own errors
        active.prepare, active.prepare_error = None, exc
        return False
    settings.progress = 0.0
    settings.status = f"{active.action}: preparing frames {done}/{total}"
    return True


def cancel(scene: bpy.types.Scene) -> bool:
    active = _active.get(scene.name)
    if active is None:
        return False
    if active.prepare is not None:  # not started yet: stop the steps (their cleanup runs)
        active.prepare.close()
        active.prepare, active.cancelled = None, True
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
    from ned_plugin.host.messages import artist_message

    for name, active in list(_active.items()):
        scene = bpy.data.scenes.get(name)
        if scene is None:  # the scene was deleted (or undone): let the work end, drop its result
            if active.prepare is not None:
                active.prepare.close()
                active.prepare, active.cancelled = None, True
            if active.job.snapshot().finished or (active.cancelled and not active.job.running):
                del _active[name]
            continue
        settings = scene.ned_vse
        if active.prepare is not None and _advance(active, settings):
            continue
        ended_early = active.prepare_error is not None or (active.cancelled and not active.job.running)
        status = active.job.snapshot()
        if not ended_early:
            settings.progress = status.fraction
            settings.status = status.line
            if not bpy.app.background:
                bpy.context.window_manager.progress_update(int(100 * status.fraction))
            if not status.finished:
                continue
        del _active[name]
        settings.busy = False
        error = active.prepare_error
        if active.cancelled and not error and not status.finished:
            from ned_plugin.client import CallCancelled

            error = CallCancelled("cancelled: stopped by the artist", "CANCELLED")
        elif status.finished:
            error = status.error
        if error is None:
            try:
                settings.status = active.finish(scene, status.result)
                settings.progress = 1.0
                _undo_push(f"NED {active.action}")
            except Exception as exc:
                error = exc
        if error is not None:
            text = artist_message(error, active.action, "the NED add-on preferences")
            settings.status = text.splitlines()[0]
            settings.last_error = text
            _tell(text)
        if not bpy.app.background and not _active:
            bpy.context.window_manager.progress_end()
    _redraw()
    return TICK_S if _active else None


def _undo_push(message: str) -> None:
    """An undo step for what the finish function just added (strips), so Ctrl+Z takes it away."""
    with contextlib.suppress(Exception):  # no undo stack (background mode, Blender closing)
        if bpy.ops.ed.undo_push.poll():
            bpy.ops.ed.undo_push(message=message)
            UNDO_PUSHES.append(message)


UNDO_PUSHES: list[str] = []  # what was pushed, for tests and debugging


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
        if active.prepare is not None:
            active.prepare.close()
        active.job.cancel()
        if active.job.running:
            active.job.wait(2.0)
    _active.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
