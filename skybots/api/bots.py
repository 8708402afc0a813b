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
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi_events.dispatcher import dispatch
from pydantic import BaseModel, Field, SecretStr

from skybots import bots
from skybots.api import conditional
from skybots.api.bot_cache import MANAGED_BY_API, BotCache
from skybots.api.deps import Cache, Kube, Settings, SignedIn, UsersDep, ViewsDep
from skybots.api.events import BOT_CHANGED
from skybots.api.views import BotView, SpecInput, Views, view
from skybots.bots import (
    AS_STORED,
    OWNER_LABEL,
    BotSpec,
    BotSpecError,
    Matches,
    WireModel,
    bound_errors,
    validate_spec,
)
from skybots.operator import rendering
from skybots.settings import ApiSettings
from skybots.stores.kubernetes import (
    BOT,
    SECRET,
    Conflict,
    KubernetesApi,
    KubernetesError,
    NotFound,
    merge_patch,
)
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


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not signed in."},
    403: {"model": Problem, "description": "No valid CSRF token, or over the quota."},
    404: {"model": Problem, "description": "You have no such bot."},
    409: {"model": Problem, "description": "The bot changed since you read it, or its name is taken."},
    422: {"model": Invalid, "description": "A field is invalid: each problem names it."},
}
router = APIRouter(prefix="/api/bots", tags=["bots"], responses=REFUSALS)

OWNER_CHARS = 16
LEGACY_OWNER_CHARS = 8  # the owner part of the names of bots made before 64-bit owners
NAME_LENGTH = bots.MAX_BOT_NAME_LENGTH - 1 - OWNER_CHARS  # room for "-<owner>"
PASSWORD_KEY = "app-password"

BotName = Annotated[
    str,
    Field(min_length=1, max_length=NAME_LENGTH),
    Matches(bots.DNS_LABEL, "lower-case letters, digits and '-'"),
]
AppPassword = Annotated[SecretStr, Field(min_length=4, max_length=200)]


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


def resource_name(user: User, name: str) -> str:
    return f"{name}-{user.id[:OWNER_CHARS]}"


def secret_name(resource: str) -> str:
    return f"{resource}-credentials"


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
        if isinstance(error, KubernetesError) and error.status == 422:
            raise _refused(error) from None
        raise
    await _store_password(kube, settings.namespace, bot, body.app_password)
    await cache.remember(bot)
    _mirror(user, body.name, spec)
    return view(bot)


UPDATE_ATTEMPTS = 4
STATUS_WAIT_SECONDS = 10  # how long an update waits for the watch to bring a status write


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
            # A status write the cache has not seen yet: wait for the watch to bring it, unless
            # the spec changed (then the 409 stands).
            sent = patch["metadata"]["resourceVersion"]
            if (
                error.status_code != 409
                or not cache.spec_current(resource, body.resource_version)
                or attempt == UPDATE_ATTEMPTS - 1
                or not await _seen_after(cache, resource, sent)
            ):
                raise
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


# --- plumbing ---------------------------------------------------------------------------------------


def _invalid(errors: list[tuple[str, str]]) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"field": path, "message": message} for path, message in errors],
    )


async def _seen_after(cache: BotCache, resource: str, version: str) -> bool:
    """Whether the watch brings a version of the Bot after `version` within STATUS_WAIT_SECONDS."""
    try:
        async with asyncio.timeout(STATUS_WAIT_SECONDS):
            await cache.newer(resource, version)
    except TimeoutError:
        return False
    return True


def _refused(error: KubernetesError) -> HTTPException:
    """A 422 of the API server (its CRD's schema or CEL rules), field by field where it names them."""
    if error.causes:
        return _invalid(list(error.causes))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.message)


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
            raise _refused(error) from None
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
            "ownerReferences": [rendering.owner_reference(bot, block_owner_deletion=False)],
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
