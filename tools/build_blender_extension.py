"""Build the Blender extension (nodes/blender/ned_vse) as one zip per platform, carrying its wheels.

Blender's extension platform installs Python dependencies from wheels bundled in the extension
(``wheels = [...]`` and ``platforms = [...]`` in ``blender_manifest.toml``); this script stages the
extension with the client runtime's wheels for each platform (the project's own wheel, grpcio,
protobuf...) and hands it to Blender's own builder, ``extension build --split-platforms``, which
writes ``ned_vse-<version>-<platform>.zip`` with only that platform's wheels. Packages Blender
already ships (numpy, OpenImageIO, OpenColorIO) are left out: the extension uses Blender's.

    python tools/build_blender_extension.py                       # every platform, into dist/
    python tools/build_blender_extension.py --platform linux-x64  # just one
    python tools/build_blender_extension.py --blender /opt/blender/blender   # Blender's CLI itself

Without ``--blender`` the builder is the one inside the bpy wheel of ``.venv-blender``
(tools/blender_venv.py). ``--find-links DIR`` (or ``NED_BLENDER_FIND_LINKS``) lets pip take wheels
already downloaded.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "nodes" / "blender" / "ned_vse"
PYTHON_VERSION = "3.11"  # Blender 4.2-4.5's Python
# Blender's platform names -> the wheel platform tags pip may pick for it (newest first).
PLATFORM_TAGS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64", "macosx_10_9_universal2"),
    "macos-x64": ("macosx_10_15_x86_64", "macosx_10_9_x86_64", "macosx_10_9_universal2"),
}
# What Blender itself ships in its Python, so the extension never bundles them.
BLENDER_BUNDLED = frozenset({"numpy", "openimageio", "opencolorio"})


class ExtensionBuildError(RuntimeError):
    """A step of the build failed; the message names it and carries the tool's own output."""


def client_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The package's dependencies (the client runtime's) minus what Blender ships."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise ExtensionBuildError("run this script with Python 3.11 or later (it reads pyproject.toml)") from None
    client = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in client if _name(r) not in BLENDER_BUNDLED]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _run(cmd: list[str], step: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-3000:]
        raise ExtensionBuildError(f"{step} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _pip() -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def download_wheels(platforms: list[str], wheels: Path, find_links: str | None = None) -> None:
    """The project's wheel and, per platform, the client's requirements as binary wheels."""
    links = ["--find-links", find_links] if find_links else []
    _run([*_pip(), "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), *links, str(ROOT)],
         "building the project's wheel")
    requirements = client_requirements()
    for platform in platforms:
        tags = [arg for tag in PLATFORM_TAGS[platform] for arg in ("--platform", tag)]
        _run([*_pip(), "download", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
              "--implementation", "cp", *tags, "-d", str(wheels), *links, *requirements],
             f"downloading the client's wheels for {platform}")
    for wheel in wheels.glob("*.whl"):  # a requirement's own dependency Blender ships
        if _name(wheel.name.split("-")[0]) in BLENDER_BUNDLED:
            wheel.unlink()


def write_manifest(source: Path, staged: Path, platforms: list[str], wheels: list[Path]) -> None:
    """The source manifest with ``platforms`` and ``wheels`` (top-level keys, before any table)."""
    text = (source / "blender_manifest.toml").read_text()
    lines = ["platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]",
             "wheels = ["] + [f'  "./wheels/{w.name}",' for w in sorted(wheels)] + ["]", ""]
    first_table = re.search(r"^\[", text, flags=re.MULTILINE)
    at = first_table.start() if first_table else len(text)
    (staged / "blender_manifest.toml").write_text(text[:at] + "\n".join(lines) + "\n" + text[at:])


def blender_builder(blender: str | None, blender_python: Path | None) -> list[str]:
    """The command that runs Blender's ``extension build``: Blender's CLI, or the bpy wheel's copy."""
    if blender:
        return [blender, "--factory-startup", "--command", "extension", "build"]
    if blender_python is None:
        sys.path.insert(0, str(ROOT / "tools"))
        import blender_venv

        blender_python = blender_venv.ensure()
    site = blender_python.parent.parent / "lib"
    found = sorted(site.glob("python3*/site-packages/bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise ExtensionBuildError(f"no Blender extension builder (bl_pkg/cli/blender_ext.py) under {site}")
    return [str(blender_python), str(found[-1]), "build"]


def build(out_dir: Path, platforms: list[str], *, blender: str | None = None, blender_python: Path | None = None,
          find_links: str | None = None) -> list[Path]:
    """Build the per-platform zips into ``out_dir``; returns their paths."""
    unknown = [p for p in platforms if p not in PLATFORM_TAGS]
    if unknown:
        raise ExtensionBuildError(f"unknown platform(s) {', '.join(unknown)}: use {', '.join(PLATFORM_TAGS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = blender_builder(blender, blender_python)
    with tempfile.TemporaryDirectory(prefix="ned_vse_build_") as tmp:
        staged = Path(tmp) / "ned_vse"
        shutil.copytree(SOURCE, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "wheels"))
        wheels = staged / "wheels"
        wheels.mkdir()
        download_wheels(platforms, wheels, find_links)
        write_manifest(SOURCE, staged, platforms, list(wheels.glob("*.whl")))
        before = set(out_dir.glob("*.zip"))
        _run([*builder, "--source-dir", str(staged), "--output-dir", str(out_dir), "--split-platforms"],
             "Blender's extension build")
    built = sorted(set(out_dir.glob("*.zip")) - before) or sorted(
        p for p in out_dir.glob("ned_vse-*.zip") if any(p.stem.endswith(x.replace("-", "_")) for x in platforms))
    if not built:
        raise ExtensionBuildError(f"Blender's builder wrote no zip into {out_dir}")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORM_TAGS),
                        help="a platform to build for (repeatable); default: all of them")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the zips go (default dist/)")
    parser.add_argument("--blender", help="Blender's executable, to build with its own CLI")
    parser.add_argument("--blender-python", type=Path, help="a Python with the bpy wheel (default .venv-blender)")
    parser.add_argument("--find-links", default=os.environ.get("NED_BLENDER_FIND_LINKS"),
                        help="a folder of wheels pip may use before the package index")
    args = parser.parse_args(argv)
    try:
        zips = build(args.out, args.platform or list(PLATFORM_TAGS), blender=args.blender,
                     blender_python=args.blender_python, find_links=args.find_links)
    except ExtensionBuildError as exc:
        print(f"build_blender_extension: {exc}", file=sys.stderr)
        return 1
    for path in zips:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
