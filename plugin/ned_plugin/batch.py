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
from collections.abc import Iterator, Sequence
from pathlib import Path

from .cli import add_connection_args, connection_from_args, progress_printer
from .client import CancelToken, NedClient
from .exr import Frame, Window, encode_exr
from .host import write_atomic
from .landmarks_io import read_landmarks
from .qc_files import write_report
from .sequence import expand_pattern, find_sequence, parse_frame_range
from .wire import pb

log = logging.getLogger("ned")


def _sequence(pattern: str, frames: str | None) -> list[tuple[int, Path]]:
    if frames:
        return [(n, Path(expand_pattern(pattern, n))) for n in parse_frame_range(frames)]
    return [(n, Path(p)) for n, p in find_sequence(pattern)]


def _read_frames(seq: Sequence[tuple[int, Path]]) -> Iterator[tuple[int, bytes]]:
    for number, path in seq:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SystemExit(f"ned: cannot read frame {number}: {exc}") from None
        yield number, data


def empty_plate(display: pb.Window) -> bytes:
    """A transparent 1x1 plate for an untracked frame, so the output sequence has no holes."""
    import numpy as np

    win = Window(display.x, display.y, max(1, display.width), max(1, display.height))
    pixels = np.zeros((1, 1, 5), np.float16)
    frame = Frame(pixels, ("R", "G", "B", "A", "matte.Y"), Window(win.x, win.y, 1, 1), win,
                  {"ned/tracked": 0})
    return encode_exr(frame, compression="zip", pixel_type="half")


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
    p.add_argument("--progress", choices=("auto", "bar", "farm", "none"), default="auto")
    add_connection_args(p)


def track_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned track", description="Track a shot's faces on the NED server.")
    _add_shot_args(p, pattern_required=True)
    p.add_argument("--landmarks", help="68-point landmarks from another tracker (JSON or CSV, see docs)")
    p.add_argument("--force", action="store_true", help="track again even when the server has it cached")
    p.add_argument("--out", help="write the per-frame tracking here: .npz (for train-manipulator) or .json")
    args = p.parse_args(argv)
    seq = _sequence(args.pattern, args.frames)
    settings = pb.TrackSettings(shot_id=args.shot_id, colour=_colour(args), frame_count=len(seq), force=args.force)
    if args.face_id is not None:
        settings.face_id = args.face_id
    if args.landmarks:
        for number, points in read_landmarks(args.landmarks).items():
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
    if args.out:
        write_atomic(Path(args.out), track_file_bytes(result, Path(args.out).suffix.lower()))
    return 0


