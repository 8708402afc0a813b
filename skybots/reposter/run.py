"""One run of one bot: read the sources, filter, deduplicate, repost within the limits, report.

Order of a run, and why:
1. the session (stored, refreshed, or a capped login);
2. every source, concurrently, back to its watermark;
3. candidates merged by post, filtered (each rejection counted by reason);
4. the freshest first; what the account already reposted set aside (cache, S3, viewer.repost);
5. as many as the limits allow: reserve, write, record; a dry run only says what it would do;
6. the S3 snapshot and the watermarks, only after the writes.

The run ends cleanly on a rate limit (outcome rateLimited, what was done stays done) and
reports authentication and upstream failures as such; it never raises past `run_bot`.
"""

from __future__ import annotations

import asyncio
import time
import traceback
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx

from skybots.bluesky.client import REPOST, Bluesky, Xrpc
from skybots.bluesky.errors import AuthFailed, BlueskyError, InvalidRequest, RateLimited, UpstreamError
from skybots.bluesky.sessions import SessionKeys, SessionManager
from skybots.bots import BotConfig, RunOutcome
from skybots.reposter import bot_keys
from skybots.reposter.candidates import Candidate, merge
from skybots.reposter.config import ReposterSettings
from skybots.reposter.dedup import Dedup
from skybots.reposter.filters import PostFilter
from skybots.reposter.governor import Governor
from skybots.reposter.sources import Progress, SourceRead, read_source, source_id, unread_note
from skybots.runs import PostCard, RejectedPost, RunReport
from skybots.stores.cache import Cache
from skybots.stores.objects import ObjectStore

Card = TypeVar("Card", bound=PostCard)


class Tally:
    """What the run did so far; becomes the report however the run ends."""

    def __init__(self) -> None:
        self.candidates = self.reposted = self.duplicates = 0
        self.rejected: Counter[str] = Counter()
        self.would_repost: list[PostCard] = []
        self.rejected_posts: list[RejectedPost] = []
        self.notes: list[str] = []


