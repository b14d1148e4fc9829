"""A stored shot's plates, decoded one at a time, in scene-linear or in the networks' sRGB.

The store keeps each plate as the EXR bytes the client sent (see ``intake``); every stage that
needs pixels reads them through here, so there is one place that places a data window inside the
display window and one place that converts colour. Frames are yielded one by one: a 4K shot of a
thousand frames never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ned_plugin.colour import PlateColour
from ned_plugin.exr import FrameError, read_exr
from ned_server.errors import InvalidInput
from ned_server.runtime.intake import RGB, Shot
from ned_server.runtime.store import Store

# How a request's plates are encoded: the plate's space in the host's config, against the networks'
# sRGB in the server's config (ned_plugin.colour.PlateColour).
ShotColour = PlateColour


def read_plate(store: Store, shot: Shot, frame: int) -> np.ndarray:
    """One plate as scene-linear (display H, display W, 3) float32; outside the data window is black."""
    path = shot.path(store, frame)
    try:
        decoded = read_exr(path, label=f"frame {frame}", channels=RGB)
    except FrameError as exc:  # the store's copy was checked on arrival: only disk damage gets here
        raise InvalidInput(f"shot {shot.shot_id!r}: {exc}; send the shot again") from None
    return np.ascontiguousarray(decoded.full_frame(0.0), dtype=np.float32)


def linear_frames(store: Store, shot: Shot, frames: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, scene-linear plate) for ``frames`` (default: the whole shot, in order)."""
    for number in shot.frame_numbers if frames is None else frames:
        yield number, read_plate(store, shot, number)


def network_frames(store: Store, shot: Shot, colour: ShotColour,
                   frames: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, display-encoded sRGB in [0, 1]) as the landmark detector and renderer see them."""
    for number, linear in linear_frames(store, shot, frames):
        yield number, colour.to_network(linear)
