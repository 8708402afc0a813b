"""Who is signed in: a signed session cookie, and a CSRF token for every state-changing request.

The cookie is Starlette's signed session (itsdangerous): HttpOnly, SameSite=Lax, Secure when
the API is served over https, and it expires. It holds the user's id, when it was issued and a
CSRF token; a request that changes anything must echo that token in the `X-CSRF-Token` header,
which another site's page cannot read.

Signing out records the moment in the user's record (`User.signed_out_at`): every session issued
before it, every copy of every cookie of that user, is refused from then on. Deleting the
account deletes the record: every session is refused, and one issued before the account's
`created_at` (a cookie of a deleted account whose owner signed up again) opens nothing. The check costs
nothing per request (the user is read anyway, and kept `user_cache_seconds`): it holds at once on
the replica that signed the user out, and within `user_cache_seconds` on the others.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request, status

from skybots.stores.users import User, Users

COOKIE = "skybots_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def start(request: Request, user: User, *, days: int) -> None:
    """Sign the user in: a fresh session (never a reused one) with its own CSRF token."""
    request.session.clear()
    now = time.time()
    request.session.update(
        {
            "user": user.id,
            "csrf": secrets.token_urlsafe(24),
            "issued": now,
            "expires": int(now) + days * 86400,
        }
    )


async def end(request: Request, user: User, users: Users, known: KnownUsers) -> None:
    """Sign the user out: this cookie, and every other session they have (copies included)."""
    moment = await users.sign_out(user.id)
    # Remembered as written: a read of the store now could still answer the record of before.
    known.remember(dataclasses.replace(user, signed_out_at=moment))
    request.session.clear()


def csrf_token(request: Request) -> str:
    return str(request.session.get("csrf", ""))


async def current_user(request: Request, known: Callable[[], KnownUsers]) -> User:
    """The signed-in user (deps.SignedIn); 401 when there is none (or the session expired), 403 on a bad CSRF token.

    `known` is asked only for a session that holds: a request without one is refused before
    anything the app runs (its stores) is reached."""
    session: dict[str, Any] = request.session
    if not session.get("user") or int(session.get("expires", 0)) < time.time():
        session.clear()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Sign in first.")
    if request.method not in SAFE_METHODS and not secrets.compare_digest(
        request.headers.get(CSRF_HEADER, ""), str(session.get("csrf", ""))
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Missing or wrong {CSRF_HEADER} header.")
    user = await known().get(session["user"])
    issued = float(session.get("issued", 0))
    # Issued before the account was made: a cookie of an account deleted since, not of this one.
    if user is None or issued < user.signed_out_at or issued < user.created_at.timestamp():
        session.clear()
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Sign in first.")
    return user


class KnownUsers:
    """Users by id, kept `ttl` seconds: every request needs its user, and DynamoDB is a network away."""

    def __init__(self, users: Users, ttl: float = 60) -> None:
        self._users, self._ttl = users, ttl
        self._known: dict[str, tuple[float, User | None]] = {}

    async def get(self, user_id: str) -> User | None:
        cached = self._known.get(user_id)
        if cached is None or cached[0] < time.monotonic():
            cached = (time.monotonic() + self._ttl, await self._users.get(user_id))
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[user_id] = cached
        return cached[1]

    def remember(self, user: User) -> None:
        """The user as this replica just changed them (signed out, mail settings)."""
        self._known[user.id] = (time.monotonic() + self._ttl, user)

    def forget(self, user_id: str) -> None:
        """The user as this replica just deleted them: nobody, from now on."""
        self._known[user_id] = (time.monotonic() + self._ttl, None)
