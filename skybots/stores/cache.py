"""The hot cache the reposter keeps its state in: sessions, dedup records, watermarks, budgets.

Generic key-value primitives, so that Redis (`skybots.stores.redis`) serves a cluster and an
embedded implementation can serve `make demo`; what the keys mean is the reposter's business.
Losing the cache loses nothing: every caller can rebuild from S3 or from Bluesky itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

# A tenant counts as competing for a fair bucket while it asks, while it waits for the time it
# was told, and this long after: the gap between two requests of a run that is not waiting.
TENANT_GRACE_SECONDS = 2.0


def tenant_keys(bucket: str, tenant: str) -> tuple[str, str]:
    """The keys of a fair bucket besides its own: the tenant's share, and who competes lately."""
    return f"{bucket}:tenant:{tenant}", f"{bucket}:tenants"


class Cache(Protocol):
    async def get(self, key: str) -> str | None:
        """A string value, or None."""
        ...

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store a string value for `ttl` seconds."""
        ...

    async def set_new(self, key: str, value: str, ttl: float) -> bool:
        """Store the value only if the key is absent (a reservation or a lock); whether it was stored."""
        ...

    async def set_new_unless_scored(
        self, key: str, value: str, ttl: float, *, scored: str, member: str
    ) -> bool:
        """`set_new`, unless `member` is in the scored set `scored`, in one atomic step; whether it was stored.

        A reservation that cannot be won for what is already recorded, however late the claim comes.
        """
        ...

    async def delete(self, *keys: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """Add to a counter that expires `ttl` seconds after it was created; the new total."""
        ...

    async def scores(self, key: str, members: Iterable[str]) -> list[float | None]:
        """The scores of members of a scored set, None for those not in it; in the order asked."""
        ...

    async def add_scored(self, key: str, members: Mapping[str, float]) -> None: ...

    async def count_scored(self, key: str, minimum: float) -> int:
        """How many members score at least `minimum`."""
        ...

    async def prune_scored(self, key: str, below: float) -> None:
        """Drop members scoring below `below`."""
        ...

    async def remove_scored(self, key: str, members: Iterable[str]) -> None:
        """Drop these members (a set that loses its last member is gone)."""
        ...

    async def all_scored(self, key: str) -> dict[str, float]: ...

    async def get_map(self, key: str) -> dict[str, str]: ...

    async def set_map(self, key: str, values: Mapping[str, str]) -> None: ...

    async def take_token(self, bucket: str, tenant: str, rate: float, capacity: float) -> float:
        """Take one token of a bucket shared by every process, or say how many seconds until one.

        Fair between tenants: a tenant alone may spend the whole bucket (`rate` tokens a second,
        `capacity` at once); while n tenants compete, each has a bucket of its own refilled at
        rate / n (holding at most max(1, capacity / n), and never more than the shared bucket holds),
        and a token comes out of both. So each gets at least its share however many requests the
        others send at once, and together they never take more than the shared bucket gives.
        """
        ...

    async def close(self) -> None: ...
