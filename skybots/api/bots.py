"""/api/bots: a signed-in user's bots, as Bot resources in the cluster.

Every bot is a Bot named `<name>-<owner>` (owner: the first 16 hex characters, 64 bits, of the
user's id), labelled with its owner, with its app password in a Secret the Bot owns. Bots made
when the owner part was 8 characters (32 bits: two of 69,000 users shared one) keep their names
and are found under either. A user only ever reaches their own bots (the owner label says whose
a Bot is, whatever its name): another user's bot is a 404, like one that does not exist. Reads
come from the watch-backed BotCache; writes go to the API server and are remembered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi_events.dispatcher import dispatch
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from skybots import bots
from skybots.api import conditional
from skybots.api.bot_cache import MANAGED_BY_API, BotCache
from skybots.api.events import BOT_CHANGED
from skybots.api.sessions import SignedIn
from skybots.api.stats import Stats, StatsReader
from skybots.bots import (
    AS_STORED,
    OWNER_LABEL,
    BlueskyAccount,
    BotSpec,
    BotSpecError,
    BotStatus,
    Matches,
    WireModel,
    bound_errors,
    validate_spec,
)
from skybots.operator import rendering
from skybots.operator.rendering import finished_at
from skybots.settings import ApiSettings
from skybots.stores.kubernetes import (
    BOT,
    CRON_JOB,
    JOB,
    SECRET,
    Conflict,
    KubernetesApi,
    KubernetesError,
    NotFound,
    merge_patch,
)
from skybots.stores.runs import CURSOR, RunHistory, RunRecord
from skybots.stores.users import User, Users


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


class FieldProblem(BaseModel):
    """One field of a refused request, and what is wrong with it."""

    field: str
    message: str


class Invalid(BaseModel):
    """The fields of a refused request (422)."""

    detail: list[FieldProblem]


router = APIRouter(
    prefix="/api/bots",
    tags=["bots"],
    responses={
        401: {"model": Problem, "description": "Not signed in."},
        403: {"model": Problem, "description": "No valid CSRF token, or over the quota."},
        404: {"model": Problem, "description": "You have no such bot."},
        409: {"model": Problem, "description": "The bot changed since you read it, or its name is taken."},
        422: {"model": Invalid, "description": "A field is invalid: each problem names it."},
    },
)

OWNER_CHARS = 16
LEGACY_OWNER_CHARS = 8  # the owner part of the names of bots made before 64-bit owners
NAME_LENGTH = bots.MAX_BOT_NAME_LENGTH - 1 - OWNER_CHARS  # room for "-<owner>"
PASSWORD_KEY = "app-password"
RUNS_LOOKBACK = timedelta(days=30)

BotName = Annotated[
    str,
    Field(min_length=1, max_length=NAME_LENGTH),
    Matches(bots.DNS_LABEL, "lower-case letters, digits and '-'"),
]
AppPassword = Annotated[SecretStr, Field(min_length=4, max_length=200)]


class SpecInput(BotSpec):
    """A bot's spec as its owner writes it: the platform decides where the app password is kept."""

    account: BlueskyAccount  # type: ignore[assignment]  # the same account, without where its password is kept
    """The Bluesky account the bot reposts as."""


class BotCreate(WireModel):
    """A new bot."""

    name: BotName
    """The bot's name, unique among your bots."""
    app_password: AppPassword
    """An app password of the bot's Bluesky account (Settings > Privacy and security > App passwords). Never shown again."""
    spec: SpecInput
    """What the bot reposts, and how often."""


class BotUpdate(WireModel):
    """A change to a bot; `resourceVersion` is the one you read, so a concurrent change is refused (409).

    Only a change of the bot's settings conflicts: new run results since you read it do not.
    """

    resource_version: str = Field(min_length=1, max_length=64)
    """The resourceVersion of the bot as you last read it."""
    spec: dict[str, Any] | None = None
    """Fields of the spec to change (a JSON merge patch: lists are replaced whole, null removes a field)."""
    app_password: AppPassword | None = None
    """A new app password."""


