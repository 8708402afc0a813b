"""Google sign-in for tests: a real OpenID provider (npm oidc-provider) and a person who signs in.

`oidc_provider` runs tools/oidc-provider/provider.mjs on Node 22 for the whole session, with
one confidential client whose redirect URIs are `<public_url>/auth/callback` for each of
`PUBLIC_URLS`. `sign_in()` goes through the API under test as a browser would: /auth/login, the
provider's login and consent forms (over HTTP, no browser), then the API's callback.

    async with api_client(create_app(api_settings(oidc_provider), api_services)) as api:
        me = await signed_in(api, oidc_provider, "alice@example.com")
        await api.post("/api/bots", json=...)   # X-CSRF-Token is set on `api`

A login name is the account at the provider (its `sub` and email); `unverified-<email>` signs
in with `email_verified: false`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.support.processes import NODE, ServerProcess, await_ready_line

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIR = ROOT / "tools" / "oidc-provider"
PUBLIC_URLS = ("http://skybots.test", "https://skybots.test")
"""Where the API under test may be reached (ASGI in-process, so no name has to resolve)."""
STARTUP_TIMEOUT = 20
_PROMPT = re.compile(r'<input type="hidden" name="prompt" value="(\w+)"')
_FORM_ACTION = re.compile(r'<form[^>]* action="([^"]+)"')
_ABORT = re.compile(r'href="([^"]+/abort)"')


@dataclass(frozen=True)
class OidcProvider:
    """A running provider.mjs and its one client."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    server: ServerProcess

    async def authorize(self, url: str, login: str, *, cancel: bool = False) -> str:
        """Follow an authorization URL through the provider's forms as `login` (any password),
        in a browser of its own (a fresh cookie jar, so the provider always asks who it is).

        Answers where the provider finally sends the browser: the client's redirect_uri with a
        code, or with `error=access_denied` when `cancel` (the user's "Cancel" at login).
        """
        async with httpx.AsyncClient(trust_env=False, timeout=10) as browser:
            response = await browser.get(url)
            for _ in range(10):
                if response.is_redirect:
                    location = urljoin(str(response.url), response.headers["location"])
                    if not location.startswith(f"{self.issuer}/"):
                        return location
                    response = await browser.get(location)
                    continue
                response.raise_for_status()
                prompt, action = _PROMPT.search(response.text), _FORM_ACTION.search(response.text)
                abort = _ABORT.search(response.text)
                if prompt is None or action is None or abort is None:
                    raise AssertionError(f"no interaction form at {response.url}:\n{response.text[:2000]}")
                form_url = urljoin(str(response.url), action.group(1))
                if cancel:
                    response = await browser.get(urljoin(str(response.url), abort.group(1)))
                elif prompt.group(1) == "login":
                    response = await browser.post(
                        form_url, data={"prompt": "login", "login": login, "password": "any"}
                    )
                else:
                    response = await browser.post(form_url, data={"prompt": prompt.group(1)})
        raise AssertionError(f"the provider did not send the browser back to the client (at {response.url})")


async def sign_in(
    api: httpx.AsyncClient,
    provider: OidcProvider,
    login: str = "alice@example.com",
    *,
    next_path: str | None = None,
    cancel: bool = False,
) -> httpx.Response:
    """Sign in to the API under test as `login`; the API's response to the provider's callback.

    That is a 303 to `next_path` (default /app/) when it worked, with the session cookie now in
    `api`'s jar, or the API's error page. The callback URL is `response.request.url`.
    """
    started = await api.get("/auth/login", params={"next": next_path} if next_path else None)
    assert started.status_code == 302, started.text
    return await api.get(await provider.authorize(started.headers["location"], login, cancel=cancel))


async def signed_in(
    api: httpx.AsyncClient, provider: OidcProvider, login: str = "alice@example.com"
) -> dict[str, Any]:
    """Sign in as `login` (it must work) and send the session's CSRF token with every later
    request of `api`; answers GET /api/me: {"id", "email", "name", "csrfToken"}."""
    from skybots.api.sessions import CSRF_HEADER  # not at import: every test run loads this plugin

    response = await sign_in(api, provider, login)
    assert response.status_code == 303, response.text
    me: dict[str, Any] = (await api.get("/api/me")).raise_for_status().json()
    api.headers[CSRF_HEADER] = me["csrfToken"]
    return me


@contextmanager
def running_oidc_provider(workdir: Path, redirect_uris: tuple[str, ...]) -> Iterator[OidcProvider]:
    """Start provider.mjs on a port of its choosing, wait for its ready line, stop it after."""
    if not NODE.exists() or not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        pytest.fail("Node 22 or oidc-provider is missing: run `make oidc-provider` (part of `make test`)")
    client_id, client_secret = "skybots-test", secrets.token_urlsafe(24)
    env = {
        "PATH": f"{NODE.parent}:/usr/bin:/bin",
        "HOME": str(workdir),
        "OIDC_PORT": "0",
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
    }
    log = workdir / "oidc-provider.log"
    server = ServerProcess("oidc-provider", [NODE, PROVIDER_DIR / "provider.mjs"], log=log, env=env)
    try:
        info = await_ready_line(server, log, STARTUP_TIMEOUT, "oidc-provider", interval=0.02)
        yield OidcProvider(info["issuer"], client_id, client_secret, redirect_uris, server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The session's OpenID provider, for an API at any of `PUBLIC_URLS`.

    Tests share it safely: every sign-in uses a fresh provider session, and accounts are
    made up by their login names.
    """
    with running_oidc_provider(
        tmp_path_factory.mktemp("oidc-provider"), tuple(f"{url}/auth/callback" for url in PUBLIC_URLS)
    ) as provider:
        yield provider