async def run_bot(
    config: BotConfig,
    settings: ReposterSettings,
    *,
    cache: Cache,
    objects: ObjectStore | None,
    dry_run: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RunReport:
    """Run the bot once; the report says how it went, whatever happened."""
    started = datetime.now(UTC)
    dry_run = dry_run or config.spec.dry_run
    deadline = time.monotonic() + settings.deadline_seconds
    governor = Governor(
        cache,
        bot=f"{config.namespace}/{config.name}",
        tenant=config.tenant,
        limits=config.spec.limits,
        egress_rate=settings.egress_rate,
        egress_burst=settings.egress_burst,
        points_per_hour=settings.write_points_per_hour,
        points_per_day=settings.write_points_per_day,
        deadline=deadline,
    )
    account = config.spec.account
    xrpc = Xrpc(
        account.service,
        gate=governor.gate,
        deadline=deadline,
        transport=transport,
        private_allowed=settings.allow_private_addresses,
        allowed_networks=settings.egress_allowed_networks,
    )
    bluesky = Bluesky(xrpc)
    sessions = SessionManager(
        bluesky,
        cache,
        keys=SessionKeys(settings.credential_key.get_secret_value(), settings.fernet_keys()),
        service=account.service,
        identifier=account.handle,
        password=settings.app_password.get_secret_value(),
        logins_per_day=settings.logins_per_day,
    )
    tally = Tally()
    outcome: RunOutcome = "succeeded"
    message = ""
    try:
        await _run(config, settings, bluesky, sessions, governor, cache, objects, tally, dry_run=dry_run)
    except RateLimited as error:
        outcome, message = "rateLimited", error.message
    except AuthFailed as error:
        outcome, message = "authFailed", error.message
    except BlueskyError as error:
        outcome, message = "upstreamFailed", str(error)
    except Exception as error:  # the cache or a bug: still a report, and the traceback on stderr
        traceback.print_exc()
        outcome, message = "failed", f"{type(error).__name__}: {error}"
    finally:
        await xrpc.aclose()
    summary = "; ".join(filter(None, [message, *tally.notes]))
    return RunReport(
        outcome=outcome,
        message=summary[:1024],
        dry_run=dry_run,
        started_at=started,
        finished_at=datetime.now(UTC),
        candidates=tally.candidates,
        reposted=tally.reposted,
        duplicates=tally.duplicates,
        rejected=dict(tally.rejected),
        api_calls=xrpc.calls,
        logins=sessions.logins,
        would_repost=tally.would_repost,
        rejected_posts=tally.rejected_posts,
    )


async def _run(
    config: BotConfig,
    settings: ReposterSettings,
    bluesky: Bluesky,
    sessions: SessionManager,
    governor: Governor,
    cache: Cache,
    objects: ObjectStore | None,
    tally: Tally,
    *,
    dry_run: bool,
) -> None:
    spec, now = config.spec, datetime.now(UTC)
    session = await sessions.open()

    watermarks_key = bot_keys.watermarks(f"{config.namespace}/{config.name}")
    watermarks = await cache.get_map(watermarks_key)
    overlap = timedelta(seconds=settings.watermark_overlap_seconds)
    reads = await asyncio.gather(
        *(
            read_source(
                bluesky,
                s,
                spec,
                progress=Progress.decode(watermarks.get(source_id(s))),
                overlap=overlap,
                now=now,
            )
            for s in spec.sources
        )
    )
    candidates = merge(
        [Candidate.from_post(s.post, read.source, s.reposted_by) for read in reads for s in read.sightings]
    )
    tally.candidates = len(candidates)
    tally.notes += filter(None, [unread_note(reads)])

    check = PostFilter(spec.filters, bot_did=session.did, now=now).check
    accepted: list[Candidate] = []
    for candidate in candidates:
        if reason := check(candidate):
            tally.rejected[reason] += 1
            if dry_run:
                tally.rejected_posts.append(_card(RejectedPost, candidate, reason=reason))
        else:
            accepted.append(candidate)
    accepted.sort(key=lambda c: c.created_at, reverse=True)  # the freshest first

    dedup = Dedup(
        cache,
        objects,
        account=session.did,
        retention_days=settings.dedup_retention_days,
        run_id=uuid.uuid4().hex,
    )
    await dedup.warm_up()
    known = await dedup.known(c.uri for c in accepted)
    told = {c.uri: c.created_at.timestamp() for c in accepted if c.post.viewer.repost and c.uri not in known}
    if told and not dry_run:
        await dedup.learn(told)  # Bluesky knew what the cache did not
    fresh = [c for c in accepted if c.uri not in known and c.uri not in told]
    tally.duplicates = len(accepted) - len(fresh)

    allowance, limit = await governor.allowance()
    chosen, left = fresh[:allowance], fresh[allowance:]
    if left:
        tally.notes.append(f"{limit} limit reached: {len(left)} matching posts left for later runs")
    if dry_run:
        tally.would_repost = [_card(PostCard, c) for c in chosen]
        tally.reposted = len(chosen)
        return
    pending = {c.uri for c in fresh}  # what later runs must still be able to read
    try:
        for candidate in chosen:
            if not await governor.spend_write(session.did):
                raise RateLimited(
                    REPOST, "the account's write budget for this hour or day is spent", status=None
                )
            if await _repost(bluesky, dedup, candidate):
                tally.reposted += 1
                await governor.count_repost(candidate.uri)
            else:
                tally.duplicates += 1
            pending.discard(candidate.uri)
    finally:
        await dedup.persist()
        tally.notes += dedup.problems
        await cache.set_map(watermarks_key, _watermarks(reads, pending))


async def _repost(bluesky: Bluesky, dedup: Dedup, candidate: Candidate) -> bool:
    """Reserve, write, record; False when another run holds the post."""
    if not await dedup.reserve(candidate.uri):
        return False
    try:
        await bluesky.repost(candidate.post)
    except (InvalidRequest, AuthFailed, RateLimited):
        await dedup.release(candidate.uri)  # refused: certainly not written
        raise
    except UpstreamError:
        raise  # perhaps written (a timeout, a 502 after the commit): the reservation stays until viewer.repost can tell
    await dedup.record(candidate.uri, candidate.created_at.timestamp())
    return True


def _card(kind: type[Card], candidate: Candidate, **more: str) -> Card:
    """What a dry run's report shows of a candidate, from the post view the AppView gave (no request)."""
    post = candidate.post
    return kind.of(
        candidate.uri,
        handle=post.author.handle,
        name=post.author.display_name or "",
        text=candidate.text,
        created_at=candidate.created_at,
        **more,
    )


def _watermarks(reads: list[SourceRead], pending: set[str]) -> dict[str, str]:
    """Each source's progress: its watermark held back to the oldest post left for later runs."""
    return {
        source_id(read.source): read.progress(
            [s.at for s in read.sightings if s.post.uri in pending]
        ).encode()
        for read in reads
    }
