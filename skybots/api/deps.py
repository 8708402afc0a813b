"""What the API's routes depend on, in one place: each provider and its `Annotated` alias.

`create_app` keeps the settings on `app.state`, and its lifespan the running services; this
module is the one that reads them. A route names what it needs (`kube: Kube`, `user: SignedIn`)
and a test swaps a store by giving `create_app` its own `Services`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from skybots.api import sessions
from skybots.api.bot_cache import BotCache
from skybots.api.erasure import Eraser
from skybots.api.stats import StatsReader
from skybots.api.views import Views
from skybots.mail import ConsoleMailer, Mailer
from skybots.settings import ApiSettings
from skybots.stores.cache import Cache as ReposterCache
from skybots.stores.kubernetes import KubernetesApi
from skybots.stores.runs import RunHistory
from skybots.stores.users import User, Users


@dataclass
class Services:
    """Everything the API talks to; built from the settings, or given by a test."""

    kube: KubernetesApi
    users: Users
    history: RunHistory
    mailer: Mailer = field(default_factory=ConsoleMailer)
    cache: ReposterCache | None = None
    """The reposter's cache, where a deleted account's bots leave their state; None: the API has no Redis."""


@dataclass
class Running:
    """What the app holds while it runs, made by its lifespan from the `Services`."""

    services: Services
    bot_cache: BotCache
    stats: StatsReader
    views: Views
    known_users: sessions.KnownUsers
    eraser: Eraser


def settings_of(app: FastAPI) -> ApiSettings:
    settings: ApiSettings = app.state.settings
    return settings


def running_of(app: FastAPI) -> Running:
    """What the app runs with; for the work that follows a response (events, alerts) too."""
    running: Running = app.state.running
    return running


def _settings(request: Request) -> ApiSettings:
    return settings_of(request.app)


def _running(request: Request) -> Running:
    return running_of(request.app)


RunningDep = Annotated[Running, Depends(_running)]
Settings = Annotated[ApiSettings, Depends(_settings)]


def _bot_cache(running: RunningDep) -> BotCache:
    return running.bot_cache


def _kube(running: RunningDep) -> KubernetesApi:
    return running.services.kube


def _users(running: RunningDep) -> Users:
    return running.services.users


def _history(running: RunningDep) -> RunHistory:
    return running.services.history


def _reposter_cache(running: RunningDep) -> ReposterCache | None:
    return running.services.cache


def _views(running: RunningDep) -> Views:
    return running.views


def _stats(running: RunningDep) -> StatsReader:
    return running.stats


def _known_users(running: RunningDep) -> sessions.KnownUsers:
    return running.known_users


def _eraser(running: RunningDep) -> Eraser:
    return running.eraser


Cache = Annotated[BotCache, Depends(_bot_cache)]
Kube = Annotated[KubernetesApi, Depends(_kube)]
UsersDep = Annotated[Users, Depends(_users)]
History = Annotated[RunHistory, Depends(_history)]
ReposterCacheDep = Annotated[ReposterCache | None, Depends(_reposter_cache)]
ViewsDep = Annotated[Views, Depends(_views)]
StatsDep = Annotated[StatsReader, Depends(_stats)]
KnownUsersDep = Annotated[sessions.KnownUsers, Depends(_known_users)]
EraserDep = Annotated[Eraser, Depends(_eraser)]


async def _signed_in(request: Request) -> User:
    return await sessions.current_user(request, lambda: running_of(request.app).known_users)


SignedIn = Annotated[User, Depends(_signed_in)]


def _oidc_client(request: Request) -> Any:
    return request.app.state.oidc


OidcClient = Annotated[Any, Depends(_oidc_client)]


def _local_runtime(request: Request) -> bool:
    return request.app.state.local_runtime is True


LocalRuntime = Annotated[bool, Depends(_local_runtime)]
