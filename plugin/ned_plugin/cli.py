"""``ned``: the batch command line for pipeline TDs and render farms.

Client commands (info, track, manipulate, extract-style, train-actor, jobs, cancel, watch) talk to a
NED server and need only this package. Server-side commands (train-manipulator, train-renderer,
import-actor, demo) run on the GPU machine and need the server install (``pip install ned-vfx[server]``).

Exit codes a farm manager can read: 0 done, 1 failed, 2 bad usage or bad input, 3 server
unreachable, 4 token refused, 5 a model asset or actor is missing, 6 server busy, 130 cancelled.
Progress goes to stderr, as a bar on a terminal or as ``NED_PROGRESS <percent>%`` lines otherwise
(``--progress farm``), which Deadline, OpenCue and Tractor can parse with a regex.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from . import __version__
from .client import ConnectionSettings, NedClient, NedClientError, ProgressInfo
from .parameters import SLIDER_PREFIX

EXIT_CODES = {
    "INVALID_ARGUMENT": 2, "NOT_FOUND": 2, "OUT_OF_RANGE": 2,
    "UNAVAILABLE": 3, "DEADLINE_EXCEEDED": 3,
    "UNAUTHENTICATED": 4, "PERMISSION_DENIED": 4,
    "FAILED_PRECONDITION": 5, "UNIMPLEMENTED": 5,
    "RESOURCE_EXHAUSTED": 6,
    "CANCELLED": 130,
}
log = logging.getLogger("ned")
# --progress: bar on a terminal, NED_PROGRESS lines for farm logs, openjd_* lines for an OpenJD runtime.
PROGRESS_MODES = ("auto", "bar", "farm", "openjd", "none")
# Set once a command reports progress for an OpenJD runtime: its failure is then reported that way too.
_OPENJD_TASK = threading.Event()

# Server-side subcommands (train-manipulator, train-renderer, import-actor, demo) are the server package's: it
# registers them in this entry-point group, so they appear here once the server is installed and
# this package never names a server module.
SERVER_COMMAND_GROUP = "ned.commands"


def server_commands() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=SERVER_COMMAND_GROUP)}


# Client subcommands that live in their own modules (they arrive with their stages).
CLIENT_COMMANDS: dict[str, tuple[str, str, str]] = {
    "track": ("ned_plugin.batch", "track_main", "track a shot's faces on the server (image sequence in)"),
    "manipulate": ("ned_plugin.batch", "manipulate_main", "change the emotion of a shot (EXR plates out)"),
    "extract-style": ("ned_plugin.batch", "extract_style_main", "read the emotional style of a reference clip"),
    "train-actor": ("ned_plugin.batch", "train_actor_main", "train or fine-tune an actor's renderer on the server"),
    "farm-job": ("ned_plugin.farm_cli", "farm_job_main",
                 "write a farm job (Open Job Description template or OpenCue job) for a shot"),
}


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="address HOST:PORT (default $NED_SERVER or 127.0.0.1:50551)")
    parser.add_argument("--token-file", help="file holding the server's token (or set NED_TOKEN)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--ca", help="PEM certificate to trust for TLS (default: the system's roots)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for short calls (default 30)")
    parser.add_argument("--wait", action="store_true", help="wait for a (re)starting server instead of failing")


def connection_from_args(args: argparse.Namespace) -> ConnectionSettings:
    settings = ConnectionSettings()
    if args.server:
        settings.address = args.server
    if args.token_file:
        with open(args.token_file) as fh:
            settings.token = fh.read().strip() or None
    settings.tls = bool(args.tls)
    settings.root_certificates = args.ca
    settings.deadline_s = args.timeout
    settings.wait_for_ready = bool(args.wait)
    return settings


def progress_printer(mode: str) -> Callable[[ProgressInfo], None]:
    """A progress callback: a bar on a terminal, parseable lines for farm logs, or the lines an Open Job
    Description runtime reads from a task's stdout (``openjd_progress: <0..100>``, ``openjd_status: <text>``)."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "farm"
    if mode == "none":
        return lambda info: None
    if mode == "openjd":
        _OPENJD_TASK.set()
        shown: dict[str, tuple[float, str]] = {}

        def openjd(info: ProgressInfo) -> None:
            pct = round(100.0 * info.fraction, 1)
            status = f"{info.stage} {info.done}/{info.total} {info.message}".rstrip()
            if shown.get(info.stage, (None, ""))[0] != pct:
                shown[info.stage] = (pct, status)
                print(f"openjd_progress: {pct}", flush=True)
                print(f"openjd_status: {status}", flush=True)

        return openjd
    if mode == "farm":
        last: dict[str, int] = {}

        def farm(info: ProgressInfo) -> None:
            pct = int(100 * info.fraction)
            if last.get(info.stage) != pct:
                last[info.stage] = pct
                print(f"NED_PROGRESS {pct}% {info.stage} {info.done}/{info.total} {info.message}".rstrip(),
                      file=sys.stderr, flush=True)

        return farm
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional on a host: a plain line per percent instead of a bar
        return _plain_bar()

    bars: dict[str, tqdm] = {}

    def bar(info: ProgressInfo) -> None:
        b = bars.get(info.stage)
        if b is None:
            b = bars[info.stage] = tqdm(total=info.total or None, desc=info.stage, unit="frame", leave=True)
        if info.total and b.total != info.total:
            b.total = info.total
        b.n = info.done
        b.set_postfix_str(info.message[:40], refresh=True)

    return bar


