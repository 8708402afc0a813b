"""The FastAPI application: its services, middleware and routes.

`create_app(settings)` builds everything from the settings when the app starts; tests pass
their own `Services` (pointed at the Kubernetes emulator, moto, a mail recorder).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.middleware import EventHandlerASGIMiddleware
from starlette.middleware.sessions import SessionMiddleware

from skybots import __version__
from skybots.api import (
    account,
    alerts,
    app_config,
    bots,
    local_sign_in,
    mail_events,
    observability,
    oidc,
    pages,
    probes,
    runs,
    security_headers,
    sessions,
)
from skybots.api import events as api_events
from skybots.api.body_limit import BodyLimit
from skybots.api.bot_cache import BotCache
from skybots.api.deps import Running, Services
from skybots.api.erasure import Eraser
from skybots.api.security_headers import SecurityHeaders
from skybots.api.stats import StatsReader
from skybots.api.views import Views
from skybots.bots import error_paths
from skybots.mail import mailer_for
from skybots.settings import ApiSettings
from skybots.stores.cache import Cache
from skybots.stores.kubernetes import API_USER_AGENT, Kubernetes
from skybots.stores.runs import DynamoRunHistory
from skybots.stores.users import DynamoUsers

log = logging.getLogger(__name__)
OPENAPI_URL = "/api/openapi.json"


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
    cache: Cache | None = None
    if settings.redis_url:
        from skybots.stores.redis import RedisCache

        cache = RedisCache(settings.redis_url, password=settings.redis_password.get_secret_value() or None)
    return Services(
        kube=await Kubernetes.connect(settings.kubernetes_server, API_USER_AGENT),
        users=users,
        history=history,
        mailer=mailer_for(settings),
        cache=cache,
    )


def create_app(
    settings: ApiSettings,
    services: Services | None = None,
    *,
    create_tables: bool = False,
    local_runtime: bool = False,
) -> FastAPI:
    """The app; `services` for tests, else built at start-up (`create_tables` for local stand-ins).

    `local_runtime` (only `skybots dev` passes it, never a setting): the local developer's
    password-less sign-in is mounted. In order: what it holds while it runs (its lifespan),
    what it holds from the start, its event handlers, its middleware, its routes.
    """
    metrics = observability.Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ready = services or await build_services(settings, create_tables=create_tables)
        cache = BotCache(
            ready.kube, settings.namespace, on_change=functools.partial(alerts.on_bot_change, app)
        )
        eraser = Eraser(
            ready, lease=settings.erasure_lease_seconds, interval=settings.erasure_interval_seconds
        )
        app.state.running = Running(
            services=ready,
            bot_cache=cache,
            stats=StatsReader(ready.history, settings.namespace),
            views=Views(),
            known_users=sessions.KnownUsers(ready.users, ttl=settings.user_cache_seconds),
            eraser=eraser,
        )
        await cache.start()
        eraser.start()
        metrics.owners = cache.owners
        stop_metrics = metrics.serve(settings.metrics_port) if settings.metrics_port else None
        try:
            yield
        finally:
            await eraser.stop()
            if stop_metrics is not None:
                stop_metrics()
            await cache.stop()
            if services is None:
                await ready.kube.close()
                if ready.cache is not None:
                    await ready.cache.close()

    app = FastAPI(
        title="skybots",
        version=__version__,
        summary="Hosted Bluesky repost bots: sign in, describe a bot, watch what it does.",
        lifespan=lifespan,
        docs_url=None,  # security_headers.add_api_docs, with a policy that lets it load
        redoc_url=None,
        openapi_url=OPENAPI_URL,
    )
    app.state.settings = settings
    app.state.local_runtime = local_runtime
    app.state.metrics = metrics
    app.state.oidc = oidc.provider_client(settings)
    if settings.sentry_dsn.get_secret_value():
        observability.init_sentry(settings.sentry_dsn.get_secret_value())

    # Work that follows a response (mirroring to DynamoDB, mail) is an event its handlers take up.
    app.state.events = events = LocalHandler()  # type: ignore[no-untyped-call]
    api_events.register(events, app)
    mail_events.register(events, app)
    _add_middleware(app, settings, metrics, events)

    app.include_router(bots.router)
    app.include_router(runs.router)
    app.include_router(account.router)
    app.include_router(app_config.router)
    app.include_router(pages.router(settings, local_sign_in=local_runtime))
    security_headers.add_api_docs(app, "/api/docs", OPENAPI_URL)
    app.include_router(oidc.router)
    if local_runtime:
        app.include_router(local_sign_in.router)
    app.include_router(probes.router)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


def _add_middleware(
    app: FastAPI, settings: ApiSettings, metrics: observability.Metrics, events: LocalHandler
) -> None:
    """Sessions, events, the body limit, metrics and request ids, security headers (outermost last)."""
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
    app.add_middleware(EventHandlerASGIMiddleware, handlers=[events])
    app.add_middleware(BodyLimit)
    observability.install(app, metrics)
    app.add_middleware(SecurityHeaders, https=settings.public_url.startswith("https://"))


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    """422 with each field as a path a person can find (spec.sources[0].tag) and what is wrong with it."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {**item, "loc": [p for p in item["loc"] if p not in ("body", "query", "path")]}
        for item in error.errors()
    ]
    return JSONResponse(
        {"detail": [{"field": path, "message": message} for path, message in error_paths(errors)]},
        status_code=422,
    )
