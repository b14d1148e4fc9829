"""Errors the pipeline raises, each tied to the gRPC status a client should see.

The pipeline knows nothing of gRPC; it raises these (or plain ValueError for bad input), and the
thin service layer maps them to statuses. Messages are written for the compositor reading them in
Nuke or Blender: say what is wrong and what to do.
"""

from __future__ import annotations


class NedError(Exception):
    """Base class; ``code`` names the grpc.StatusCode the service layer returns."""

    code = "INTERNAL"


class InvalidInput(NedError, ValueError):
    code = "INVALID_ARGUMENT"


class NotFound(NedError, KeyError):
    code = "NOT_FOUND"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Precondition(NedError):
    """Something the request needs is not on the server yet (a model asset, a trained actor)."""

    code = "FAILED_PRECONDITION"


class Busy(NedError):
    """The server is full; ``retry_after`` (seconds) tells the client when to try again."""

    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(NedError):
    code = "CANCELLED"


class Unavailable(NedError):
    """A pipeline stage this server does not have (yet)."""

    code = "UNIMPLEMENTED"


class InPlaceRefused(NedError):
    """A plate named by path (read in place) that the server will not or cannot read as named: outside
    its trusted roots, missing, or changed since the client hashed it. The service marks the status
    (trailing metadata ``ned-in-place: refused``) so the client sends that shot's bytes instead."""

    def __init__(self, message: str, code: str = "FAILED_PRECONDITION") -> None:
        super().__init__(message)
        self.code = code
