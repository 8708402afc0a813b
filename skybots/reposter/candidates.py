"""Candidates: the posts a bot's sources produced, with what the filters read from them.

A post's record and embed are open unions that any client may fill with anything, so every
field is read defensively: a missing or malformed field counts as absent and never raises.
Derived values are computed on first use and cached: a candidate that an early, cheap
filter rejects never pays for parsing its embeds or folding its text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Any

from skybots.bluesky.models import FeedItem, Label, PostView
from skybots.bots import Source

_POST = "app.bsky.feed.post"
_IMAGES = "app.bsky.embed.images"
_VIDEO = "app.bsky.embed.video"
_RECORD = "app.bsky.embed.record"
_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"
_VIEW_RECORD = "app.bsky.embed.record#viewRecord"
_TAG_FEATURE = "app.bsky.richtext.facet#tag"


def fold(text: str) -> str:
    """Text for caseless comparison: "GRÜSSE" and "Grüße" fold alike, so do both spellings of "café".

    Full case folding (not lower()) handles ß and friends; NFD first makes it canonical
    caseless matching, NFC last keeps an accented letter one character for regex \\w.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


# Letters of scripts that do not set words apart with spaces (Chinese, Japanese, Thai, Lao, Khmer,
# Myanmar), and Korean, whose words carry attached particles.
_UNSPACED = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Hangul
    "\u1780-\u17ff"  # Khmer
    "\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # 々〆〇, Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # CJK ideographs
)


def words_form(text: str) -> str:
    """`fold`ed text in which each letter of an unspaced script stands apart, for whole-word matching.

    So "東京" (in words form "東 京") is found in "今日は東京に行く" and "python" in "我爱python编程",
    where no space or punctuation marks where a word ends; spaces in such scripts then do not count.
    """
    folded = fold(text)
    return folded if folded.isascii() else " ".join(_unspaced_letter().split(folded))


@cache
def _unspaced_letter() -> re.Pattern[str]:
    """Compiled on first use, off the start-up path: re takes milliseconds over the ranges' code points."""
    return re.compile(f"([{_UNSPACED}])")


@dataclass(frozen=True)
class Found:
    """One way a post reached the bot: the source, and who reposted it into that source's feed."""

    source: Source
    reposted_by: str | None = None
    """DID of the account whose repost put the post in an author, list or feed source."""


