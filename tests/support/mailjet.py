"""Mailjet for tests: a local HTTP server that records Send API calls and answers like Mailjet v3.1.

Point `SKYBOTS_MAILJET_URL` (or MailjetMailer's `url`) at `mailjet_recorder.url`; every call
lands in `.calls`. By default each send succeeds; `fail_next(status, body)` makes the next one
fail the way Mailjet does (the bodies below are Mailjet's shapes).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

UNAUTHORIZED = {
    "ErrorIdentifier": "0e5f2a80-0b2c-4d55-9f5a-1c2d3e4f5a6b",
    "ErrorCode": "mj-0001",
    "StatusCode": 401,
    "ErrorMessage": "API key authentication/authorization failure. You may be unauthorized to access "
    "the API or your API key may be expired. Visit API keys management section to check your keys.",
}


def invalid_recipient(email: str) -> dict[str, Any]:
    """Mailjet's 400 for a message it refuses: errors listed per message."""
    return {
        "Messages": [
            {
                "Status": "error",
                "Errors": [
                    {
                        "ErrorIdentifier": "f987008f-251a-4dff-8ffc-40f1583ad7bc",
                        "ErrorCode": "mj-0013",
                        "StatusCode": 400,
                        "ErrorMessage": f'"{email}" is an invalid email address.',
                        "ErrorRelatedTo": ["To[0].Email"],
                    }
                ],
            }
        ]
    }


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    user: str | None
    """The basic-auth user name (Mailjet's API key); the secret is not kept."""
    body: Any


class MailjetRecorder:
    """Records every request; answers success, or the queued failures first."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: list[tuple[int, Any]] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else None
                status, answer = recorder._record(
                    Call("POST", self.path, _basic_auth_user(self.headers.get("Authorization")), body)
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        # A short poll interval: shutdown() waits for the loop to look, which it does every interval.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def fail_next(self, status: int, body: Any) -> None:
        with self._lock:
            self._failures.append((status, body))

    def _record(self, call: Call) -> tuple[int, Any]:
        with self._lock:
            self.calls.append(call)
            if self._failures:
                return self._failures.pop(0)
        if call.path != "/v3.1/send":
            return 404, {"ErrorMessage": f"Unknown resource: {call.path}", "StatusCode": 404}
        return 200, _success(call.body)

    def __enter__(self) -> MailjetRecorder:
        return self

    def __exit__(self, *_: object) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _basic_auth_user(header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    return base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")[0]


def _success(body: Any) -> dict[str, Any]:
    """Mailjet's 200: per message, "success" and an id for every recipient."""
    messages = []
    for message in body["Messages"]:
        sent = []
        for to in message["To"]:
            message_id = uuid.uuid4().int % 10**17
            sent.append(
                {
                    "Email": to["Email"],
                    "MessageUUID": str(uuid.uuid4()),
                    "MessageID": message_id,
                    "MessageHref": f"https://api.mailjet.com/v3/REST/message/{message_id}",
                }
            )
        messages.append(
            {"Status": "success", "CustomID": message.get("CustomID", ""), "To": sent, "Cc": [], "Bcc": []}
        )
    return {"Messages": messages}


@pytest.fixture
def mailjet_recorder() -> Iterator[MailjetRecorder]:
    """A Mailjet stand-in on 127.0.0.1 for one test."""
    with MailjetRecorder() as recorder:
        yield recorder
