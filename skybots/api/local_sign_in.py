"""Sign-in for the local runtime (`skybots dev`): one local user, no provider, development only.

Mounted only by `skybots dev` (`create_app(..., local_runtime=True)`), never by a setting: `skybots
api` cannot sign anyone in without Google (or its provider), whatever its environment. The route
checks the app's flag again, so a router included by mistake still refuses.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse
from fastapi_events.dispatcher import dispatch

from skybots.api import sessions
from skybots.api.deps import LocalRuntime, Settings, UsersDep
from skybots.api.events import USER_SIGNED_UP
from skybots.api.oidc import DEFAULT_NEXT, same_site_path

ISSUER = "skybots-local"
SUBJECT = "local-developer"
EMAIL = "developer@localhost"
NAME = "Local developer (development only)"

router = APIRouter(include_in_schema=False)


@router.post("/auth/local")
async def sign_in_locally(
    request: Request,
    local_runtime: LocalRuntime,
    settings: Settings,
    users: UsersDep,
    next_path: Annotated[str, Query(alias="next")] = DEFAULT_NEXT,
) -> RedirectResponse:
    """Start a session for the local user; refused unless this is the local runtime."""
    if not local_runtime:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    user, created = await users.sign_in(ISSUER, SUBJECT, EMAIL, NAME)
    if created:
        dispatch(USER_SIGNED_UP, {"id": user.id, "email": user.email, "name": user.name})
    sessions.start(request, user, days=settings.session_days)
    return RedirectResponse(same_site_path(next_path), status_code=status.HTTP_303_SEE_OTHER)
