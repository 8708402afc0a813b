"""The run report's post cards and its termination message: what a dry run tells the web app, cut to
Kubernetes' 4096 bytes whatever the posts hold (tests/test_reposter.py runs it on the local network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skybots.reposter.filters import Rejection
from skybots.runs import (
    ELLIPSIS,
    EXCERPT_BYTES,
    EXCERPT_CHARACTERS,
    TERMINATION_MESSAGE_LIMIT,
    PostCard,
    RejectedPost,
    RunReport,
    shorten,
)
from skybots.stores.runs import RunRecord
from tests.support.manifests import ROOT

STARTED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one emoji, 7 code points, 25 bytes
FLAG = "\U0001f1e9\U0001f1ea"  # the German flag: two regional indicators


def uri(n: int, did: str = "did:plc:abcdefghijklmnopqrstuvwx") -> str:
    return f"at://{did}/app.bsky.feed.post/3lzz{n:09d}"


def card(n: int, text: str = "a post", handle: str = "alice.bsky.social", **more: Any) -> Any:
    kind = RejectedPost if "reason" in more else PostCard
    return kind.of(uri(n), handle=handle, name="Alice", text=text, created_at=STARTED, **more)


def report(would: list[PostCard], rejected: list[RejectedPost], message: str = "") -> RunReport:
    counts: dict[str, int] = {}
    for post in rejected:
        counts[post.reason] = counts.get(post.reason, 0) + 1
    return RunReport(
        outcome="succeeded",
        message=message,
        dry_run=True,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=3),
        candidates=len(would) + len(rejected),
        reposted=len(would),
        rejected=counts,
        would_repost=would,
        rejected_posts=rejected,
    )


def cut(full: RunReport) -> dict[str, Any]:
    """The termination message, checked to fit, as the operator parses it."""
    message = full.termination_message()
    assert len(message.encode()) <= TERMINATION_MESSAGE_LIMIT
    parsed: dict[str, Any] = json.loads(message)
    RunReport.model_validate(parsed)  # the operator reads it back
    return parsed


def test_a_card_shows_the_author_a_one_line_excerpt_and_the_time() -> None:
    shown = PostCard.of(
        uri(1),
        handle="alice.bsky.social",
        name="Alice\nin  Wonderland",
        text="<b>first line</b>\n\n\tsecond\x00line " + "word " * 40,
        created_at=STARTED,
    ).model_dump(by_alias=True, mode="json")
    assert shown["uri"] == uri(1)
    assert (shown["authorHandle"], shown["authorName"]) == ("alice.bsky.social", "Alice in Wonderland")
    assert shown["createdAt"] == "2026-12-01T12:00:00Z"
    excerpt = shown["excerpt"]
    assert excerpt.startswith("<b>first line</b> second line word word")  # markup stays text, as written
    assert excerpt.endswith(f"word{ELLIPSIS}")
    assert len(excerpt) <= EXCERPT_CHARACTERS


@pytest.mark.parametrize(
    ("handle", "kept"),
    [
        ("alice.bsky.social", "alice.bsky.social"),
        ("handle.invalid", ""),  # what the AppView shows for a handle that does not resolve
        ("x" * 254, ""),
        ("<script>.test", ""),
        ("", ""),
    ],
)
def test_only_a_handle_that_can_be_one_is_kept_the_link_uses_the_did_otherwise(
    handle: str, kept: str
) -> None:
    assert card(1, handle=handle).author_handle == kept


@pytest.mark.parametrize(
    ("text", "characters", "max_bytes", "expected"),
    [
        ("short", 10, 100, "short"),
        ("abcdefghij", 10, 100, "abcdefghij"),
        ("abcdefghijk", 10, 100, f"abcdefghi{ELLIPSIS}"),
        ("word " * 5, 11, 100, f"word word{ELLIPSIS}"),  # no space before the ellipsis
        ("日本語のテキストです", 100, 12, f"日本語{ELLIPSIS}"),  # 3 bytes a character, ellipsis included
        ("cafe\u0301 au lait", 5, 100, f"caf{ELLIPSIS}"),  # never an e without its accent
        (f"ab{FAMILY}cd", 8, 100, f"ab{ELLIPSIS}"),  # never part of a family
        (f"ab{FAMILY}cd", 100, 28, f"ab{ELLIPSIS}"),
        (f"{FLAG}{FLAG}{FLAG}", 4, 100, f"{FLAG}{ELLIPSIS}"),  # never half a flag
        (f"{FLAG}{FLAG}{FLAG}", 3, 100, f"{FLAG}{ELLIPSIS}"),
        ("\U0001f44b\U0001f3fd hello", 2, 100, ELLIPSIS),  # a wave keeps its skin tone
        ("\u2764\ufe0f\u2764\ufe0f", 3, 100, f"\u2764\ufe0f{ELLIPSIS}"),  # and a heart its style
    ],
)
def test_an_excerpt_is_cut_between_characters_as_people_see_them(
    text: str, characters: int, max_bytes: int, expected: str
) -> None:
    shortened = shorten(text, characters, max_bytes)
    assert shortened == expected
    assert len(shortened) <= characters
    assert len(shortened.encode()) <= max_bytes


def test_text_utf8_cannot_carry_is_replaced_so_the_report_can_still_be_written() -> None:
    """A lone surrogate, as a JSON escape from a server can make one, would stop the report's JSON."""
    shown = card(1, text="bad \ud800 half", handle="a.test")
    assert shown.excerpt == "bad ? half"
    assert cut(report([shown], []))["wouldRepost"][0]["excerpt"] == "bad ? half"


