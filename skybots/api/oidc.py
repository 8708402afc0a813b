"""Sign-in with Google, or any OpenID provider by its issuer URL (Auth0, Keycloak): authlib's client.

The authorization code flow with PKCE (S256), state and nonce. What the flow must remember
between the redirect to the provider and the callback (state, nonce, PKCE verifier, where to
go next) lives in the signed session cookie, as authlib's Starlette integration keeps it.

Every failed sign-in ends without a session, on an HTML page that says what went wrong: its
status, and its error code in `<main data-error="...">`:

| code               | status | when                                                              |
| ------------------ | ------ | ----------------------------------------------------------------- |
| invalid_state      | 400    | no sign-in of this browser is waiting for this answer (missing, wrong or used state) |
| access_denied      | 403    | the user cancelled at the provider, or it refused them              |
| provider_error     | 502    | the provider could not be reached, or refused the code (used twice, expired) |
| invalid_id_token   | 502    | the id_token failed verification (signature, issuer, audience, expiry, nonce) |
| email_not_verified | 403    | the provider does not vouch for the email address                  |
| not_allowed        | 403    | the address is not on the allow-list                               |
"""

from __future__ import annotations

import logging
import warnings
from typing import Annotated, Any

import authlib.deprecate  # noqa: F401 (first: it installs an "always show" filter ahead of ours)
import httpx

with warnings.catch_warnings():  # authlib 1.9 announces its move to httpx2, on every import
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi_events.dispatcher import dispatch
from joserfc.errors import JoseError
from pydantic import BaseModel, Field

from skybots.api import sessions
from skybots.api.bots import Problem
from skybots.api.deps import KnownUsersDep, OidcClient, Settings, SignedIn, UsersDep
from skybots.api.events import USER_SIGNED_UP
from skybots.settings import ApiSettings

log = logging.getLogger(__name__)
router = APIRouter()

"""Dispatched (fastapi-events) on a user's first sign-in; payload: {"user_id", "email", "name"}."""
DEFAULT_NEXT = "/app/"
SCOPE = "openid email profile"
_NEXT = "oidc_next"

# The codes a failed sign-in ends with: /sign-in?error=<code> says what happened (pages.SIGN_IN_ERRORS).
FAILURES = (
    "invalid_state",
    "access_denied",
    "provider_error",
    "invalid_id_token",
    "email_not_verified",
    "not_allowed",
)


def provider_client(settings: ApiSettings) -> Any:
    """The app's OpenID client (authlib's StarletteOAuth2App), made with the app (deps.OidcClient).

    Discovery (`/.well-known/openid-configuration`) and the JWKS are fetched when a sign-in first
    needs them and then kept, so the API starts while the provider is down.
    """
    return OAuth().register(
        "oidc",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 10},
    )


def claims_options(settings: ApiSettings) -> dict[str, Any]:
    """What the id_token must say besides its signature, expiry and nonce (authlib checks those).

    authlib checks the audience only through `azp` unless told to; name it, and the issuer.
    """
    return {
        "iss": {"essential": True, "value": settings.oidc_issuer},
        "aud": {"essential": True, "value": settings.oidc_client_id},
    }


def same_site_path(value: str) -> str:
    """`value` when it is a path on this site, else the app's start page: never an open redirect.

    Browsers read `//host`, `/\\host` and paths with tabs or newlines in them as other sites.
    """
    if (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in value)
    ):
        return DEFAULT_NEXT
    return value


def allowed(settings: ApiSettings, email: str) -> bool:
    """Anyone, when neither list is set; otherwise a listed address, or one of a listed domain.

    Case-insensitive; a domain admits its own addresses, not those of its subdomains.
    """
    if not settings.allowed_emails and not settings.allowed_domains:
        return True
    email = email.casefold()
    domain = email.rpartition("@")[2]
    return email in {e.casefold() for e in settings.allowed_emails} or domain in {
        d.casefold() for d in settings.allowed_domains
    }


def _failure(request: Request, code: str, detail: object) -> RedirectResponse:
    """End the session (and any pending sign-in) and send the browser to the sign-in page, which says why."""
    assert code in FAILURES
    request.session.clear()
    log.warning("sign-in failed: %s: %s", code, detail)
    return RedirectResponse(f"/sign-in?error={code}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/auth/login", include_in_schema=False)
async def login(
    request: Request,
    client: OidcClient,
    settings: Settings,
    next_path: Annotated[str, Query(alias="next")] = DEFAULT_NEXT,
) -> Response:
    """Send the browser to the provider; `next` is where it lands once signed in (a path here)."""
    # authlib keeps one pending sign-in per browser (each takes ~0.6 KB of a cookie that browsers
    # drop past 4 KB): one started earlier in another tab then ends with invalid_state.
    request.session[_NEXT] = same_site_path(next_path)
    try:
        # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
        issuer = (await client.load_server_metadata()).get("issuer")
        if issuer != settings.oidc_issuer:
            raise ValueError(f"the provider names its issuer {issuer!r}, not {settings.oidc_issuer!r}")
        redirect: Response = await client.authorize_redirect(
            request, settings.public_url.rstrip("/") + "/auth/callback"
        )
    except (httpx.HTTPError, ValueError) as error:
        return _failure(request, "provider_error", f"discovery: {error!r}")
    return redirect


@router.get("/auth/callback", include_in_schema=False)
async def callback(request: Request, client: OidcClient, settings: Settings, users: UsersDep) -> Response:
    """The provider's answer: verify it, record the user, start their session."""
    next_path = str(request.session.get(_NEXT, DEFAULT_NEXT))
    try:
        token = await client.authorize_access_token(request, claims_options=claims_options(settings))
    except OAuthError as error:
        code = {"mismatching_state": "invalid_state", "access_denied": "access_denied"}.get(
            error.error, "provider_error"
        )
        return _failure(request, code, f"{error.error}: {error.description}")
    except JoseError as error:
        return _failure(request, "invalid_id_token", repr(error))
    except (httpx.HTTPError, ValueError) as error:
        return _failure(request, "provider_error", repr(error))
    claims: dict[str, Any] | None = token.get("userinfo")
    if claims is None:
        return _failure(request, "provider_error", "no id_token in the token response")
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is not True:
        return _failure(request, "email_not_verified", f"email_verified={claims.get('email_verified')!r}")
    if not allowed(settings, email):
        return _failure(request, "not_allowed", f"an address at {email.rpartition('@')[2]}")

    user, created = await users.sign_in(claims["iss"], claims["sub"], email, claims.get("name") or "")
    if created:
        dispatch(USER_SIGNED_UP, {"id": user.id, "email": user.email, "name": user.name})
    sessions.start(request, user, days=settings.session_days)
    return RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)


SIGNED_OUT: dict[int | str, dict[str, Any]] = {401: {"model": Problem, "description": "Not signed in."}}


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_OUT, operation_id="signOut"
)
async def logout(request: Request, user: SignedIn, users: UsersDep, known: KnownUsersDep) -> None:
    """Sign out (the SPA sends its CSRF token): the cookie is cleared in the browser, and every
    session of the user, any copy of this cookie included, is refused from now on."""
    await sessions.end(request, user, users, known)


class Me(BaseModel):
    """The signed-in user, and the token the SPA sends as X-CSRF-Token with every change."""

    id: str
    email: str
    name: str
    csrf_token: str = Field(serialization_alias="csrfToken")


@router.get("/api/me", responses=SIGNED_OUT, operation_id="getMe")
async def me(request: Request, user: SignedIn) -> Me:
    return Me(id=user.id, email=user.email, name=user.name, csrf_token=sessions.csrf_token(request))
