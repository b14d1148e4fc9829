"""Which colour space a host node hands over: the source's own, or one the artist picked.

The colour-space control of the Nuke node and the Blender panel is a menu built from GetInfo's
``colour_spaces`` (the server's config) with one more, first entry: "from the source", where the
node reads the space off its input (Nuke's Read ``colorspace``, a Blender strip's
``colorspace_settings``) and names the host's own OCIO config with it. The server crosses between
the two configs (ned_plugin.colour.PlateColour); the plates come back in the same space, so the
node tags its result Read/strip with it. No OCIO here: hosts do not need it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import pb

FROM_SOURCE = "from the source"


@dataclass(frozen=True)
class HandedColour:
    """The space and config a request names, and the space the returned plates are tagged with."""

    space: str
    config: str = ""

    @property
    def settings(self) -> pb.ColourSettings:
        return pb.ColourSettings(config=self.config, input_space=self.space)


def space_choices(info: pb.ServerInfo | None = None) -> list[str]:
    """The menu: "from the source", then the server's colour spaces in its config's order."""
    spaces = list(info.colour_spaces) if info is not None else []
    return [FROM_SOURCE, *[s for s in spaces if s != FROM_SOURCE]]


def handed_colour(choice: str, source_space: str, source_config: str) -> HandedColour:
    """What to send: the source's space in the host's config, or the picked space of the server's."""
    choice = (choice or "").strip()
    if not choice or choice == FROM_SOURCE:
        return HandedColour(source_space.strip(), source_config.strip() if source_space.strip() else "")
    return HandedColour(choice, "")