def _plain_bar() -> Callable[[ProgressInfo], None]:
    last: dict[str, int] = {}

    def bar(info: ProgressInfo) -> None:
        pct = int(100 * info.fraction)
        if last.get(info.stage) != pct:
            last[info.stage] = pct
            end = "\n" if pct >= 100 else ""
            print(f"\r{info.stage}: {pct:3d}% {info.done}/{info.total}", end=end, file=sys.stderr, flush=True)

    return bar


def _info(args: argparse.Namespace) -> int:
    with NedClient(connection_from_args(args)) as client:
        info = client.info()
    print(f"NED server {info.version} ({info.api}) on {info.device}, torch {info.torch_version or '-'}")
    print(f"emotions: {', '.join(info.emotions)}")
    print(f"colour: config {info.default_colour.config}, default input {info.default_colour.input_space}")
    print("actors: " + (", ".join(f"{a.actor_id}{'' if a.ready else ' (not ready)'}" for a in info.actors)
                        or "none"))
    print("RPCs:")
    for r in info.rpcs:
        print(f"  {r.name:<13} {'yes' if r.available else 'no: ' + r.reason}")
    t = info.tracking
    print(f"landmarks: {t.landmarker or 'NONE'}" + (f" - {t.landmarker_description}" if t.landmarker else "")
          + (f" ({t.landmarker_note})" if t.landmarker_note else ""))
    if t.landmarker_licence:
        print(f"  licence: {t.landmarker_licence}")
    print(f"tracker: {t.tracker or '-'}{', detailed shape from DECA' if t.detail else ''}"
          + (f" (licence: {t.tracker_licence})" if t.tracker_licence else ""))
    print("model assets:")
    for a in info.assets:
        print(f"  {a.name:<18} {'found' if a.found else 'MISSING'}  {a.path}")
    sliders = [p for p in info.parameters if p.name.startswith(SLIDER_PREFIX)]
    if sliders:
        print("face sliders (ned manipulate --sliders):")
        for p in sliders:
            name = p.name.removeprefix(SLIDER_PREFIX)
            print(f"  {name:<16} {p.minimum:g}..{p.maximum:g} {p.unit:<8} {p.description}")
    return 0


def _health(args: argparse.Namespace) -> int:
    with NedClient(connection_from_args(args)) as client:
        ok = client.health()
    print("SERVING" if ok else "NOT SERVING")
    return 0 if ok else 3


