"""Sessions that outlive a run: stored in the cache, refreshed before they expire, renewed by a
login with the app password only when refreshing fails.

A stored session belongs to the credential that made it, never to a handle: everything kept
for it (the session, its lock, its login count, a refusal) is keyed by a keyed hash of service,
handle and app password, so a bot of another tenant with the same handle and another password
finds none of it. Sessions are encrypted at rest with the platform's keys.

Bluesky locks an account out for about a day after ~100 logins; a bot that logged in on every
15-minute run would get there. So logins are capped twice, well below (LoginCapReached is a
clear error, not a lockout): attempts per credential and day, and logins Bluesky accepted per
account and day. Only holders of a right password add to the account's count, so wrong ones
cannot lock its owner out, while several bots of one owner (an app password each) still share
one allowance. A password Bluesky refused is not tried again until the bot's Secret holds
another. Runs of bots with the same credential share one session; a lock makes only one of
them refresh or log in at a time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from skybots.bluesky.client import Bluesky
from skybots.bluesky.errors import AuthFailed, LoginCapReached
from skybots.bluesky.models import Session
from skybots.stores.cache import Cache

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

CREATE_SESSION = "com.atproto.server.createSession"
SESSION_TTL = 90 * 24 * 3600  # the refresh token's life on the reference PDS
REFUSAL_TTL = 90 * 24 * 3600  # a refused app password stays refused: app passwords are not revived
LOCK_TTL = 30
REFRESH_MARGIN = 120  # refresh an access token that has less than this many seconds left
DAY = 24 * 3600


def expires_at(jwt: str) -> float:
    """The `exp` claim of a JWT (not verified: the server does that), or 0 when unreadable."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


class SessionKeys:
    """The platform's secrets for stored sessions (from a Kubernetes Secret, never a ConfigMap).

    `credential_key` keys what is stored for a credential by an HMAC of it; `fernet_keys`, newest
    first, encrypt sessions at rest: the first encrypts, all decrypt, so a key rotates by adding
    a new one in front and dropping the old one once every session was rewritten.
    """

    def __init__(self, credential_key: str, fernet_keys: Sequence[str]) -> None:
        self._credential_key = credential_key.encode()
        self._fernet_keys = list(fernet_keys)
        self._cipher: MultiFernet | None = None

    def credential(self, account: str, password: str) -> str:
        """The credential's keyed hash: the same for the same account (PDS host, handle) and password only."""
        message = f"{account}\0{password}".encode()
        return hmac.new(self._credential_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, text: str) -> str:
        return self._fernet().encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The text, or None when no key opens the token (written under a key since dropped)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet().decrypt(token.encode()).decode()
        except InvalidToken:
            return None

    def _fernet(self) -> MultiFernet:
        if self._cipher is None:
            from cryptography.fernet import Fernet, MultiFernet  # lazily: the run's start-up time

            self._cipher = MultiFernet([Fernet(key) for key in self._fernet_keys])
        return self._cipher


class SessionManager:
    """Opens the credential's session for a run; counts the run's logins."""

    def __init__(
        self,
        bluesky: Bluesky,
        cache: Cache,
        *,
        keys: SessionKeys,
        service: str,
        identifier: str,
        password: str,
        logins_per_day: int = 10,
    ) -> None:
        self._bluesky, self._cache, self._keys = bluesky, cache, keys
        self._identifier, self._password, self._cap = identifier, password, logins_per_day
        account = f"{urlsplit(service).netloc.lower()}:{identifier.lower()}"
        credential = keys.credential(account, password)
        self._key, self._lock = f"skybots:session:{credential}", f"skybots:session-lock:{credential}"
        self._attempts = f"skybots:logins:{credential}"
        self._refused = f"skybots:refused:{credential}"
        self._account_logins = f"skybots:account-logins:{account}"
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
            await asyncio.sleep(0.2)  # another run is refreshing this credential's session
        try:
            latest = await self._stored()
            if latest and self._fresh(latest) and (not force or latest != stored):
                return latest  # renewed by another run meanwhile
            session = await self._refreshed(latest) if latest else None
            session = session or await self._login()
            await self._cache.set(self._key, self._keys.encrypt(session.model_dump_json()), SESSION_TTL)
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
        if await self._cache.exists(self._refused):
            raise AuthFailed(
                CREATE_SESSION,
                f"Bluesky refused this app password of {self._identifier} before; no login is tried "
                "with it again: put a new app password into the bot's Secret",
            )
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        if int(await self._cache.get(f"{self._account_logins}:{day}") or 0) >= self._cap:
            raise self._capped(f"{self._identifier} has logged in {self._cap} times today")
        if await self._cache.incr(f"{self._attempts}:{day}", 1, 2 * DAY) > self._cap:
            raise self._capped(f"skybots tried to log in as {self._identifier} {self._cap} times today")
        self.logins += 1
        try:
            session = await self._bluesky.create_session(self._identifier, self._password)
        except AuthFailed as error:
            await self._cache.set(self._refused, "1", REFUSAL_TTL)
            raise AuthFailed(
                error.nsid,
                f"Bluesky refused the app password of {self._identifier}: {error.message}",
                status=error.status,
            ) from None
        await self._cache.incr(f"{self._account_logins}:{day}", 1, 2 * DAY)
        return session

    def _capped(self, what: str) -> LoginCapReached:
        return LoginCapReached(
            CREATE_SESSION,
            f"{what}, the most skybots allows (Bluesky locks accounts out after about 100); "
            "runs resume with the next login after 00:00 UTC",
        )

    async def _stored(self) -> Session | None:
        raw = await self._cache.get(self._key)
        text = self._keys.decrypt(raw) if raw else None
        return Session.model_validate_json(text) if text else None

    @staticmethod
    def _fresh(session: Session) -> bool:
        return expires_at(session.access_jwt) > time.time() + REFRESH_MARGIN