class BotView(WireModel):
    """A bot as its owner sees it; never its app password."""

    model_config = ConfigDict(extra="ignore")

    name: str
    """The bot's name."""
    spec: SpecInput
    """What the bot reposts, and how often."""
    status: BotStatus
    """What the operator observed: conditions, the last run, totals."""
    resource_version: str
    """Send it back with a change."""
    created_at: datetime | None = None
    """When the bot was made."""


class JobStarted(WireModel):
    """A run that was asked for; its result arrives in the bot's runs when it ends."""

    job: str
    """The Job's name: GET /api/bots/{name}/runs/{job} answers once the run is collected."""


def resource_name(user: User, name: str) -> str:
    return f"{name}-{user.id[:OWNER_CHARS]}"


def secret_name(resource: str) -> str:
    return f"{resource}-credentials"


def _cache(request: Request) -> BotCache:
    cache: BotCache = request.app.state.bot_cache
    return cache


def _kube(request: Request) -> KubernetesApi:
    kube: KubernetesApi = request.app.state.services.kube
    return kube


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def _users(request: Request) -> Users:
    users: Users = request.app.state.services.users
    return users


Cache = Annotated[BotCache, Depends(_cache)]
Kube = Annotated[KubernetesApi, Depends(_kube)]
UsersDep = Annotated[Users, Depends(_users)]
Settings = Annotated[ApiSettings, Depends(_settings)]


def view(bot: dict[str, Any]) -> BotView:
    spec = dict(bot["spec"])
    spec["account"] = {k: v for k, v in spec["account"].items() if k != "credentialsSecretRef"}
    return BotView(
        name=bot["metadata"]["labels"]["app.kubernetes.io/instance"],
        spec=SpecInput.model_validate(spec, context=AS_STORED),
        status=BotStatus.model_validate(bot.get("status") or {}),
        resource_version=bot["metadata"]["resourceVersion"],
        created_at=bot["metadata"].get("creationTimestamp"),
    )


class Views:
    """Each bot's view, serialized once per resourceVersion: listings are served as ready bytes."""

    def __init__(self) -> None:
        self._by_resource: dict[str, tuple[str, bytes]] = {}

    def json(self, bot: dict[str, Any]) -> bytes:
        resource, version = bot["metadata"]["name"], bot["metadata"]["resourceVersion"]
        cached = self._by_resource.get(resource)
        if cached is None or cached[0] != version:
            cached = (version, view(bot).model_dump_json(by_alias=True).encode())
            self._by_resource[resource] = cached
        return cached[1]

    def drop(self, resource: str) -> None:
        self._by_resource.pop(resource, None)


def _views(request: Request) -> Views:
    views: Views = request.app.state.views
    return views


ViewsDep = Annotated[Views, Depends(_views)]


def _json(content: bytes, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


def find_owned(cache: BotCache, user: User, name: str) -> dict[str, Any] | None:
    """The user's bot by name, under its name of now or of before 64-bit owners; never anyone else's."""
    for resource in (resource_name(user, name), f"{name}-{user.id[:LEGACY_OWNER_CHARS]}"):
        bot = cache.get(resource)
        if bot is not None and bot["metadata"].get("labels", {}).get(OWNER_LABEL) == user.id:
            return bot
    return None


def owned(cache: BotCache, user: User, name: str) -> dict[str, Any]:
    """The user's bot by name; 404 for anyone else's, exactly as for one that does not exist."""
    bot = find_owned(cache, user, name)
    if bot is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"You have no bot named {name!r}.")
    return bot


def full_spec(spec: dict[str, Any], resource: str) -> BotSpec:
    """The spec with the platform's Secret reference; BotSpecError names what is wrong (an
    account that is no object too: it is then left as it is, for the model to name)."""
    account = spec.get("account")
    if isinstance(account, dict):
        ref = {"name": secret_name(resource), "key": PASSWORD_KEY}
        spec = {**spec, "account": {**account, "credentialsSecretRef": ref}}
    return validate_spec(spec)


