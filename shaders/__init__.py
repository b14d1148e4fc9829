"""GLSL sources of the conditioning renderer, shipped as package data so installed servers find them."""

from importlib.resources import files


def source(name: str) -> str:
    """Text of one shader file in this folder (e.g. ``"attributes.vert"``)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
