"""XRPC over httpx, and the calls the reposter makes, with typed results and typed errors.

Connections go only where skybots.bluesky.egress allows: `CheckedTransport` resolves the service's
name when it connects, refuses it when any address is neither public nor in a network the operator
allowed, and connects to the address it checked (TLS still checks the certificate against the
name). Redirects are not followed. An answer that is not an XRPC error (a proxy's page, another
service's message) is described, never echoed.

Every call has a timeout; 5xx answers, dropped connections and garbled bodies are retried a
few times with jittered backoff, except for a write that must not happen twice (a repost) once
the request may have reached the server: it ends with UpstreamError instead. A 429 waits for
`ratelimit-reset` when that fits before the run's deadline and otherwise ends the run with
RateLimited. Every attempt passes a gate first (the shared per-egress request budget) and is
counted: the run reports its API calls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar

import httpcore
import httpx
from pydantic import BaseModel, ValidationError

from skybots import __version__
from skybots.bluesky.egress import IpNetwork, address_problem
from skybots.bluesky.errors import (
    AuthFailed,
    BlueskyError,
    EgressRefused,
    InvalidRequest,
    RateLimited,
    UpstreamError,
)
from skybots.bluesky.models import FeedItem, Notification, Page, PostView, RecordRef, Session

M = TypeVar("M", bound=BaseModel)
Gate = Callable[[str], Awaitable[None]]
Resolver = Callable[[str, int], Awaitable[list[str]]]
REPOST = "app.bsky.feed.repost"
SESSION_ERRORS = ("ExpiredToken", "InvalidToken")
SYSTEM_CA_DIR = "/etc/ssl/certs"


class SessionExpired(AuthFailed):
    """The access token is expired or invalid: refresh the session and try again."""


async def _open_gate(nsid: str) -> None:
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of a name, as the system's resolver (getaddrinfo) gives them, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects to a name only through addresses it checked, resolving the name once per connection."""

    def __init__(
        self, resolve: Resolver, *, private_allowed: bool, allowed_networks: Sequence[IpNetwork] = ()
    ) -> None:
        self._resolve, self._private_allowed = resolve, private_allowed
        self._allowed_networks = allowed_networks
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        refused = [
            problem for address in addresses if (problem := address_problem(address, self._allowed_networks))
        ]
        if refused and not self._private_allowed:
            raise EgressRefused(
                "connect", f"{host} resolves to {refused[0]}: a run connects only to public addresses"
            )
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._network.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def _addresses(self, host: str, port: int, seconds: float | None) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        try:
            return await asyncio.wait_for(self._resolve(host, port), seconds)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error.strerror or error}") from None

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("connect", "a run connects only over TCP")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a CheckedBackend; plain http only where private addresses are allowed
    (allowed networks are reached over https, as public addresses are)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        private_allowed: bool = False,
        allowed_networks: Sequence[IpNetwork] = (),
        resolve: Resolver = system_resolver,
    ) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False)
        limits = httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(
                resolve, private_allowed=private_allowed, allowed_networks=allowed_networks
            ),
        )
        self._private_allowed = private_allowed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https" and not self._private_allowed:
            raise EgressRefused(
                "connect", f"{request.url.scheme}:// is refused: a run connects only over https"
            )
        return await super().handle_async_request(request)


