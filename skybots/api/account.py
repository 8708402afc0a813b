"""/api/account: the signed-in user's own account: which mails they get, their bots as YAML, deleting it all.

Deleting an account does at once what protects the user, in this order: each Bot (its CronJob,
ConfigMap and Jobs follow by ownerReferences) and its app-password Secret, so nothing runs; then it
records what is left (each bot's run history and its state in the reposter's cache) as a pending
erasure, which skybots.api.erasure finishes in the background; then the user's share of the
request budget in the cache, and last the user's record with everything under it (the bot
mirror, quota slots, run-request counts, alert claims, mail settings). The user record goes last:
a delete that stops halfway leaves the user signed in, so that the same call again finishes it;
once the record is gone every session of the user is refused (sessions.current_user), and a
later sign-in is a new account that no earlier cookie opens.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import yaml
from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import StrictBool

from skybots import bots
from skybots.api.bots import Invalid, Problem, delete_resource, resource_name, secret_name
from skybots.api.deps import (
    Cache,
    EraserDep,
    KnownUsersDep,
    Kube,
    ReposterCacheDep,
    Settings,
    SignedIn,
    StatsDep,
    UsersDep,
    ViewsDep,
)
from skybots.bots import OWNER_LABEL, WireModel
from skybots.mail import OPTIONAL_MAILS
from skybots.reposter import bot_keys
from skybots.stores.kubernetes import SECRET, NotFound
from skybots.stores.users import Erasure

router = APIRouter(
    prefix="/api/account",
    tags=["account"],
    responses={
        401: {"model": Problem, "description": "Not signed in."},
        403: {"model": Problem, "description": "No valid CSRF token."},
        422: {"model": Invalid, "description": "A field is invalid: each problem names it."},
    },
)

EXPORTED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/managed-by",
    OWNER_LABEL,
)
"""The labels a platform operator needs: the API finds a bot, and its owner, by them."""


class MailSettings(WireModel):
    """Which mails you get. Every mail links here."""

    bot_failing: StrictBool
    """A mail when the runs of one of your bots keep failing."""
    credentials_rejected: StrictBool
    """A mail when Bluesky refuses the app password of one of your bots."""


class AccountDeletion(WireModel):
    """Deleting your account, confirmed."""

    confirm: str
    """Your email address, typed as the app shows it: nothing is deleted unless it matches."""


def _settings_of(off: frozenset[str]) -> MailSettings:
    """The settings' fields are the names of the mails they turn on (skybots.mail.OPTIONAL_MAILS)."""
    return MailSettings.model_validate({mail: mail not in off for mail in OPTIONAL_MAILS})


@router.get("/mail", operation_id="getMailSettings")
async def get_mail_settings(user: SignedIn) -> MailSettings:
    """Which mails you get."""
    return _settings_of(user.mail_off)


@router.put("/mail", operation_id="updateMailSettings")
async def update_mail_settings(
    body: MailSettings, user: SignedIn, users: UsersDep, known: KnownUsersDep
) -> MailSettings:
    """Choose which mails you get (every field: true to get the mail)."""
    off = frozenset(mail for mail in OPTIONAL_MAILS if not getattr(body, mail))
    await users.set_mail_off(user.id, off)
    known.remember(dataclasses.replace(user, mail_off=off))
    return _settings_of(off)


def manifest(bot: dict[str, Any]) -> dict[str, Any]:
    """A Bot as kubectl applies it: no status, no server-set metadata, no Secret (only its name)."""
    meta = bot["metadata"]
    labels = meta.get("labels") or {}
    return {
        "apiVersion": bot["apiVersion"],
        "kind": bot["kind"],
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {label: labels[label] for label in EXPORTED_LABELS if label in labels},
        },
        "spec": bot["spec"],
    }


@router.get(
    "/bots.yaml",
    operation_id="exportBots",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {}}, "description": "One Bot manifest per document."}},
)
async def export_bots(user: SignedIn, cache: Cache) -> Response:
    """Your bots as Bot manifests (multi-document YAML) to apply with kubectl or keep in Git; no app passwords."""
    mine = sorted(cache.owned_by(user.id), key=lambda bot: str(bot["metadata"]["name"]))
    text = yaml.safe_dump_all([manifest(bot) for bot in mine], sort_keys=False, allow_unicode=True)
    return Response(
        text,
        media_type="application/yaml",
        headers={"Content-Disposition": 'attachment; filename="skybots-bots.yaml"'},
    )


@router.delete(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="deleteAccount",
    response_class=Response,
    responses={
        202: {"description": "Deleted and signed out; the run history goes within minutes."},
        422: {"model": Invalid, "description": "The confirmation is not your email address."},
    },
)
async def delete_account(
    body: AccountDeletion,
    user: SignedIn,
    cache: Cache,
    kube: Kube,
    users: UsersDep,
    settings: Settings,
    views: ViewsDep,
    stats: StatsDep,
    known: KnownUsersDep,
    eraser: EraserDep,
    reposter_cache: ReposterCacheDep,
    request: Request,
) -> Response:
    """Delete your account and everything in it: bots, their app passwords, run history, your records.

    Signs you out everywhere. Answers 202 once your bots, app passwords and records are gone: the
    run history is erased in the background, within minutes. Safe to repeat: a delete that stopped
    halfway is finished by the next.
    """
    if body.confirm != user.email:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"field": "confirm", "message": "is not the email address of the signed-in account"}],
        )
    namespace = settings.namespace
    live = [bot["metadata"]["name"] for bot in cache.owned_by(user.id)]
    # Bots deleted before (and by a delete of this account stopped halfway) are in the mirror only,
    # by their name of now: under the name of before 64-bit owners another user's bot may live.
    earlier = {resource_name(user, name) for name in await users.mirrored_bots(user.id)}
    resources = sorted({*live, *earlier})
    for resource in resources:
        if resource in live:
            await delete_resource(kube, cache, views, namespace, resource)
        with contextlib.suppress(NotFound):  # gone with its Bot already, or never made
            await kube.delete(SECRET, namespace, secret_name(resource))
        stats.forget(resource)
    if resources:
        await users.record_erasure(Erasure(user.id, namespace, frozenset(resources)))
    if reposter_cache is not None:
        tenant = bots.tenant(namespace, {OWNER_LABEL: user.id}, namespace)
        share, competing = bot_keys.egress_share(tenant)
        await reposter_cache.delete(share)
        await reposter_cache.remove_scored(competing, [tenant])
    await users.delete(user.id)
    known.forget(user.id)
    request.session.clear()
    eraser.wake()
    return Response(status_code=status.HTTP_202_ACCEPTED)
