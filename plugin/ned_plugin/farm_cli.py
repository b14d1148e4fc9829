"""``ned farm-job``: write the farm job for a shot, as an Open Job Description template or an OpenCue job.

    ned farm-job plates/sh010.####.exr --frames 1001-1100 --shot-id sh010 --actor anna --emotion happy \\
        --output renders/sh010_happy.####.exr --chunk 10 --preroll 25 --format openjd --out sh010.template.yaml
    openjd run sh010.template.yaml --run-dependencies ...    # or submit it to Deadline Cloud
    ned farm-job ... --format opencue --out sh010.cue.xml     # the spec `cuerun` / pycue submits

The OpenJD template is validated with openjd-model before it is written; both formats need the
farm extra (``pip install "ned-vfx[farm]"``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .farm_jobs import JobPlan, TrainPlan, opencue_outline, opencue_xml, openjd_template, validate_openjd
from .files import write_bytes
from .sequence import parse_frame_range


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ned farm-job", description="Write a farm job (OpenJD template or OpenCue job) "
                                "that tracks a shot once and manipulates it in chunks.")
    p.add_argument("plates", help="the shot's plates, e.g. /show/sh010/plate.####.exr (as the workers see them)")
    p.add_argument("--frames", required=True, help="the shot's frame range, e.g. 1001-1100")
    p.add_argument("--shot-id", required=True, help="name of the shot on the server")
    p.add_argument("--actor", required=True, help="actor id (trained, or trained by the job with --train)")
    p.add_argument("--output", required=True, help="face plates, e.g. /show/sh010/ned/sh010_happy.####.exr")
    p.add_argument("--emotion", default="", help="target emotion")
    p.add_argument("--intensity", type=float)
    p.add_argument("--mix", help="several emotions by weight: happy=0.7,surprised=0.3")
    p.add_argument("--landmarks", default="", help="landmarks from another tracker, for the Track step")
    p.add_argument("--chunk", type=int, default=10, help="frames per Manipulate task (default 10)")
    p.add_argument("--preroll", type=int, default=25, help="frames run before each chunk (default 25)")
    p.add_argument("--train", action="store_true", help="add a TrainActor step that trains --actor on the shot")
    p.add_argument("--preset", choices=("tiny", "paper"), default="paper", help="TrainActor preset")
    p.add_argument("--iterations", type=int)
    p.add_argument("--init-from", default="")
    p.add_argument("--server", default=os.environ.get("NED_SERVER", "127.0.0.1:50551"),
                   help="the server's HOST:PORT as the workers reach it (a job parameter in OpenJD)")
    p.add_argument("--ned-command", default="ned", help="the ned command on the workers (default: ned)")
    p.add_argument("--tls", action="store_true", help="tasks connect with TLS")
    p.add_argument("--ca", help="tasks trust this PEM certificate for TLS")
    p.add_argument("--name", help="job name (default: NED <shot> <emotion>)")
    p.add_argument("--format", choices=("openjd", "opencue"), default="openjd")
    p.add_argument("--show", default="", help="OpenCue show")
    p.add_argument("--user", default="", help="OpenCue user")
    p.add_argument("--out", required=True, help="file to write: .yaml or .json (OpenJD), .xml (OpenCue)")
    return p


def plan_from_args(args: argparse.Namespace) -> JobPlan:
    frames = parse_frame_range(args.frames)
    emotion: list[str] = []
    if args.emotion:
        emotion += ["--emotion", args.emotion]
    if args.intensity is not None:
        emotion += ["--intensity", f"{args.intensity:g}"]
    if args.mix:
        emotion += ["--mix", args.mix]
    connection: list[str] = []
    if args.tls:
        connection.append("--tls")
    if args.ca:
        connection += ["--ca", args.ca]
    train = TrainPlan(args.preset, args.iterations, args.init_from) if args.train else None
    return JobPlan(
        name=args.name or f"NED {args.shot_id} {args.emotion or args.mix or 'edit'}"[:128],
        plates=str(args.plates), first=min(frames), last=max(frames), shot_id=args.shot_id, actor=args.actor,
        output=str(args.output), emotion_args=tuple(emotion), chunk_size=args.chunk, preroll=args.preroll,
        landmarks=args.landmarks, train=train, server=args.server, ned_command=args.ned_command,
        connection_args=tuple(connection),
    )


def farm_job_main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.emotion or args.mix):
        parser.error("give --emotion or --mix")
    try:
        plan = plan_from_args(args)
        out = Path(args.out)
        if args.format == "openjd":
            template = openjd_template(plan)
            validate_openjd(template)
            if out.suffix == ".json":
                text = json.dumps(template, indent=2)
            else:
                import yaml  # openjd-model's own dependency

                text = yaml.safe_dump(template, sort_keys=False)
        else:
            text = opencue_xml(opencue_outline(plan, show=args.show, user=args.user))
    except ImportError as exc:
        print(f"ned farm-job: {exc}; install the farm extra: pip install 'ned-vfx[farm]'")
        return 5
    except ValueError as exc:
        print(f"ned farm-job: {exc}")
        return 2
    write_bytes(out, text.encode())
    print(f"wrote {args.format} job {plan.name!r}: track, {'train, ' if plan.train else ''}"
          f"{len(plan.chunks)} manipulate chunks -> {out}")
    return 0