class Xrpc:
    """One service (a PDS), one connection pool; `calls` counts every HTTP attempt.

    Without a `transport`, connections are checked (CheckedTransport): public addresses and the
    `allowed_networks` over https only, unless `private_allowed` (the local runtime's network is on
    loopback).
    """

    def __init__(
        self,
        service: str,
        *,
        gate: Gate = _open_gate,
        deadline: float | None = None,
        timeout: float = 10,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        private_allowed: bool = False,
        allowed_networks: Sequence[IpNetwork] = (),
    ) -> None:
        if transport is None:
            transport = CheckedTransport(
                verify=_tls(service), private_allowed=private_allowed, allowed_networks=allowed_networks
            )
        self._http = httpx.AsyncClient(
            base_url=service.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5)),
            headers={"User-Agent": f"skybots/{__version__}"},
            transport=transport,
            trust_env=False,
            follow_redirects=False,  # a redirect would lead the app password past the address check
        )
        self._gate, self._retries, self._backoff = gate, retries, backoff
        self.deadline = deadline  # time.monotonic() by which the run must be done
        self.calls = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def query(self, nsid: str, params: dict[str, Any], token: str | None = None) -> Any:
        return await self._call("GET", nsid, params=params, token=token)

    async def procedure(
        self, nsid: str, body: dict[str, Any] | None, token: str | None = None, *, once: bool = False
    ) -> Any:
        """`once`: the write must not happen twice, so no new attempt once the server may have done it."""
        return await self._call("POST", nsid, body=body, token=token, once=once)

    async def _call(
        self,
        method: str,
        nsid: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        once: bool = False,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(self._retries + 1):
            await self._gate(nsid)
            if once and not self._fits(0):  # past it, the dedup reservation may no longer hold
                raise RateLimited(
                    nsid, "the run's time is up: the write is left for a later run", status=None
                )
            self.calls += 1
            try:
                response = await self._http.request(
                    method, f"/xrpc/{nsid}", params=query, json=body, headers=headers
                )
            except EgressRefused as error:
                raise EgressRefused(nsid, error.message) from None
            except httpx.HTTPError as error:
                failure: BlueskyError = UpstreamError(
                    nsid, f"no answer: {type(error).__name__} {error}".strip()
                )
                if once and not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
                    raise failure from None  # it may have been sent and done
            else:
                if response.status_code == 429:
                    await self._wait_for_reset(nsid, response)
                    continue
                outcome = _result(nsid, response)
                if isinstance(outcome, UpstreamError):
                    if once:
                        raise outcome  # a 5xx or a garbled answer may come after the write was done
                    failure = outcome  # worth another try
                elif isinstance(outcome, BlueskyError):
                    raise outcome
                else:
                    return outcome
            delay = self._backoff * 2**attempt * random.uniform(0.5, 1.5)
            if attempt == self._retries or not self._fits(delay):
                raise failure
            await asyncio.sleep(delay)
        raise RateLimited(nsid, "still rate limited after waiting for the reset")

    def _fits(self, seconds: float) -> bool:
        return self.deadline is None or time.monotonic() + seconds < self.deadline

    async def _wait_for_reset(self, nsid: str, response: httpx.Response) -> None:
        reset = response.headers.get("ratelimit-reset")
        reset_at = datetime.fromtimestamp(int(reset), UTC) if reset and reset.isdigit() else None
        wait = (reset_at.timestamp() - time.time()) if reset_at else None
        policy = response.headers.get("ratelimit-policy", "")
        if wait is None or not self._fits(max(wait, 0) + 1):
            until = f" until {reset_at:%H:%M:%S} UTC" if reset_at else ""
            raise RateLimited(nsid, f"Bluesky rate limit {policy or 'reached'}{until}", reset_at=reset_at)
        await asyncio.sleep(max(wait, 0) + random.uniform(0, 0.5))


def _tls(service: str) -> ssl.SSLContext | bool:
    """Certificate checks for an https service, cheaply: every run pays for them.

    The system's hashed CA directory (Debian's /etc/ssl/certs) lets OpenSSL read just the CA a
    server needs (~1 ms); httpx's default parses certifi's whole bundle (~25 ms). Plain http
    (the local runtime's loopback network) has nothing to check.
    """
    if not service.startswith("https://"):
        return False
    if os.path.isdir(SYSTEM_CA_DIR):
        return ssl.create_default_context(capath=SYSTEM_CA_DIR)
    return True


def _result(nsid: str, response: httpx.Response) -> Any:
    """The decoded body of a success, or the error it means (UpstreamError ones are worth a retry)."""
    try:
        payload = response.json() if response.content else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        if response.is_success:
            return UpstreamError(nsid, "the answer is not JSON", status=response.status_code)
        payload = {}
    if response.is_success:
        return payload
    status = response.status_code
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, str):  # an XRPC error: Bluesky's own words
        message = payload.get("message")
        message = message if isinstance(message, str) and message else _phrase(status)
    else:
        error, message = None, _not_xrpc(response)
    if status >= 500:
        return UpstreamError(nsid, message, status=status, error=error)
    if error in SESSION_ERRORS:
        return SessionExpired(nsid, message, status=status, error=error)
    if status in (401, 403) or error == "AuthenticationRequired":
        return AuthFailed(nsid, message, status=status, error=error)
    return InvalidRequest(nsid, message, status=status, error=error)