def track_file_bytes(result, suffix: str) -> bytes:  # type: ignore[no-untyped-def]
    """``ned track --out``: .npz (what ``ned train-manipulator --data`` reads: expression51, frames,
    tracked, plus landmarks, pose, camera, pupils and alignment) or JSON (every field, for scripts)."""
    import io

    import numpy as np

    if suffix != ".npz":
        from google.protobuf.json_format import MessageToDict

        doc = {"summary": MessageToDict(result.summary), "frames": [MessageToDict(f) for f in result.frames]}
        return json.dumps(doc, indent=1).encode()

    def rows(name: str, width: int) -> np.ndarray:
        out = np.full((len(result.frames), width), np.nan, np.float32)
        for i, f in enumerate(result.frames):
            values = getattr(f, name)
            if f.tracked and len(values) == width:
                out[i] = values
        return out

    buf = io.BytesIO()
    np.savez(buf, frames=np.array([f.frame for f in result.frames], np.int64),
             tracked=np.array([f.tracked for f in result.frames], bool), expression51=rows("expression", 51),
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
    control = pb.EmotionControl(emotion=args.emotion or "")
    if args.intensity is not None:
        control.intensity = args.intensity
    if args.mix:
        control.mix.update(_parse_mix(args.mix))
    if args.seed is not None:
        control.seed = args.seed
    if args.speech is not None:
        control.speech_preservation = args.speech
    if args.reference_style:
        style = json.loads(Path(args.reference_style).read_text())
        control.reference_style.extend(float(v) for v in (style["style"] if isinstance(style, dict) else style))
    if args.keys:
        for key in json.loads(Path(args.keys).read_text()):
            k = control.keys.add(frame=int(key["frame"]), emotion=key.get("emotion", ""))
            k.mix.update({str(n): float(w) for n, w in key.get("mix", {}).items()})
            if "intensity" in key:
                k.intensity = float(key["intensity"])
    return control


def manipulate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned manipulate", description="Change the emotion of a shot.")
    _add_shot_args(p, pattern_required=False)
    p.add_argument("--actor", required=True, help="actor id (a trained renderer on the server)")
    p.add_argument("--emotion", help="target emotion (see `ned info`)")
    p.add_argument("--intensity", type=float, help="0 = own style, 1 = target, >1 exaggerates")
    p.add_argument("--mix", help="several emotions by weight: happy=0.7,surprised=0.3")
    p.add_argument("--keys", help="JSON list of keys [{frame, emotion|mix, intensity}] for emotion over time")
    p.add_argument("--reference-style", help="JSON file written by `ned extract-style`")
    p.add_argument("--seed", type=int)
    p.add_argument("--speech", type=float, help="speech preservation 0..1 (jaw kept like the original)")
    p.add_argument("--blend", choices=("laplacian", "copy", "poisson"))
    p.add_argument("--levels", type=int)
    p.add_argument("--erode", type=float)
    p.add_argument("--feather", type=float)
    p.add_argument("--preroll", type=int, help="frames run before the range so chunks match a full run")
    p.add_argument("--output", required=True, help="output sequence, e.g. out/sh010_happy.####.exr")
    p.add_argument("--compression", default="")
    p.add_argument("--pixel-type", choices=("half", "float"), default="")
    p.add_argument("--send-frames", action="store_true",
                   help="send the plates even if the server has the shot (default: only when it does not)")
    args = p.parse_args(argv)
    if not args.pattern and not args.shot_id:
        p.error("give the plates' pattern or the --shot-id of a tracked shot")
    settings = pb.ManipulateSettings(
        shot_id=args.shot_id, actor_id=args.actor, emotion=emotion_control(args), colour=_colour(args),
        output=pb.OutputSettings(compression=args.compression, pixel_type=args.pixel_type),
    )
    blend = settings.blend
    blend.method = args.blend or ""
    for name in ("levels", "erode", "feather"):
        if getattr(args, name) is not None:
            setattr(blend, name, getattr(args, name))
    if args.face_id is not None:
        settings.face_id = args.face_id
    if args.preroll is not None:
        settings.preroll = args.preroll
    wanted: list[int] = parse_frame_range(args.frames) if args.frames else []
    if wanted:
        settings.range.first, settings.range.last = min(wanted), max(wanted)
    frames: Iterator[tuple[int, bytes]] | tuple = ()
    written = 0
    cancel = CancelToken()
    with NedClient(connection_from_args(args)) as client:
        if args.pattern and (args.send_frames or not args.shot_id):
            seq = [(n, path) for n, path in find_sequence(args.pattern)] if not args.frames else None
            if seq is None:
                # send the preroll frames that exist too, so the server has the context it needs
                pre = args.preroll if args.preroll is not None else 0
                first = min(wanted) - pre
                seq = [(n, Path(expand_pattern(args.pattern, n)))
                       for n in range(first, max(wanted) + 1)
                       if n in wanted or Path(expand_pattern(args.pattern, n)).exists()]
            settings.frame_count = len(seq)
            frames = _read_frames(seq)
        summaries: list[pb.ManipulateSummary] = []
        try:
            for plate in client.manipulate(settings, frames, progress_printer(args.progress), cancel,
                                           on_summary=summaries.append):
                h = plate.header
                data = plate.exr if h.tracked else empty_plate(h.display_window)
                out = Path(expand_pattern(args.output, h.frame))
                write_atomic(out, data)
                written += 1
                log.info("frame %d -> %s%s", h.frame, out, "" if h.tracked else f" (untracked: {h.note})")
        except KeyboardInterrupt:
            cancel.cancel()
            raise
    print(f"wrote {written} plates to {args.output}")
    if summaries and summaries[-1].HasField("qc"):
        qc = summaries[-1].qc
        files = write_report(qc, args.output, (min(wanted), max(wanted)) if wanted else None)
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
    frames: Iterator[tuple[int, bytes]] | tuple = ()
    if args.pattern:
        seq = _sequence(args.pattern, args.frames)
        settings.frame_count = len(seq)
        frames = _read_frames(seq)
    elif args.frames:
        wanted = parse_frame_range(args.frames)
        settings.range.first, settings.range.last = min(wanted), max(wanted)
    with NedClient(connection_from_args(args)) as client:
        reply = client.extract_style(settings, frames)
    doc = {"style": list(reply.style), "windows": reply.windows, "shot_id": reply.shot_id,
           "emotion_similarity": dict(reply.emotion_similarity)}
    write_atomic(Path(args.out), json.dumps(doc, indent=1).encode())
    best = max(doc["emotion_similarity"].items(), key=lambda kv: kv[1], default=("?", 0.0))
    print(f"style of {reply.windows} windows written to {args.out}; closest emotion: {best[0]}")
    return 0


def train_actor_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned train-actor", description="Train an actor's renderer on the server.")
    p.add_argument("actor", help="actor id to create or continue")
    p.add_argument("--shot-id", action="append", default=[], dest="shot_ids", help="tracked shot (repeat)")
    p.add_argument("--preset", choices=("tiny", "paper"), default="paper")
    p.add_argument("--iterations", type=int)
    p.add_argument("--init-from", default="", help="actor (e.g. a meta-renderer) to fine-tune from")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--detach", action="store_true", help="start the job and return (see `ned jobs`)")
    p.add_argument("--face-id", type=int)
    p.add_argument("--progress", choices=("auto", "bar", "farm", "none"), default="auto")
    add_connection_args(p)
    args = p.parse_args(argv)
    request = pb.TrainActorRequest(actor_id=args.actor, shot_ids=args.shot_ids, preset=args.preset,
                                   init_from=args.init_from, resume=args.resume, detach=args.detach)
    if args.iterations is not None:
        request.iterations = args.iterations
    if args.face_id is not None:
        request.face_id = args.face_id
    show = progress_printer(args.progress)
    from .client import progress_info

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