def _mirror(user: User, name: str, spec: BotSpec | None) -> None:
    """After the response: the bot's summary (or its deletion) into the DynamoDB mirror."""
    summary = (
        {}
        if spec is None
        else {
            "handle": spec.account.handle,
            "description": spec.description,
            "schedule": spec.schedule,
            "suspend": spec.suspend,
            "dryRun": spec.dry_run,
            "sources": [source.type for source in spec.sources],
        }
    )
    dispatch(BOT_CHANGED, {"owner": user.id, "name": name, "summary": summary, "deleted": spec is None})


# --- reading ---------------------------------------------------------------------------------


@router.get("", response_model=list[BotView], operation_id="listBots", responses=conditional.RESPONSES)
async def list_bots(
    user: SignedIn, cache: Cache, views: ViewsDep, if_none_match: conditional.IfNoneMatch = None
) -> Response:
    """Your bots; 304 while they are as in the ETag you send."""
    mine = sorted(cache.owned_by(user.id), key=lambda bot: str(bot["metadata"]["name"]))

    def content() -> bytes:
        return b"[" + b",".join(views.json(bot) for bot in mine) + b"]"

    return conditional.answer(content, conditional.etag(mine), if_none_match)


@router.get("/{name}", response_model=BotView, operation_id="getBot", responses=conditional.RESPONSES)
async def get_bot(
    name: str, user: SignedIn, cache: Cache, views: ViewsDep, if_none_match: conditional.IfNoneMatch = None
) -> Response:
    """One of your bots; 304 while it is as in the ETag you send."""
    bot = owned(cache, user, name)
    return conditional.answer(lambda: views.json(bot), conditional.etag([bot]), if_none_match)


# --- changing ----------------------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="createBot")
async def create_bot(
    body: BotCreate, user: SignedIn, cache: Cache, kube: Kube, users: UsersDep, settings: Settings
) -> BotView:
    """A new bot; its app password goes into a Secret only the bot's runs read."""
    if find_owned(cache, user, body.name) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"You already have a bot named {body.name!r}.")
    resource = resource_name(user, body.name)
    spec = _validated(body.spec.model_dump(mode="json", by_alias=True, exclude_none=True), resource, settings)
    # A user who deleted their account and signed up again has the same id, so the same names:
    # a bot made now would lose its runs to the erasure of the one before.
    if any(e.id == user.id and resource in e.bots for e in await users.pending_erasures()):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Your deleted account's bot {body.name!r} is still being erased: try again in a few minutes.",
        )
    await _reserve_slot(users, cache, user, body.name, settings.bots_per_user)
    labels = {
        "app.kubernetes.io/name": "skybots",
        "app.kubernetes.io/instance": body.name,
        "app.kubernetes.io/managed-by": MANAGED_BY_API,
        OWNER_LABEL: user.id,
    }
    manifest = {
        "apiVersion": bots.API_VERSION,
        "kind": bots.KIND,
        "metadata": {"name": resource, "namespace": settings.namespace, "labels": labels},
        "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    try:
        bot = await kube.create(BOT, settings.namespace, manifest)
    except Exception as error:
        await users.release_bot(user.id, body.name)
        if isinstance(error, Conflict):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"You already have a bot named {body.name!r}."
            ) from None
        raise
    await _store_password(kube, settings.namespace, bot, body.app_password)
    await cache.remember(bot)
    _mirror(user, body.name, spec)
    return view(bot)


UPDATE_ATTEMPTS = 4


