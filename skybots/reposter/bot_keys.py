"""The cache keys that belong to one bot or to its tenant (not to its Bluesky account): forgotten
with its owner's account.

A bot is "<namespace>/<name>" of its Bot; a tenant is `skybots.bots.tenant`'s. What is kept per
Bluesky account instead (the dedup set and snapshot, the session, the points spent) is shared
by every bot on that account, and names none of its owners.
"""

from __future__ import annotations

from skybots.stores.cache import tenant_keys

EGRESS_BUCKET = "skybots:egress"
"""The request budget to Bluesky that every bot shares, fairly between tenants."""


def watermarks(bot: str) -> str:
    """A hash: source -> the newest post time the bot has read from it."""
    return f"skybots:watermarks:{bot}"


def reposts(bot: str) -> str:
    """A scored set: the bot's reposts of the last day (post URI -> when), for its limits."""
    return f"skybots:bot-reposts:{bot}"


def of_bot(namespace: str, name: str) -> tuple[str, ...]:
    bot = f"{namespace}/{name}"
    return watermarks(bot), reposts(bot)


def egress_share(tenant: str) -> tuple[str, str]:
    """The tenant's share of the request budget (a key of its own), and the scored set of
    competing tenants it is a member of."""
    return tenant_keys(EGRESS_BUCKET, tenant)
