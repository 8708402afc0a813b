"""Reading a bot's sources: newest first, page by page, no further back than needed.

Each source keeps a watermark (the newest time it has seen, per bot and source); a run reads
down to the watermark less a small overlap (posts get indexed late), never further than the
bot's maxAge, and at most the source's maxPages. Re-reading the overlap is harmless: dedup
sees to that. Custom feeds need not be in time order, so there the reading stops at the first
page with nothing newer than the watermark.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from skybots.bluesky.client import Bluesky
from skybots.bluesky.models import FeedItem, Page, PostView
from skybots.bots import (
    AuthorSource,
    BotSpec,
    FeedSource,
    HashtagSource,
    ListSource,
    MentionsSource,
    SearchSource,
    Source,
)

HYDRATE_BATCH = 25  # app.bsky.feed.getPosts takes at most 25 URIs


@dataclass(frozen=True)
class Sighting:
    """A post as a source showed it: `at` orders the source (indexedAt, or when it was reposted in)."""

    post: PostView
    at: datetime
    reposted_by: str | None = None


@dataclass
class SourceRead:
    """What reading one source gave: the sightings newer than its watermark, and its new watermark."""

    source: Source
    sightings: list[Sighting] = field(default_factory=list)
    newest: datetime | None = None
    pages: int = 0


Fetch = Callable[[str | None], Awaitable[tuple[list[Sighting], str | None]]]


def source_id(source: Source) -> str:
    """A stable name for a source's watermark; changing what it watches starts it afresh."""
    identity = source.model_dump(mode="json", by_alias=True, exclude={"max_pages"})
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


async def read_source(
    bluesky: Bluesky,
    source: Source,
    spec: BotSpec,
    *,
    watermark: datetime | None,
    overlap: timedelta,
    now: datetime,
) -> SourceRead:
    """Read `source` back to max(watermark - overlap, now - maxAge)."""
    oldest = now - spec.filters.max_age_delta
    stop = max(watermark - overlap, oldest) if watermark else oldest
    fetch, in_time_order = _fetcher(bluesky, source, spec)
    read = SourceRead(source)
    cursor: str | None = None
    while read.pages < source.max_pages:
        sightings, cursor = await fetch(cursor)
        read.pages += 1
        if sightings:
            latest = max(s.at for s in sightings)
            read.newest = latest if read.newest is None else max(read.newest, latest)
        fresh = [s for s in sightings if s.at >= stop]
        read.sightings += fresh
        # In time order, a page reaching below `stop` is the last one needed; otherwise, a page with nothing newer.
        exhausted = len(fresh) < len(sightings) if in_time_order else not fresh
        if not cursor or not sightings or exhausted:
            break
    return read


def _fetcher(bluesky: Bluesky, source: Source, spec: BotSpec) -> tuple[Fetch, bool]:
    """The page reader of a source, and whether its pages come newest first."""
    match source:
        case HashtagSource(tag=tag):
            return _posts(lambda c: bluesky.search_posts(f"#{tag}", tag=[tag], cursor=c)), True
        case SearchSource(query=query):
            return _posts(lambda c: bluesky.search_posts(query, cursor=c)), True
        case MentionsSource():
            return _mentions(bluesky), True
        case AuthorSource(actor=actor):
            kind = "posts_no_replies" if spec.filters.exclude_replies else "posts_with_replies"
            return _feed(lambda c: bluesky.get_author_feed(actor, filter=kind, cursor=c)), True
        case ListSource(list=list_uri):
            return _feed(lambda c: bluesky.get_list_feed(list_uri, cursor=c)), True
        case FeedSource(feed=feed_uri):
            return _feed(lambda c: bluesky.get_feed(feed_uri, cursor=c)), False
    raise ValueError(f"unknown source {source!r}")


def _posts(read: Callable[[str | None], Awaitable[Page[PostView]]]) -> Fetch:
    async def fetch(cursor: str | None) -> tuple[list[Sighting], str | None]:
        page = await read(cursor)
        return [Sighting(post, post.indexed_at) for post in page.items], page.cursor

    return fetch


def _feed(read: Callable[[str | None], Awaitable[Page[FeedItem]]]) -> Fetch:
    async def fetch(cursor: str | None) -> tuple[list[Sighting], str | None]:
        page = await read(cursor)
        return [Sighting(item.post, _feed_time(item), item.reposted_by) for item in page.items], page.cursor

    return fetch


def _feed_time(item: FeedItem) -> datetime:
    """When the item entered the feed: when it was reposted in, or when the post was indexed."""
    stamp = (item.reason or {}).get("indexedAt")
    try:
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else item.post.indexed_at
    except ValueError:
        return item.post.indexed_at


def _mentions(bluesky: Bluesky) -> Fetch:
    """Mentions come as notifications; their posts are read in batches for counts, labels and viewer state."""

    async def fetch(cursor: str | None) -> tuple[list[Sighting], str | None]:
        page = await bluesky.list_notifications(reasons=("mention",), cursor=cursor)
        when = {n.uri: n.indexed_at for n in page.items}
        uris = list(when)
        posts = [
            post
            for i in range(0, len(uris), HYDRATE_BATCH)
            for post in await bluesky.get_posts(uris[i : i + HYDRATE_BATCH])
        ]
        return [Sighting(post, when[post.uri]) for post in posts], page.cursor

    return fetch