@router.patch("/{name}", operation_id="updateBot")
async def update_bot(
    name: str, body: BotUpdate, user: SignedIn, cache: Cache, kube: Kube, settings: Settings
) -> BotView:
    """Change a bot; 409 when it changed since you read it."""
    bot = owned(cache, user, name)
    spec = bots.BotSpec.model_validate(bot["spec"], context=AS_STORED)
    if body.spec is not None:
        account = body.spec.get("account")
        if isinstance(account, dict) and "credentialsSecretRef" in account:
            raise _invalid([("spec.account.credentialsSecretRef", "is set by the platform")])
        current = view(bot).spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        spec = _validated(merge_patch(current, body.spec), bot["metadata"]["name"], settings)
    resource = bot["metadata"]["name"]
    for attempt in range(UPDATE_ATTEMPTS):
        patch = {
            "metadata": {"resourceVersion": cache.precondition(resource, body.resource_version)},
            "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=False),
        }
        try:
            updated = await _patch(kube, settings.namespace, bot, patch)
            break
        except HTTPException as error:
            # A status write the cache has not seen yet: wait for it, unless the spec changed.
            spec_current = cache.spec_current(resource, body.resource_version)
            if error.status_code != 409 or not spec_current or attempt == UPDATE_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.2)
    if body.app_password is not None:
        await _store_password(kube, settings.namespace, updated, body.app_password)
    await cache.remember(updated)
    _mirror(user, name, spec)
    return view(updated)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, operation_id="deleteBot")
async def delete_bot(
    name: str,
    user: SignedIn,
    cache: Cache,
    kube: Kube,
    users: UsersDep,
    settings: Settings,
    request_views: ViewsDep,
) -> Response:
    """Delete a bot; its Secret, CronJob and config go with it, and its slot of the quota is free again."""
    bot = owned(cache, user, name)
    await delete_resource(kube, cache, request_views, settings.namespace, bot["metadata"]["name"])
    await users.release_bot(user.id, name)
    _mirror(user, name, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def delete_resource(
    kube: KubernetesApi, cache: BotCache, views: Views, namespace: str, resource: str
) -> None:
    """Delete a Bot (its children follow by ownerReferences) and forget it here; gone already is fine."""
    with contextlib.suppress(NotFound):
        await kube.delete(BOT, namespace, resource)
    await cache.forget(resource)
    views.drop(resource)


@router.post("/{name}/pause", operation_id="pauseBot")
async def pause_bot(name: str, user: SignedIn, cache: Cache, kube: Kube, settings: Settings) -> BotView:
    """Stop scheduling runs (spec.suspend)."""
    return await _suspend(name, True, user, cache, kube, settings)


@router.post("/{name}/resume", operation_id="resumeBot")
async def resume_bot(name: str, user: SignedIn, cache: Cache, kube: Kube, settings: Settings) -> BotView:
    """Schedule runs again."""
    return await _suspend(name, False, user, cache, kube, settings)


RUN_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "A run of the bot is in progress, or it is not set up yet."},
    429: {"model": Problem, "description": "Too many run requests this minute (see Retry-After)."},
}


@router.post(
    "/{name}/run", status_code=status.HTTP_202_ACCEPTED, responses=RUN_REFUSALS, operation_id="runBot"
)
async def run_bot(
    name: str, user: SignedIn, cache: Cache, kube: Kube, users: UsersDep, settings: Settings
) -> JobStarted:
    """Run the bot now, as its schedule would (kubectl create job --from=cronjob/...)."""
    return await _start_job(name, owned(cache, user, name), user, kube, users, settings, dry_run=False)


@router.post(
    "/{name}/preview", status_code=status.HTTP_202_ACCEPTED, responses=RUN_REFUSALS, operation_id="previewBot"
)
async def preview_bot(
    name: str, user: SignedIn, cache: Cache, kube: Kube, users: UsersDep, settings: Settings
) -> JobStarted:
    """A dry run now: what the bot would repost, and why it would skip the rest."""
    return await _start_job(name, owned(cache, user, name), user, kube, users, settings, dry_run=True)


# --- runs and stats --------------------------------------------------------------------------------


def _history(request: Request) -> RunHistory:
    history: RunHistory = request.app.state.services.history
    return history


