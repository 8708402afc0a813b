"""S3 and DynamoDB for tests: moto in server mode, so boto3 talks real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp.web
import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.support.processes import free_port
from tests.support.xrpc_proxy import answered, forwarded, proxying

REGION = "eu-central-1"

Store = TypeVar("Store")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the session; `aws` resets its state for every test."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The endpoint URL of a clean moto, with dummy credentials in the environment as boto3 needs."""
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    return moto_server


# The params of a fixture that gives each test the AWS store and, in a second run, its embedded stand-in.
CLOUD_OR_EMBEDDED = ["cloud", "embedded"]


def reopener(
    request: pytest.FixtureRequest, embedded: Callable[[], Store], cloud: Callable[[str], Callable[[], Store]]
) -> Callable[[], Store]:
    """How such a fixture's test opens its store, anew on the same data each call (as a restarted
    process would): the embedded one, or the cloud one on a clean moto (`cloud` gets its endpoint)."""
    if request.param == "embedded":
        return embedded
    return cloud(request.getfixturevalue("aws"))


READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


@dataclass(frozen=True)
class StoreCall:
    """One DynamoDB call as it crossed the edge of the calling process."""

    operation: str
    """DynamoDB's name of it: Query, GetItem, PutItem, ..."""
    items: int
    """Items in the answer."""
    size: int
    """Bytes of the answer."""
    seconds: float
    """How long the store took to answer."""
    status: int = 200
    """The HTTP status of the answer (400: a condition failed, among others)."""


@dataclass
class StoreEdge:
    """A recording proxy in front of moto: what each DynamoDB call made through it got back."""

    client: httpx.AsyncClient  # to moto, its connections kept
    url: str = ""
    calls: list[StoreCall] = field(default_factory=list)
    holds: dict[tuple[str, str], StoreHold] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds added before each call goes on: a network's round trip, as to DynamoDB in a region."""

    def reads(self) -> list[StoreCall]:
        return [call for call in self.calls if call.operation in READS]

    def hold(self, operation: str, table: str) -> StoreHold:
        """Hold every call of `operation` on `table` (as its request names it) until released."""
        self.holds[operation, table] = held = StoreHold()
        return held

    async def _handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        sent = json.loads(await request.read() or b"{}")
        for table in [sent.get("TableName"), *sent.get("RequestItems", {})]:
            if held := self.holds.get((operation, table)):
                held.arrived.set()
                await held.released.wait()
        await asyncio.sleep(self.delay)
        started = time.perf_counter()
        answer = await forwarded(request, self.client)
        seconds = time.perf_counter() - started
        body = json.loads(answer.content or b"{}")
        items = len(body.get("Items", [])) + ("Item" in body)
        self.calls.append(StoreCall(operation, items, len(answer.content), seconds, answer.status_code))
        return answered(answer)


@dataclass
class StoreHold:
    """Calls held at the edge: `arrived` is set when the first came, they go on once `released` is."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


@asynccontextmanager
async def store_edge(target: str) -> AsyncIterator[StoreEdge]:
    async with (
        httpx.AsyncClient(base_url=target, trust_env=False, timeout=30) as client,
        proxying(StoreEdge(client)) as edge,
    ):
        yield edge
