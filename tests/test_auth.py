"""Sign-in with an OpenID provider, end to end over HTTP: the real provider, the API in-process.

The provider (npm oidc-provider) stands in for Google; DynamoDB is moto. Every failure must end
with no session: /api/me answers 401 afterwards.
"""

from __future__ import annotations

import json
import logging
import time
from base64 import b64decode, b64encode
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import httpx
import itsdangerous
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI
from joserfc.errors import InvalidClaimError

from skybots.api import oidc
from skybots.api.app import create_app
from skybots.api.deps import Services
from skybots.api.events import USER_SIGNED_UP
from skybots.api.sessions import COOKIE, CSRF_HEADER
from skybots.mail import MailjetMailer
from skybots.settings import ApiSettings
from skybots.stores.users import user_id
from tests.support.aws import REGION
from tests.support.mailjet import MailjetRecorder
from tests.support.oidc import OidcProvider, sign_in, signed_in
from tests.support.operator import eventually
from tests.support.signin import api_client, signin_settings

ALICE = "alice@example.com"


class Api:
    """An app under test, what it dispatched, and a way to open browsers on it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.settings: ApiSettings = app.state.settings
        self.signed_up: list[dict[str, Any]] = []
        app.state.events.register(self._record, event_name=USER_SIGNED_UP)

    async def _record(self, event: tuple[str, dict[str, Any]]) -> None:
        self.signed_up.append(event[1])

    def browser(self) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return api_client(self.app)


@pytest.fixture
def make_api(oidc_provider: OidcProvider, api_services: Services) -> Callable[..., Api]:
    """An app signing in through the session's provider; keyword arguments override its settings."""
    return lambda **overrides: Api(create_app(signin_settings(oidc_provider, **overrides), api_services))


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture
async def browser(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with api.browser() as client:
        yield client


def profiles(aws: str) -> list[dict[str, Any]]:
    """The users table's profile items, read straight from DynamoDB."""
    items = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws).scan(TableName="skybots-users")
    return [item for item in items["Items"] if item["sk"]["S"] == "PROFILE"]


async def assert_refused(response: httpx.Response, browser: httpx.AsyncClient, code: str) -> None:
    """Sent to the sign-in page, which names this code, and no session in the browser afterwards."""
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/sign-in?error={code}"
    page = await browser.get(response.headers["location"])
    assert f'data-error="{code}"' in page.text
    assert (await browser.get("/api/me")).status_code == 401