History = Annotated[RunHistory, Depends(_history)]


@router.get("/{name}/runs", operation_id="listBotRuns")
async def list_runs(
    name: str,
    user: SignedIn,
    cache: Cache,
    history: History,
    settings: Settings,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        str | None, Query(pattern=CURSOR, description="The cursor of the page before (its Link: rel=next).")
    ] = None,
) -> list[RunRecord]:
    """The bot's runs of the last 30 days, newest first; a `Link` header (rel="next") points to the next page."""
    bot = owned(cache, user, name)
    since = datetime.now(UTC) - RUNS_LOOKBACK
    runs, cursor = await history.latest(
        settings.namespace, bot["metadata"]["name"], since=since, limit=limit, before=before
    )
    if cursor is not None:
        next_page = urllib.parse.urlencode({"limit": limit, "before": cursor})
        response.headers["Link"] = f'</api/bots/{name}/runs?{next_page}>; rel="next"'
    return runs


@router.get("/{name}/runs/{job}", operation_id="getBotRun")
async def get_run(
    name: str,
    job: Annotated[str, Path(max_length=253)],
    user: SignedIn,
    cache: Cache,
    history: History,
    settings: Settings,
) -> RunRecord:
    """One run; 404 until the operator has collected it."""
    bot = owned(cache, user, name)
    run = await history.get(settings.namespace, bot["metadata"]["name"], job)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No collected run {job!r} of {name!r} (yet).")
    return run


@router.get("/{name}/stats", response_model=Stats, operation_id="getBotStats")
async def get_stats(
    name: str,
    user: SignedIn,
    cache: Cache,
    request: Request,
    range: Annotated[Literal["24h", "7d", "30d"], Query(description="How far back: 24h, 7d or 30d.")] = "24h",
) -> Response:
    """What the bot did, in time buckets: reposts, candidates, rejections by reason, failed and rate-limited runs."""
    bot = owned(cache, user, name)
    reader: StatsReader = request.app.state.stats
    last_run = ((bot.get("status") or {}).get("lastRun") or {}).get("job", "")
    return _json(await reader.read(bot["metadata"]["name"], range, last_run))


# --- plumbing ---------------------------------------------------------------------------------------


def _invalid(errors: list[tuple[str, str]]) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"field": path, "message": message} for path, message in errors],
    )


def _validated(spec: dict[str, Any], resource: str, settings: ApiSettings) -> BotSpec:
    """The full spec, within the platform's bounds; a 422 naming each field otherwise."""
    try:
        valid = full_spec(spec, resource)
    except BotSpecError as error:
        raise _invalid(error.errors) from None
    if errors := bound_errors(valid, settings):
        raise _invalid(errors)
    return valid


async def _patch(
    kube: KubernetesApi, namespace: str, bot: dict[str, Any], patch: dict[str, Any]
) -> dict[str, Any]:
    try:
        return await kube.patch(BOT, namespace, bot["metadata"]["name"], patch)
    except Conflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "The bot changed since you read it: read it again and redo your change."
        ) from None
    except KubernetesError as error:
        if error.status == 422:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.message) from None
        raise


async def _reserve_slot(users: Users, cache: BotCache, user: User, name: str, limit: int) -> None:
    """One of the user's `limit` bot slots, held in the users store (atomic across replicas) until
    the create fails or the bot is deleted; 409 when the name is held, 403 when no slot is free."""
    existing = [bot["metadata"]["labels"]["app.kubernetes.io/instance"] for bot in cache.owned_by(user.id)]
    answer = await users.reserve_bot(user.id, name, limit=limit, existing=existing, now=datetime.now(UTC))
    if answer == "taken":
        raise HTTPException(status.HTTP_409_CONFLICT, f"You already have a bot named {name!r}.")
    if answer == "full":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"The quota is {limit} bots per user, and you have {limit} (counting any being made):"
            " delete one to make another.",
        )


