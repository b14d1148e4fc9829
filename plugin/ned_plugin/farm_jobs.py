"""Farm jobs written in the open formats: an Open Job Description template and an OpenCue outline.

A TD should not hand-write a job for each farm manager. The job is always the same shape: Track
the shot once, optionally train the actor's renderer on it, then Manipulate the shot in frame
chunks on as many machines as the farm has, each chunk naming the tracked shot and running its
preroll first so the chunks equal one full run (the server does the preroll; see batch.py). Every
task is a plain ``ned`` command, so whatever runs the job needs only the client installed and the
server's address (and ``NED_TOKEN`` in the farm environment when the server wants a token).

``JobPlan`` is the plain description; ``openjd_template`` turns it into a jobtemplate-2023-09
document (what AWS Deadline Cloud and the ``openjd`` CLI run), ``opencue_outline`` into a pyoutline
``Outline`` (what OpenCue's cuebot takes). Neither library is needed to build the plan; each is
imported only by the function that writes its format.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outline import Outline

SPEC_VERSION = "jobtemplate-2023-09"


@dataclass(frozen=True)
class ChunkPlan:
    """One Manipulate task: frames ``first..last`` with ``preroll`` frames run before them (fewer at the
    start of the shot, where there is nothing before)."""

    first: int
    last: int
    preroll: int

    @property
    def frames(self) -> str:
        return f"{self.first}-{self.last}"


def frame_chunks(first: int, last: int, size: int, preroll: int) -> list[ChunkPlan]:
    """The shot ``first..last`` cut into chunks of ``size`` frames, each with the preroll it can have."""
    if last < first:
        raise ValueError(f"empty frame range {first}-{last}")
    if size < 1 or preroll < 0:
        raise ValueError(f"chunk size must be >= 1 and preroll >= 0, got {size} and {preroll}")
    return [ChunkPlan(start, min(start + size - 1, last), min(preroll, start - first))
            for start in range(first, last + 1, size)]


@dataclass
class TrainPlan:
    """The optional TrainActor step: train ``actor`` on the tracked shot (and any other shots named)."""

    preset: str = "tiny"
    iterations: int | None = None
    init_from: str = ""
    extra_shots: Sequence[str] = ()


@dataclass
class JobPlan:
    name: str
    plates: str  # the shot's plates as a pattern: /show/sh010/plate.####.exr
    first: int
    last: int
    shot_id: str
    actor: str
    output: str  # the face plates: /show/sh010/ned/sh010_happy.####.exr
    # Emotion arguments passed to `ned manipulate` as they are: ["--emotion", "happy", "--intensity", "0.8"].
    emotion_args: Sequence[str] = ("--emotion", "happy")
    chunk_size: int = 10
    preroll: int = 25
    landmarks: str = ""
    train: TrainPlan | None = None
    server: str = "127.0.0.1:50551"
    ned_command: str = "ned"
    # Connection arguments every task adds (e.g. ["--tls", "--ca", "/etc/ned/ca.pem"]).
    connection_args: Sequence[str] = field(default_factory=tuple)

    @property
    def chunks(self) -> list[ChunkPlan]:
        return frame_chunks(self.first, self.last, self.chunk_size, self.preroll)

    # The task command lines, with `{server}`, `{frames}` and `{preroll}` left for each format's tokens.
    def track_args(self, plates: str, server: str, progress: str) -> list[str]:
        args = ["track", plates, "--frames", f"{self.first}-{self.last}", "--shot-id", self.shot_id,
                "--server", server, "--progress", progress, *self.connection_args]
        return [*args, "--landmarks", self.landmarks] if self.landmarks else args

    def train_args(self, server: str, progress: str) -> list[str]:
        assert self.train is not None
        t = self.train
        args = ["train-actor", self.actor, "--shot-id", self.shot_id, "--preset", t.preset,
                "--server", server, "--progress", progress, *self.connection_args]
        for shot in t.extra_shots:
            args += ["--shot-id", shot]
        if t.iterations is not None:
            args += ["--iterations", str(t.iterations)]
        if t.init_from:
            args += ["--init-from", t.init_from]
        return args

    def manipulate_args(self, output: str, server: str, frames: str, preroll: str, progress: str) -> list[str]:
        return ["manipulate", "--shot-id", self.shot_id, "--actor", self.actor, *self.emotion_args,
                "--frames", frames, "--preroll", preroll, "--output", output, "--server", server,
                "--progress", progress, *self.connection_args]


# ---------------------------------------------------------------------------- Open Job Description
def _run(command: str, args: list[str]) -> dict[str, Any]:
    return {"actions": {"onRun": {"command": command, "args": args}}}


def openjd_template(plan: JobPlan) -> dict[str, Any]:
    """The job as an Open Job Description template (a plain dict: dump it as YAML or JSON).

    The shot's plates, the output and the server are job parameters (PATH parameters get the farm's
    path mapping); the Manipulate step's parameter space is the chunks, each frame range associated
    with its own preroll, and depends on Track (and on TrainActor when there is one).
    """
    ned = "{{Param.NedCommand}}"
    server = "{{Param.Server}}"
    steps: list[dict[str, Any]] = [{
        "name": "Track",
        "description": "Track the shot once; the server caches it for every chunk.",
        "script": _run(ned, plan.track_args("{{Param.Plates}}", server, "openjd")),
    }]
    after = [{"dependsOn": "Track"}]
    if plan.train is not None:
        steps.append({"name": "TrainActor", "description": f"Train the renderer of {plan.actor} on the shot.",
                      "dependencies": [{"dependsOn": "Track"}],
                      "script": _run(ned, plan.train_args(server, "openjd"))})
        after.append({"dependsOn": "TrainActor"})
    chunks = plan.chunks
    steps.append({
        "name": "Manipulate",
        "description": "Change the emotion, one chunk of frames per task, each with its preroll.",
        "dependencies": after,
        "parameterSpace": {
            "taskParameterDefinitions": [
                {"name": "Frames", "type": "STRING", "range": [c.frames for c in chunks]},
                {"name": "Preroll", "type": "INT", "range": [c.preroll for c in chunks]},
            ],
            "combination": "(Frames, Preroll)",
        },
        "script": _run(ned, plan.manipulate_args("{{Param.Output}}", server, "{{Task.Param.Frames}}",
                                                 "{{Task.Param.Preroll}}", "openjd")),
    })
    return {
        "specificationVersion": SPEC_VERSION,
        "name": plan.name,
        "description": f"NED: shot {plan.shot_id}, actor {plan.actor}, frames {plan.first}-{plan.last} "
                       f"in {len(chunks)} chunks of {plan.chunk_size}",
        "parameterDefinitions": [
            {"name": "NedCommand", "type": "STRING", "default": plan.ned_command,
             "description": "The ned command on the workers (the NED client install)."},
            {"name": "Server", "type": "STRING", "default": plan.server, "minLength": 1,
             "description": "HOST:PORT of the NED server; set NED_TOKEN on the farm if it needs a token."},
            # STRING, not PATH: a PATH parameter's default must be relative to the template, and these
            # are the shot's own absolute paths on the shared storage.
            {"name": "Plates", "type": "STRING", "default": plan.plates, "minLength": 1,
             "description": "The shot's plates as a frame pattern (####), as the workers see them."},
            {"name": "Output", "type": "STRING", "default": plan.output, "minLength": 1,
             "description": "The face plates as a frame pattern (####)."},
        ],
        "steps": steps,
    }


def validate_openjd(template: dict[str, Any]) -> None:
    """Parse the template with openjd-model (the specification's own model); raises on any error."""
    from openjd.model import DecodeValidationError, decode_job_template

    try:
        decode_job_template(template=template)
    except DecodeValidationError as exc:
        raise ValueError(f"the Open Job Description template is not valid: {exc}") from None


# ---------------------------------------------------------------------------- OpenCue
# OpenCue replaces these in a layer's command for each frame (chunk) it dispatches.
CUE_FRAME_START = "#FRAME_START#"
CUE_FRAME_END = "#FRAME_END#"


def opencue_outline(plan: JobPlan, show: str = "", shot: str = "", user: str = "") -> Outline:
    """The job as an OpenCue outline: a Track layer of one frame, an optional TrainActor layer, and a
    Manipulate layer over the shot's frames in chunks of ``chunk_size`` that waits for them.

    The preroll is the plan's: the server clamps it at the start of the shot, which is what the
    OpenJD template spells out chunk by chunk.
    """
    from outline import Outline
    from outline.modules.shell import Shell

    kwargs = {k: v for k, v in (("show", show), ("shot", shot or plan.shot_id), ("user", user)) if v}
    outline = Outline(re.sub(r"[^A-Za-z0-9_.-]+", "_", plan.name), **kwargs)  # cuebot's job names: no spaces
    command = plan.ned_command
    track = Shell("track", command=shlex.join([command, *plan.track_args(plan.plates, plan.server, "farm")]),
                  range="1")
    outline.add_layer(track)
    before = [track]
    if plan.train is not None:
        train = Shell("train_actor", command=shlex.join([command, *plan.train_args(plan.server, "farm")]),
                      range="1")
        train.depend_all(track)
        outline.add_layer(train)
        before.append(train)
    frames = f"{CUE_FRAME_START}-{CUE_FRAME_END}"
    manipulate = Shell(
        "manipulate",
        command=shlex.join([command, *plan.manipulate_args(plan.output, plan.server, frames, str(plan.preroll),
                                                           "farm")]),
        range=f"{plan.first}-{plan.last}", chunk=plan.chunk_size)
    for layer in before:
        manipulate.depend_all(layer)
    outline.add_layer(manipulate)
    return outline


def opencue_xml(outline: Outline) -> str:
    """The outline as the job spec XML that cuebot takes. Serialised "simple": each layer runs its ``ned``
    command itself (RQD substitutes the frame tokens), not through pycuerun and a copy of this outline."""
    from outline.backend import cue
    from outline.cuerun import OutlineLauncher

    return str(cue.serialize_simple(OutlineLauncher(outline)))
