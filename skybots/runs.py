"""What one reposter run did: the report the reposter writes and the operator collects.

The reposter prints the report on stdout and writes it to its container's termination
message (at most 4096 bytes, Kubernetes' limit); the operator reads it from the finished
pod and turns it into Bot status, metrics and a run history record.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from datetime import datetime
from typing import Any, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from skybots.bots import RunOutcome, WireModel

TERMINATION_MESSAGE_LIMIT = 4096
# A post card's text: what two lines of a card show, and few enough bytes that a dozen cards fit
# the termination message in any script (Latin 1 byte a character, CJK 3, emoji 4).
EXCERPT_CHARACTERS, EXCERPT_BYTES = 100, 200
NAME_CHARACTERS, NAME_BYTES = 40, 80
ELLIPSIS = "\u2026"
_ELLIPSIS_BYTES = len(ELLIPSIS.encode())
REPORT_VERSION = 2  # 2: the dry-run lists hold post cards, not bare URIs

# The reposter's exit code tells the outcome even when no report could be written.
EXIT_CODES: dict[str, int] = {
    "succeeded": 0,
    "rateLimited": 0,
    "failed": 1,
    "invalidConfig": 2,
    "authFailed": 3,
    "upstreamFailed": 4,
}


class PostCard(WireModel):
    """What the web app shows of a post a dry run judged: who wrote it, a little of it, when.

    Cut to fit: a card is at most a few hundred bytes whatever the post holds (`PostCard.of`).
    """

    model_config = ConfigDict(extra="ignore")

    uri: str
    """at:// URI of the post."""
    author_handle: str = ""
    """The author's handle; empty when the AppView had no valid one (link by the DID in the URI)."""
    author_name: str = ""
    """The author's display name, shortened."""
    excerpt: str = ""
    """The start of the post's text, on one line, cut on a character boundary with an ellipsis."""
    created_at: datetime | None = None
    """When it was posted (the earlier of its createdAt and when the AppView saw it)."""

    @classmethod
    def of(cls, uri: str, *, handle: str, name: str, text: str, created_at: datetime, **more: Any) -> Self:
        """The card of a post as the AppView showed it: its text on one line and shortened, its
        author's name shortened, a handle that is not one (or "handle.invalid") left out."""
        return cls(
            uri=uri,
            author_handle=handle if _HANDLE.fullmatch(handle) and handle != "handle.invalid" else "",
            author_name=shorten(_one_line(name), NAME_CHARACTERS, NAME_BYTES),
            excerpt=shorten(_one_line(text), EXCERPT_CHARACTERS, EXCERPT_BYTES),
            created_at=created_at,
            **more,
        )

    @model_validator(mode="before")
    @classmethod
    def _from_uri(cls, value: Any) -> Any:
        """A bare URI, as reports before version 2 listed what a dry run would repost."""
        return {"uri": value} if isinstance(value, str) else value


class RejectedPost(PostCard):
    """A candidate a dry run turned down, and why."""

    reason: str
    """The filter that rejected it: a stable code (skybots.reposter.filters.Rejection)."""