async def _suspend(
    name: str, suspend: bool, user: User, cache: BotCache, kube: KubernetesApi, settings: ApiSettings
) -> BotView:
    bot = owned(cache, user, name)
    patch = {
        "metadata": {"resourceVersion": bot["metadata"]["resourceVersion"]},
        "spec": {"suspend": suspend},
    }
    updated = await _patch(kube, settings.namespace, bot, patch)
    await cache.remember(updated)
    _mirror(user, name, BotSpec.model_validate(updated["spec"], context=AS_STORED))
    return view(updated)


async def _store_password(
    kube: KubernetesApi, namespace: str, bot: dict[str, Any], password: SecretStr
) -> None:
    """The app password into the Secret the bot's CronJob reads; owned by the Bot, so it goes with it.

    The Bot is its controller: the operator gives a bot's runs no Secret but one its Bot controls.
    """
    meta = bot["metadata"]
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(meta["name"]),
            "namespace": namespace,
            "labels": dict(meta["labels"]),
            "ownerReferences": [
                {
                    "apiVersion": bots.API_VERSION,
                    "kind": bots.KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "type": "Opaque",
        "stringData": {PASSWORD_KEY: password.get_secret_value()},
    }
    try:
        await kube.create(SECRET, namespace, secret)
    except Conflict:  # a password change, or an earlier Bot's Secret the collector has not removed yet
        patch = {"metadata": {"ownerReferences": secret["metadata"]["ownerReferences"]}}
        await kube.patch(
            SECRET, namespace, secret["metadata"]["name"], {**patch, "stringData": secret["stringData"]}
        )


async def _start_job(
    name: str,
    bot: dict[str, Any],
    user: User,
    kube: KubernetesApi,
    users: Users,
    settings: ApiSettings,
    *,
    dry_run: bool,
) -> JobStarted:
    """A Job from the bot's CronJob, unless the user asked too often or a run of the bot is going.

    The Job is named after the bot's Jobs as listed: requests that saw the same Jobs (none of
    them running) make the same name, so of concurrent ones, on any replica, one is created.
    """
    limit = settings.run_requests_per_minute
    wait = await users.admit_run_request(user.id, per_minute=limit, now=time.time())
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"You asked for {limit} runs or previews this minute, the most one user may: try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    cron_name = f"{bots.CRONJOB_PREFIX}{bot['metadata']['name']}"
    try:
        cron_job = await kube.get(CRON_JOB, settings.namespace, cron_name)
    except NotFound:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "The bot is not set up yet (no CronJob): try again in a moment."
        ) from None
    selector = f"{rendering.BOT_LABEL}={bot['metadata']['name']}"
    jobs = await kube.list(JOB, settings.namespace, label_selector=selector)
    _refuse_while_running(name, jobs)
    seen = hashlib.sha256("\n".join(sorted(job["metadata"]["name"] for job in jobs)).encode()).hexdigest()
    job = rendering.render_job_from(
        cron_job,
        f"{cron_name}-n{seen[:6]}",
        dry_run=dry_run,
        run="preview" if dry_run else "manual",
        instantiate="manual",
    )
    try:
        created = await kube.create(JOB, settings.namespace, job)
    except Conflict:  # another request saw the same Jobs and came first
        _refuse_while_running(name, await kube.list(JOB, settings.namespace, label_selector=selector))
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"A run of {name!r} was started just now: wait for it to finish."
        ) from None
    return JobStarted(job=created["metadata"]["name"])


def _refuse_while_running(name: str, jobs: list[dict[str, Any]]) -> None:
    """409 while one of the bot's Jobs has not finished (scheduled ones included), saying since when."""
    running = [job for job in jobs if finished_at(job) is None]
    if running:
        since = min(
            (job.get("status") or {}).get("startTime") or job["metadata"]["creationTimestamp"]
            for job in running
        )
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"A run of {name!r} is in progress since {since.replace('T', ' ').removesuffix('Z')} UTC:"
            " wait for it to finish, then try again.",
        )
