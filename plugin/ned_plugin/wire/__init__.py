"""Generated gRPC stubs of the ``ned.v1`` API (from proto/ned/v1 by tools/gen_proto.py; do not edit).

``pb`` holds the messages of both .proto files, ``rpc`` the service stub and servicer base.
"""

from . import frames_pb2, pb, service_pb2
from . import service_pb2_grpc as rpc

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["Ned"].full_name
API = "ned.v1"
# Trailing metadata on a status refusing a plate read in place (FramePath): the client sends the bytes instead.
IN_PLACE_REFUSED_KEY = "ned-in-place"
# Progress.stage of the messages a server sends while a long stream has nothing else to say, so a
# client can tell a busy server from a frozen one by the idle time between messages.
HEARTBEAT_STAGE = "heartbeat"

__all__ = ["API", "HEARTBEAT_STAGE", "IN_PLACE_REFUSED_KEY", "SERVICE_NAME", "frames_pb2", "pb", "rpc", "service_pb2"]
