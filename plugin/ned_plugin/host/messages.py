"""What an artist reads when something fails: what went wrong and what to do about it."""

from __future__ import annotations

import math

from ..client import AuthenticationFailed, CallCancelled, NedClientError, ServerBusy, ServerUnreachable


class HostError(ValueError):
    """Bad input found on the host side (no frames, a missing file, an unset actor...)."""


def artist_message(exc: BaseException, action: str = "the NED request", settings_hint: str = "the node") -> str:
    """A message that says what went wrong and what to do, for a dialog or a status line."""
    if isinstance(exc, ServerUnreachable):
        return (f"Cannot reach the NED server ({exc}).\nStart ned-server on that machine, or fix the "
                f"server address in {settings_hint}, then try again.")
    if isinstance(exc, AuthenticationFailed):
        return (f"The NED server refused the token, so {action} did not run.\nSet the token the server "
                f"was started with in {settings_hint} (or the NED_TOKEN environment variable).")
    if isinstance(exc, CallCancelled):
        return f"{action[:1].upper()}{action[1:]} was cancelled."
    if isinstance(exc, ServerBusy):
        wait = f" in about {math.ceil(exc.retry_after_s)} s" if exc.retry_after_s else " in a moment"
        return f"The NED server is busy with other work; try {action} again{wait}."
    if isinstance(exc, NedClientError):
        hints = {
            "FAILED_PRECONDITION": "the server is missing a model file or a trained actor (see `ned info`)",
            "UNIMPLEMENTED": "this server does not offer it yet",
            "NOT_FOUND": "track the shot first, or pick an actor the server has",
            "INVALID_ARGUMENT": "check the node's settings and input frames",
        }
        hint = hints.get(exc.code)
        return f"NED could not do {action}: {exc}" + (f"\n({hint})" if hint else "")
    if isinstance(exc, HostError):
        return f"NED: {exc}"
    if isinstance(exc, ValueError):  # FrameError, ChunkError: bad bytes, named by frame
        return f"NED could not read a frame for {action}: {exc}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"NED could not write or read a file{where}: {exc.strerror or exc}"
    return f"NED failed during {action}: {type(exc).__name__}: {exc}"
