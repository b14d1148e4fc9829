"""Generated gRPC stubs of the ``ned.v1`` API (from proto/ned/v1 by tools/gen_proto.py; do not edit).

``pb`` holds the messages of both .proto files, ``rpc`` the service stub and servicer base.
"""

from . import frames_pb2, pb, service_pb2
from . import service_pb2_grpc as rpc

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["Ned"].full_name
API = "ned.v1"

__all__ = ["API", "SERVICE_NAME", "frames_pb2", "pb", "rpc", "service_pb2"]
