"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and costs a task per request)."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLargeError(Exception):
    pass


def _413(limit: int) -> list[Message]:
    # Written here, not through app/api/errors.py: this middleware answers before the app (and its error
    # handlers) runs, so it sends the same error body itself.
    body = orjson.dumps(
        {"error": {"code": "payload_too_large", "message": f"request body exceeds {limit} bytes"}}
    )
    return [
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        },
        {"type": "http.response.body", "body": body},
    ]


class BodySizeLimit:
    """413 for bodies over ``max_bytes``: by Content-Length up front, or counted while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    for message in _413(self.max_bytes):
                        await send(message)
                    return
        received = 0
        started = False
        rejected = False

        async def counting_receive() -> Message:
            # The 413 is sent from here: frameworks turn errors raised while reading the body into
            # their own 400, which tracking_send then drops.
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if not started and not rejected:
                        rejected = True
                        for reply in _413(self.max_bytes):
                            await send(reply)
                    raise _TooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLargeError:
            if not rejected:
                raise
