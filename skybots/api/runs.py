"""/api/bots/{name}/run, /preview, /runs and /stats: starting a bot's runs, and what they did.

A run asked for is a Job made from the bot's CronJob, as `kubectl create job --from` makes it;
what runs did comes from the run history the operator records, never from the cluster.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from skybots import bots
from skybots.api.bots import REFUSALS, Problem, owned
from skybots.api.deps import Cache, History, Kube, Settings, SignedIn, StatsDep, UsersDep
from skybots.api.stats import Stats
from skybots.bots import WireModel
from skybots.operator import rendering
from skybots.operator.rendering import finished_at
from skybots.settings import ApiSettings
from skybots.stores.kubernetes import CRON_JOB, JOB, Conflict, KubernetesApi, NotFound
from skybots.stores.runs import CURSOR, RunRecord
from skybots.stores.users import User, Users

router = APIRouter(prefix="/api/bots", tags=["bots"], responses=REFUSALS)
RUNS_LOOKBACK = timedelta(days=30)


class JobStarted(WireModel):
    """A run that was asked for; its result arrives in the bot's runs when it ends."""

    job: str
    """The Job's name: GET /api/bots/{name}/runs/{job} answers once the run is collected."""


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
    reader: StatsDep,
    period: Annotated[
        Literal["24h", "7d", "30d"], Query(alias="range", description="How far back: 24h, 7d or 30d.")
    ] = "24h",
) -> Response:
    """What the bot did, in time buckets: reposts, candidates, rejections by reason, failed and rate-limited runs."""
    bot = owned(cache, user, name)
    last_run = ((bot.get("status") or {}).get("lastRun") or {}).get("job", "")
    return _json(await reader.read(bot["metadata"]["name"], period, last_run))


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


def _json(content: bytes, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")
