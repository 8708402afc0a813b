"""Mail that follows an API event, sent after the response so that no request waits on Mailjet.

A route dispatches the event (`fastapi_events.dispatcher.dispatch`); the app's LocalHandler
runs the handler once the response has gone out. A mail that fails is logged, never raised:
the request it follows has already succeeded.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.typing import Event

from skybots.api.deps import running_of, settings_of
from skybots.api.events import USER_SIGNED_UP
from skybots.mail import links

log = logging.getLogger(__name__)


def register(events: LocalHandler, app: FastAPI) -> None:
    """Register the mail handlers on the app's LocalHandler; they use the app's mailer (Services.mailer)."""
    settings = settings_of(app)

    async def welcome(event: Event) -> None:
        _, user = event
        mailer = running_of(app).services.mailer
        try:
            await mailer.send(user["email"], user["name"], "welcome", links(settings))
        except Exception:
            log.exception("The welcome mail to user %s was not sent", user["id"])

    events.register(welcome, event_name=USER_SIGNED_UP)  # type: ignore[no-untyped-call]
