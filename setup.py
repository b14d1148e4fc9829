"""Thin shim: the package metadata and dependencies are in pyproject.toml ([project]).

What stays here is what pyproject cannot say statically: the import packages, gathered from the
tree (ned_server's sub-packages), and the two folders installed under other names (the host
runtime ``plugin/ned_plugin`` and the GLSL ``shaders/`` as ``ned_shaders``).
"""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def _packages(top: str, folder: Path) -> list[str]:
    return [".".join((top, *p.parent.relative_to(folder).parts)) for p in sorted(folder.rglob("__init__.py"))]


setup(
    packages=[*_packages("ned_plugin", HERE / "plugin" / "ned_plugin"), "ned_shaders",
              *_packages("ned_server", HERE / "ned_server")],
    package_dir={"ned_plugin": "plugin/ned_plugin", "ned_shaders": "shaders"},
    package_data={"ned_shaders": ["*.glsl", "*.vert", "*.frag", "*.geom"], "ned_plugin.wire": ["*.pyi"]},
)