def with_query(url: str, **changes: str | None) -> str:
    """`url` with query parameters replaced (or removed, for None)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_first_sign_in_records_the_user_and_dispatches_signed_up(
    api: Api, oidc_provider: OidcProvider, aws: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with api.browser() as browser:
        response = await sign_in(browser, oidc_provider, ALICE)
        assert response.status_code == 303
        assert response.headers["location"] == "/app/"
        me = (await browser.get("/api/me")).json()

    uid = user_id(oidc_provider.issuer, ALICE)
    assert me["id"] == uid
    assert (me["email"], me["name"]) == (ALICE, "Alice")
    [profile] = profiles(aws)
    assert profile["pk"]["S"] == f"USER#{uid}"
    assert (profile["email"]["S"], profile["issuer"]["S"], profile["subject"]["S"]) == (
        ALICE,
        oidc_provider.issuer,
        ALICE,
    )
    assert api.signed_up == [{"id": uid, "email": ALICE, "name": "Alice"}]

    async with api.browser() as another_browser:
        assert (await sign_in(another_browser, oidc_provider, ALICE)).status_code == 303
    assert len(profiles(aws)) == 1
    assert len(api.signed_up) == 1, "a second sign-in is no sign-up"
    assert "HTTP Request: POST" in caplog.text, "authlib's requests were logged"
    for secret in (oidc_provider.client_secret, api.settings.session_secret.get_secret_value()):
        assert secret not in caplog.text


@pytest.mark.parametrize("public_url", ["http://skybots.test", "https://skybots.test"])
async def test_the_session_cookie_and_api_me(
    make_api: Callable[..., Api], oidc_provider: OidcProvider, public_url: str
) -> None:
    api = make_api(public_url=public_url, session_days=3)
    async with api.browser() as browser:
        assert (await browser.get("/api/me")).status_code == 401

        response = await sign_in(browser, oidc_provider, ALICE)
        assert response.status_code == 303
        [cookie] = response.headers.get_list("set-cookie")
        name, *attributes = (part.strip() for part in cookie.split(";"))
        flags = {attribute.split("=")[0].lower(): attribute.partition("=")[2] for attribute in attributes}
        assert name.startswith(f"{COOKIE}=")
        assert "httponly" in flags
        assert flags["samesite"].lower() == "lax"
        assert flags["max-age"] == str(3 * 86400)
        assert flags["path"] == "/"
        assert ("secure" in flags) == public_url.startswith("https://")

        me = await browser.get("/api/me")
        assert me.status_code == 200
        assert set(me.json()) == {"id", "email", "name", "csrfToken"}
        assert len(me.json()["csrfToken"]) >= 32


@pytest.mark.parametrize(
    ("next_path", "lands_on"),
    [
        (None, "/app/"),
        ("/app/bots/news?tab=runs", "/app/bots/news?tab=runs"),
        ("https://evil.example/", "/app/"),
        ("//evil.example/", "/app/"),
        ("/\\evil.example/", "/app/"),
        ("/\t/evil.example/", "/app/"),
        ("app/", "/app/"),
    ],
)
async def test_sign_in_lands_on_next_only_within_the_site(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider, next_path: str | None, lands_on: str
) -> None:
    response = await sign_in(browser, oidc_provider, ALICE, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == lands_on


async def test_login_asks_for_a_code_with_pkce_state_and_nonce(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider
) -> None:
    response = await browser.get("/auth/login")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    query = dict(parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}" == oidc_provider.issuer
    assert query["response_type"] == "code"
    assert query["client_id"] == oidc_provider.client_id
    assert query["redirect_uri"] == "http://skybots.test/auth/callback"
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43  # base64url of a SHA-256
    assert len(query["state"]) >= 20
    assert len(query["nonce"]) >= 20


@pytest.mark.parametrize("state", ["wrong", None, "superseded"])
async def test_a_callback_with_a_wrong_or_missing_state_signs_no_one_in(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider, aws: str, state: str | None
) -> None:
    started = await browser.get("/auth/login")
    callback = await oidc_provider.authorize(started.headers["location"], ALICE)
    if state == "superseded":  # a later sign-in in the same browser replaces the pending one
        assert (await browser.get("/auth/login")).status_code == 302
    else:
        callback = with_query(callback, state=state)
    await assert_refused(await browser.get(callback), browser, "invalid_state")
    assert profiles(aws) == []


async def test_a_failed_sign_in_ends_the_session_the_browser_had(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider
) -> None:
    await signed_in(browser, oidc_provider, ALICE)
    started = await browser.get("/auth/login")
    callback = await oidc_provider.authorize(started.headers["location"], "bob@example.com")
    await assert_refused(await browser.get(with_query(callback, state="wrong")), browser, "invalid_state")


async def test_a_replayed_callback_or_code_signs_no_one_in(
    api: Api, oidc_provider: OidcProvider, aws: str
) -> None:
    async with api.browser() as browser:
        first = await sign_in(browser, oidc_provider, ALICE)
        assert first.status_code == 303
    callback = str(first.request.url)

    async with api.browser() as browser:
        # The same answer again: its state was used up (in another browser, too).
        await assert_refused(await browser.get(callback), browser, "invalid_state")
        # The used code with a state of this browser's own: the provider refuses the code.
        started = await browser.get("/auth/login")
        state = dict(parse_qsl(urlsplit(started.headers["location"]).query))["state"]
        replayed = with_query(callback, state=state)
        await assert_refused(await browser.get(replayed), browser, "provider_error")
    assert len(profiles(aws)) == 1


@pytest.mark.parametrize("nonce", ["someone-elses-nonce-1234", None])
async def test_an_id_token_for_another_nonce_signs_no_one_in(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider, aws: str, nonce: str | None
) -> None:
    """An id_token minted for another authorization request (here: the URL's nonce changed or
    dropped on its way to the provider) must not sign anyone in."""
    started = await browser.get("/auth/login")
    tampered = with_query(started.headers["location"], nonce=nonce)
    callback = await oidc_provider.authorize(tampered, ALICE)
    await assert_refused(await browser.get(callback), browser, "invalid_id_token")
    assert profiles(aws) == []


async def test_an_id_token_for_another_client_is_refused(
    make_api: Callable[..., Api], oidc_provider: OidcProvider
) -> None:
    """Token substitution: a genuine id_token of the provider, issued to another relying party
    (here the provider's client, while this API is configured with another client id).

    In the code flow an id_token comes only from the token endpoint, so no request to the API can
    carry a foreign one: this hands it to the app's own OpenID client with the claim checks its
    callback uses. The same token passes for the client it was issued to (the control).
    """
    async with AsyncOAuth2Client(
        oidc_provider.client_id,
        oidc_provider.client_secret,
        scope=oidc.SCOPE,
        redirect_uri=f"{signin_settings(oidc_provider).public_url}/auth/callback",
        code_challenge_method="S256",
        trust_env=False,
    ) as relying_party:
        verifier, nonce = "v" * 64, "n" * 24
        url, _ = relying_party.create_authorization_url(
            f"{oidc_provider.issuer}/auth", code_verifier=verifier, nonce=nonce
        )
        callback = await oidc_provider.authorize(url, ALICE)
        token = await relying_party.fetch_token(
            f"{oidc_provider.issuer}/token", authorization_response=callback, code_verifier=verifier
        )

    for client_id, accepted in [(oidc_provider.client_id, True), ("skybots-elsewhere", False)]:
        api = make_api(oidc_client_id=client_id)
        verify = oidc.provider_client(api.settings).parse_id_token(
            token, nonce=nonce, claims_options=oidc.claims_options(api.settings)
        )
        if accepted:
            assert (await verify)["email"] == ALICE
        else:
            with pytest.raises(InvalidClaimError, match="aud"):
                await verify


async def test_an_unverified_email_signs_no_one_in(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider, aws: str
) -> None:
    response = await sign_in(browser, oidc_provider, "unverified-bob@example.com")
    await assert_refused(response, browser, "email_not_verified")
    assert profiles(aws) == []


@pytest.mark.parametrize(
    ("login", "admitted"),
    [
        ("alice@example.com", True),
        ("Carol@Elsewhere.test", True),
        ("eve@elsewhere.test", False),
        ("dave@mail.example.com", False),
        ("mallory@example.com.evil.test", False),
    ],
)
async def test_the_allow_list(
    make_api: Callable[..., Api], oidc_provider: OidcProvider, aws: str, login: str, admitted: bool
) -> None:
    """Listed addresses and the addresses of listed domains (not their subdomains), any case."""
    api = make_api(allowed_emails="carol@elsewhere.test", allowed_domains="EXAMPLE.com")
    async with api.browser() as browser:
        response = await sign_in(browser, oidc_provider, login)
        if admitted:
            assert response.status_code == 303
            assert (await browser.get("/api/me")).json()["email"] == login
        else:
            await assert_refused(response, browser, "not_allowed")
    assert len(profiles(aws)) == int(admitted)
    assert len(api.signed_up) == int(admitted)


async def test_cancelling_at_the_provider_signs_no_one_in(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider
) -> None:
    response = await sign_in(browser, oidc_provider, ALICE, cancel=True)
    assert "error=access_denied" in str(response.request.url)
    await assert_refused(response, browser, "access_denied")


@pytest.mark.parametrize("where", ["nothing listens", "names another issuer"])
async def test_a_provider_that_cannot_be_used_gets_an_error_page(
    make_api: Callable[..., Api], oidc_provider: OidcProvider, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """An issuer where nothing listens (the discard port), or one that is not exactly what the
    provider's discovery document says (here, with a trailing slash)."""
    issuer = "http://127.0.0.1:9" if where == "nothing listens" else f"{oidc_provider.issuer}/"
    api = make_api(oidc_issuer=issuer)
    async with api.browser() as browser:
        await assert_refused(await browser.get("/auth/login"), browser, "provider_error")
    assert "sign-in failed: provider_error: discovery" in caplog.text
    assert oidc_provider.client_secret not in caplog.text


def signed_at(secret: str, session: dict[str, Any], moment: float) -> str:
    """A session cookie as the app would have signed it at `moment` (Starlette's format)."""

    class Signer(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(moment)

    return Signer(secret).sign(b64encode(json.dumps(session).encode())).decode()


@pytest.mark.parametrize("expired", ["cookie signed too long ago", "session past its own expiry"])
async def test_an_expired_session_is_signed_out(
    api: Api, browser: httpx.AsyncClient, oidc_provider: OidcProvider, expired: str
) -> None:
    """A browser that kept its cookie past Max-Age, or a session re-signed later (any change to
    it re-signs the cookie) but older than session_days: either is no sign-in."""
    await signed_in(browser, oidc_provider, ALICE)
    secret = api.settings.session_secret.get_secret_value()
    signed = itsdangerous.TimestampSigner(secret).unsign(browser.cookies[COOKIE])
    session = json.loads(b64decode(signed))
    days = api.settings.session_days * 86400
    now = time.time()

    # Control: the same session, re-signed now, is still a sign-in.
    browser.cookies.clear()
    fresh = {"Cookie": f"{COOKIE}={signed_at(secret, session, now)}"}
    assert (await browser.get("/api/me", headers=fresh)).status_code == 200

    started = now - days - 60
    session["expires"] = int(started) + days
    moment = started if expired == "cookie signed too long ago" else now
    old = {"Cookie": f"{COOKIE}={signed_at(secret, session, moment)}"}
    assert (await browser.get("/api/me", headers=old)).status_code == 401


async def test_logout_needs_the_csrf_token_and_clears_the_cookie(
    browser: httpx.AsyncClient, oidc_provider: OidcProvider
) -> None:
    me = await signed_in(browser, oidc_provider, ALICE)
    cookie = browser.cookies[COOKIE]
    del browser.headers[CSRF_HEADER]

    for headers in [{}, {CSRF_HEADER: "not-the-token"}]:
        refused = await browser.post("/auth/logout", headers=headers)
        assert refused.status_code == 403
        assert (await browser.get("/api/me")).status_code == 200, "a refused logout changes nothing"

    response = await browser.post("/auth/logout", headers={CSRF_HEADER: me["csrfToken"]})
    assert response.status_code == 204
    assert "expires=Thu, 01 Jan 1970" in response.headers["set-cookie"]
    assert COOKIE not in browser.cookies
    assert (await browser.get("/api/me")).status_code == 401

    # A copy of the cookie taken before the logout is signed out too.
    assert (await browser.get("/api/me", headers={"Cookie": f"{COOKIE}={cookie}"})).status_code == 401


async def test_a_copy_of_the_cookie_replayed_after_logout_is_refused_on_every_replica(
    api: Api, make_api: Callable[..., Api], oidc_provider: OidcProvider
) -> None:
    """The attacker kept a copy of the cookie. After the user signs out on one replica, the copy is
    refused there at once, and on a replica that had read the user before within its
    user_cache_seconds; a new sign-in of the user still works."""
    secret = api.settings.session_secret.get_secret_value()
    other = make_api(session_secret=secret, user_cache_seconds=1)
    async with api.browser() as browser, other.browser() as attacker:
        me = await signed_in(browser, oidc_provider, ALICE)
        copy = {COOKIE: browser.cookies[COOKIE]}
        attacker.cookies.update(copy)
        attacker.headers[CSRF_HEADER] = me["csrfToken"]
        assert (await attacker.get("/api/me")).status_code == 200  # the other replica has read the user

        assert (await browser.post("/auth/logout")).status_code == 204
        browser.cookies.update(copy)
        assert (await browser.get("/api/me")).status_code == 401
        assert (await browser.post("/api/bots", json={})).status_code == 401

        async def refused() -> bool:
            return (await attacker.get("/api/me")).status_code == 401

        await eventually(refused, seconds=5, what="the other replica refuses the copy")
        assert (await attacker.post("/auth/logout")).status_code == 401

    async with api.browser() as browser:
        await signed_in(browser, oidc_provider, ALICE)
        assert (await browser.get("/api/me")).status_code == 200


async def test_the_first_sign_in_is_welcomed_by_mail(
    api_services: Services, oidc_provider: OidcProvider, mailjet_recorder: MailjetRecorder
) -> None:
    api_services.mailer = MailjetMailer(
        "key", "secret", sender="skybots <noreply@skybots.dev>", url=mailjet_recorder.url
    )
    app = create_app(signin_settings(oidc_provider), api_services)
    async with api_client(app) as browser:
        assert (await sign_in(browser, oidc_provider, ALICE)).status_code == 303

        async def sent() -> bool:  # the mail goes out after the response
            return bool(mailjet_recorder.calls)

        await eventually(sent, what="the welcome mail")
    [call] = mailjet_recorder.calls
    message = call.body["Messages"][0]
    assert message["To"] == [{"Email": ALICE, "Name": "Alice"}]
    assert "Welcome" in message["Subject"]
