"""/healthz and /readyz, for Kubernetes' probes: alive, and ready to answer from its stores."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from skybots.api.deps import RunningDep, Settings
from skybots.stores.kubernetes import BOT

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(running: RunningDep, settings: Settings) -> JSONResponse:
    """Ready when the Bot watch has synced and the Kubernetes API and the users store answer.

    Anyone can ask: the answer is only ok or not ready, and what failed goes to the log, under
    the name of the store that failed (DynamoUsers, SqliteUsers, Kubernetes, LocalKubernetes).
    """
    kube, users, cache = running.services.kube, running.services.users, running.bot_cache
    problems: list[str] = []
    try:
        await kube.list(BOT, settings.namespace, cache.selector)
        if not cache.synced.is_set():
            problems.append(f"{type(kube).__name__}: the Bot watch is still syncing")
    except Exception as error:
        problems.append(f"{type(kube).__name__}: {type(error).__name__}: {error}")
    try:
        await users.ready()
    except Exception as error:
        problems.append(f"{type(users).__name__}: {type(error).__name__}: {error}")
    if problems:
        log.warning("not ready: %s", "; ".join(problems))
        return JSONResponse({"status": "not ready"}, status_code=503)
    return JSONResponse({"status": "ok"})
