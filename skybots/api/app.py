"""The FastAPI application: its services, middleware and routes.

`create_app(settings)` builds everything from the settings when the app starts; tests pass
their own `Services` (pointed at the Kubernetes emulator, moto, a mail recorder).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Response
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.middleware.sessions import SessionMiddleware

from skybots import __version__
from skybots.api import observability, oidc, sessions
from skybots.settings import ApiSettings
from skybots.stores.kubernetes import Kubernetes
from skybots.stores.runs import DynamoRunHistory, RunHistory
from skybots.stores.users import DynamoUsers, Users

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the API talks to; built from the settings, or given by a test."""

    kube: Kubernetes
    users: Users
    history: RunHistory


async def build_services(settings: ApiSettings, *, create_tables: bool = False) -> Services:
    users = DynamoUsers(
        settings.users_table, region=settings.aws_region, endpoint_url=settings.dynamodb_endpoint_url
    )
    history = DynamoRunHistory(
        settings.runs_table, region=settings.aws_region, endpoint_url=settings.dynamodb_endpoint_url
    )
    if create_tables:
        users.ensure_table()
        history.ensure_table()
    return Services(
        kube=await Kubernetes.connect(settings.kubernetes_server),
        users=users,
        history=history,
    )


def create_app(settings: ApiSettings, services: Services | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or await build_services(settings)
        try:
            yield
        finally:
            if services is None:
                await app.state.services.kube.close()

    app = FastAPI(
        title="skybots",
        version=__version__,
        summary="Hosted Bluesky repost bots: sign in, describe a bot, watch what it does.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = metrics = observability.Metrics()
    if settings.sentry_dsn.get_secret_value():
        observability.init_sentry(settings.sentry_dsn.get_secret_value())

    secret = settings.session_secret.get_secret_value()
    if not secret:
        log.warning("SKYBOTS_SESSION_SECRET is not set: sessions end when this process does")
        secret = secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=sessions.COOKIE,
        max_age=settings.session_days * 86400,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    # Work that follows a response (mirroring to DynamoDB, mail) is an event its handlers take up.
    app.state.events = events = LocalHandler()  # type: ignore[no-untyped-call]
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[events])
    observability.install(app, metrics)

    app.include_router(oidc.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
