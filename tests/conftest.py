"""Fixtures shared by the test suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import kmock
import pytest
import yarl

from tests.support.kubernetes import ClusterEmulator

pytest_plugins = [
    "tests.support.aws",
    "tests.support.services",
    "tests.support.oidc",
    "tests.support.api",
    "tests.support.signin",
    "tests.support.mailjet",
    "tests.support.tls",
]


def closing_client(base_url: yarl.URL) -> aiohttp.ClientSession:
    """A client for `cluster.get()` and co. that keeps no idle connection.

    Kopf, when it stops, waits 5 s for every task created in the loop since it started, and the
    server's task for an idle keep-alive connection is one of those.
    """
    return aiohttp.ClientSession(base_url, connector=aiohttp.TCPConnector(force_close=True))


@pytest.fixture
async def cluster() -> AsyncIterator[ClusterEmulator]:
    """A Kubernetes API emulator on 127.0.0.1 (`cluster.url`), serving the built-in kinds and our CRDs.

    A test fails in teardown if the emulator crashed while serving it: a crash is a 500 that
    Kopf would retry and hide.
    """
    async with ClusterEmulator() as emulator, kmock.Server(emulator, client_fct=closing_client):
        yield emulator
        assert emulator.crashes == []
