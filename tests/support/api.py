"""The API in-process (ASGI) with real counterparts: the Kubernetes emulator, DynamoDB on moto.

The `api` fixture runs the API on LocalKubernetes instead, the embedded store `make demo` runs
it on, where a test module parametrizes `api_cluster` with "local".

Signed-in clients get a session cookie signed the way the session middleware signs it, for a
user recorded in DynamoDB as a sign-in would: the sign-in flow itself is tested against a real
OpenID provider in tests/test_auth.py; here it would only slow every test down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import itsdangerous
import kmock
import pytest

from skybots.api.app import create_app
from skybots.api.deps import Services
from skybots.api.sessions import COOKIE, CSRF_HEADER
from skybots.settings import ApiSettings
from skybots.stores.kubernetes import API_USER_AGENT, Kubernetes, KubernetesApi
from skybots.stores.local_kubernetes import LocalKubernetes
from skybots.stores.runs import DynamoRunHistory
from skybots.stores.users import DynamoUsers, User
from tests.support.aws import REGION
from tests.support.kubernetes import rbac_terms
from tests.support.rbac import API, grants

SESSION_SECRET = "test-session-secret"
ISSUER = "http://127.0.0.1:1/issuer"


@dataclass
class UserClient:
    """A signed-in user's HTTP client; it sends the CSRF token, as the web app does."""

    user: User
    http: httpx.AsyncClient
    seen: list[str] = field(default_factory=list)  # every response body, for the secrets check

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, path, **kwargs)
        self.seen.append(response.text)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)


@dataclass
class Api:
    app: Any
    settings: ApiSettings
    services: Services
    kube: KubernetesApi  # the test's own client, to look at the cluster without counting as the API
    clients: list[UserClient] = field(default_factory=list)

    @property
    def local(self) -> bool:
        """Whether the API runs on LocalKubernetes (no API server over HTTP, no recorded requests)."""
        return isinstance(self.services.kube, LocalKubernetes)

    async def sign_in(self, name: str) -> UserClient:
        """A user as after their first sign-in, with a client that carries their session."""
        user, _ = await self.services.users.sign_in(
            ISSUER, f"sub-{name}", f"{name}@example.com", name.title()
        )
        csrf = secrets.token_urlsafe(16)
        session = {"user": user.id, "csrf": csrf, "issued": time.time(), "expires": int(time.time()) + 3600}
        cookie = itsdangerous.TimestampSigner(SESSION_SECRET).sign(
            base64.b64encode(json.dumps(session).encode())
        )
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            cookies={COOKIE: cookie.decode()},
            headers={CSRF_HEADER: csrf},
        )
        client = UserClient(user, http)
        self.clients.append(client)
        return client


@contextlib.asynccontextmanager
async def replica(api: Api, **settings: Any) -> AsyncIterator[Api]:
    """A second API replica beside `api`: its own app, Bot cache and clients, on the same cluster
    (the same LocalKubernetes, in-process), the same tables and the same cache; `settings` changed
    (its `dynamodb_endpoint_url` may be a proxy in front of the same moto)."""
    changed = api.settings.model_copy(update=settings)
    services = await services_for(changed, api.services.kube if api.local else None)
    services.cache = api.services.cache
    app = create_app(changed, services)
    async with app.router.lifespan_context(app):
        second = Api(app, changed, services, api.kube)
        yield second
        for client in second.clients:
            await client.http.aclose()
    if not api.local:
        await services.kube.close()


def api_settings(namespace: str, aws: str, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "namespace": namespace,
        "session_secret": SESSION_SECRET,
        "dynamodb_endpoint_url": aws,
        "aws_region": REGION,
        "users_table": "users",
        "runs_table": "runs",
        "metrics_port": 0,
    }
    return ApiSettings(**(values | overrides))


async def services_for(settings: ApiSettings, kube: KubernetesApi | None = None) -> Services:
    """The API's services as a test has them: its tables made on moto, Kubernetes on the emulator (or `kube`)."""
    users = DynamoUsers(settings.users_table, region=REGION, endpoint_url=settings.dynamodb_endpoint_url)
    history = DynamoRunHistory(
        settings.runs_table, region=REGION, endpoint_url=settings.dynamodb_endpoint_url
    )
    await asyncio.to_thread(users.ensure_table)  # in a thread: the endpoint may be a proxy on this loop
    await asyncio.to_thread(history.ensure_table)
    kube = kube or await Kubernetes.connect(settings.kubernetes_server, API_USER_AGENT)
    return Services(kube=kube, users=users, history=history)


@pytest.fixture
def api_cluster(request: pytest.FixtureRequest) -> Any:
    """The emulator the `api` fixture runs on; None where a module parametrizes this (indirectly)
    with "local": the API then runs on LocalKubernetes.

    A plain fixture: pytest-asyncio can start the emulator (an async fixture) only outside a running loop.
    """
    return None if getattr(request, "param", "emulator") == "local" else request.getfixturevalue("cluster")


@pytest.fixture
async def api(api_cluster: Any, aws: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API on the emulator (or LocalKubernetes, see `api_cluster`) and moto, started (its Bot
    watch synced) and stopped around the test."""
    cluster = api_cluster
    own: KubernetesApi
    if cluster is None:
        settings = api_settings("skybots", aws)
        own = LocalKubernetes(tmp_path / "cluster.db")
        services = await services_for(settings, own)  # in-process: one client is all there is
    else:
        settings = api_settings("skybots", aws, kubernetes_server=str(cluster.url))
        services = await services_for(settings)
        own = await Kubernetes.connect(settings.kubernetes_server, "tests")
    app = create_app(settings, services)
    async with app.router.lifespan_context(app):
        running = Api(app, settings, services, own)
        yield running
        for client in running.clients:
            await client.http.aclose()
    await services.kube.close()
    if own is not services.kube:
        await own.close()
    if cluster is not None:  # LocalKubernetes records no requests: RBAC is the cluster's concern
        # Whatever the test did, the API asked for nothing its shipped RBAC does not grant.
        assert rbac_terms(api_requests(cluster)) <= grants(API, settings.namespace)


def api_requests(cluster: Any) -> list[Any]:
    """The requests the API made to the emulator (not the test's own)."""
    return list(cluster[kmock.headers({"User-Agent": re.compile(r"skybots-api/.*")})])
