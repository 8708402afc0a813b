"""A recording, fault-injecting proxy in front of the reference PDS: the edge of the reposter's process.

Every request is forwarded to the real PDS and recorded (method and NSID), so tests count
exactly what a run asked of Bluesky. A test can answer the next requests to a method itself
(429 with rate-limit headers, a 502, a garbled body), hold one until something else happened
(a run parked before its write while another run goes), or act after one was forwarded (kill
the reposter between its repost and its bookkeeping).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import aiohttp
import aiohttp.web
import httpx

from tests.support.processes import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Fault:
    """An answer the proxy gives instead of the PDS's, `times` times; `forwarded`: after the PDS
    handled the request (the answer is lost on the way back, as a gateway's 502 after the commit)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    forwarded: bool = False


@dataclass
class XrpcProxy:
    target: str
    url: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, nsid), in order
    answers: list[tuple[str, int]] = field(default_factory=list)  # (nsid, status) of every answer, in order
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    before: dict[str, Callable[[], Awaitable[object]]] = field(default_factory=dict)
    after: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    barriers: dict[str, asyncio.Barrier] = field(default_factory=dict)
    # The subject of every repost the PDS accepted. The reference PDS keeps one repost record per
    # subject (a second write replaces the first), so the repo cannot show a double: this can.
    reposts: list[str] = field(default_factory=list)

    def fail(
        self,
        nsid: str,
        status: int,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        times: int = 1,
        forwarded: bool = False,
    ) -> None:
        self.faults.setdefault(nsid, []).append(Fault(status, body, headers or {}, times, forwarded))

    def hold(self, nsid: str, until: Callable[[], Awaitable[object]]) -> None:
        """Hold the next request to `nsid` until `until` returns, then forward it (park a run at its worst moment)."""
        self.before[nsid] = until

    def then(self, nsid: str, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` after forwarding the next request to `nsid`, before answering it."""
        self.after[nsid] = action

    def together(self, nsid: str, parties: int) -> None:
        """Hold requests to `nsid` until `parties` of them have come, then let them all through at once."""
        self.barriers[nsid] = asyncio.Barrier(parties)

    def count(self, nsid: str) -> int:
        return sum(1 for _, called in self.calls if called == nsid)

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        nsid = request.path.removeprefix("/xrpc/")
        self.calls.append((request.method, nsid))
        fault = self._next_fault(nsid)
        if fault and not fault.forwarded:
            self.answers.append((nsid, fault.status))
            return aiohttp.web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        if until := self.before.pop(nsid, None):
            await until()
        if barrier := self.barriers.get(nsid):
            await asyncio.wait_for(barrier.wait(), 30)
        async with httpx.AsyncClient(base_url=self.target, trust_env=False, timeout=30) as client:
            answer = await forwarded(request, client)
        body = await request.read()
        if nsid == "com.atproto.repo.createRecord" and answer.is_success:
            record = json.loads(body).get("record", {})
            if record.get("$type") == "app.bsky.feed.repost":
                self.reposts.append(record["subject"]["uri"])
        if fault:  # the PDS did it; the answer is lost
            self.answers.append((nsid, fault.status))
            return aiohttp.web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        if action := self.after.pop(nsid, None):
            await action()
        self.answers.append((nsid, answer.status_code))
        return answered(answer)

    def _next_fault(self, nsid: str) -> Fault | None:
        queued = self.faults.get(nsid)
        if not queued:
            return None
        fault = queued[0]
        fault.times -= 1
        if fault.times <= 0:
            queued.pop(0)
        return fault


async def forwarded(request: aiohttp.web.Request, client: httpx.AsyncClient) -> httpx.Response:
    """The request, sent on by `client` (to its base URL) as it came (hop-by-hop headers aside)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    return await client.request(
        request.method, request.path_qs, content=await request.read(), headers=headers
    )


def answered(answer: httpx.Response) -> aiohttp.web.Response:
    """The target's answer, passed back (hop-by-hop headers aside)."""
    kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
    return aiohttp.web.Response(status=answer.status_code, body=answer.content, headers=kept)


@asynccontextmanager
async def serving(
    handle: Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]],
) -> AsyncIterator[str]:
    """`handle` for every request on a free port of 127.0.0.1; its URL."""
    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = aiohttp.web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Proxy(Protocol):
    url: str

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse: ...


AnyProxy = TypeVar("AnyProxy", bound=Proxy)


@asynccontextmanager
async def proxying(proxy: AnyProxy) -> AsyncIterator[AnyProxy]:
    """The proxy served on a free port, its `url` set."""
    async with serving(proxy._handle) as url:
        proxy.url = url
        yield proxy


def xrpc_proxy(target: str) -> AbstractAsyncContextManager[XrpcProxy]:
    return proxying(XrpcProxy(target))
