"""Typed views of the lexicon objects the reposter reads (app.bsky.*, com.atproto.*).

Only the fields it uses are declared; everything else is ignored, so a server that adds
fields breaks nothing. Records and embeds stay dicts: their shapes are open unions, and the
reposter reads them through `skybots.reposter.candidates`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")


class LexiconModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class Label(LexiconModel):
    """A moderation label on a post or an account (`neg` retracts an earlier one)."""

    src: str = ""
    uri: str = ""
    val: str
    neg: bool = False


class ViewerState(LexiconModel):
    """The logged-in account's relation to an author."""

    muted: bool = False
    blocked_by: bool = False
    blocking: str | None = None


class Profile(LexiconModel):
    """app.bsky.actor.defs#profileViewBasic."""

    did: str
    handle: str
    display_name: str | None = None
    labels: list[Label] = Field(default_factory=list)
    viewer: ViewerState = Field(default_factory=ViewerState)


class PostViewer(LexiconModel):
    """The logged-in account's relation to a post: `repost` is the at:// URI of its own repost."""

    repost: str | None = None
    like: str | None = None


class PostView(LexiconModel):
    """app.bsky.feed.defs#postView."""

    uri: str
    cid: str
    author: Profile
    record: dict[str, Any]
    embed: dict[str, Any] | None = None
    reply_count: int = 0
    repost_count: int = 0
    like_count: int = 0
    quote_count: int = 0
    indexed_at: datetime
    labels: list[Label] = Field(default_factory=list)
    viewer: PostViewer = Field(default_factory=PostViewer)


class FeedItem(LexiconModel):
    """app.bsky.feed.defs#feedViewPost: a post, and why it is in the feed (a repost of someone's)."""

    post: PostView
    reason: dict[str, Any] | None = None

    @property
    def reposted_by(self) -> str | None:
        """The DID that reposted it into this feed, when it is in the feed as a repost."""
        if self.reason and self.reason.get("$type") == "app.bsky.feed.defs#reasonRepost":
            return str(self.reason.get("by", {}).get("did", "")) or None
        return None


class Notification(LexiconModel):
    """app.bsky.notification.listNotifications#notification."""

    uri: str
    cid: str
    author: Profile
    reason: str
    indexed_at: datetime


class Session(LexiconModel):
    """com.atproto.server.createSession / refreshSession."""

    did: str
    handle: str
    access_jwt: str
    refresh_jwt: str


class Page(BaseModel, Generic[T]):
    """One page of a paged read; `cursor` is None on the last one."""

    items: list[T]
    cursor: str | None = None


class RecordRef(LexiconModel):
    """A written record: its at:// URI and content hash."""

    uri: str
    cid: str
