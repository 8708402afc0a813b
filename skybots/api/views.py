"""A bot as its owner sees it: the spec without where its password is kept, and the status.

Listings are polled: each bot's view is serialized once per resourceVersion (`Views`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from skybots.bots import AS_STORED, BlueskyAccount, BotSpec, BotStatus, WireModel


class SpecInput(BotSpec):
    """A bot's spec as its owner writes it: the platform decides where the app password is kept."""

    account: BlueskyAccount  # type: ignore[assignment]  # the same account, without where its password is kept
    """The Bluesky account the bot reposts as."""


class BotView(WireModel):
    """A bot as its owner sees it; never its app password."""

    model_config = ConfigDict(extra="ignore")

    name: str
    """The bot's name."""
    spec: SpecInput
    """What the bot reposts, and how often."""
    status: BotStatus
    """What the operator observed: conditions, the last run, totals."""
    resource_version: str
    """Send it back with a change."""
    created_at: datetime | None = None
    """When the bot was made."""


def view(bot: dict[str, Any]) -> BotView:
    spec = dict(bot["spec"])
    spec["account"] = {k: v for k, v in spec["account"].items() if k != "credentialsSecretRef"}
    return BotView(
        name=bot["metadata"]["labels"]["app.kubernetes.io/instance"],
        spec=SpecInput.model_validate(spec, context=AS_STORED),
        status=BotStatus.model_validate(bot.get("status") or {}),
        resource_version=bot["metadata"]["resourceVersion"],
        created_at=bot["metadata"].get("creationTimestamp"),
    )


class Views:
    """Each bot's view, serialized once per resourceVersion: listings are served as ready bytes."""

    def __init__(self) -> None:
        self._by_resource: dict[str, tuple[str, bytes]] = {}

    def json(self, bot: dict[str, Any]) -> bytes:
        resource, version = bot["metadata"]["name"], bot["metadata"]["resourceVersion"]
        cached = self._by_resource.get(resource)
        if cached is None or cached[0] != version:
            cached = (version, view(bot).model_dump_json(by_alias=True).encode())
            self._by_resource[resource] = cached
        return cached[1]

    def drop(self, resource: str) -> None:
        self._by_resource.pop(resource, None)
