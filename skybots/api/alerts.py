"""Mail the owner when a bot's condition turns bad: the operator's conditions are the signal.

The API's Bot watch sees every status change; when `Healthy` turns False with RunsFailing, or
`Ready` with CredentialsRejected, the owner gets one mail per such transition. Replicas of the
API all see it: a conditional write in DynamoDB (keyed by the condition's lastTransitionTime)
lets exactly one of them send it, and a restart sends nothing again.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI

from skybots.api.deps import running_of, settings_of
from skybots.bots import OWNER_LABEL
from skybots.mail import notify_bot_trouble

log = logging.getLogger(__name__)

Trouble = tuple[Literal["failing", "credentials"], dict[str, Any]]
SIGNALS: dict[tuple[str, str], Literal["failing", "credentials"]] = {
    ("Healthy", "RunsFailing"): "failing",
    ("Ready", "CredentialsRejected"): "credentials",
}


def trouble(bot: dict[str, Any]) -> list[Trouble]:
    """The bad conditions of a bot that its owner should hear about."""
    found: list[Trouble] = []
    for condition in (bot.get("status") or {}).get("conditions", []):
        kind = SIGNALS.get((condition.get("type", ""), condition.get("reason", "")))
        if kind is not None and condition.get("status") == "False":
            found.append((kind, condition))
    return found


async def on_bot_change(app: FastAPI, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    if new is None:
        return
    services, settings = running_of(app).services, settings_of(app)
    labels = new["metadata"].get("labels", {})
    owner, name = labels.get(OWNER_LABEL), labels.get("app.kubernetes.io/instance")
    if not owner or not name:
        return
    for kind, condition in trouble(new):
        alert = f"{new['metadata']['uid']}#{kind}#{condition.get('lastTransitionTime', '')}"
        user = await services.users.get(owner)
        if user is None:
            continue  # a deleted account: nobody to mail, and no claim to leave behind
        if not await services.users.claim_alert(owner, alert):
            continue  # sent already, by this replica or another
        await notify_bot_trouble(
            services.mailer, user, name, kind, condition["reason"], condition.get("message", ""), settings
        )
        log.info("Told the owner of %s that %s", name, condition["reason"])
