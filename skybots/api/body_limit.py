"""Request bodies of at most 64 KB: a bot's spec is a few KB, and a body is read whole before it is checked.

An ASGI middleware: a Content-Length over the limit is refused before anything is read, and a
body that does not say its length (chunked) is counted as it arrives and cut off at the limit.
The Ingress refuses the same bodies first (manifests/base/api.yaml, proxy-body-size).
"""

from __future__ import annotations

import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = f"The request body is over {MAX_BODY_BYTES // 1024} KB, the most this API accepts."


class _TooLarge(Exception):
    """The body grew past the limit while the app was reading it."""


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self._app, self._limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._limit:
            await _refuse(send)
            return
        received, cut, responded = 0, False, False

        async def counted() -> Message:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._limit:
                    cut = True
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal responded
            if cut and not responded:
                return  # what the app answers to a body it could not read: the 413 goes instead
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_TooLarge):  # FastAPI turns it into a 400 first, but a route may not
            await self._app(scope, counted, watched)
        if cut and not responded:
            await _refuse(send)


async def _refuse(send: Send) -> None:
    body = json.dumps({"detail": TOO_LARGE}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
