"""``ned-server``: start the NED server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

# libgomp's default lets idle OpenMP workers spin; on a CPU shared with other work (a render node,
# a CI box) every parallel torch op then waits for descheduled spinning workers: measured 2x slower
# renderer training here. Sleeping idle workers cost nothing on a dedicated GPU server. It must be
# set before torch loads OpenMP; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ned_server import __version__
from ned_server.api.app import NedServer
from ned_server.config import DEFAULT_PORT, ServerConfig
from ned_server.runtime.memory import limit_malloc_arenas


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ned-server", description="NED for VFX gRPC server")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other address needs a token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--token-file", type=Path,
                        help="file holding the access token clients must send (or set NED_TOKEN)")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain for TLS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key for TLS")
    parser.add_argument("--store", type=Path, help="folder for shots, tracking, actors and jobs "
                        "(default $NED_STORE or ~/.local/share/ned/store)")
    parser.add_argument("--models", type=Path, help="folder of model assets (default $NED_MODELS or models/)")
    parser.add_argument("--device", help="torch device: auto (default), cpu, cuda, cuda:1 ...")
    parser.add_argument("--workers", type=int, help="RPC worker threads (default 16)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")
    parser.add_argument("--device-slots", type=int, help="requests using the device at once (default 1)")
    parser.add_argument("--max-waiting", type=int, help="requests allowed to queue before RESOURCE_EXHAUSTED")
    parser.add_argument("--grace", type=float, help="seconds SIGTERM waits for in-flight calls (default 30)")
    parser.add_argument("--read-root", action="append", type=Path, default=[], metavar="FOLDER",
                        help="read plates in place under this folder when a client names them by path (shared "
                             "storage on a farm); repeat for several; none by default: plates are streamed")
    parser.add_argument("--allow-insecure-token", action="store_true",
                        help="accept a token without TLS off loopback (it crosses the network in clear text)")
    parser.add_argument("--auth-health", action="store_true", help="require the token for health checks too")
    parser.add_argument("--keep-details", action="store_true",
                        help="manipulated expressions = the performance plus the change the target style makes "
                        "(intensity 0 then returns the performance exactly) instead of the paper's generator output")
    parser.add_argument("--no-resume", action="store_true", help="do not resume jobs interrupted by a restart")
    parser.add_argument("--checkpoint-every", type=int, metavar="N",
                        help="TrainActor checkpoint interval in iterations: a killed server loses at most N "
                             "(default: the preset's, 100 tiny / 500 paper)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--version", action="version", version=f"ned-server {__version__}")
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The one ServerConfig of this process, built once from the flags over the defaults."""
    given = {
        "store_dir": args.store,
        "models_dir": args.models,
        "device": args.device,
        "workers": args.workers or None,
        "torch_threads": args.threads or None,
        "shutdown_grace_s": args.grace,
        "checkpoint_every": args.checkpoint_every,
    }
    config = ServerConfig(
        host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key, auth_health=args.auth_health,
        resume_interrupted_jobs=not args.no_resume, read_roots=tuple(args.read_root),
        allow_insecure_token=args.allow_insecure_token,
        manipulator=replace(ServerConfig().manipulator, keep_details=args.keep_details),
        **{k: v for k, v in given.items() if v is not None},
    )
    if args.token_file:
        config.token = args.token_file.read_text().strip() or None
    if args.device_slots:
        config.limits.device_slots = args.device_slots
    if args.max_waiting is not None:
        config.limits.max_waiting = args.max_waiting
    return config


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any RPC or worker thread exists
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    config = config_from_args(args)
    try:
        config.validate()
        server = NedServer(config).start()
    except (ValueError, OSError) as exc:
        logging.getLogger("ned_server").error("%s", exc)
        return 2
    server.serve_until_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
