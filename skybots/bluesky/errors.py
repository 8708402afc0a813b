"""What can go wrong talking to Bluesky, as the reposter needs to tell it apart."""

from __future__ import annotations

from datetime import datetime


class BlueskyError(Exception):
    """A call that failed; `nsid` names the XRPC method, `error` is the server's error name if any."""

    def __init__(
        self, nsid: str, message: str, *, status: int | None = None, error: str | None = None
    ) -> None:
        self.nsid, self.status, self.error, self.message = nsid, status, error, message
        super().__init__(f"{nsid}: {f'{status} ' if status else ''}{f'{error}: ' if error else ''}{message}")


class AuthFailed(BlueskyError):
    """The credentials or the session were refused (wrong app password, revoked session)."""


class LoginCapReached(AuthFailed):
    """The bot used up its own daily login allowance; it logs in again tomorrow rather than be locked out."""


class RateLimited(BlueskyError):
    """Bluesky (429) or our own budget says: not now. `reset_at` is when it may go on, if known."""

    def __init__(
        self, nsid: str, message: str, *, reset_at: datetime | None = None, status: int | None = 429
    ) -> None:
        super().__init__(nsid, message, status=status, error="RateLimitExceeded")
        self.reset_at = reset_at


class UpstreamError(BlueskyError):
    """Bluesky failed: 5xx, a dropped connection, a timeout, an answer that is not what the lexicon says."""


class InvalidRequest(BlueskyError):
    """Bluesky refused the request as malformed (4xx other than auth and rate limits)."""


class EgressRefused(BlueskyError):
    """The service is not one a run may connect to (plain http, or a name with a non-public address)."""