@dataclass(frozen=True, eq=False)
class Candidate:
    """A post the bot might repost, and every way it was found (`merge` joins them per URI).

    Compared by identity: the post view holds dicts, and the URI is the key that matters.
    """

    post: PostView
    found: tuple[Found, ...]

    @classmethod
    def from_post(cls, post: PostView, source: Source, reposted_by: str | None = None) -> Candidate:
        """A post as one source produced it (search, mentions: a post view without feed context)."""
        return cls(post, (Found(source, reposted_by),))

    @classmethod
    def from_feed_item(cls, item: FeedItem, source: Source) -> Candidate:
        """A post from an author, list or feed source, with the repost that put it there, if any."""
        return cls(item.post, (Found(source, item.reposted_by),))

    @property
    def uri(self) -> str:
        return self.post.uri

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(found.source for found in self.found)

    @property
    def reposted_by(self) -> str | None:
        """Who reposted it, if the bot found it only through reposts; None when a source found it directly."""
        if self.found and all(found.reposted_by for found in self.found):
            return self.found[0].reposted_by
        return None

    @property
    def author_did(self) -> str:
        return self.post.author.did

    @property
    def author_handle(self) -> str:
        return self.post.author.handle

    @cached_property
    def text(self) -> str:
        return _string(self.post.record.get("text"))

    @cached_property
    def alt_texts(self) -> tuple[str, ...]:
        """Alt texts of its images and video; from the hydrated view, or the record when there is none."""
        embed = self.post.embed if self.post.embed is not None else self.post.record.get("embed")
        return tuple(alt for alt in _media_alts(embed) if alt)

    @cached_property
    def quoted_text(self) -> str:
        """The text of the post it quotes, when the view shows it (not when deleted, blocked or detached)."""
        quoted = _quoted(self.post.embed)
        if _string(_get(quoted, "$type")) != _VIEW_RECORD:
            return ""
        return _string(_get(_get(quoted, "value"), "text"))

    @cached_property
    def texts(self) -> tuple[str, ...]:
        """What words and patterns are searched in (NFC): text, alt texts, quoted text; empty ones left out.

        Kept apart so that a phrase or pattern cannot match across the end of one and the next.
        """
        parts = (self.text, *self.alt_texts, self.quoted_text)
        return tuple(unicodedata.normalize("NFC", part) for part in parts if part)

    @cached_property
    def word_texts(self) -> tuple[str, ...]:
        """`texts` in `words_form`, where words are looked for."""
        return tuple(words_form(part) for part in self.texts)

    @cached_property
    def is_reply(self) -> bool:
        return isinstance(self.post.record.get("reply"), dict)

    @cached_property
    def is_quote(self) -> bool:
        """Whether it embeds a post, per its record or its view (a feed, list or starter pack is no quote)."""
        return any(
            _collection(_get(_quoted(embed), "uri")) == _POST
            for embed in (self.post.record.get("embed"), self.post.embed)
        )

    @cached_property
    def hashtags(self) -> frozenset[str]:
        """Folded tags of its tag facets and outline `tags`, without '#'; not #words in plain text."""
        record = self.post.record
        tags = [
            feature.get("tag")
            for facet in _dicts(record.get("facets"))
            for feature in _dicts(facet.get("features"))
            if feature.get("$type") == _TAG_FEATURE
        ]
        tags += _list(record.get("tags"))
        return frozenset(fold(tag.lstrip("#")) for tag in tags if isinstance(tag, str) and tag.lstrip("#"))

    @cached_property
    def languages(self) -> tuple[str, ...]:
        """Declared languages, lower-case with '-' separators (a client's "pt_BR" reads as "pt-br")."""
        langs = _list(self.post.record.get("langs"))
        return tuple(
            lang.strip().lower().replace("_", "-") for lang in langs if isinstance(lang, str) and lang.strip()
        )

    @cached_property
    def created_at(self) -> datetime:
        """The earlier of the record's createdAt and the AppView's indexedAt.

        createdAt is the client's claim: a future date must not make a post look fresh, and a
        backdated (imported) post is old content. Without a valid, zoned createdAt, indexedAt.
        """
        indexed = self.post.indexed_at
        if indexed.tzinfo is None:
            indexed = indexed.replace(tzinfo=UTC)
        created = _datetime(self.post.record.get("createdAt"))
        return min(created, indexed) if created is not None else indexed

    @cached_property
    def labels(self) -> frozenset[str]:
        """Label values on the post, its author and its record's self-labels, less retracted (`neg`) ones."""
        post = self.post
        values = _label_values([*post.labels, *post.author.labels])
        self_labels = _get(post.record.get("labels"), "values")
        values.update(_string(item.get("val")) for item in _dicts(self_labels) if _string(item.get("val")))
        return frozenset(values)


def merge(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per URI in first-seen order: the first post view, every distinct way it was found."""
    merged: dict[str, Candidate] = {}
    for candidate in candidates:
        first = merged.get(candidate.uri)
        if first is None:
            merged[candidate.uri] = candidate
            continue
        extra = tuple(found for found in candidate.found if found not in first.found)
        if extra:
            merged[candidate.uri] = Candidate(first.post, first.found + extra)
    return list(merged.values())


# --- defensive readers of open-union JSON ------------------------------------------------------


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]


def _kind(embed: Any) -> str:
    """An embed's lexicon id, the same for the record's form and the view's ("...#view")."""
    return _string(_get(embed, "$type")).removesuffix("#view")


def _media_alts(embed: Any) -> list[str]:
    kind = _kind(embed)
    if kind == _IMAGES:
        return [_string(image.get("alt")) for image in _dicts(_get(embed, "images"))]
    if kind == _VIDEO:
        return [_string(_get(embed, "alt"))]
    if kind == _RECORD_WITH_MEDIA:
        return _media_alts(_get(embed, "media"))
    return []


def _quoted(embed: Any) -> Any:
    """The embedded record: a strongRef in a record's embed, a #viewRecord, #viewNotFound... in a view's."""
    kind = _kind(embed)
    if kind == _RECORD:
        return _get(embed, "record")
    if kind == _RECORD_WITH_MEDIA:
        return _get(_get(embed, "record"), "record")
    return None


def _collection(uri: Any) -> str:
    """The collection of an at:// URI (at://did/collection/rkey), or ""."""
    parts = _string(uri).split("/")
    return parts[3] if len(parts) == 5 and parts[0] == "at:" and not parts[1] else ""


def _datetime(value: Any) -> datetime | None:
    """An AT Protocol datetime; None when it is not one (unparseable, or without a time zone)."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _label_values(labels: list[Label]) -> set[str]:
    """Values of the labels that no `neg` label from the same labeler on the same subject retracts."""
    retracted = {(label.src, label.uri, label.val) for label in labels if label.neg}
    return {
        label.val for label in labels if not label.neg and (label.src, label.uri, label.val) not in retracted
    }
