"""GLSL sources of the conditioning renderer, shipped as package data so installed servers find them.

``source`` returns one file as written. ``program_source`` returns what the GL compiler gets: the
file with its ``#include "name"`` lines replaced by those files (GLSL has no include of its own, and
the mesh shaders share their pixel-to-clip mapping and texel fetches) and with ``#define`` lines
inserted right after ``#version`` (array sizes such as the number of attribute groups are
compile-time constants in GLSL, so a program is built per value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib.resources import files

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')


def source(name: str) -> str:
    """Text of one shader file in this folder (e.g. ``"attributes.vert"``)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def _expand(name: str, seen: tuple[str, ...]) -> list[str]:
    if name in seen:
        raise ValueError(f"shader include cycle: {' -> '.join((*seen, name))}")
    out: list[str] = []
    for line in source(name).splitlines():
        m = _INCLUDE.match(line)
        if m:
            out.append(f"// begin {m.group(1)}")
            out.extend(_expand(m.group(1), (*seen, name)))
            out.append(f"// end {m.group(1)}")
        else:
            out.append(line)
    return out


def program_source(name: str, defines: Mapping[str, object] | None = None) -> str:
    """``name`` with its includes expanded and ``defines`` placed after the ``#version`` line.

    The ``#version`` line must come first in the file (GLSL requires it before anything but
    comments), so the defines go right below it; included files must not carry one.
    """
    lines = _expand(name, ())
    if not lines or not lines[0].startswith("#version"):
        raise ValueError(f"shader {name!r} must start with a #version line")
    extra = [f"#define {key} {value}" for key, value in (defines or {}).items()]
    return "\n".join([lines[0], *extra, *lines[1:]]) + "\n"
