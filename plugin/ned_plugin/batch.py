"""``ned track`` / ``ned manipulate`` / ``ned extract-style`` / ``ned train-actor``: shots on disk in, results out.

Farm use: track the whole shot once (``ned track plates.####.exr --frames 1001-1200 --shot-id sh010``),
then render it in chunks on as many machines as you like, each naming the cached shot
(``ned manipulate --shot-id sh010 --frames 1001-1050 ...``): the server runs ``--preroll`` frames
before each chunk through the recurrent stages, so every chunk equals the same frames of one full
run. Each output frame is written atomically, so a killed task never leaves a half-written EXR.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .cli import PROGRESS_MODES, add_connection_args, connection_from_args, progress_printer
from .client import CancelToken, NedClient, TrackResult, progress_info
from .files import write_bytes
from .host.plates import empty_plate
from .landmarks_io import read_landmarks
from .parameters import parameter
from .plate_files import PlateFiles
from .preview import preview_settings
from .qc_files import write_report
from .sequence import (
    SequenceError,
    expand_pattern,
    find_sequence,
    format_frame_list,
    is_contiguous,
    output_frames,
    parse_frame_range,
)
from .slider_keys import SliderKeysError, read_slider_keys
from .wire import pb
from .wire.controls import EmotionKeyValues
from .wire.controls import emotion_control as build_emotion_control

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("ned")


def _frames(parser: argparse.ArgumentParser, spec: str | None) -> list[int]:
    """The --frames list, sorted; [] when not given. A bad list is a usage error (exit 2) that says why."""
    if not spec:
        return []
    try:
        return parse_frame_range(spec)
    except SequenceError as exc:
        parser.error(str(exc))
    raise AssertionError("unreachable")


def _context_frames(parser: argparse.ArgumentParser, pattern: str, wanted: Sequence[int],
                    preroll: int = 0) -> list[tuple[int, Path]]:
    """The files to send for a frame list: every frame from ``min - preroll`` to ``max`` that exists.

    The temporal stages (tracking's smoothing, the manipulator's windows, the recurrent renderer)
    need the frames between a list's members as context; the listed frames themselves must exist.
    """
    if not wanted:
        try:
            return [(n, Path(p)) for n, p in find_sequence(pattern)]
        except SequenceError as exc:
            parser.error(str(exc))
    try:
        listed = {n: Path(p) for n, p in find_sequence(pattern, wanted)}
        extra = [(n, Path(expand_pattern(pattern, n))) for n in range(wanted[0] - preroll, wanted[-1] + 1)
                 if n not in listed]
    except SequenceError as exc:
        parser.error(str(exc))
    return sorted([*listed.items(), *((n, p) for n, p in extra if p.is_file())])


def _read_frames(seq: Sequence[tuple[int, Path]]) -> PlateFiles:
    """The frames as files: streamed as bytes, or named by path to a server that reads them in place.
    Each is checked before the call, so a missing frame is an error here, not a cut stream."""
    for number, path in seq:
        if not os.access(path, os.R_OK) or not path.is_file():
            raise SystemExit(f"ned: cannot read frame {number}: {path} is missing or unreadable")
    return PlateFiles(seq)


def _colour(args: argparse.Namespace) -> pb.ColourSettings:
    return pb.ColourSettings(config=args.ocio or "", input_space=args.input_space or "")


def _add_shot_args(p: argparse.ArgumentParser, pattern_required: bool) -> None:
    p.add_argument("pattern", nargs=None if pattern_required else "?",
                   help="image sequence, e.g. plates/sh010.####.exr (also %%04d, $F4, @)")
    p.add_argument("--frames", help="frame range, e.g. 1001-1100, 1001-1100x2, 1001,1005-1010")
    p.add_argument("--shot-id", default="", help="name of the shot on the server")
    p.add_argument("--face-id", type=int, help="which face when several are in the shot (default: largest)")
    p.add_argument("--input-space", help="scene-linear colour space of the plates (default: server's)")
    p.add_argument("--ocio", help="OCIO config path or ocio:// URI on the server (default: $OCIO / built-in)")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto")
    add_connection_args(p)


def landmarks_for_frames(landmarks: dict[int, np.ndarray], frames: Sequence[int], source: str) -> dict[int, np.ndarray]:
    """The landmarks of the frames being tracked: a file covering a longer sequence (``--frames
    1601-1720`` of a file holding 1001-1720) is fine, only the tracked range is sent. A file sharing
    no frame with the range is an error (a wrong file or frame offset)."""
    wanted = set(frames)
    inside = {n: p for n, p in landmarks.items() if n in wanted}
    if landmarks and not inside:
        have = sorted(landmarks)
        raise SystemExit(f"ned track: {source} holds landmarks for frames {have[0]}-{have[-1]}, none of the "
                         f"tracked frames {min(frames)}-{max(frames)}: check the file or --frames")
    return inside


def track_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned track", description="Track a shot's faces on the NED server.")
    _add_shot_args(p, pattern_required=True)
    p.add_argument("--landmarks", help="68-point landmarks from another tracker (JSON or CSV, see docs)")
    p.add_argument("--force", action="store_true", help="track again even when the server has it cached")
    p.add_argument("--out", help="write the per-frame tracking here: .npz (for train-manipulator) or .json")
    args = p.parse_args(argv)
    wanted = _frames(p, args.frames)
    seq = _context_frames(p, args.pattern, wanted)
    settings = pb.TrackSettings(shot_id=args.shot_id, colour=_colour(args), frame_count=len(seq), force=args.force)
    if args.face_id is not None:
        settings.face_id = args.face_id
    if args.landmarks:
        for number, points in landmarks_for_frames(read_landmarks(args.landmarks), [n for n, _ in seq],
                                                   args.landmarks).items():
            settings.landmarks.add(frame=number, points=[float(v) for v in points.reshape(-1)])
    cancel = CancelToken()
    with NedClient(connection_from_args(args)) as client:
        try:
            result = client.track(_read_frames(seq), settings, progress_printer(args.progress), cancel)
        except KeyboardInterrupt:
            cancel.cancel()
            raise
    s = result.summary
    print(f"shot {s.shot_id}: {s.tracked_frames}/{s.frame_count} frames tracked, face {s.face_id}"
          f"{' (from cache)' if s.from_cache else ''}; faces found: "
          + ", ".join(f"{f.face_id} ({f.frames} frames)" for f in s.faces))
    listed = wanted if not is_contiguous(wanted) else []
    if listed:
        print(f"frames {wanted[0]}-{wanted[-1]} tracked as one shot (the frames between are the tracker's "
              f"context); the per-frame tracking of the {len(listed)} listed frames ({format_frame_list(listed)}) "
              "is what --out holds")
    if args.out:
        write_bytes(Path(args.out), track_file_bytes(result, Path(args.out).suffix.lower(), listed))
    return 0


def track_file_bytes(result: TrackResult, suffix: str, only: Sequence[int] = ()) -> bytes:
    """``ned track --out``: .npz (what ``ned train-manipulator --data`` reads: expression51, frames,
    tracked, plus landmarks, pose, camera, pupils and alignment) or JSON (every field, for scripts).
    ``only``: the frames to write (a --frames list); empty: every frame tracked."""
    import io

    import numpy as np

    keep = set(only)
    tracks = [f for f in result.frames if not keep or f.frame in keep]
    if suffix != ".npz":
        from google.protobuf.json_format import MessageToDict

        doc = {"summary": MessageToDict(result.summary), "frames": [MessageToDict(f) for f in tracks]}
        return json.dumps(doc, indent=1).encode()

    def rows(name: str, width: int) -> np.ndarray:
        out = np.full((len(tracks), width), np.nan, np.float32)
        for i, f in enumerate(tracks):
            values = getattr(f, name)
            if f.tracked and len(values) == width:
                out[i] = values
        return out

    buf = io.BytesIO()
    np.savez(buf, frames=np.array([f.frame for f in tracks], np.int64),
             tracked=np.array([f.tracked for f in tracks], bool), expression51=rows("expression", 51),
             landmarks=rows("landmarks", 136).reshape(-1, 68, 2), pose=rows("pose", 15), camera=rows("camera", 3),
             pupils=rows("pupils", 4).reshape(-1, 2, 2), alignment=rows("alignment", 6).reshape(-1, 2, 3),
             boxes=rows("box", 4), shot_id=np.array(result.summary.shot_id))
    return buf.getvalue()


def _parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (t.strip() for t in text.split(","))):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise SystemExit(f"ned: bad --mix entry {part!r}: use emotion=weight, e.g. happy=0.7,surprised=0.3"
                             ) from None
    return mix


def emotion_control(args: argparse.Namespace) -> pb.EmotionControl:
    """The EmotionControl the flags describe (built by ned_plugin.wire.controls, as the hosts' is)."""
    style: list[float] = []
    if args.reference_style:
        doc = json.loads(Path(args.reference_style).read_text())
        style = [float(v) for v in (doc["style"] if isinstance(doc, dict) else doc)]
    keys = [
        EmotionKeyValues(frame=int(key["frame"]), emotion=key.get("emotion", ""),
                         mix={str(n): float(w) for n, w in key.get("mix", {}).items()},
                         intensity=float(key["intensity"]) if "intensity" in key else None)
        for key in (json.loads(Path(args.keys).read_text()) if args.keys else [])
    ]
    return build_emotion_control(args.emotion or "", intensity=args.intensity,
                                 mix=_parse_mix(args.mix) if args.mix else None, seed=args.seed,
                                 speech_preservation=args.speech, reference_style=style, keys=keys)


def manipulate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned manipulate", description="Change the emotion of a shot.")
    _add_shot_args(p, pattern_required=False)
    p.add_argument("--actor", required=True, help="actor id (a trained renderer on the server)")
    p.add_argument("--emotion", help="target emotion (see `ned info`)")
    p.add_argument("--intensity", type=float, help="0 = own style, 1 = target, >1 exaggerates")
    p.add_argument("--mix", help="several emotions by weight: happy=0.7,surprised=0.3")
    p.add_argument("--keys", help="JSON list of keys [{frame, emotion|mix, intensity}] for emotion over time")
    p.add_argument("--reference-style", help="JSON file written by `ned extract-style`")
    p.add_argument("--sliders", help="JSON face slider keys {slider: value | [[frame, value], ...]}, e.g. "
                   "{\"smile\": [[1001, 0], [1024, 0.6]], \"gaze_horizontal\": 5} (see `ned info` for the sliders)")
    p.add_argument("--seed", type=int)
    p.add_argument("--speech", type=float, help="speech preservation 0..1 (jaw kept like the original)")
    p.add_argument("--blend", choices=("laplacian", "copy", "poisson"))
    p.add_argument("--levels", type=int)
    p.add_argument("--erode", type=float)
    p.add_argument("--feather", type=float)
    p.add_argument("--preroll", type=int, help="frames run before the range so chunks match a full run")
    p.add_argument("--render", choices=("hybrid", "warp", "neural"),
                   help="hybrid (server default): the plate warped at full resolution, the neural face only in the "
                        "mouth and eyes it uncovers; warp: the warp alone; neural: the renderer's face (the paper)")
    p.add_argument("--output", required=True, help="output sequence, e.g. out/sh010_happy.####.exr")
    p.add_argument("--compression", default="")
    p.add_argument("--pixel-type", choices=("half", "float"), default="")
    p.add_argument("--preview", type=int, metavar="FRAME",
                   help="render this one frame from the shot the server has tracked (--shot-id): a fast look at "
                        "an emotion or face-slider change")
    p.add_argument("--send-frames", action="store_true",
                   help="send the plates even if the server has the shot (default: only when it does not)")
    args = p.parse_args(argv)
    if not args.pattern and not args.shot_id:
        p.error("give the plates' pattern or the --shot-id of a tracked shot")
    settings = pb.ManipulateSettings(
        shot_id=args.shot_id, actor_id=args.actor, emotion=emotion_control(args), colour=_colour(args),
        output=pb.OutputSettings(compression=args.compression, pixel_type=args.pixel_type),
    )
    if args.sliders:
        try:
            settings.sliders.extend(read_slider_keys(args.sliders))
        except SliderKeysError as exc:
            raise SystemExit(f"ned: {exc}") from None
    blend = settings.blend
    blend.method = args.blend or ""
    for name in ("levels", "erode", "feather"):
        if getattr(args, name) is not None:
            setattr(blend, name, getattr(args, name))
    if args.face_id is not None:
        settings.face_id = args.face_id
    if args.preroll is not None:
        settings.preroll = args.preroll
    if args.render:
        settings.render = args.render
    wanted = _frames(p, args.frames)
    if wanted:
        # the range covers the list (context for the temporal stages); only the listed frames come back
        settings.range.first, settings.range.last = wanted[0], wanted[-1]
        settings.output_frames[:] = output_frames(wanted, wanted[0], wanted[-1])
    if args.preview is not None:
        if not args.shot_id:
            p.error("--preview renders from the tracked shot: give its --shot-id (track it first)")
        settings = preview_settings(settings, args.preview, args.preroll)
        del settings.output_frames[:]  # the one preview frame, whatever --frames listed
        args.pattern = None  # nothing to send: the server has the shot
    keep = set(settings.output_frames)
    frames: PlateFiles | tuple = ()
    written = 0
    cancel = CancelToken()
    with NedClient(connection_from_args(args)) as client:
        if args.pattern and (args.send_frames or not args.shot_id):
            # with a list, the preroll frames that exist are sent too, so the server has the context it needs
            preroll = int(parameter("preroll").default) if args.preroll is None else args.preroll
            seq = _context_frames(p, args.pattern, wanted, preroll)
            settings.frame_count = len(seq)
            frames = _read_frames(seq)
        summaries: list[pb.ManipulateSummary] = []
        try:
            for plate in client.manipulate(settings, frames, progress_printer(args.progress), cancel,
                                           on_summary=summaries.append):
                h = plate.header
                if keep and h.frame not in keep:
                    continue  # a server that ignores output_frames: the list still holds
                data = plate.exr if h.tracked else empty_plate(h.display_window)
                out = Path(expand_pattern(args.output, h.frame))
                write_bytes(out, data)
                written += 1
                log.info("frame %d -> %s%s", h.frame, out, "" if h.tracked else f" (untracked: {h.note})")
        except KeyboardInterrupt:
            cancel.cancel()
            raise
    print(f"wrote {written} plates to {args.output}")
    if summaries and summaries[-1].HasField("qc"):
        qc = summaries[-1].qc
        span = (args.preview, args.preview) if args.preview is not None else (wanted[0], wanted[-1]) if wanted else None
        files = write_report(qc, args.output, span)
        plot = "" if len(files) > 1 else " (no PNG plot: matplotlib is not installed here)"
        print(f"{qc.summary}\nQC report: {', '.join(str(f) for f in files)}{plot}")
    return 0


def extract_style_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned extract-style", description="Emotional style of a reference clip.")
    _add_shot_args(p, pattern_required=False)
    p.add_argument("--out", required=True, help="JSON file for the style vector (use with manipulate)")
    args = p.parse_args(argv)
    if not args.pattern and not args.shot_id:
        p.error("give the reference clip's pattern or the --shot-id of a tracked shot")
    settings = pb.ExtractStyleSettings(shot_id=args.shot_id, colour=_colour(args))
    if args.face_id is not None:
        settings.face_id = args.face_id
    wanted = _frames(p, args.frames)
    if not is_contiguous(wanted):
        p.error(f"--frames {args.frames}: a style is read from a continuous clip; give FIRST-LAST "
                f"(e.g. {wanted[0]}-{wanted[-1]}), not a list with gaps")
    frames: PlateFiles | tuple = ()
    if args.pattern:
        seq = _context_frames(p, args.pattern, wanted)
        settings.frame_count = len(seq)
        frames = _read_frames(seq)
    elif wanted:
        settings.range.first, settings.range.last = wanted[0], wanted[-1]
    with NedClient(connection_from_args(args)) as client:
        reply = client.extract_style(settings, frames)
    similarity = dict(reply.emotion_similarity)
    doc = {"style": list(reply.style), "windows": reply.windows, "shot_id": reply.shot_id,
           "emotion_similarity": similarity}
    write_bytes(Path(args.out), json.dumps(doc, indent=1).encode())
    best = max(similarity.items(), key=lambda kv: kv[1], default=("?", 0.0))
    print(f"style of {reply.windows} windows written to {args.out}; closest emotion: {best[0]}")
    return 0


def train_actor_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned train-actor", description="Train an actor's renderer on the server.")
    p.add_argument("actor", help="actor id to create or continue")
    p.add_argument("--shot-id", action="append", default=[], dest="shot_ids", help="tracked shot (repeat)")
    p.add_argument("--preset", choices=("tiny", "paper"), default="paper")
    p.add_argument("--iterations", type=int)
    p.add_argument("--init-from", default="", help="actor to fine-tune from, or meta-renderer (the released "
                   "NED meta-renderer in the server's models folder)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--detach", action="store_true", help="start the job and return (see `ned jobs`)")
    p.add_argument("--face-id", type=int)
    p.add_argument("--progress", choices=PROGRESS_MODES, default="auto")
    add_connection_args(p)
    args = p.parse_args(argv)
    request = pb.TrainActorRequest(actor_id=args.actor, shot_ids=args.shot_ids, preset=args.preset,
                                   init_from=args.init_from, resume=args.resume, detach=args.detach)
    if args.iterations is not None:
        request.iterations = args.iterations
    if args.face_id is not None:
        request.face_id = args.face_id
    show = progress_printer(args.progress)
    cancel = CancelToken()
    with NedClient(connection_from_args(args)) as client:
        try:
            job = client.train_actor(request, lambda u: show(progress_info(u.progress)), cancel)
        except KeyboardInterrupt:
            cancel.cancel()  # stops following; the job keeps running on the server (`ned cancel` stops it)
            raise
    state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
    print(f"job {job.job_id}: {state} {job.message}")
    return 0 if job.state in (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING) else 1