class RunReport(WireModel):
    """The summary of one run, as JSON."""

    model_config = ConfigDict(extra="ignore")

    version: int = REPORT_VERSION
    """Format version of the report."""
    outcome: RunOutcome
    """How the run ended."""
    message: str = Field(default="", max_length=1024)
    """Why it ended so, for people."""
    dry_run: bool = False
    """Nothing was written to Bluesky."""
    started_at: datetime
    """When the run started."""
    finished_at: datetime
    """When the run finished."""
    candidates: int = Field(default=0, ge=0)
    """Posts read from the sources (after merging duplicates across sources)."""
    reposted: int = Field(default=0, ge=0)
    """Posts reposted (in a dry run: that would have been)."""
    duplicates: int = Field(default=0, ge=0)
    """Candidates already reposted before."""
    rejected: dict[str, int] = Field(default_factory=dict)
    """Candidates the filters rejected, by reason."""
    api_calls: int = Field(default=0, ge=0)
    """Requests made to Bluesky."""
    logins: int = Field(default=0, ge=0)
    """Logins with the app password (0 when a stored session was reused)."""
    would_repost: list[PostCard] = Field(default_factory=list)
    """In a dry run: the posts that would have been reposted, freshest first (may be cut short to fit: `reposted` counts them all)."""
    rejected_posts: list[RejectedPost] = Field(default_factory=list)
    """In a dry run: every candidate the filters turned down, and why (may be cut short to fit: `rejected` counts them all)."""

    @field_validator("message", mode="before")
    @classmethod
    def _writable(cls, value: Any) -> Any:
        """A message may quote a server's error, whose JSON can escape a lone surrogate: replaced,
        so that the report of the run can still be written."""
        return value.encode(errors="replace").decode() if isinstance(value, str) else value

    @property
    def duration_seconds(self) -> float:
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def termination_message(self) -> str:
        """Compact JSON within Kubernetes' termination message: as many post cards as fit, shared fairly.

        stdout has the whole report; the operator needs the counts, the web app the cards. The two
        lists take turns, a card each, and the rejected posts' turns go round their reasons, so that
        neither list nor any reason crowds out the others; a list whose next card does not fit takes
        no more. Each list keeps its order, and the counts (`reposted`, `rejected`) still say how
        many posts there were. A report too long without any card loses the end of its message.
        """
        bare = self.model_copy(update={"would_repost": [], "rejected_posts": []})
        while (over := len(_json(bare)) - TERMINATION_MESSAGE_LIMIT) > 0 and bare.message:
            size = len(bare.message.encode())
            shorter = (
                shorten(bare.message, len(bare.message) - 1, size - over)
                if size > over + _ELLIPSIS_BYTES
                else ""
            )
            bare = bare.model_copy(update={"message": shorter})
        cards = self._cards_within(TERMINATION_MESSAGE_LIMIT - len(_json(bare)))
        return _json(bare.model_copy(update=cards)).decode()

    def _cards_within(self, room: int) -> dict[str, list[Any]]:
        """The dry-run lists cut to `room` bytes of JSON, in turns (see `termination_message`)."""
        by_reason: dict[str, list[int]] = {}
        for index, post in enumerate(self.rejected_posts):
            by_reason.setdefault(post.reason, []).append(index)
        in_turns = [n for turn in itertools.zip_longest(*by_reason.values()) for n in turn if n is not None]
        queues = {"would_repost": list(range(len(self.would_repost)))[::-1], "rejected_posts": in_turns[::-1]}
        kept: dict[str, set[int]] = {listing: set() for listing in queues}
        while open_queues := [listing for listing, queue in queues.items() if queue]:
            for listing in open_queues:
                card = getattr(self, listing)[queues[listing][-1]]
                cost = len(_json(card)) + bool(kept[listing])  # and a comma after the first
                if cost > room:
                    queues[listing].clear()  # its next card does not fit: no more of this list
                    continue
                room -= cost
                kept[listing].add(queues[listing].pop())
        return {
            listing: [card for n, card in enumerate(getattr(self, listing)) if n in indexes]
            for listing, indexes in kept.items()
        }


def shorten(text: str, characters: int, max_bytes: int) -> str:
    """`text` if it is at most `characters` long and `max_bytes` in UTF-8, else its start with an
    ellipsis within both, cut between characters as people see them (never inside an accented
    letter, an emoji sequence or a flag)."""
    if len(text) <= characters and len(text.encode()) <= max_bytes:
        return text
    cut, size = 0, _ELLIPSIS_BYTES
    while cut < characters - 1 and (size := size + len(text[cut].encode())) <= max_bytes:
        cut += 1
    while cut and _inside_a_character(text, cut):
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


_HANDLE = re.compile(r"[a-zA-Z0-9.-]{1,253}")
_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_JOINING = ("Mn", "Mc", "Me")  # combining marks
_EXTENDING = "\u200d\ufe0e\ufe0f"  # the zero-width joiner, variation selectors


def _one_line(text: str) -> str:
    """Text for a card: any run of spaces, line breaks and control characters as one space, and
    what UTF-8 cannot carry (a lone surrogate from a JSON escape) replaced."""
    return _SPACE.sub(" ", text.encode(errors="replace").decode()).strip()


def _inside_a_character(text: str, at: int) -> bool:
    """Whether text[:at] would end inside what people see as one character."""
    before, after = text[at - 1], text[at]
    if before == "\u200d" or after in _EXTENDING or unicodedata.category(after) in _JOINING:
        return True
    if "\U0001f3fb" <= after <= "\U0001f3ff" or "\U000e0020" <= after <= "\U000e007f":
        return True  # a skin tone, the tags of a subdivision flag
    flags = 0
    while at - flags > 0 and _regional(text[at - flags - 1]):
        flags += 1
    return _regional(after) and flags % 2 == 1  # between the two letters of a flag


def _regional(character: str) -> bool:
    return "\U0001f1e6" <= character <= "\U0001f1ff"


def _json(model: WireModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()
