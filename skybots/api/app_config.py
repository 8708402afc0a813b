"""GET /api/config: what the web app needs to know of this platform (not of the user), from settings."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from skybots.api.deps import Settings, SignedIn
from skybots.api.oidc import SIGNED_OUT

router = APIRouter()


class AppConfig(BaseModel):
    """The platform's settings the web app reads."""

    post_link: str = Field(
        serialization_alias="postLink",
        description="Where a post card links: a URL template with {handle} (the DID when the author has"
        " none), {did}, {rkey} and {uri}, each to be filled in URL-encoded (SKYBOTS_POST_LINK).",
    )


@router.get("/api/config", responses=SIGNED_OUT, operation_id="getAppConfig")
async def app_config(user: SignedIn, settings: Settings) -> AppConfig:
    return AppConfig(post_link=settings.post_link)
