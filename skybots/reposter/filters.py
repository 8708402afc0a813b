"""A bot's filters, compiled once per run, deciding for each candidate whether it may be reposted.

`PostFilter.check` returns None for a post that passes every filter, or the first reason it
fails. Reasons are short stable strings: they are Prometheus label values, chart legends and
the keys of the run report's `rejected` counts, so renaming one breaks dashboards.

The checks run in this order, cheapest and most fundamental first; a post that fails several
is counted under the first:

 1. self, author_denied, author_not_allowed, blocked, muted (who wrote it)
 2. not_tagged, repost (how it was found)
 3. reply, quote (what kind of post)
 4. label (moderation)
 5. too_old, min_likes
 6. language, no_language
 7. excluded_hashtag, missing_hashtag, excluded_word, missing_word,
    excluded_pattern, missing_pattern (content; an exclusion before the matching inclusion)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from skybots.bots import Filters, HashtagSource
from skybots.reposter.candidates import Candidate, fold, words_form

if TYPE_CHECKING:
    from skybots.patterns import CompiledPattern


class Rejection(StrEnum):
    """Why the filters rejected a candidate; the values are stable metric labels."""

    SELF = "self"
    AUTHOR_DENIED = "author_denied"
    AUTHOR_NOT_ALLOWED = "author_not_allowed"
    BLOCKED = "blocked"
    MUTED = "muted"
    NOT_TAGGED = "not_tagged"
    REPOST = "repost"
    REPLY = "reply"
    QUOTE = "quote"
    LABEL = "label"
    TOO_OLD = "too_old"
    MIN_LIKES = "min_likes"
    LANGUAGE = "language"
    NO_LANGUAGE = "no_language"
    EXCLUDED_HASHTAG = "excluded_hashtag"
    MISSING_HASHTAG = "missing_hashtag"
    EXCLUDED_WORD = "excluded_word"
    MISSING_WORD = "missing_word"
    EXCLUDED_PATTERN = "excluded_pattern"
    MISSING_PATTERN = "missing_pattern"


Check = Callable[[Candidate], Rejection | None]

_WORD_CHAR = re.compile(r"\w")


class PostFilter:
    """A bot's `Filters`, compiled for one run: regexes, word matchers and folded sets built once.

    Only the enabled checks are kept, so a bot with few filters pays for few. Semantics:

    - authors: allow and deny entries match the author's DID exactly or handle case-insensitively;
      a non-empty allow list admits only its accounts.
    - blocked: the author blocks the bot or the bot blocks the author; muted: the bot muted them.
    - not_tagged: every source that found the post is a hashtag source whose tag the post does not
      carry as a tag facet or outline tag (search also matches the word in text, or #pythonic).
    - repost (excludeReposts): every source that found the post found it as someone's repost.
      A post found both ways passes these two if any one way to it passes both.
    - label: the post, its author or its record's self-labels carry an excluded label value.
    - too_old: created (see `Candidate.created_at`) before now - maxAge.
    - languages: BCP-47 prefix matching, case-insensitive: `en` admits en, en-US and en-GB,
      `pt-BR` admits pt-BR only; one matching language is enough. A post declaring none is
      admitted or rejected (no_language) as postsWithoutLanguage says.
    - hashtags: the post's folded hashtags (see `Candidate.hashtags`) against the folded filter tags.
    - words: whole words or phrases, under Unicode case folding, in the text, alt texts and quoted
      text: "go" does not match "good", "kubernetes operator" matches across any whitespace,
      "grüße" matches "GRÜSSE", "東京" matches in "今日は東京に行く" (see `words_form`). A
      boundary is required only at an end that is a word character, so "c++" and "🚀" match
      next to letters. Accents count: "cafe" is not "café". Blank words are ignored.
    - patterns: RE2 regexes, case-insensitive, searched in the same texts, each on its own: linear
      in the text whatever a tenant writes (see `skybots.patterns`).
    - min_likes: fewer likes than minLikes.
    """

    def __init__(self, filters: Filters, bot_did: str, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("now must carry a time zone")
        self._bot_did = bot_did
        self._deny = _actors(filters.authors.deny)
        self._allow = _actors(filters.authors.allow)
        self._exclude_reposts = filters.exclude_reposts
        self._labels = frozenset(filters.exclude_labels)
        self._oldest = now - filters.max_age_delta
        self._min_likes = filters.min_likes
        self._languages = frozenset(lang.lower() for lang in filters.languages)
        self._language_prefixes = tuple(f"{lang}-" for lang in self._languages)
        self._without_language = filters.posts_without_language
        self._exclude_hashtags = frozenset(fold(tag) for tag in filters.exclude_hashtags)
        self._include_hashtags = frozenset(fold(tag) for tag in filters.include_hashtags)
        self._exclude_words = _words_matcher(filters.exclude_words)
        self._include_words = _words_matcher(filters.include_words)
        self._exclude_patterns = _compiled(filters.exclude_patterns)
        self._include_patterns = _compiled(filters.include_patterns)

        wanted: list[tuple[bool, Check]] = [
            (filters.exclude_self, self._self),
            (bool(self._deny), self._author_denied),
            (bool(self._allow), self._author_not_allowed),
            (True, self._relationship),
            (True, self._provenance),
            (filters.exclude_replies, self._reply),
            (filters.exclude_quotes, self._quote),
            (bool(self._labels), self._label),
            (True, self._too_old),
            (self._min_likes > 0, self._too_few_likes),
            (bool(self._languages), self._language),
            (bool(self._exclude_hashtags), self._excluded_hashtag),
            (bool(self._include_hashtags), self._missing_hashtag),
            (self._exclude_words is not None, self._excluded_word),
            (self._include_words is not None, self._missing_word),
            (bool(self._exclude_patterns), self._excluded_pattern),
            (bool(self._include_patterns), self._missing_pattern),
        ]
        self._checks = tuple(check for enabled, check in wanted if enabled)

    def check(self, candidate: Candidate) -> Rejection | None:
        """The first reason the candidate fails, or None when it may be reposted."""
        for check in self._checks:
            reason = check(candidate)
            if reason is not None:
                return reason
        return None

    # --- who wrote it ---

    def _self(self, candidate: Candidate) -> Rejection | None:
        return Rejection.SELF if candidate.author_did == self._bot_did else None

    def _author_denied(self, candidate: Candidate) -> Rejection | None:
        return Rejection.AUTHOR_DENIED if _is_listed(candidate, self._deny) else None

    def _author_not_allowed(self, candidate: Candidate) -> Rejection | None:
        return None if _is_listed(candidate, self._allow) else Rejection.AUTHOR_NOT_ALLOWED

    def _relationship(self, candidate: Candidate) -> Rejection | None:
        viewer = candidate.post.author.viewer
        if viewer.blocked_by or viewer.blocking:
            return Rejection.BLOCKED
        return Rejection.MUTED if viewer.muted else None

    # --- how it was found ---

    def _provenance(self, candidate: Candidate) -> Rejection | None:
        """None when any one way the post was found is a good one; otherwise why the first is not."""
        first: Rejection | None = None
        for found in candidate.found:
            if isinstance(found.source, HashtagSource) and fold(found.source.tag) not in candidate.hashtags:
                reason = Rejection.NOT_TAGGED
            elif found.reposted_by and self._exclude_reposts:
                reason = Rejection.REPOST
            else:
                return None
            first = first or reason
        return first

    # --- what kind of post, moderation, age, popularity, language ---

    def _reply(self, candidate: Candidate) -> Rejection | None:
        return Rejection.REPLY if candidate.is_reply else None

    def _quote(self, candidate: Candidate) -> Rejection | None:
        return Rejection.QUOTE if candidate.is_quote else None

    def _label(self, candidate: Candidate) -> Rejection | None:
        return None if self._labels.isdisjoint(candidate.labels) else Rejection.LABEL

    def _too_old(self, candidate: Candidate) -> Rejection | None:
        return Rejection.TOO_OLD if candidate.created_at < self._oldest else None

    def _too_few_likes(self, candidate: Candidate) -> Rejection | None:
        return Rejection.MIN_LIKES if candidate.post.like_count < self._min_likes else None

    def _language(self, candidate: Candidate) -> Rejection | None:
        if not candidate.languages:
            return Rejection.NO_LANGUAGE if self._without_language == "exclude" else None
        for lang in candidate.languages:
            if lang in self._languages or lang.startswith(self._language_prefixes):
                return None
        return Rejection.LANGUAGE

    # --- content ---

    def _excluded_hashtag(self, candidate: Candidate) -> Rejection | None:
        return None if self._exclude_hashtags.isdisjoint(candidate.hashtags) else Rejection.EXCLUDED_HASHTAG

    def _missing_hashtag(self, candidate: Candidate) -> Rejection | None:
        return Rejection.MISSING_HASHTAG if self._include_hashtags.isdisjoint(candidate.hashtags) else None

    def _excluded_word(self, candidate: Candidate) -> Rejection | None:
        return Rejection.EXCLUDED_WORD if _search(self._exclude_words, candidate.word_texts) else None

    def _missing_word(self, candidate: Candidate) -> Rejection | None:
        return None if _search(self._include_words, candidate.word_texts) else Rejection.MISSING_WORD

    def _excluded_pattern(self, candidate: Candidate) -> Rejection | None:
        if any(_search(pattern, candidate.texts) for pattern in self._exclude_patterns):
            return Rejection.EXCLUDED_PATTERN
        return None

    def _missing_pattern(self, candidate: Candidate) -> Rejection | None:
        if any(_search(pattern, candidate.texts) for pattern in self._include_patterns):
            return None
        return Rejection.MISSING_PATTERN


def _actors(entries: Iterable[str]) -> frozenset[str]:
    """Allow/deny entries as matched: DIDs as they are (they are case-sensitive), handles lower-cased."""
    return frozenset(entry if entry.startswith("did:") else entry.lower() for entry in entries)


def _is_listed(candidate: Candidate, actors: frozenset[str]) -> bool:
    return candidate.author_did in actors or candidate.author_handle.lower() in actors


def _compiled(patterns: list[str]) -> list[CompiledPattern]:
    """Users' patterns on RE2; imported only by a bot that has some (a run's start-up is a cost)."""
    if not patterns:
        return []
    from skybots.patterns import compile_pattern

    return [compile_pattern(pattern) for pattern in patterns]


def _words_matcher(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of the words in folded text (see `PostFilter`), or None when there are none.

    Python's re, not RE2: a word boundary must be Unicode's, which RE2's is not. The words are
    escaped literals joined by `\\s+` between non-space parts, so at any position re has at most
    one way to match each: its time is linear in the text (times the number of words).
    """
    alternatives = {_word_regex(parts) for word in words if (parts := words_form(word).split())}
    return re.compile("|".join(sorted(alternatives))) if alternatives else None


def _word_regex(parts: list[str]) -> str:
    """A word or phrase, any whitespace between its parts, bounded at each end that needs it."""
    body = r"\s+".join(re.escape(part) for part in parts)
    start = r"(?<!\w)" if _WORD_CHAR.match(parts[0][0]) else ""
    end = r"(?!\w)" if _WORD_CHAR.match(parts[-1][-1]) else ""
    return f"{start}{body}{end}"


def _search(pattern: CompiledPattern | None, texts: tuple[str, ...]) -> bool:
    return pattern is not None and any(pattern.search(text) for text in texts)
