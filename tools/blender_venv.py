"""Create (once) the virtual environment the Blender tests run in: ``.venv-blender`` at the repo root.

The ``bpy`` wheel (Blender as a Python module) pins its own numpy and is built for one Python
minor version (3.11 for Blender 4.2-4.5), so it lives in its own venv instead of the project's,
where the server's packages could clash with it. The venv gets ``bpy==4.5.*``, the client
runtime's dependencies and this project installed editable without dependencies, so the add-on
under test imports the very ``ned_plugin`` in this checkout.

    python tools/blender_venv.py            # create if missing, print the venv's python
    python tools/blender_venv.py --check    # exit 1 (and say why) when it is not ready

``NED_BLENDER_FIND_LINKS`` may name a folder of already downloaded wheels (e.g. the bpy wheel) to
install from before going to the package index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-blender"
BPY_REQUIREMENT = "bpy==4.5.*"
BPY_PYTHON = (3, 11)
CLIENT_PACKAGES = (
    "grpcio>=1.85.1", "protobuf>=7.35.1,<8", "numpy", "openimageio>=2.5", "grpcio-health-checking>=1.85.1",
    "fileseq>=2.1",
)
# Written last: its presence (with this content) means every step above succeeded.
MARKER = VENV / ".ned-ready"
SPEC = "\n".join((BPY_REQUIREMENT, *CLIENT_PACKAGES, "editable:" + str(ROOT))) + "\n"


class BlenderVenvError(RuntimeError):
    """The Blender venv could not be made; the message says which step failed and how to fix it."""


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def is_ready(venv: Path = VENV) -> bool:
    marker = venv / ".ned-ready"
    return venv_python(venv).exists() and marker.exists() and marker.read_text() == SPEC


def _base_python() -> str:
    """A Python 3.11 to base the venv on: bpy 4.5 wheels exist for that version only."""
    if sys.version_info[:2] == BPY_PYTHON:
        # The base interpreter, not a venv's, so the new venv does not chain onto another.
        return getattr(sys, "_base_executable", sys.executable)
    found = shutil.which("python{}.{}".format(*BPY_PYTHON))
    if found:
        return found
    raise BlenderVenvError(
        "the bpy wheel for Blender 4.5 needs Python {}.{}, which was not found on PATH "
        "(install python3.11 or run this script with it)".format(*BPY_PYTHON)
    )


def _run(cmd: list[str], step: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-3000:]
        raise BlenderVenvError(f"{step} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def ensure(venv: Path = VENV, quiet: bool = True) -> Path:
    """Make the venv if it is not ready; return its python. Raises BlenderVenvError on failure."""
    if is_ready(venv):
        return venv_python(venv)
    started = time.monotonic()
    python = venv_python(venv)
    if not python.exists():
        _run([_base_python(), "-m", "venv", str(venv)], "creating the venv")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"] + (["-q"] if quiet else [])
    links = os.environ.get("NED_BLENDER_FIND_LINKS")
    if links:
        pip += ["--find-links", links]
    _run([*pip, BPY_REQUIREMENT, *CLIENT_PACKAGES], "installing bpy and the client's packages")
    _run([*pip, "--no-deps", "-e", str(ROOT)], "installing this project (editable)")
    _run([str(python), "-c", "import bpy, grpc, ned_plugin.client; print(bpy.app.version_string)"],
         "importing bpy and ned_plugin in the new venv")
    (venv / ".ned-ready").write_text(SPEC)
    if not quiet:
        print(f"blender venv ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the venv is ready")
    parser.add_argument("--venv", type=Path, default=VENV)
    args = parser.parse_args(argv)
    if args.check:
        ready = is_ready(args.venv)
        print(venv_python(args.venv) if ready else f"{args.venv} is not ready: run {Path(__file__).name}")
        return 0 if ready else 1
    try:
        print(ensure(args.venv, quiet=False))
    except BlenderVenvError as exc:
        print(f"blender_venv: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
