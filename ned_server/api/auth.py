"""Token check on every RPC, as a server interceptor so no handler can forget it.

Clients send ``authorization: Bearer <token>`` metadata (ned_plugin does). Health checks and
reflection are covered or not as configured: load balancers probe health without a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIX = "/grpc.reflection."


def _abort_handler(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    def abort(_request: object, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str, *, protect_health: bool, protect_reflection: bool) -> None:
        self._expected = f"Bearer {token}".encode()
        self._open: Callable[[str], bool] = lambda method: (
            (method.startswith(HEALTH_PREFIX) and not protect_health)
            or (method.startswith(REFLECTION_PREFIX) and not protect_reflection)
        )

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if handler is None or self._open(method):
            return handler
        sent = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if isinstance(sent, str):
            sent = sent.encode()
        if hmac.compare_digest(sent, self._expected):
            return handler
        why = "no token was sent" if not sent else "the token is wrong"
        return _abort_handler(handler, f"{why}: set the NED server token in the node or NED_TOKEN")
