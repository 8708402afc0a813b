"""The cache keys that belong to one bot (not to its Bluesky account): forgotten with its owner's account.

A bot is "<namespace>/<name>" of its Bot. What is kept per Bluesky account instead (the dedup
set and snapshot, the session, the points spent) is shared by every bot on that account.
"""

from __future__ import annotations


def watermarks(bot: str) -> str:
    """A hash: source -> the newest post time the bot has read from it."""
    return f"skybots:watermarks:{bot}"


def reposts(bot: str) -> str:
    """A scored set: the bot's reposts of the last day (post URI -> when), for its limits."""
    return f"skybots:bot-reposts:{bot}"


def of_bot(namespace: str, name: str) -> tuple[str, ...]:
    bot = f"{namespace}/{name}"
    return watermarks(bot), reposts(bot)