def test_a_message_quoting_a_lone_surrogate_still_makes_a_report() -> None:
    """A PDS's error message is quoted in the run's message; its JSON can carry a lone surrogate."""
    assert cut(report([], [], message="Bluesky said: \ud800!"))["message"] == "Bluesky said: ?!"


def test_the_termination_message_holds_every_card_when_they_fit() -> None:
    would = [card(n) for n in range(3)]
    rejected = [card(10 + n, reason="language") for n in range(3)]
    full = report(would, rejected)
    parsed = cut(full)
    assert parsed == json.loads(full.model_dump_json(by_alias=True))


def test_hostile_posts_still_fit_and_both_lists_and_every_reason_get_their_share() -> None:
    """Long handles, names and texts of 4-byte characters and JSON escapes, long URIs, hundreds of
    posts: the message fits, the cards are taken in turns, each list keeps its order, counts stay."""
    long_did = "did:web:" + "d" * 240
    heavy = [FAMILY * 12, '"\\' * 150, "\U0001f600" * 300, "日本語" * 100]
    would = [
        card(n, text=heavy[n % 4], handle=f"{'h' * 60}.{'i' * 60}.{'j' * 60}.{'k' * 60}.test")
        for n in range(300)
    ]
    rejected = [
        RejectedPost.of(
            uri(1000 + n, long_did if n % 3 == 0 else "did:plc:abcdefghijklmnopqrstuvwx"),
            handle="b.test",
            name="\U0001f600" * 64,
            text=heavy[n % 4],
            created_at=STARTED,
            reason=["language", "reply", "missing_hashtag"][n % 3],
        )
        for n in range(300)
    ]
    full = report(would, rejected, message="\U0001f600 limit reached: " + "x" * 900)
    parsed = cut(full)

    assert (parsed["reposted"], parsed["rejected"]) == (
        300,
        {"language": 100, "reply": 100, "missing_hashtag": 100},
    )
    assert parsed["message"] == full.message, "the message fits beside the cards"
    shown_would = parsed["wouldRepost"]
    by_reason = {
        reason: [p for p in parsed["rejectedPosts"] if p["reason"] == reason] for reason in parsed["rejected"]
    }
    assert shown_would, "each list and each reason shows some"
    assert all(by_reason.values())
    # Each list is its own first cards, in order: a cut, not a sample.
    dumped = json.loads(full.model_dump_json(by_alias=True))
    assert shown_would == dumped["wouldRepost"][: len(shown_would)]
    for reason, shown in by_reason.items():
        assert shown == [p for p in dumped["rejectedPosts"] if p["reason"] == reason][: len(shown)]
    for post in [*shown_would, *parsed["rejectedPosts"]]:
        assert len(post["excerpt"]) <= EXCERPT_CHARACTERS
        assert len(post["excerpt"].encode()) <= EXCERPT_BYTES
        assert post["excerpt"].endswith(ELLIPSIS)
    assert all(post["authorName"] == "\U0001f600" * 19 + ELLIPSIS for post in parsed["rejectedPosts"])


def test_the_lists_take_turns_and_the_rejected_posts_turns_go_round_their_reasons() -> None:
    """Fifty posts it would repost and a hundred skipped, nearly all for one reason: each list gets
    half of the room, and the one post skipped for another reason is shown too."""
    would = [card(n, text="w" * 100) for n in range(50)]
    rejected = [card(100 + n, text="r" * 100, reason="reply") for n in range(99)]
    rejected.insert(60, card(99, text="r" * 100, reason="language"))
    parsed = cut(report(would, rejected))
    shown_would, shown_rejected = parsed["wouldRepost"], parsed["rejectedPosts"]
    assert abs(len(shown_would) - len(shown_rejected)) <= 1
    assert len(shown_would) >= 5
    assert [p["uri"] for p in shown_would] == [uri(n) for n in range(len(shown_would))]
    assert [p["reason"] for p in shown_rejected].count("language") == 1
    assert [p["uri"] for p in shown_rejected if p["reason"] == "reply"] == [
        uri(100 + n) for n in range(len(shown_rejected) - 1)
    ]


def test_a_message_too_long_for_the_termination_message_loses_its_end() -> None:
    """An error text of 1024 emoji (a tenant's own PDS can answer that) would be 4 KB alone."""
    full = report([card(1)], [card(2, reason="reply")], message="\U0001f600\x01" * 512)
    parsed = cut(full)
    assert parsed["message"].endswith(ELLIPSIS)
    assert full.message.startswith(parsed["message"][:-1])
    assert (parsed["reposted"], parsed["rejected"]) == (1, {"reply": 1})


def test_runs_recorded_before_cards_are_still_read() -> None:
    """Version 1 reports listed bare URIs of what a dry run would repost; the history keeps them."""
    old = {
        "version": 1,
        "namespace": "skybots",
        "bot": "news",
        "job": "bot-news-1",
        "outcome": "succeeded",
        "dryRun": True,
        "startedAt": "2026-11-01T10:00:00Z",
        "finishedAt": "2026-11-01T10:00:03Z",
        "wouldRepost": [uri(1)],
        "rejectedPosts": [{"uri": uri(2), "reason": "language"}],
    }
    record = RunRecord.model_validate(old)
    assert record.would_repost == [PostCard(uri=uri(1))]
    assert record.rejected_posts == [RejectedPost(uri=uri(2), reason="language")]


def test_the_web_app_has_words_for_every_reason_a_run_gives() -> None:
    """The codes are stable metric labels; the app turns them into words (an unknown one shows as its code)."""
    words = json.loads((ROOT / "frontend" / "src" / "locales" / "en.json").read_text())["reasons"]
    assert set(words) == {reason.value for reason in Rejection}
