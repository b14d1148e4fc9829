"""Every ned.v1 message and enum in one namespace, so callers need not know which .proto holds what.

A module (not an object filled at run time) so that type checkers see each message through the
generated .pyi stubs.
"""

from .frames_pb2 import *  # noqa: F403
from .service_pb2 import *  # noqa: F403