def _jobs(args: argparse.Namespace) -> int:
    with NedClient(connection_from_args(args)) as client:
        jobs = client.list_jobs(active_only=args.active)
    from .wire import pb

    for j in jobs:
        state = pb.JobState.Name(j.state).removeprefix("JOB_STATE_").lower()
        print(f"{j.job_id}  {j.kind:<12} {state:<10} {j.done}/{j.total}  {j.actor_id}  {j.message}")
    return 0


def _actors(args: argparse.Namespace) -> int:
    with NedClient(connection_from_args(args)) as client:
        for a in client.list_actors():
            print(f"{a.actor_id}  {'ready' if a.ready else 'not ready'}  {a.preset}  {a.iterations} it  "
                  f"{a.resolution}px  shots: {', '.join(a.shot_ids)}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with NedClient(connection_from_args(args)) as client:
        job = client.cancel_job(args.job_id)
    print(f"{job.job_id}: {job.message}")
    return 0


def _watch(args: argparse.Namespace) -> int:
    from .client import progress_info
    from .wire import pb

    show = progress_printer(args.progress)
    with NedClient(connection_from_args(args)) as client:
        job = client.watch_job(args.job_id, lambda update: show(progress_info(update.progress)))
    state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
    print(f"{job.job_id}: {state} {job.message}")
    return 0 if job.state == pb.JOB_STATE_SUCCEEDED else 130 if job.state == pb.JOB_STATE_CANCELLED else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ned", description="NED for VFX batch command line")
    parser.add_argument("--version", action="version", version=f"ned {__version__}")
    parser.add_argument("--log-level", default="WARNING")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, func, text in (("info", _info, "what the server offers"),
                             ("health", _health, "is the server serving"),
                             ("actors", _actors, "actors on the server"),
                             ("jobs", _jobs, "long jobs on the server"),
                             ("cancel", _cancel, "cancel a job"),
                             ("watch", _watch, "follow a job's progress until it ends")):
        p = sub.add_parser(name, help=text)
        add_connection_args(p)
        p.set_defaults(func=func)
        if name == "jobs":
            p.add_argument("--active", action="store_true", help="only queued and running jobs")
        if name in ("cancel", "watch"):
            p.add_argument("job_id")
        if name == "watch":
            p.add_argument("--progress", choices=PROGRESS_MODES, default="auto")
    for name, (_module, _function, text) in CLIENT_COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    server = server_commands()
    for name in server:
        sub.add_parser(name, help="server-side command (runs here, on the GPU machine); see its --help",
                       add_help=False)
    if not server:
        parser.epilog = ("server-side commands (train-manipulator, train-renderer, demo) are listed once the server "
                         "is installed: pip install 'ned-vfx[server]'")
    return parser


def _delegate(name: str, argv: Sequence[str]) -> int:
    server = server_commands()
    try:
        if name in server:
            entry = server[name].load()
        else:
            module_name, function, _ = CLIENT_COMMANDS[name]
            entry = getattr(importlib.import_module(module_name), function, None)
    except ImportError as exc:
        hint = " (install the server: pip install 'ned-vfx[server]')" if name in server else ""
        print(f"ned {name}: not available here{hint}: {exc}", file=sys.stderr)
        return 5
    if entry is None:
        print(f"ned {name}: not available in this version", file=sys.stderr)
        return 5
    return int(entry(list(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Delegated commands parse their own arguments (with their own --help).
    for i, word in enumerate(argv):
        if word in CLIENT_COMMANDS or word in server_commands():
            head = parser.parse_args(argv[:i])
            logging.basicConfig(level=head.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
            rest = argv[i + 1 :]
            return _run(lambda: _delegate(word, rest))  # noqa: B023 (called at once)
        if not word.startswith("-"):
            break
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return _run(lambda: args.func(args))


def _run(fn: Callable[[], int]) -> int:
    try:
        return fn()
    except NedClientError as exc:
        print(f"ned: {exc}", file=sys.stderr)
        if _OPENJD_TASK.is_set():  # the task's failure reason, as the OpenJD runtime shows it
            print(f"openjd_fail: {exc}", flush=True)
        return EXIT_CODES.get(exc.code, 1)
    except KeyboardInterrupt:
        print("ned: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
