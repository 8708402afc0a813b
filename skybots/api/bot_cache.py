"""The users' Bots, kept in memory by a watch: every read of the API is answered from here.

One list, then a watch from its resourceVersion; a dropped or expired watch lists again.
The API's own writes are remembered at once (read-your-writes), and an event older than
what is remembered is ignored. `on_change(old, new)` sees every change (alerts hang on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from skybots.bots import OWNER_LABEL
from skybots.stores.kubernetes import BOT, KubernetesApi, follow

log = logging.getLogger(__name__)

MANAGED_BY_API = "skybots-api"
GENERATIONS_KEPT = 32  # resourceVersions remembered per Bot: a few hours of runs
Change = Callable[[dict[str, Any] | None, dict[str, Any] | None], Awaitable[None]]


def _version(obj: dict[str, Any]) -> int:
    value = str(obj["metadata"].get("resourceVersion", ""))
    return int(value) if value.isdigit() else -1


class BotCache:
    def __init__(self, kube: KubernetesApi, namespace: str, *, on_change: Change | None = None) -> None:
        self._kube, self._namespace, self._on_change = kube, namespace, on_change
        self._bots: dict[str, dict[str, Any]] = {}
        self._deleted: dict[str, int] = {}  # name -> resourceVersion the API deleted it at
        self._generations: dict[str, dict[str, int]] = {}  # name -> recent resourceVersion -> generation
        self._task: asyncio.Task[None] | None = None
        self._applied = asyncio.Condition()  # notified on every change this cache takes in
        self.synced = asyncio.Event()
        self.selector = f"app.kubernetes.io/managed-by={MANAGED_BY_API}"

    async def start(self) -> None:
        """One list (the API answers from it at once), then the watch from where it left off."""
        bots, version = await self._kube.snapshot(BOT, self._namespace, self.selector)
        await self._listed(bots)
        self._task = asyncio.create_task(
            follow(
                self._kube,
                BOT,
                self._namespace,
                listed=self._listed,
                changed=self._apply,
                label_selector=self.selector,
                resource_version=version,
            ),
            name="bot-cache",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def owned_by(self, owner: str) -> list[dict[str, Any]]:
        return [bot for bot in self._live() if bot["metadata"].get("labels", {}).get(OWNER_LABEL) == owner]

    def owners(self) -> list[str]:
        return [bot["metadata"].get("labels", {}).get(OWNER_LABEL, "") for bot in self._live()]

    def get(self, name: str) -> dict[str, Any] | None:
        bot = self._bots.get(name)
        return None if bot is None or bot["metadata"].get("deletionTimestamp") else bot

    def spec_current(self, name: str, read_version: str) -> bool:
        """Whether the Bot's spec (its generation) is still what it was at `read_version`, as far as
        this cache has seen: runs rewrite a Bot's status every few minutes, which makes a new
        resourceVersion but changes nothing a user edits."""
        bot = self._bots.get(name)
        generation = self._generations.get(name, {}).get(read_version)
        return bot is not None and generation is not None and generation == bot["metadata"].get("generation")

    def precondition(self, name: str, read_version: str) -> str:
        """The resourceVersion an update read at `read_version` may be applied to: the current one
        while the spec is unchanged, else the one read (which the API server refuses: a 409)."""
        bot = self._bots.get(name)
        if bot is not None and self.spec_current(name, read_version):
            return str(bot["metadata"]["resourceVersion"])
        return read_version

    async def newer(self, name: str, version: str) -> None:
        """Wait until this cache holds the Bot at a resourceVersion after `version`, or no longer holds it."""

        def moved() -> bool:
            bot = self._bots.get(name)
            return bot is None or _version(bot) > _version({"metadata": {"resourceVersion": version}})

        async with self._applied:
            await self._applied.wait_for(moved)

    def _live(self) -> list[dict[str, Any]]:
        return [bot for bot in self._bots.values() if not bot["metadata"].get("deletionTimestamp")]

    async def remember(self, bot: dict[str, Any]) -> None:
        """An object the API just wrote: visible to the next read, before the watch brings it."""
        await self._apply("MODIFIED", bot)

    async def forget(self, name: str) -> None:
        """A Bot the API just deleted: gone for reads, and events from before the deletion are ignored."""
        if name in self._bots:
            self._deleted[name] = _version(self._bots[name])
            await self._apply("DELETED", self._bots[name])

    def _note_generation(self, bot: dict[str, Any]) -> None:
        seen = self._generations.setdefault(bot["metadata"]["name"], {})
        seen[str(bot["metadata"]["resourceVersion"])] = int(bot["metadata"].get("generation", 0))
        while len(seen) > GENERATIONS_KEPT:
            del seen[next(iter(seen))]  # the oldest

    async def _listed(self, bots: list[dict[str, Any]]) -> None:
        listed = {bot["metadata"]["name"]: bot for bot in bots}
        for name in set(self._bots) - set(listed):
            await self._apply("DELETED", self._bots[name])
        for bot in listed.values():
            await self._apply("MODIFIED", bot)
        self.synced.set()

    async def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        old = self._bots.get(name)
        if old is not None and _version(obj) < _version(old):
            return  # older than what the API already wrote and remembered
        if kind != "DELETED":
            if _version(obj) <= self._deleted.get(name, -1):
                return  # from before the API deleted it
            self._deleted.pop(name, None)  # made again since
        if kind == "DELETED":
            self._bots.pop(name, None)
            self._generations.pop(name, None)
            new = None
        else:
            self._bots[name] = obj
            self._note_generation(obj)
            new = obj
        async with self._applied:
            self._applied.notify_all()
        if self._on_change is not None and old != new:
            try:
                await self._on_change(old, new)
            except Exception:
                log.exception("Handling a change of Bot %s failed", name)
