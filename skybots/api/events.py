"""Work that follows a response: the API's fastapi-events handlers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi_events.handlers.local import LocalHandler

from skybots.api.deps import running_of

log = logging.getLogger(__name__)

USER_SIGNED_UP = "user.signed_up"
"""A first sign-in; payload {"id", "email", "name"}."""
BOT_CHANGED = "bot.changed"
"""A bot made, changed or deleted; payload {"owner", "name", "summary", "deleted"}."""


def register(events: LocalHandler, app: FastAPI) -> None:
    """Handlers that mirror the users' bots into DynamoDB for listings and analytics."""

    @events.register(event_name=BOT_CHANGED)  # type: ignore[untyped-decorator, no-untyped-call]
    async def mirror_bot(event: tuple[str, dict[str, Any]]) -> None:
        _, change = event
        await running_of(app).services.users.mirror_bot(
            change["owner"], change["name"], change["summary"], deleted=change["deleted"]
        )
