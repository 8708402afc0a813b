"""Erasing what is left of deleted accounts, in the background: their bots' run history and cache state.

DELETE /api/account does at once what protects the user (signs them out everywhere, deletes their
Bots and Secrets, their profile and mirror) and records the rest as a pending erasure in the users
store: hundreds of thousands of run items take minutes, longer than a gateway waits for an answer.
Every API replica runs an `Eraser`: at start-up, when its own replica records an erasure, and every
`interval` seconds it takes a pending erasure on a lease (only one replica erases it at a time),
deletes a batch of items at a time, renews the lease after each, and removes the erasure when done.
A replica that dies leaves its lease to run out: another replica, or the same one restarted, then
takes the erasure up where it stopped (deleting is safe to repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Protocol

from skybots.reposter import bot_keys
from skybots.stores.cache import Cache
from skybots.stores.runs import RunHistory
from skybots.stores.users import Erasure, Users

log = logging.getLogger(__name__)

BATCH = 1000
"""Items deleted between two renewals of the lease: well under a second on DynamoDB."""


class Stores(Protocol):
    """The stores an erasure deletes from (the API's Services), read when it runs."""

    users: Users
    history: RunHistory
    cache: Cache | None


class Eraser:
    """One replica's worker for pending erasures."""

    def __init__(self, stores: Stores, *, lease: float, interval: float) -> None:
        self._stores = stores
        self._lease, self._interval = lease, interval
        self.holder = secrets.token_hex(8)
        """Who holds a lease: this replica, for as long as its process lives."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name="eraser")

    async def stop(self) -> None:
        """Stop where it is, as a process that ends would: the lease runs out, and another takes it up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        """An erasure was just recorded: look now, not at the next interval."""
        self._wake.set()

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            try:
                while await self.erase_one():
                    pass
            except Exception:
                log.exception("erasing a deleted account failed; retrying in %s s", self._interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)

    async def erase_one(self) -> bool:
        """Take one pending erasure no other replica holds and finish it; whether there was one."""
        for erasure in await self._stores.users.pending_erasures():
            if await self._renew(erasure):
                await self._erase(erasure)
                return True
        return False

    async def _renew(self, erasure: Erasure) -> bool:
        now = time.time()
        return await self._stores.users.lease_erasure(
            erasure.id, self.holder, until=now + self._lease, now=now
        )

    async def _erase(self, erasure: Erasure) -> None:
        for bot in sorted(erasure.bots):
            while await self._stores.history.forget(erasure.namespace, bot, limit=BATCH):
                if not await self._renew(erasure):
                    log.warning("the lease on erasure %s ran out: another replica goes on", erasure.id)
                    return
            if self._stores.cache is not None:
                await self._stores.cache.delete(*bot_keys.of_bot(erasure.namespace, bot))
        await self._stores.users.finish_erasure(erasure.id, self.holder)
        log.info("erased %d bots of a deleted account", len(erasure.bots))
