"""Landing pages, the stylesheet, the SPA under /app/ (built or not) and development reload."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape
from starlette.types import Message

from skybots.api import pages
from skybots.api.app import create_app
from skybots.settings import ApiSettings
from tests.support.api import Api
from tests.support.processes import NODE

ROOT = Path(__file__).resolve().parent.parent
SITE_CSS = ROOT / "skybots/api/static/site.css"
TAILWIND_DIR = ROOT / "tools/tailwind"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def app_with(**settings: Any) -> FastAPI:
    """The API as built in production; the pages need no services, so none are started."""
    return create_app(ApiSettings(**settings))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app_with()) as client:
        yield client


async def test_home_says_what_skybots_is_and_links_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>skybots</title>" in response.text
    assert "Repost bots for Bluesky" in response.text
    assert 'href="/auth/login"' in response.text
    assert 'href="/static/site.css"' in response.text
    assert "arel" not in response.text


async def test_sign_in_page_without_an_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/sign-in")

    assert response.status_code == 200
    assert 'href="/auth/login"' in response.text
    assert 'role="alert"' not in response.text


@pytest.mark.parametrize(
    ("local_runtime", "action"), [(False, 'href="/auth/login?next='), (True, 'action="/auth/local?next=')]
)
async def test_sign_in_sends_the_browser_back_to_the_page_it_came_from(
    local_runtime: bool, action: str
) -> None:
    """The web app sends a signed-out browser to /sign-in?next=<its page>; signing in lands there."""
    async with client_for(create_app(ApiSettings(), local_runtime=local_runtime)) as client:
        back = await client.get("/sign-in", params={"next": "/app/bots/k8s-news?range=7d"})
        elsewhere = await client.get("/sign-in", params={"next": "//evil.example/app/"})

    assert action + "/app/bots/k8s-news%3Frange%3D7d" in back.text
    # Only a path of this site: another site becomes the app's start page.
    assert action + "/app/" in elsewhere.text
    assert "evil.example" not in elsewhere.text


@pytest.mark.parametrize("code", sorted(pages.SIGN_IN_ERRORS))
async def test_sign_in_errors_are_explained(client: httpx.AsyncClient, code: str) -> None:
    response = await client.get("/sign-in", params={"error": code})

    assert response.status_code == 200
    assert 'role="alert"' in response.text
    assert str(escape(pages.SIGN_IN_ERRORS[code])) in response.text
    assert f'data-error="{code}"' in response.text  # a known code, for the web app and tests


@pytest.mark.parametrize("code", ["no_such_code", '"><script>alert(1)</script>', "provider_error<b>"])
async def test_an_unknown_sign_in_error_gets_the_generic_message_and_is_never_echoed(
    client: httpx.AsyncClient, code: str
) -> None:
    response = await client.get("/sign-in", params={"error": code})

    assert response.status_code == 200
    assert pages.GENERIC_SIGN_IN_ERROR in response.text
    for shown in (code, str(escape(code)), "alert(1)", "no_such_code"):
        assert shown not in response.text


async def test_privacy_page_says_what_is_stored(client: httpx.AsyncClient) -> None:
    response = await client.get("/privacy")

    assert response.status_code == 200
    text = response.text
    for stored in ("email address and name", "bots' configuration", "Run history", "Kubernetes Secret"):
        assert stored in text
    assert "never shows it again" in text


async def test_the_stylesheet_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/site.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.content == SITE_CSS.read_bytes()
    assert ".bg-sky-700" in response.text


def test_the_committed_stylesheet_is_built_from_the_templates(tmp_path: Path) -> None:
    """site.css is committed (a pip install serves it without Node); it must match the templates."""
    cli = TAILWIND_DIR / "node_modules/.bin/tailwindcss"
    if not cli.exists():
        pytest.fail("Tailwind is not installed: run `make tailwind` (part of `make test`)")
    node_path = f"{NODE.parent}{os.pathsep}" if NODE.parent.is_dir() else ""
    built = tmp_path / "site.css"
    subprocess.run(
        [cli, "--input", TAILWIND_DIR / "input.css", "--output", built, "--minify"],
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": node_path + os.environ["PATH"]},
    )
    assert built.read_text() == SITE_CSS.read_text(), "skybots/api/static/site.css is stale: run `make css`"


@pytest.fixture
def built_spa(tmp_path: Path) -> Path:
    """What a Vite build leaves: index.html and hashed assets."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><div id="app">the skybots SPA</div>')
    (tmp_path / "assets/index-1a2b3c.js").write_text("console.log('skybots')")
    return tmp_path


async def test_a_built_spa_is_served_with_index_for_client_routes(built_spa: Path) -> None:
    async with client_for(app_with(spa_dir=str(built_spa))) as client:
        index = await client.get("/app/", headers=BROWSER)
        asset = await client.get("/app/assets/index-1a2b3c.js")
        client_route = await client.get("/app/bots/k8s-news", headers=BROWSER)
        missing_asset = await client.get("/app/assets/index-gone.js", headers={"Accept": "*/*"})
        bare = await client.get("/app", headers=BROWSER)

    assert index.status_code == 200
    assert "the skybots SPA" in index.text
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert asset.text == "console.log('skybots')"
    assert client_route.status_code == 200
    assert client_route.text == index.text
    # A script that is not there is a 404, not index.html served as JavaScript.
    assert missing_asset.status_code == 404
    assert bare.status_code in (307, 308)
    assert bare.headers["location"].endswith("/app/")


