"""Security headers on every response: what the browser may load, frame and send along.

The pages and the SPA load scripts only from this site, never inline ones; styles may be inline
(Vue's and Vuestic's style bindings), since an injected style cannot run code. No other site may
frame a page (clickjacking), responses are never sniffed into another type, and the full address
goes only to this site. HSTS is sent only when the API is served over https.

The interactive API docs (Swagger UI from its CDN) get their own policy: the CDN, and the hash of
the one inline script FastAPI writes for them.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "content-security-policy"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}
HSTS = ("strict-transport-security", "max-age=31536000")
SWAGGER_CDN = "https://cdn.jsdelivr.net"


class SecurityHeaders:
    """Adds the headers to every HTTP response; a response that sets its own policy keeps it."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self._app = app
        self._headers = [(name.encode(), value.encode()) for name, value in HEADERS.items()]
        if https:
            self._headers.append((HSTS[0].encode(), HSTS[1].encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == CSP.encode() for name, _ in headers):
                    headers.append((CSP.encode(), POLICY.encode()))
                message = {**message, "headers": headers + self._headers}
            await send(message)

        await self._app(scope, receive, with_headers)


def script_hashes(html: str) -> list[str]:
    """CSP sources ('sha256-...') of the inline scripts of a page."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    ]


def add_api_docs(app: FastAPI, path: str, openapi_url: str) -> None:
    """Swagger UI at `path`, with a policy that lets it load (and nothing more)."""

    @app.get(path, include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(openapi_url=root + openapi_url, title=f"{app.title} - API docs")
        html = bytes(page.body).decode()
        policy = (
            f"default-src 'none'; script-src {SWAGGER_CDN} {' '.join(script_hashes(html))};"
            f" style-src {SWAGGER_CDN}; img-src 'self' data: https://fastapi.tiangolo.com;"
            " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        page.headers[CSP] = policy
        return page
