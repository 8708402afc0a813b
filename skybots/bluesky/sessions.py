"""Sessions that outlive a run: stored in the cache, refreshed before they expire, renewed by a
login with the app password only when refreshing fails.

Bluesky locks an account out for about a day after ~100 logins; a bot that logged in on every
15-minute run would get there. So logins are counted per account and day, and capped well
below (LoginCapReached is a clear error, not a lockout). Runs of bots on the same account
share one session; a lock makes only one of them refresh or log in at a time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from skybots.bluesky.client import Bluesky
from skybots.bluesky.errors import AuthFailed, LoginCapReached
from skybots.bluesky.models import Session
from skybots.stores.cache import Cache

SESSION_TTL = 90 * 24 * 3600  # the refresh token's life on the reference PDS
LOCK_TTL = 30
REFRESH_MARGIN = 120  # refresh an access token that has less than this many seconds left


def expires_at(jwt: str) -> float:
    """The `exp` claim of a JWT (not verified: the server does that), or 0 when unreadable."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


class SessionManager:
    """Opens the account's session for a run; counts the run's logins."""

    def __init__(
        self,
        bluesky: Bluesky,
        cache: Cache,
        *,
        service: str,
        identifier: str,
        password: str,
        logins_per_day: int = 10,
    ) -> None:
        self._bluesky, self._cache = bluesky, cache
        self._identifier, self._password, self._cap = identifier, password, logins_per_day
        account = f"{urlsplit(service).netloc}:{identifier.lower()}"
        self._key, self._lock = f"skybots:session:{account}", f"skybots:session-lock:{account}"
        self._logins_key = f"skybots:logins:{account}"
        self.logins = 0

    async def open(self) -> Session:
        """A usable session: the stored one, refreshed if due, or a new login."""
        stored = await self._stored()
        session = stored if stored and self._fresh(stored) else await self._renew(stored)
        self._bluesky.session, self._bluesky.refresh = session, self.renew
        return session

    async def renew(self) -> Session:
        """The access token was refused mid-run: refresh (or log in) and go on."""
        session = await self._renew(await self._stored(), force=True)
        self._bluesky.session = session
        return session

    async def _renew(self, stored: Session | None, *, force: bool = False) -> Session:
        token = uuid.uuid4().hex
        for _ in range(int(LOCK_TTL / 0.2)):
            if await self._cache.set_new(self._lock, token, LOCK_TTL):
                break
            await asyncio.sleep(0.2)  # another run is refreshing this account's session
        try:
            latest = await self._stored()
            if latest and self._fresh(latest) and (not force or latest != stored):
                return latest  # renewed by another run meanwhile
            session = await self._refreshed(latest) if latest else None
            session = session or await self._login()
            await self._cache.set(self._key, session.model_dump_json(), SESSION_TTL)
            return session
        finally:
            if await self._cache.get(self._lock) == token:
                await self._cache.delete(self._lock)

    async def _refreshed(self, session: Session) -> Session | None:
        try:
            return await self._bluesky.refresh_session(session.refresh_jwt)
        except AuthFailed:
            return None  # the refresh token expired or was revoked: only a login helps

    async def _login(self) -> Session:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        count = await self._cache.incr(f"{self._logins_key}:{day}", 1, 2 * 24 * 3600)
        if count > self._cap:
            raise LoginCapReached(
                "com.atproto.server.createSession",
                f"{self._identifier} has logged in {self._cap} times today, the most skybots allows "
                "(Bluesky locks accounts out after about 100); runs resume with the next login after 00:00 UTC",
            )
        self.logins += 1
        try:
            return await self._bluesky.create_session(self._identifier, self._password)
        except AuthFailed as error:
            raise AuthFailed(
                error.nsid,
                f"Bluesky refused the app password of {self._identifier}: {error.message}",
                status=error.status,
            ) from None

    async def _stored(self) -> Session | None:
        raw = await self._cache.get(self._key)
        return Session.model_validate_json(raw) if raw else None

    @staticmethod
    def _fresh(session: Session) -> bool:
        return expires_at(session.access_jwt) > time.time() + REFRESH_MARGIN