@pytest.mark.parametrize("path", ["/app/", "/app/bots/k8s-news", "/app/assets/index-1a2b3c.js"])
async def test_without_a_spa_build_app_says_it_is_not_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    async with client_for(app_with(spa_dir=str(tmp_path))) as client:
        response = await client.get(path, headers=BROWSER)

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "The web app is not built yet" in response.text
    assert "SKYBOTS_SPA_DIR" in response.text
    assert f"SKYBOTS_SPA_DIR={tmp_path} holds no index.html" in caplog.text


async def test_dev_reload_reloads_pages_when_the_stylesheet_changes(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    shutil.copytree(pages.STATIC, static)
    monkeypatch.setattr(pages, "STATIC", static)
    app = create_app(api.settings.model_copy(update={"dev_reload": True}), api.services)

    async with app.router.lifespan_context(app), client_for(app) as client:
        page = await client.get("/")
        assert_the_policy_allows(page)
        [script] = PageParts.of(page.text).scripts
        assert script == ("/hot-reload.js", "")
        served = await client.get("/hot-reload.js")
        assert served.headers["content-type"].startswith("text/javascript")
        assert 'new WebSocket("ws://test/hot-reload")' in served.text

        async with hot_reload_socket(app) as messages:
            assert (await messages.get())["type"] == "websocket.accept"
            (static / "site.css").write_text("body { color: red }")
            message = await asyncio.wait_for(messages.get(), timeout=10)
            assert message == {"type": "websocket.send", "text": "reload"}


class PageParts(HTMLParser):
    """What a page makes the browser load or run: scripts (src, inline body), styles, forms, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[str, str]] = []
        self.urls: list[tuple[str, str]] = []  # (the directive that governs it, URL)
        self.handlers: list[str] = []  # onclick= and the like
        self._in_script: str | None = None

    @classmethod
    def of(cls, html: str) -> PageParts:
        parts = cls()
        parts.feed(html)
        return parts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self._in_script = attributes.get("src", "")
            self.scripts.append((self._in_script, ""))
        elif tag == "link":
            kind = "style-src" if attributes.get("rel") == "stylesheet" else "img-src"
            self.urls.append((kind, attributes.get("href", "")))
        elif tag == "img":
            self.urls.append(("img-src", attributes.get("src", "")))
        elif tag == "form":
            self.urls.append(("form-action", attributes.get("action", "")))

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self.scripts[-1] = (self._in_script, self.scripts[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


def allowed(url: str, sources: list[str]) -> bool:
    """Whether a CSP source list admits `url` (a path here under 'self', another site by its origin)."""
    parts = urlsplit(url)
    return "'self'" in sources if not parts.netloc else f"{parts.scheme}://{parts.netloc}" in sources


def assert_the_policy_allows(response: httpx.Response) -> None:
    """What a browser would check of the page against its Content-Security-Policy: every script
    allowed (inline ones by their hash), no inline handlers, stylesheets, images and forms
    allowed; and that no other site may frame it."""
    policy = directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    parts = PageParts.of(response.text)
    assert parts.handlers == [], "inline event handlers never run under the policy"
    for src, body in parts.scripts:
        if src:
            assert allowed(src, policy["script-src"]), src
        else:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy["script-src"], "an inline script the policy refuses"
    for directive, url in parts.urls:
        assert allowed(url, policy.get(directive, policy.get("default-src", []))), (directive, url)


PAGES = ["/", "/sign-in", "/sign-in?error=access_denied", "/privacy", "/app/bots/k8s-news"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_loads_only_what_its_policy_allows(path: str, tmp_path: Path) -> None:
    async with client_for(create_app(ApiSettings(spa_dir=str(tmp_path)), local_runtime=True)) as client:
        page = await client.get(path, headers=BROWSER)
    assert page.headers["content-type"].startswith("text/html")
    assert_the_policy_allows(page)


@pytest.mark.parametrize("public_url", ["http://skybots.test", "https://skybots.test"])
@pytest.mark.parametrize("path", ["/", "/api/bots", "/api/me", "/healthz", "/static/site.css", "/nowhere"])
async def test_pages_and_api_answers_carry_the_security_headers(public_url: str, path: str) -> None:
    async with client_for(app_with(public_url=public_url)) as client:
        response = await client.get(path)
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["x-frame-options"] == "DENY"
    if public_url.startswith("https://"):
        assert headers["strict-transport-security"] == "max-age=31536000"
    else:
        assert "strict-transport-security" not in headers


async def test_the_api_docs_load_under_their_own_policy(client: httpx.AsyncClient) -> None:
    """Swagger UI comes from its CDN and starts with one inline script: its policy allows both, no more."""
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert_the_policy_allows(docs)
    assert len([body for src, body in PageParts.of(docs.text).scripts if not src]) == 1
    assert "'self'" not in directives(docs.headers["content-security-policy"])["script-src"]


@asynccontextmanager
async def hot_reload_socket(app: FastAPI) -> AsyncIterator[asyncio.Queue[Message]]:
    """A browser's WebSocket to /hot-reload, spoken in ASGI: what the server sends lands in the queue."""
    sent: asyncio.Queue[Message] = asyncio.Queue()
    closing = asyncio.Event()
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await closing.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        await sent.put(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/hot-reload",
        "raw_path": b"/hot-reload",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "subprotocols": [],
    }
    task = asyncio.create_task(app(scope, receive, send))
    try:
        yield sent
    finally:
        closing.set()
        await asyncio.wait_for(task, timeout=5)
