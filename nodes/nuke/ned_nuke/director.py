"""What the NED_Director's buttons do, and the same actions for `nuke -t` on a farm.

Each action is split in three: ``prepare_*`` reads the node in Nuke's main thread into a plain
plan (knob values sampled over the frame range, frame files, output path); ``run_*`` does the
network work from the plan alone, on a worker thread in the GUI or inline on the farm; ``finish_*``
puts the result back on the node in the main thread (the plates' Read and Merge, the shot id, the
actor list). Failures become one message the artist can act on; Nuke itself never sees an exception.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ned_plugin.client import CancelToken, ConnectionSettings, NedClientError, ProgressCallback, TrackResult
from ned_plugin.colour_choice import HandedColour, handed_colour, space_choices
from ned_plugin.host import background, controls, plates, requests
from ned_plugin.host.messages import HostError, artist_message
from ned_plugin.sequence import SequenceError, find_sequence, output_frames, parse_frame_range
from ned_plugin.slider_keys import is_slider
from ned_plugin.wire import pb

from . import knobs, nuke_api
from .config import CONFIG
from .progress import ProgressBridge

SETTINGS_HINT = "the NED_Director's NED tab"
ACTIONS = {"track": "tracking", "render": "the render", "train": "actor training", "preview": "the preview"}


class NedNukeError(RuntimeError):
    """An action failed; the message is the one an artist sees (also raised to farm scripts)."""


# ============================================================================ reading the node
class NodeValues:
    """A NED_Director's knobs as a controls.ValueSource (main thread only)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self._names = set(nuke_api.knob_names(node))

    def value(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return nuke_api.get(self.node, name)

    def is_animated(self, name: str) -> bool:
        return name in self._names and nuke_api.is_animated(self.node, name)

    def value_at(self, name: str, frame: int) -> float:
        return nuke_api.value_at(self.node, name, frame)


def resolve(node_or_name: Any) -> Any:
    node = nuke_api.to_node(node_or_name) if isinstance(node_or_name, str) else node_or_name
    if node is None:
        raise NedNukeError(f"there is no node called {node_or_name!r} in this script")
    if knobs.MARKER not in nuke_api.knob_names(node):
        raise NedNukeError(f"{node.name()} is not a NED_Director node")
    return node


def _text(node: Any, name: str) -> str:
    return str(nuke_api.get(node, name) or "").strip() if name in nuke_api.knob_names(node) else ""


def connection(node: Any, ui: bool = False) -> ConnectionSettings:
    settings = ConnectionSettings()
    if _text(node, "server"):
        settings.address = _text(node, "server")
    if _text(node, "token"):
        settings.token = _text(node, "token")
    if ui:
        settings.deadline_s, settings.attempts = CONFIG.ui_deadline_s, CONFIG.ui_attempts
    return settings


def _face_id(node: Any) -> int | None:
    face = int(nuke_api.get(node, "face_id"))
    return face if face >= 0 else None


def frame_range(node: Any, first: int | None = None, last: int | None = None) -> tuple[int, int]:
    """The frames to work on: the arguments, else the node's first/last knobs (with 'input range'
    off), else the input's range."""
    if first is None or last is None:
        names = set(nuke_api.knob_names(node))
        if "input_range" in names and not nuke_api.get(node, "input_range"):
            lo, hi = int(nuke_api.get(node, "first_frame")), int(nuke_api.get(node, "last_frame"))
        else:
            rng = nuke_api.input_range(node)
            if rng is None:
                raise HostError(f"{node.name()} has no input: connect the plate to it")
            lo, hi = rng
        first = lo if first is None else first
        last = hi if last is None else last
    if last < first:
        raise HostError(f"the frame range {first}-{last} is empty: the last frame comes before the first")
    return int(first), int(last)


def _frame_list(text: str, where: str) -> list[int]:
    try:
        return parse_frame_range(text)
    except SequenceError as exc:
        raise HostError(f"{where} {text!r} is not a frame range: {exc}") from None


def frame_list(node: Any, first: int | None = None, last: int | None = None,
               frames: str | Sequence[int] | None = None) -> tuple[int, int, list[int]]:
    """The range to work on and the frames of it wanted out ([] = all of them).

    ``frames`` (a list such as ``1001-1100x2``, or numbers) wins over first/last; without any, the
    node's `frames` knob when it is set, else ``frame_range``. A list runs its whole span (the
    temporal stages need the frames between as context) and returns only its own frames.
    """
    wanted: list[int] = []
    if frames is not None and frames != "":
        wanted = _frame_list(frames, "the frames") if isinstance(frames, str) else sorted({int(f) for f in frames})
    elif first is None or last is None:
        text = _text(node, "frame_list")
        wanted = _frame_list(text, "the frames knob") if text else []
    if wanted:
        first, last = wanted[0], wanted[-1]
    first, last = frame_range(node, first, last)
    try:
        return first, last, output_frames(wanted, first, last)
    except SequenceError as exc:
        raise HostError(str(exc)) from None


def colour(node: Any) -> HandedColour:
    """The colour the node hands over: its menu's pick, or the input's space in the script's config."""
    choice = _text(node, "input_space")
    source = nuke_api.source_colour_space(node) if node.input(0) is not None else ""
    return handed_colour(choice, source, nuke_api.script_ocio_config() if source else "")


def _work_dir(node: Any) -> Path:
    script = nuke_api.script_path()
    base = script.parent if script else Path(tempfile.gettempdir())
    return base / CONFIG.plates_dir / node.name()


def output_pattern(node: Any) -> str:
    """The plates' path from the node, or a default next to the script (written back to the knob)."""
    pattern = _text(node, "output")
    if not pattern:
        pattern = str(_work_dir(node) / f"{node.name()}.####.exr")
        nuke_api.set_value(node, "output", pattern)
    return pattern


def input_frames(node: Any, first: int, last: int) -> list[tuple[int, Path]]:
    """The input's frames as EXR files: a plain EXR Read's own files, else the input written out."""
    pattern = nuke_api.upstream_exr(node)
    if pattern is None:
        rng = nuke_api.input_range(node)
        if rng is None:
            raise HostError(f"{node.name()} has no input: connect the plate to it")
        first, last = max(first, rng[0]), min(last, rng[1])
        pattern = str(_work_dir(node).parent / CONFIG.send_dir / node.name() / "input.####.exr")
        Path(pattern).parent.mkdir(parents=True, exist_ok=True)
        try:
            nuke_api.render_input(node, pattern, first, last)
        except RuntimeError as exc:
            raise HostError(f"could not write the input frames {first}-{last} to send them: {exc}") from None
    return plates.frame_files(pattern, first, last)


def _names_to_read(node: Any) -> list[str]:
    return [n for n in nuke_api.knob_names(node)
            if n in controls.PARAMETER_TARGETS or n.startswith(controls.MIX_PREFIX) or is_slider(n)]


# ============================================================================ plans
@dataclass
class RenderPlan:
    node_name: str
    connection: ConnectionSettings
    values: controls.SnapshotValues
    first: int
    last: int
    actor: str
    shot_id: str
    face_id: int | None
    colour: HandedColour
    frames: list[tuple[int, Path]]
    output: str
    reference_clip: list[tuple[int, Path]] = field(default_factory=list)
    preroll: int | None = None  # instead of the node's (Preview frame)
    output_frames: list[int] = field(default_factory=list)  # of first..last, from a frame list; []: all


def prepare_render(node: Any, first: int | None = None, last: int | None = None,
                   preroll: int | None = None, frames: str | Sequence[int] | None = None) -> RenderPlan:
    first, last, listed = frame_list(node, first, last, frames)
    values = controls.take_snapshot(NodeValues(node), _names_to_read(node), first, last)
    own = preroll
    preroll = int(values.values.get("preroll", 0) or 0) if preroll is None else preroll
    actor = _text(node, "actor")
    if not actor:
        raise HostError("no actor is chosen: press Connect to list the server's actors, or train one")
    shot_id = _text(node, "shot_id")
    files: list[tuple[int, Path]] = []
    try:
        files = input_frames(node, first - preroll, last)
    except HostError:
        if not shot_id:
            raise  # nothing to send and no tracked shot to use
    reference: list[tuple[int, Path]] = []
    clip = _text(node, "reference_clip")
    if clip:
        reference = [(n, Path(p)) for n, p in find_sequence(clip)]
        if not reference:
            raise HostError(f"the reference clip {clip} has no frames on disk")
    return RenderPlan(node.name(), connection(node), values, first, last, actor, shot_id, _face_id(node),
                      colour(node), files, output_pattern(node), reference, own, listed)


def run_render(plan: RenderPlan, on_progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None) -> plates.RenderResult:
    """Network side of Render; needs nothing from Nuke, so it runs on any thread."""
    info = requests.server_info(plan.connection)
    specs = controls.knob_specs(info)
    settings = requests.manipulate_settings(
        specs, plan.values, first=plan.first, last=plan.last, shot_id=plan.shot_id, actor_id=plan.actor,
        face_id=plan.face_id, input_space=plan.colour.space, colour_config=plan.colour.config,
        frames=plan.output_frames)
    if plan.preroll is not None:
        settings.preroll = plan.preroll
    job = plates.RenderJob(plan.connection, settings, plan.frames, plan.output, use_cache=bool(plan.shot_id),
                           reference_clip=plan.reference_clip)
    return plates.render_shot(job, on_progress, cancel)


def finish_render(node: Any, result: plates.RenderResult) -> None:
    use_stmap = "use_stmap" in nuke_api.knob_names(node) and bool(nuke_api.get(node, "use_stmap"))
    nuke_api.show_plates(node, result.output, result.first, result.last, colour(node).space, use_stmap=use_stmap)
    nuke_api.set_value(node, "status", result.summary())
    if result.qc is not None:
        nuke_api.set_value(node, "qc", result.qc.summary)
    if result.speech_warning:  # the one QC figure that makes plates unusable for a talking shot
        nuke_api.message(f"{node.name()}: {result.speech_warning}")


def prepare_preview(node: Any) -> RenderPlan:
    """The current frame alone, from the server's cached track, with a short preroll."""
    if not _text(node, "shot_id"):
        raise HostError("Preview frame edits the tracked shot: press Track first")
    frame = nuke_api.current_frame()
    own = int(NodeValues(node).value("preroll") or 0) if "preroll" in nuke_api.knob_names(node) else 0
    plan = prepare_render(node, frame, frame, preroll=min(own or CONFIG.preview_preroll, CONFIG.preview_preroll))
    plan.output = str(_work_dir(node) / "preview" / f"{node.name()}.preview.####.exr")
    return plan


def finish_preview(node: Any, result: plates.RenderResult) -> None:
    nuke_api.show_preview(node, result.output, result.first, colour(node).space)
    nuke_api.set_value(node, "status", f"preview of frame {result.first}: {result.summary()}; "
                                       "Render writes the whole range")


@dataclass
class TrackPlan:
    node_name: str
    job: requests.TrackJob
    thumbnails: Path  # where the face picker's thumbnails go


def prepare_track(node: Any, first: int | None = None, last: int | None = None,
                  frames: str | Sequence[int] | None = None) -> TrackPlan:
    """A frame list tracks its whole span: the shot the server caches must hold every frame a later
    render of the list runs as context."""
    first, last, _ = frame_list(node, first, last, frames)
    handed = colour(node)
    settings = requests.track_settings(_text(node, "shot_id"), _face_id(node), handed.space,
                                       landmarks_file=_text(node, "landmarks"), colour_config=handed.config)
    return TrackPlan(node.name(), requests.TrackJob(connection(node), settings, input_frames(node, first, last)),
                     _work_dir(node) / "faces")


@dataclass
class TrackOutcome:
    result: TrackResult
    thumbnails: dict[int, Path]  # face id -> PNG, when several faces were found


def run_track(plan: TrackPlan, on_progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> TrackOutcome:
    result = requests.track_shot(plan.job, on_progress, cancel)
    thumbnails: dict[int, Path] = {}
    if len(result.summary.faces) > 1:
        from ned_plugin.face_thumbnails import face_thumbnails

        thumbnails = face_thumbnails(result.summary.faces, dict(plan.job.frames), plan.thumbnails)
    return TrackOutcome(result, thumbnails)


def finish_track(node: Any, outcome: TrackOutcome) -> None:
    result = outcome.result
    nuke_api.set_value(node, "shot_id", result.summary.shot_id)
    nuke_api.set_value(node, "status", requests.track_summary(result))
    faces = list(result.summary.faces) if len(result.summary.faces) > 1 else []
    knobs.add_face_picker(node, [
        (f.face_id, f"face {f.face_id}: {f.frames} frames ({f.first_frame}-{f.last_frame})",
         str(outcome.thumbnails.get(f.face_id, ""))) for f in faces])
    text = (f"{len(faces)} faces, following {result.summary.face_id}: pick another on the Faces tab"
            if faces else "")
    nuke_api.set_value(node, "faces", text)


def pick_face(node: Any, face_id: int) -> None:
    """A face picker button: follow that face (Track again, or Render, uses it)."""
    nuke_api.set_value(node, "face_id", int(face_id))
    nuke_api.set_value(node, "faces", f"following face {face_id}: press Track to track it")


@dataclass
class TrainPlan:
    node_name: str
    connection: ConnectionSettings
    request: pb.TrainActorRequest


@dataclass
class TrainResult:
    job: pb.JobInfo
    actors: list[str]


def prepare_train(node: Any) -> TrainPlan:
    actor = _text(node, "train_actor") or _text(node, "actor")
    shot = _text(node, "shot_id")
    if not actor:
        raise HostError("name the actor to train in 'train as'")
    if not shot:
        raise HostError("training needs a tracked shot: press Track first")
    request = pb.TrainActorRequest(actor_id=actor, shot_ids=[shot], preset=_text(node, "train_preset") or "paper")
    face = _face_id(node)
    if face is not None:
        request.face_id = face
    return TrainPlan(node.name(), connection(node), request)


def run_train(plan: TrainPlan, on_progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> TrainResult:
    job = requests.train_actor(plan.connection, plan.request, on_progress, cancel)
    try:
        actors = [a for a, _ in controls.actor_choices(requests.server_info(plan.connection))]
    except NedClientError:
        actors = []
    return TrainResult(job, actors)


def finish_train(node: Any, result: TrainResult) -> None:
    if result.actors:
        nuke_api.set_choices(node, "actor", result.actors)
    nuke_api.set_value(node, "status", f"actor {result.job.actor_id} trained: {result.job.message}".strip(": "))


STEPS: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[[Any, Any], None]]] = {
    "render": (prepare_render, run_render, finish_render),
    "track": (prepare_track, run_track, finish_track),
    "train": (prepare_train, run_train, finish_train),
    "preview": (prepare_preview, run_render, finish_preview),
}


# ============================================================================ connect
def connect(node: Any, ui: bool = True) -> pb.ServerInfo | None:
    """GetInfo, then build or update the emotion knobs from it; None (and a message) on failure."""
    try:
        info = requests.server_info(connection(node, ui=True))
    except Exception as exc:
        text = artist_message(exc, "the connection", SETTINGS_HINT)
        nuke_api.set_value(node, "server_status", "not connected: " + text.splitlines()[0])
        if ui:
            nuke_api.message(text)
        return None
    knobs.apply_specs(node, controls.knob_specs(info), [a for a, _ in controls.actor_choices(info)],
                      space_choices(info))
    nuke_api.set_value(node, "server_status", controls.server_summary(info))
    return info


def create_director(name: str = CONFIG.node_name, connect_now: bool = True) -> Any:
    """A new NED_Director (a Group) in the current graph; connects at once when the server is up."""
    node = nuke_api.create_group(name)
    knobs.add_fixed_knobs(node)
    nuke_api.describe_node(node, knobs.HELP, CONFIG.tile_color)
    if connect_now:
        connect(node, ui=False)
    return node


# ============================================================================ GUI: background work
_running: dict[str, background.BackgroundJob] = {}


def start(node: Any, action: str) -> background.BackgroundJob | None:
    """Run a button's action on a worker thread with a progress bar; never raises into Nuke."""
    what = ACTIONS[action]
    name = nuke_api.node_path(node)
    busy = _running.get(name)
    if busy is not None and busy.running:
        nuke_api.message(f"{node.name()} is still busy ({busy.title}): wait, or cancel it in the progress bar.")
        return None
    prepare, run, _ = STEPS[action]
    try:
        plan = prepare(node)
    except Exception as exc:
        _report(node, exc, what)
        return None
    title = f"NED {action}: {node.name()}"

    def work(progress: ProgressCallback, cancel: CancelToken) -> Any:
        bridge = ProgressBridge(nuke_api.progress_task(title), cancel)
        try:
            return run(plan, bridge.chain(progress), cancel)
        finally:
            bridge.close()

    nuke_api.set_value(node, "status", f"{what} running...")
    job = background.BackgroundJob(title, work, on_done=lambda j: nuke_api.in_main_thread(_finish, name, action, j))
    _running[name] = job
    return job.start()


def _finish(name: str, action: str, job: background.BackgroundJob) -> None:
    """Main thread: put the result on the node, or tell the artist what went wrong."""
    if _running.get(name) is job:
        del _running[name]
    node = nuke_api.to_node(name)
    status = job.snapshot()
    if node is None:  # deleted while the work ran
        return
    if status.error is not None:
        _report(node, status.error, ACTIONS[action])
        return
    try:
        STEPS[action][2](node, status.result)
    except Exception as exc:
        _report(node, exc, ACTIONS[action])


def _report(node: Any, exc: BaseException, what: str) -> None:
    text = artist_message(exc, what, SETTINGS_HINT)
    with contextlib.suppress(Exception):  # a node without the status knob must not hide the real message
        nuke_api.set_value(node, "status", text.splitlines()[0])
    nuke_api.message(text)


def running_job(node_or_name: Any) -> background.BackgroundJob | None:
    name = node_or_name if isinstance(node_or_name, str) else nuke_api.node_path(node_or_name)
    return _running.get(name)


# ============================================================================ farm / script API
def farm_progress() -> ProgressCallback:
    from ned_plugin.cli import progress_printer

    return progress_printer("farm")


def run_inline(action: str, node_or_name: Any, *args: Any,
               on_progress: ProgressCallback | None = None, **kwargs: Any) -> Any:
    """Prepare, run and finish an action in the calling thread; raises NedNukeError with the artist's text."""
    node = resolve(node_or_name)
    prepare, run, finish = STEPS[action]
    cancel = CancelToken()
    try:
        plan = prepare(node, *args, **kwargs)
        result = run(plan, on_progress or farm_progress(), cancel)
        finish(node, result)
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    except NedNukeError:
        raise
    except Exception as exc:
        raise NedNukeError(artist_message(exc, ACTIONS[action], SETTINGS_HINT)) from exc
    return result


def directors() -> list[str]:
    """Names of the NED_Director nodes in the root graph (for farm scripts that render them all)."""
    return [n.name() for n in nuke_api.all_groups() if knobs.MARKER in nuke_api.knob_names(n)]
