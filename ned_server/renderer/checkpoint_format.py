"""What a renderer checkpoint dict is (its format tag) and the error every reader raises.

Apart from ``checkpoint`` so that the reader of the official NED files (``official``), which
``checkpoint.load`` calls, can build the same dicts without importing ``checkpoint`` back.
"""

from __future__ import annotations

FORMAT = "ned.renderer/1"


class RendererCheckpointError(RuntimeError):
    """A renderer checkpoint that is missing, unreadable or of another kind."""
