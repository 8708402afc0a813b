"""Reading a bot's sources: newest first, page by page, no further back than needed.

Each source keeps a watermark (the newest time it has seen, per bot and source); a run reads
down to the watermark less a small overlap (posts get indexed late), never further than the
bot's maxAge, and at most the source's maxPages. Re-reading the overlap is harmless: dedup
sees to that. Custom feeds need not be in time order, so there the reading stops at the first
page with nothing newer than the watermark.

When maxPages ends a reading before it reached the watermark, the source's `Progress` keeps
the cursor of the next page (a backlog): the next run reads on from there, down to the same
watermark, before it starts again from the newest posts. Nothing past maxPages is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from skybots.bluesky.client import Bluesky
from skybots.bluesky.errors import InvalidRequest
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


@dataclass(frozen=True)
class Progress:
    """Where the reading of a source stands between runs (one field of the bot's watermarks map).

    `watermark`: how far down the next reading from the newest posts goes (the newest time seen,
    held back to posts left for later). `resume`: the cursor where maxPages cut a reading short,
    which the next run reads on from, down to `floor` (that reading's watermark; None: maxAge).
    """

    watermark: datetime | None = None
    resume: str | None = None
    floor: datetime | None = None

    def encode(self) -> str:
        return json.dumps(
            {
                "watermark": _iso(self.watermark),
                "resume": self.resume,
                "floor": _iso(self.floor),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, value: str | None) -> Progress:
        """As `encode` wrote it, or a bare watermark (what earlier versions kept); unreadable: none."""
        try:
            if not value or not value.startswith("{"):
                return cls(_time(value))
            fields = json.loads(value)
            resume = fields.get("resume")
            return cls(
                _time(fields.get("watermark")),
                resume if isinstance(resume, str) else None,
                _time(fields.get("floor")),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


@dataclass
class SourceRead:
    """What reading one source gave: the sightings newer than its watermark, and where it stopped."""

    source: Source
    sightings: list[Sighting] = field(default_factory=list)
    newest: datetime | None = None
    pages: int = 0
    before: Progress = field(default_factory=Progress)
    """The progress the reading started from."""
    resume: str | None = None
    """The next page's cursor when maxPages stopped the reading above its watermark; None: all read."""
    reached: datetime | None = None
    """The oldest time the reading saw on its last page."""

    def progress(self, held_to: list[datetime]) -> Progress:
        """The progress after this reading; the watermark held back to the times of posts left for later."""
        continued = self.before.resume is not None
        top = self.before.watermark if continued else self.newest or self.before.watermark
        marks = [mark for mark in [top, *held_to] if mark]
        watermark = min(marks) if marks else None
        if self.resume is None:
            return Progress(watermark)
        return Progress(watermark, self.resume, self.before.floor if continued else self.before.watermark)


def unread_note(reads: list[SourceRead]) -> str | None:
    """The report's line when maxPages left posts unread: which sources, from when (one line for all,
    so that ten sources still fit the report's message)."""
    left = [
        f"sources[{index}] ({read.source.type}) before {read.reached.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        for index, read in enumerate(reads)
        if read.resume is not None and read.reached is not None
    ]
    return f"maxPages reached, posts not read yet (later runs read them): {', '.join(left)}" if left else None


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
    progress: Progress,
    overlap: timedelta,
    now: datetime,
) -> SourceRead:
    """Read `source` back to max(watermark - overlap, now - maxAge), or on from where the last run stopped."""
    horizon = now - spec.filters.max_age_delta
    floor = progress.floor if progress.resume is not None else progress.watermark
    stop = max(floor - overlap, horizon) if floor else horizon
    fetch, in_time_order = _fetcher(bluesky, source, spec)
    read = SourceRead(source, before=progress)
    cursor = progress.resume
    while read.pages < source.max_pages:
        try:
            sightings, cursor = await fetch(cursor)
        except InvalidRequest:
            if read.pages or progress.resume is None:
                raise
            # The saved cursor is refused (it expired, say): read from the newest posts down to the same floor.
            read.before = Progress(floor)
            sightings, cursor = await fetch(None)
        read.pages += 1
        if sightings:
            latest = max(s.at for s in sightings)
            read.newest = latest if read.newest is None else max(read.newest, latest)
            read.reached = min(s.at for s in sightings)
        fresh = [s for s in sightings if s.at >= stop]
        read.sightings += fresh
        # In time order, a page reaching below `stop` is the last one needed; otherwise, a page with nothing newer.
        exhausted = len(fresh) < len(sightings) if in_time_order else not fresh
        if not cursor or not sightings or exhausted:
            return read
    # maxPages is spent: is anything above the watermark (or maxAge) left unread?
    below = max(floor, horizon) if floor else horizon
    if cursor and read.reached is not None and (read.reached > below or not in_time_order):
        read.resume = cursor
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


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
