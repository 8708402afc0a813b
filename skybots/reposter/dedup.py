"""Never repost twice, in three layers, per Bluesky account (bots sharing an account share them).

1. The cache (hot): a scored set of the account's reposted post URIs (score: when the post was
   made, for pruning), and a short-lived reservation per post, taken before writing only if the
   post is not in that set, in one atomic step. So two runs at once never both write, and a run
   that read the set long ago cannot win a reservation for a post another run has since
   reposted: recording adds to the set before it lets go of the reservation.
2. S3 (durable): one snapshot object per account, `dedup/<did>.json`, written once per run that
   reposted something and read back only when the cache is cold (flushed, restarted): a cold
   start reads one small object.
3. Bluesky (the truth): `viewer.repost` on every post the sources return. A run killed between
   writing a repost and recording it leaves a reservation that outlives the AppView's indexing
   lag; after that, viewer.repost says it.

A write whose outcome is unknown (a timeout) keeps its reservation for the same reason.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable

from skybots.stores.cache import Cache
from skybots.stores.objects import ObjectStore, ObjectStoreError

RESERVATION_SECONDS = 15 * 60


class Dedup:
    """The dedup state of one account for one run."""

    def __init__(
        self, cache: Cache, objects: ObjectStore | None, *, account: str, retention_days: int, run_id: str
    ) -> None:
        self._cache, self._objects, self._account, self._run = cache, objects, account, run_id
        self._retention = retention_days * 24 * 3600
        self._reposted = f"skybots:reposted:{account}"
        self._warm = f"skybots:reposted-warm:{account}"
        self.snapshot_key = f"dedup/{account}.json"
        self.recorded: dict[str, float] = {}
        self.problems: list[str] = []  # what a degraded layer said; the run goes on without it

    async def warm_up(self) -> bool:
        """Load the S3 snapshot into a cold cache; whether it had to (and could)."""
        if self._objects is None or await self._cache.exists(self._warm):
            return False
        try:
            raw = await self._objects.get(self.snapshot_key)
        except ObjectStoreError as error:
            self.problems.append(
                f"dedup snapshot unreadable ({error}); relying on the cache and viewer.repost"
            )
            return False
        if raw:
            await self._cache.add_scored(self._reposted, json.loads(raw).get("reposted", {}))
        await self._cache.set(self._warm, self._run, self._retention)
        return True

    async def known(self, uris: Iterable[str]) -> set[str]:
        """Which of these posts the account reposted, as far as the cache knows."""
        asked = list(uris)
        return {
            uri
            for uri, score in zip(asked, await self._cache.scores(self._reposted, asked), strict=True)
            if score is not None
        }

    async def learn(self, reposted: dict[str, float]) -> None:
        """Posts Bluesky says were reposted (viewer.repost) that the cache did not know: remember them."""
        await self._cache.add_scored(self._reposted, reposted)

    async def reserve(self, uri: str) -> bool:
        """Claim the post for this run; False when it is reposted already, or another run holds it
        (or held it and died)."""
        return await self._cache.set_new_unless_scored(
            self._reservation(uri), self._run, RESERVATION_SECONDS, scored=self._reposted, member=uri
        )

    async def release(self, uri: str) -> None:
        """Give the claim back: the write certainly did not happen."""
        await self._cache.delete(self._reservation(uri))

    async def record(self, uri: str, posted_at: float) -> None:
        """The repost is written: remember it for good, then let go of the reservation (in that order)."""
        await self._cache.add_scored(self._reposted, {uri: posted_at})
        await self._cache.delete(self._reservation(uri))
        self.recorded[uri] = posted_at

    async def persist(self) -> None:
        """Write the account's snapshot to S3, once, if this run reposted anything."""
        if self._objects is None or not self.recorded:
            return
        await self._cache.prune_scored(self._reposted, time.time() - self._retention)
        snapshot = {"account": self._account, "reposted": await self._cache.all_scored(self._reposted)}
        try:
            await self._objects.put(self.snapshot_key, json.dumps(snapshot, separators=(",", ":")).encode())
        except ObjectStoreError as error:
            self.problems.append(
                f"dedup snapshot not saved ({error}); the cache and viewer.repost still hold it"
            )

    def _reservation(self, uri: str) -> str:
        return f"skybots:reserving:{self._account}:{hashlib.sha256(uri.encode()).hexdigest()[:24]}"
