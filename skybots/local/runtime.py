"""`skybots dev`: the API, the operator's part and the reposter in one process, on embedded stores.

Each outside system is swapped for one embedded adapter, and nothing else changes: Bots and their
Secrets in SQLite (LocalKubernetes) instead of the API server, users and run history in SQLite
instead of DynamoDB, a folder instead of S3, an in-memory cache instead of Redis (or Redis when
REDIS_URL is set), the console mailer, and the local developer's sign-in instead of Google. The
secrets a cluster keeps in Secrets (the session cookie's, the reposter's session keys) are made
once per data folder and kept in it, so that `make demo` needs none and a restart keeps them.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from skybots.api.app import create_app
from skybots.api.deps import Services
from skybots.api.sessions import CSRF_HEADER
from skybots.bluesky.egress import PRIVATE_ADDRESSES_ALLOWED
from skybots.local.controller import LocalController
from skybots.mail import ConsoleMailer
from skybots.settings import ApiSettings, LocalSettings, OperatorSettings
from skybots.stores.cache import Cache
from skybots.stores.local_kubernetes import LocalKubernetes
from skybots.stores.memory import MemoryCache
from skybots.stores.objects import FolderObjects
from skybots.stores.runs import SqliteRunHistory
from skybots.stores.users import SqliteUsers

# One developer's bots on their own address, trying things out: a run a minute is theirs to ask for.
LOCAL_MIN_RUN_INTERVAL_MINUTES = 1


@dataclass
class LocalRuntime:
    app: FastAPI
    controller: LocalController
    kube: LocalKubernetes
    cache: Cache


def build(
    settings: LocalSettings, public_url: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> LocalRuntime:
    """The app and its controller over the state in `settings.data_dir`."""
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    kube = LocalKubernetes(data / "cluster.db")
    users, history = SqliteUsers(data / "users.db"), SqliteRunHistory(data / "runs.db")
    cache: Cache
    if settings.redis_url:
        from skybots.stores.redis import RedisCache

        cache = RedisCache(settings.redis_url)
    else:
        cache = MemoryCache()
    api_settings = ApiSettings(
        public_url=public_url,
        namespace=settings.namespace,
        session_secret=_kept_secret(data / "session-secret", lambda: secrets.token_urlsafe(32)),
        metrics_port=0,
        min_run_interval_minutes=LOCAL_MIN_RUN_INTERVAL_MINUTES,
    )
    services = Services(kube=kube, users=users, history=history, mailer=ConsoleMailer(), cache=cache)
    app = create_app(api_settings, services, local_runtime=True)
    controller = LocalController(
        kube,
        history,
        cache=cache,
        objects=FolderObjects(data / "objects"),
        settings=OperatorSettings(
            namespaces=[settings.namespace],
            api_namespace=settings.namespace,
            min_run_interval_minutes=LOCAL_MIN_RUN_INTERVAL_MINUTES,
        ),
        credential_key=_kept_secret(data / "credential-key", lambda: secrets.token_hex(32)),
        session_keys=_kept_secret(data / "session-keys", _fernet_key),
        transport=transport,
    )
    return LocalRuntime(app, controller, kube, cache)


@contextlib.asynccontextmanager
async def running(runtime: LocalRuntime) -> AsyncIterator[LocalRuntime]:
    """The app's start-up (its Bot cache) and the controller, stopped in reverse order.

    While it runs, bots may use http and loopback services: Bluesky's network on this machine.
    """
    allowed = PRIVATE_ADDRESSES_ALLOWED.set(True)
    try:
        async with runtime.app.router.lifespan_context(runtime.app):
            await runtime.controller.start()
            try:
                yield runtime
            finally:
                await runtime.controller.stop()
                await runtime.cache.close()
    finally:
        PRIVATE_ADDRESSES_ALLOWED.reset(allowed)


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret made on first use and kept in the data folder (owner-only), so that a restart keeps it."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()


def _fernet_key() -> str:
    """A key for the reposter's session keys, as `cryptography.fernet.Fernet.generate_key()` makes one."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class StartingBot:
    """A bot for the local developer, made at start-up (`skybots dev --bot-handle ...`)."""

    name: str
    handle: str
    app_password: str
    hashtag: str
    service: str = "https://bsky.social"
    schedule: str = "*/10 * * * *"
    live: bool = False  # off: a dry run, which reposts nothing


async def ensure_bot(runtime: LocalRuntime, bot: StartingBot) -> dict[str, object]:
    """Make (or update) the bot through the API as the local developer would: the same checks apply."""
    spec = {
        "account": {"handle": bot.handle, "service": bot.service},
        "schedule": bot.schedule,
        "dryRun": not bot.live,
        "sources": [{"type": "hashtag", "tag": bot.hashtag}],
    }
    transport = httpx.ASGITransport(app=runtime.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        signed_in = await client.post("/auth/local")
        if signed_in.status_code != 303:
            raise RuntimeError(f"the local sign-in failed: {signed_in.status_code} {signed_in.text}")
        me = (await client.get("/api/me")).json()
        client.headers[CSRF_HEADER] = me["csrfToken"]
        existing = await client.get(f"/api/bots/{bot.name}")
        if existing.status_code == 404:
            body = {"name": bot.name, "appPassword": bot.app_password, "spec": spec}
            response = await client.post("/api/bots", json=body)
        else:
            version = existing.json()["resourceVersion"]
            body = {"resourceVersion": version, "appPassword": bot.app_password, "spec": spec}
            response = await client.patch(f"/api/bots/{bot.name}", json=body)
        if response.status_code >= 400:
            raise ValueError(f"the bot {bot.name!r} was refused: {response.text}")
        view: dict[str, object] = response.json()
        return view
