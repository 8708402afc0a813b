"""The API under test, in-process: its services on moto and the Kubernetes emulator, an ASGI client.

The client talks to the app through httpx's ASGITransport at the app's public_url, so cookies
(Secure ones too, when that URL is https) behave as in a browser, and no port is opened.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from skybots.settings import ApiSettings
from tests.support.aws import REGION
from tests.support.oidc import PUBLIC_URLS, OidcProvider

if TYPE_CHECKING:  # the app and its stores load in the fixtures: every test run loads this plugin
    from fastapi import FastAPI

    from skybots.api.deps import Services
    from tests.support.kubernetes import ClusterEmulator


def signin_settings(provider: OidcProvider, **overrides: Any) -> ApiSettings:
    """Settings of an API that signs in through `provider`, at the first of PUBLIC_URLS."""
    values: dict[str, Any] = {
        "public_url": PUBLIC_URLS[0],
        "oidc_issuer": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": provider.client_secret,
        "session_secret": secrets.token_urlsafe(32),
        "aws_region": REGION,
        "metrics_port": 0,  # no metrics server: two apps at once (two replicas, two test runs) would share its port
        **overrides,
    }
    return ApiSettings(**values)


@pytest.fixture
async def api_services(aws: str, cluster: ClusterEmulator) -> AsyncIterator[Services]:
    """Users and run history on a clean moto (tables made), Kubernetes on the emulator."""
    from tests.support.api import services_for

    settings = ApiSettings(kubernetes_server=str(cluster.url), dynamodb_endpoint_url=aws, aws_region=REGION)
    services = await services_for(settings)
    try:
        yield services
    finally:
        await services.kube.close()


@asynccontextmanager
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the app: its lifespan runs around it; a fresh cookie jar; no redirects followed."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=app.state.settings.public_url
        ) as client,
    ):
        yield client