def _phrase(status: int) -> str:
    """The standard reason phrase: the server's own one is text of its choosing."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"


def _not_xrpc(response: httpx.Response) -> str:
    """An error answer that is not an XRPC error, described: none of its text (body, headers) is echoed."""
    kind = response.headers.get("content-type", "").lower()
    body = (
        "no body"
        if not response.content
        else "an HTML page"
        if "html" in kind
        else "JSON"
        if "json" in kind
        else "text"
        if kind.startswith("text/")
        else "a body"
    )
    redirect = " (redirects are not followed)" if response.is_redirect else ""
    return f"{_phrase(response.status_code)}, with {body}, not an XRPC error: is the service a Bluesky PDS?{redirect}"


def _parse(nsid: str, model: type[M], value: Any) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise UpstreamError(
            nsid, f"unexpected answer: {error.errors()[0]['loc']}: {error.errors()[0]['msg']}"
        ) from None


def _parse_all(nsid: str, model: type[M], values: Any) -> list[M]:
    if not isinstance(values, list):
        raise UpstreamError(nsid, f"unexpected answer: a list was expected, not {type(values).__name__}")
    return [_parse(nsid, model, value) for value in values]


class Bluesky:
    """The calls the reposter makes, on one account's session.

    Reads go to the account's PDS, which proxies app.bsky.* to the AppView, so `viewer.repost`
    tells whether the account reposted a post. When the access token expires mid-run,
    `refresh` (set by the session manager) renews it and the call is made once more.
    """

    def __init__(self, xrpc: Xrpc) -> None:
        self.xrpc = xrpc
        self.session: Session | None = None
        self.refresh: Callable[[], Awaitable[Session]] | None = None

    # --- sessions ------------------------------------------------------------------------

    async def create_session(self, identifier: str, password: str) -> Session:
        nsid = "com.atproto.server.createSession"
        answer = await self.xrpc.procedure(nsid, {"identifier": identifier, "password": password})
        return _parse(nsid, Session, answer)

    async def refresh_session(self, refresh_jwt: str) -> Session:
        nsid = "com.atproto.server.refreshSession"
        return _parse(nsid, Session, await self.xrpc.procedure(nsid, None, token=refresh_jwt))

    async def get_session(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._authed("GET", "com.atproto.server.getSession", {})
        return answer

    # --- reads ---------------------------------------------------------------------------

    async def search_posts(
        self,
        q: str,
        *,
        tag: Sequence[str] = (),
        sort: str = "latest",
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[PostView]:
        params = {"q": q, "sort": sort, "limit": limit, "cursor": cursor, "tag": list(tag) or None}
        answer = await self._authed("GET", "app.bsky.feed.searchPosts", params)
        posts = _parse_all("app.bsky.feed.searchPosts", PostView, answer.get("posts", []))
        return Page[PostView](items=posts, cursor=answer.get("cursor"))

    async def get_author_feed(
        self, actor: str, *, filter: str = "posts_no_replies", limit: int = 100, cursor: str | None = None
    ) -> Page[FeedItem]:
        params = {"actor": actor, "filter": filter, "limit": limit, "cursor": cursor}
        return await self._feed("app.bsky.feed.getAuthorFeed", params)

    async def get_list_feed(
        self, list_uri: str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[FeedItem]:
        return await self._feed(
            "app.bsky.feed.getListFeed", {"list": list_uri, "limit": limit, "cursor": cursor}
        )

    async def get_feed(self, feed_uri: str, *, limit: int = 100, cursor: str | None = None) -> Page[FeedItem]:
        return await self._feed("app.bsky.feed.getFeed", {"feed": feed_uri, "limit": limit, "cursor": cursor})

    async def list_notifications(
        self, *, reasons: Sequence[str] = ("mention",), limit: int = 100, cursor: str | None = None
    ) -> Page[Notification]:
        nsid = "app.bsky.notification.listNotifications"
        answer = await self._authed("GET", nsid, {"reasons": list(reasons), "limit": limit, "cursor": cursor})
        items = _parse_all(nsid, Notification, answer.get("notifications", []))
        return Page[Notification](items=items, cursor=answer.get("cursor"))

    async def get_posts(self, uris: Sequence[str]) -> list[PostView]:
        """Up to 25 posts at once (the lexicon's limit); missing or blocked posts are left out."""
        nsid = "app.bsky.feed.getPosts"
        return _parse_all(
            nsid, PostView, (await self._authed("GET", nsid, {"uris": list(uris)})).get("posts", [])
        )

    # --- writes ----------------------------------------------------------------------------

    async def repost(self, post: PostView, *, now: datetime | None = None) -> RecordRef:
        """An app.bsky.feed.repost record of the post; the record key is a TID the PDS picks."""
        nsid = "com.atproto.repo.createRecord"
        record = {
            "$type": REPOST,
            "subject": {"uri": post.uri, "cid": post.cid},
            "createdAt": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        }
        answer = await self._authed(
            "POST", nsid, {"repo": self._did(), "collection": REPOST, "record": record}, once=True
        )
        return _parse(nsid, RecordRef, answer)

    async def delete_record(self, collection: str, rkey: str) -> None:
        """Undo: delete one of the account's records (a repost's rkey is the last part of its URI)."""
        await self._authed(
            "POST",
            "com.atproto.repo.deleteRecord",
            {"repo": self._did(), "collection": collection, "rkey": rkey},
        )

    # --- plumbing ----------------------------------------------------------------------------

    def _did(self) -> str:
        if self.session is None:
            raise AuthFailed("session", "not logged in")
        return self.session.did

    async def _feed(self, nsid: str, params: dict[str, Any]) -> Page[FeedItem]:
        answer = await self._authed("GET", nsid, params)
        return Page[FeedItem](
            items=_parse_all(nsid, FeedItem, answer.get("feed", [])), cursor=answer.get("cursor")
        )

    async def _authed(self, method: str, nsid: str, payload: dict[str, Any], *, once: bool = False) -> Any:
        for renewed in (False, True):
            if self.session is None:
                raise AuthFailed(nsid, "not logged in")
            token = self.session.access_jwt
            try:
                if method == "GET":
                    return await self.xrpc.query(nsid, payload, token=token)
                return await self.xrpc.procedure(nsid, payload, token=token, once=once)
            except SessionExpired:
                if renewed or self.refresh is None:
                    raise
                self.session = await self.refresh()
        raise AssertionError("unreachable")
