"""Candidates and filters, on post views shaped as the AppView returns them (app.bsky.feed.defs#postView)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from skybots.bluesky.models import FeedItem, PostView
from skybots.bots import AuthorSource, Filters, HashtagSource, ListSource, SearchSource, Source
from skybots.reposter.candidates import Candidate, Found, merge
from skybots.reposter.filters import PostFilter, Rejection

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BOT = "did:plc:b0tb0tb0tb0tb0tb0tb0tb0t"
ALICE = "did:plc:a11cea11cea11cea11cea11c"
CAROL = "did:plc:ca201ca201ca201ca201ca20"
LABELER = "did:plc:ar7c4by46qjdydhdevvrndac"
CID = "bafyreib2rxk3rybk3aobmv5msrxhwrcupisrnq7egkkbqfy7m7mphfhc3e"
SEARCH = SearchSource(type="search", query="python")
PYTHON_TAG = HashtagSource(type="hashtag", tag="python")
LIST = ListSource(type="list", list="at://did:plc:ca201ca201ca201ca201ca20/app.bsky.graph.list/3kabc")
_counter = iter(range(10**6))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_uri(did: str = ALICE) -> str:
    return f"at://{did}/app.bsky.feed.post/3l{next(_counter):011d}"


def facet(text: str, fragment: str, feature: dict[str, Any]) -> dict[str, Any]:
    """A rich-text facet over `fragment`, indexed in UTF-8 bytes as the lexicon says."""
    start = len(text[: text.index(fragment)].encode())
    return {
        "$type": "app.bsky.richtext.facet",
        "index": {"byteStart": start, "byteEnd": start + len(fragment.encode())},
        "features": [feature],
    }


def tag_facets(text: str) -> list[dict[str, Any]]:
    """Tag facets as the Bluesky app makes them for each #tag in the text."""
    return [
        facet(text, match.group(), {"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)})
        for match in re.finditer(r"(?<!\w)#(\w+)", text)
    ]


def profile(did: str = ALICE, handle: str = "alice.test", **extra: Any) -> dict[str, Any]:
    return {
        "did": did,
        "handle": handle,
        "displayName": handle.split(".")[0].title(),
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/{CID}@jpeg",
        "associated": {"chat": {"allowIncoming": "following"}},
        "viewer": {"muted": False, "blockedBy": False},
        "labels": [],
        "createdAt": "2024-02-01T10:00:00.000Z",
    } | extra


def label(val: str, uri: str, *, src: str = LABELER, neg: bool = False) -> dict[str, Any]:
    return {"ver": 1, "src": src, "uri": uri, "cid": CID, "val": val, "neg": neg, "cts": iso(NOW)}


def make_post(
    text: str = "Shipping a #python release today",
    *,
    author: dict[str, Any] | None = None,
    langs: list[Any] | None = None,
    facets: list[dict[str, Any]] | None = None,
    created: datetime | str | None = None,
    indexed: datetime | None = None,
    embed: tuple[dict[str, Any], dict[str, Any] | None] | None = None,
    likes: int = 5,
    labels: list[dict[str, Any]] | None = None,
    **record: Any,
) -> PostView:
    """A post view; by default by Alice, in English, created 10 minutes before NOW with its tags as facets."""
    author = author or profile()
    uri = post_uri(author["did"])
    created = created or NOW - timedelta(minutes=10)
    body: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": created if isinstance(created, str) else iso(created),
        "langs": ["en"] if langs is None else langs,
        "text": text,
    }
    body["facets"] = tag_facets(text) if facets is None else facets
    view: dict[str, Any] = {
        "uri": uri,
        "cid": CID,
        "author": author,
        "record": body,
        "replyCount": 0,
        "repostCount": 1,
        "likeCount": likes,
        "quoteCount": 0,
        "indexedAt": iso(indexed or NOW - timedelta(minutes=9, seconds=59)),
        "viewer": {"threadMuted": False, "embeddingDisabled": False},
        "labels": labels or [],
    }
    if embed is not None:
        body["embed"], embed_view = embed
        if embed_view is not None:
            view["embed"] = embed_view
    body.update(record)
    return PostView.model_validate(view)


def candidate(
    post: PostView | None = None, source: Source = SEARCH, reposted_by: str | None = None
) -> Candidate:
    return Candidate.from_post(post or make_post(), source, reposted_by)


def post_filter(**wire: Any) -> PostFilter:
    """A filter from the spec's filters in their wire form (camelCase), for BOT at NOW."""
    return PostFilter(Filters.model_validate(wire), BOT, NOW)


def check(post: PostView | Candidate, **wire: Any) -> Rejection | None:
    return post_filter(**wire).check(post if isinstance(post, Candidate) else candidate(post))


# --- embeds: (the record's embed, the AppView's view of it) ---------------------------------------

Embed = tuple[dict[str, Any], dict[str, Any] | None]


def blob(mime: str) -> dict[str, Any]:
    return {"$type": "blob", "ref": {"$link": CID}, "mimeType": mime, "size": 183_117}


def images(*alts: str) -> Embed:
    ratio = {"width": 2000, "height": 1500}
    record = {
        "$type": "app.bsky.embed.images",
        "images": [{"alt": alt, "image": blob("image/jpeg"), "aspectRatio": ratio} for alt in alts],
    }
    view = {
        "$type": "app.bsky.embed.images#view",
        "images": [
            {
                "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{ALICE}/{CID}@jpeg",
                "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{ALICE}/{CID}@jpeg",
                "alt": alt,
                "aspectRatio": ratio,
            }
            for alt in alts
        ],
    }
    return record, view


def video(alt: str) -> Embed:
    record = {"$type": "app.bsky.embed.video", "video": blob("video/mp4"), "alt": alt}
    view = {
        "$type": "app.bsky.embed.video#view",
        "cid": CID,
        "playlist": f"https://video.bsky.app/watch/{ALICE}/{CID}/playlist.m3u8",
        "thumbnail": f"https://video.bsky.app/watch/{ALICE}/{CID}/thumbnail.jpg",
        "alt": alt,
        "aspectRatio": {"width": 1080, "height": 1920},
    }
    return record, view


def external(title: str) -> Embed:
    link = {"uri": "https://example.com/post", "title": title, "description": "A link card"}
    return (
        {"$type": "app.bsky.embed.external", "external": link},
        {"$type": "app.bsky.embed.external#view", "external": link},
    )


def view_record(uri: str, text: str) -> dict[str, Any]:
    return {
        "$type": "app.bsky.embed.record#viewRecord",
        "uri": uri,
        "cid": CID,
        "author": profile(CAROL, "carol.test"),
        "value": {"$type": "app.bsky.feed.post", "createdAt": iso(NOW - timedelta(hours=1)), "text": text},
        "labels": [],
        "likeCount": 3,
        "replyCount": 0,
        "repostCount": 0,
        "quoteCount": 1,
        "indexedAt": iso(NOW - timedelta(hours=1)),
        "embeds": [],
    }


def quote(text: str = "the quoted post", unavailable: dict[str, Any] | None = None) -> Embed:
    """A quote of Carol's post, hydrated as #viewRecord, or as `unavailable` (#viewNotFound and co)."""
    uri = post_uri(CAROL)
    view = unavailable | {"uri": uri} if unavailable else view_record(uri, text)
    return (
        {"$type": "app.bsky.embed.record", "record": {"uri": uri, "cid": CID}},
        {"$type": "app.bsky.embed.record#view", "record": view},
    )


def with_media(quoted: Embed, media: Embed) -> Embed:
    assert quoted[1] is not None
    assert media[1] is not None
    return (
        {"$type": "app.bsky.embed.recordWithMedia", "record": quoted[0], "media": media[0]},
        {"$type": "app.bsky.embed.recordWithMedia#view", "record": quoted[1], "media": media[1]},
    )


REPLY = {
    "root": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kroot", "cid": CID},
    "parent": {"uri": f"at://{CAROL}/app.bsky.feed.post/3kparent", "cid": CID},
}


# === Candidate ===================================================================================


def test_hashtags_come_from_tag_facets_and_outline_tags_folded():
    text = "Grüße 🐍 aus Köln #Python #ÜberCode, see https://python.org and @bob.test"
    facets = [
        *tag_facets(text),
        facet(text, "@bob.test", {"$type": "app.bsky.richtext.facet#mention", "did": CAROL}),
        facet(
            text, "https://python.org", {"$type": "app.bsky.richtext.facet#link", "uri": "https://python.org"}
        ),
    ]
    post = make_post(text, facets=facets, tags=["Kubernetes", "#Ops"])
    assert candidate(post).hashtags == {"python", "übercode", "kubernetes", "ops"}


def test_hashtag_text_without_a_facet_is_no_hashtag():
    post = make_post("I love #python but this client made no facets", facets=[])
    assert candidate(post).hashtags == frozenset()


def test_text_alt_texts_and_quoted_text():
    post = make_post("look", embed=with_media(quote("Carol's words"), images("a cat", "", "a dog")))
    found = candidate(post)
    assert found.text == "look"
    assert found.alt_texts == ("a cat", "a dog")
    assert found.quoted_text == "Carol's words"
    assert found.texts == ("look", "a cat", "a dog", "Carol's words")
    assert found.is_quote


@pytest.mark.parametrize(
    ("embed", "alts"),
    [
        (images("one", "two"), ("one", "two")),
        (video("a skateboard trick"), ("a skateboard trick",)),
        (with_media(quote(), video("clip")), ("clip",)),
        (external("Kubernetes operators"), ()),
        ((images("from the record only")[0], None), ("from the record only",)),
        ((with_media(quote(), video("record video"))[0], None), ("record video",)),
    ],
    ids=["images", "video", "record-with-video", "external", "record-images-no-view", "record-rwm-no-view"],
)
def test_alt_texts_of_every_media_embed(embed: Embed, alts: tuple[str, ...]):
    assert candidate(make_post(embed=embed)).alt_texts == alts


@pytest.mark.parametrize(
    "view",
    [
        {"$type": "app.bsky.embed.record#viewNotFound", "notFound": True},
        {
            "$type": "app.bsky.embed.record#viewBlocked",
            "blocked": True,
            "author": {"did": CAROL, "viewer": {"blockedBy": True}},
        },
        {"$type": "app.bsky.embed.record#viewDetached", "detached": True},
    ],
    ids=["not-found", "blocked", "detached"],
)
def test_a_quote_of_an_unavailable_post_is_a_quote_without_text(view: dict[str, Any]):
    found = candidate(make_post(embed=quote(unavailable=view)))
    assert found.is_quote
    assert found.quoted_text == ""
    assert candidate(make_post(embed=({}, quote(unavailable=view)[1]))).is_quote, "the view alone says so"


def test_embedding_a_feed_is_no_quote():
    feed = f"at://{CAROL}/app.bsky.feed.generator/python"
    generator = {
        "$type": "app.bsky.feed.defs#generatorView",
        "uri": feed,
        "cid": CID,
        "did": "did:web:feeds.example.com",
        "creator": profile(CAROL, "carol.test"),
        "displayName": "Python",
        "indexedAt": iso(NOW),
    }
    embed = (
        {"$type": "app.bsky.embed.record", "record": {"uri": feed, "cid": CID}},
        {"$type": "app.bsky.embed.record#view", "record": generator},
    )
    found = candidate(make_post(embed=embed))
    assert not found.is_quote
    assert found.quoted_text == ""


def test_a_quote_is_seen_in_the_record_alone():
    assert candidate(make_post(embed=(quote()[0], None))).is_quote
    assert candidate(make_post(embed=(with_media(quote(), images("x"))[0], None))).is_quote


def test_reply_languages_and_author():
    found = candidate(make_post(reply=REPLY, langs=["EN-us", "pt_BR", "", 7]))
    assert found.is_reply
    assert found.languages == ("en-us", "pt-br")
    assert (found.author_did, found.author_handle) == (ALICE, "alice.test")
    assert not candidate(make_post()).is_reply


@pytest.mark.parametrize(
    ("created", "indexed", "expected"),
    [
        (NOW - timedelta(minutes=10), NOW - timedelta(minutes=9), NOW - timedelta(minutes=10)),
        (NOW + timedelta(days=365), NOW - timedelta(minutes=5), NOW - timedelta(minutes=5)),
        (datetime(2019, 5, 1, tzinfo=UTC), NOW, datetime(2019, 5, 1, tzinfo=UTC)),
        ("2026-01-15T11:00:00+02:00", NOW, datetime(2026, 1, 15, 9, tzinfo=UTC)),
        ("2026-01-15T11:59:00.123456789Z", NOW, datetime(2026, 1, 15, 11, 59, 0, 123456, tzinfo=UTC)),
        ("yesterday", NOW - timedelta(minutes=3), NOW - timedelta(minutes=3)),
        ("2026-01-15T11:00:00", NOW - timedelta(minutes=3), NOW - timedelta(minutes=3)),
    ],
    ids=["usual", "future-dated", "backdated", "offset", "nanoseconds", "unparseable", "no-time-zone"],
)
def test_created_at_is_the_earlier_of_created_and_indexed(created, indexed, expected):
    assert candidate(make_post(created=created, indexed=indexed)).created_at == expected


def test_created_at_when_created_at_is_missing_or_not_a_string():
    for value in (None, 1736942400, {"at": "now"}):
        post = make_post(indexed=NOW - timedelta(minutes=1))
        post.record["createdAt"] = value
        assert candidate(post).created_at == NOW - timedelta(minutes=1)


def test_an_indexed_at_without_time_zone_reads_as_utc():
    post = make_post(created=NOW - timedelta(days=2))
    naive = post.model_copy(update={"indexed_at": datetime(2026, 1, 15, 11, 0)})
    assert candidate(naive).created_at == NOW - timedelta(days=2)
    assert check(make_post(created="bad").model_copy(update={"indexed_at": datetime(2026, 1, 15, 1)})) is None
    assert check(make_post(created="bad").model_copy(update={"indexed_at": datetime(2026, 1, 14, 11)})) == (
        Rejection.TOO_OLD
    )


def test_labels_of_post_author_and_self_labels_minus_retracted():
    author = profile(labels=[label("spam", ALICE), label("spam", ALICE, neg=True), label("bot", ALICE)])
    post = make_post(
        author=author,
        labels=[label("porn", "at://x"), label("nudity", "at://x"), label("nudity", "at://x", neg=True)],
    )
    post.record["labels"] = {
        "$type": "com.atproto.label.defs#selfLabels",
        "values": [{"val": "graphic-media"}],
    }
    assert candidate(post).labels == {"porn", "bot", "graphic-media"}


def test_a_retraction_by_another_labeler_retracts_nothing():
    post = make_post(labels=[label("porn", "at://x"), label("porn", "at://x", src=CAROL, neg=True)])
    assert candidate(post).labels == {"porn"}


MALFORMED_RECORDS: list[dict[str, Any]] = [
    {
        "text": None,
        "facets": "nope",
        "tags": "python",
        "langs": "en",
        "reply": "yes",
        "embed": [],
        "labels": [],
    },
    {
        "text": 42,
        "facets": [None, 1, {"features": "x"}, {"features": [None, {"$type": 3}]}],
        "tags": [1, None, "#"],
    },
    {"facets": [{"features": [{"$type": "app.bsky.richtext.facet#tag", "tag": None}]}], "langs": [None, {}]},
    {"embed": {"$type": "app.bsky.embed.images", "images": "x"}, "labels": {"values": "x"}},
    {"embed": {"$type": "app.bsky.embed.images", "images": [None, {"alt": 5}, {"alt": None}]}},
    {"embed": {"$type": "app.bsky.embed.recordWithMedia", "record": "x", "media": None}},
    {
        "embed": {"$type": "app.bsky.embed.record", "record": {"uri": 5}},
        "labels": {"values": [None, {"val": 1}]},
    },
    {"embed": {"$type": "app.bsky.embed.record", "record": {"uri": "not an at uri"}}},
    {"embed": {"$type": None}, "createdAt": "2026-13-45T99:00:00Z"},
    {"embed": "string", "createdAt": ""},
]
MALFORMED_VIEWS: list[dict[str, Any]] = [
    {"$type": "app.bsky.embed.record#view", "record": None},
    {
        "$type": "app.bsky.embed.record#view",
        "record": {"$type": "app.bsky.embed.record#viewRecord", "value": "x"},
    },
    {
        "$type": "app.bsky.embed.record#view",
        "record": {"$type": "app.bsky.embed.record#viewRecord", "value": {}},
    },
    {"$type": "app.bsky.embed.recordWithMedia#view", "record": {"record": []}, "media": {"$type": 1}},
    {"$type": "app.bsky.embed.video#view", "alt": ["x"]},
    {"$type": "app.bsky.embed.images#view"},
    {"images": [{"alt": "no $type"}]},
    {},
]


@pytest.mark.parametrize("fields", MALFORMED_RECORDS)
def test_malformed_records_count_as_absent(fields: dict[str, Any]):
    post = make_post(facets=[])
    post.record.clear()
    post.record.update(fields)
    found = candidate(post, PYTHON_TAG)
    assert found.hashtags == frozenset()
    assert found.languages == ()
    assert found.alt_texts == ()
    assert found.texts == ()
    assert not found.is_reply
    assert not found.is_quote
    assert found.created_at == post.indexed_at
    assert found.labels == frozenset()
    everything = post_filter(
        languages=["en"],
        postsWithoutLanguage="exclude",
        includeWords=["x"],
        excludePatterns=["y"],
        includeHashtags=["z"],
        excludeQuotes=True,
    )
    assert everything.check(found) == Rejection.NOT_TAGGED
    assert everything.check(candidate(post)) == Rejection.NO_LANGUAGE


@pytest.mark.parametrize("view", MALFORMED_VIEWS)
def test_malformed_embed_views_count_as_absent(view: dict[str, Any]):
    found = candidate(make_post("plain", embed=({}, view)))
    assert (found.alt_texts, found.quoted_text, found.is_quote) == ((), "", False)
    assert found.texts == ("plain",)


def test_from_feed_item_keeps_who_reposted_it():
    post = make_post()
    item = FeedItem.model_validate(
        {
            "post": post.model_dump(by_alias=True),
            "reason": {
                "$type": "app.bsky.feed.defs#reasonRepost",
                "by": profile(CAROL, "carol.test"),
                "indexedAt": iso(NOW),
            },
        }
    )
    found = Candidate.from_feed_item(item, LIST)
    assert found.found == (Found(LIST, CAROL),)
    assert found.reposted_by == CAROL
    assert Candidate.from_feed_item(FeedItem(post=post), LIST).reposted_by is None


def test_merge_by_uri_keeps_every_way_a_post_was_found():
    first, second, other = make_post(), make_post(), make_post()
    merged = merge(
        [
            candidate(first, PYTHON_TAG),
            candidate(second, SEARCH),
            candidate(first, LIST, reposted_by=CAROL),
            candidate(first, PYTHON_TAG),
            candidate(other, SEARCH),
        ]
    )
    assert [c.uri for c in merged] == [first.uri, second.uri, other.uri]
    assert merged[0].found == (Found(PYTHON_TAG), Found(LIST, CAROL))
    assert merged[0].sources == (PYTHON_TAG, LIST)
    assert merged[0].reposted_by is None, "a source found it directly"
    assert merge([]) == []


def test_merged_reposts_only_keep_the_reposter():
    post = make_post()
    author = AuthorSource(type="author", actor="dave.test")
    merged = merge([candidate(post, LIST, reposted_by=CAROL), candidate(post, author, reposted_by=ALICE)])
    assert merged[0].reposted_by == CAROL
    assert merge([candidate(post, LIST, reposted_by=CAROL), candidate(post, SEARCH)])[0].reposted_by is None


# === PostFilter ==================================================================================


def passing_post(**overrides: Any) -> PostView:
    """A post that passes `STRICT` below."""
    fields: dict[str, Any] = {
        "text": "Our Kubernetes operator now speaks #python 🐍",
        "langs": ["en-GB"],
        "likes": 12,
        "embed": images("a diagram of the reconcile loop"),
    }
    return make_post(**(fields | overrides))


STRICT: dict[str, Any] = {
    "languages": ["en", "pt-BR"],
    "postsWithoutLanguage": "exclude",
    "includeWords": ["kubernetes operator", "helm"],
    "excludeWords": ["crypto", "giveaway"],
    "includePatterns": [r"\bspeaks?\b"],
    "excludePatterns": [r"https?://bit\.ly/"],
    "includeHashtags": ["Python", "golang"],
    "excludeHashtags": ["nsfw"],
    "excludeReplies": True,
    "excludeQuotes": True,
    "excludeReposts": True,
    "excludeSelf": True,
    "minLikes": 10,
    "maxAge": "2h",
    "authors": {"allow": ["alice.test", CAROL], "deny": ["dave.test"]},
}


def test_a_post_passing_every_filter_is_accepted():
    assert check(passing_post(), **STRICT) is None
    assert check(candidate(passing_post(), PYTHON_TAG), **STRICT) is None


def test_default_filters_accept_an_ordinary_post():
    assert check(make_post("hello")) is None


# One case per reason: (reason, the post or candidate, the filters beyond STRICT).
def reason_cases() -> list[tuple[Rejection, PostView | Candidate, dict[str, Any]]]:
    bot = profile(BOT, "bot.test")
    return [
        (Rejection.SELF, passing_post(author=bot), {"authors": {"allow": [BOT]}}),
        (Rejection.AUTHOR_DENIED, passing_post(author=profile(handle="Dave.Test")), {}),
        (Rejection.AUTHOR_NOT_ALLOWED, passing_post(author=profile(handle="erin.test")), {}),
        (Rejection.BLOCKED, passing_post(author=profile(viewer={"blockedBy": True})), {}),
        (Rejection.MUTED, passing_post(author=profile(viewer={"muted": True})), {}),
        (Rejection.NOT_TAGGED, candidate(passing_post(text="#pythonic python"), PYTHON_TAG), {}),
        (Rejection.REPOST, candidate(passing_post(), LIST, reposted_by=CAROL), {}),
        (Rejection.REPLY, passing_post(reply=REPLY), {}),
        (Rejection.QUOTE, passing_post(embed=with_media(quote(), images("x"))), {}),
        (Rejection.LABEL, passing_post(labels=[label("porn", "at://x")]), {}),
        (Rejection.TOO_OLD, passing_post(created=NOW - timedelta(hours=2, seconds=1)), {}),
        (Rejection.MIN_LIKES, passing_post(likes=9), {}),
        (Rejection.LANGUAGE, passing_post(langs=["de", "pt"]), {}),
        (Rejection.NO_LANGUAGE, passing_post(langs=[]), {}),
        (Rejection.EXCLUDED_HASHTAG, passing_post(text="Kubernetes operator speaks #python #NSFW"), {}),
        (Rejection.MISSING_HASHTAG, passing_post(text="Kubernetes operator speaks #rust"), {}),
        (Rejection.EXCLUDED_WORD, passing_post(embed=images("Crypto giveaway")), {}),
        (Rejection.MISSING_WORD, passing_post(text="Kubernetes speaks #python", embed=None), {}),
        (Rejection.EXCLUDED_PATTERN, passing_post(embed=images("see HTTPS://BIT.LY/x")), {}),
        (Rejection.MISSING_PATTERN, passing_post(text="Kubernetes operator said #python"), {}),
    ]


@pytest.mark.parametrize(("reason", "post", "wire"), reason_cases(), ids=[c[0].value for c in reason_cases()])
def test_each_reason(reason: Rejection, post: PostView | Candidate, wire: dict[str, Any]):
    assert check(post, **(STRICT | wire)) == reason


def test_every_reason_has_a_case_and_a_stable_snake_case_value():
    assert {case[0] for case in reason_cases()} == set(Rejection)
    for reason in Rejection:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", reason.value)
        assert reason == reason.value
        assert f"{reason}" == reason.value


def test_precedence_follows_the_documented_order():
    """A post failing every filter is rejected for each reason in turn as the earlier ones are lifted."""
    wire = STRICT | {"authors": {"allow": ["alice.test"], "deny": [BOT]}}
    viewer: dict[str, Any] = {"muted": True, "blocking": f"at://{BOT}/app.bsky.graph.block/3kblock"}
    found: tuple[Source, str | None] = (PYTHON_TAG, None)
    steps: list[tuple[Rejection | None, dict[str, Any]]] = [
        (Rejection.SELF, {"excludeSelf": False}),
        (Rejection.AUTHOR_DENIED, {"authors": {"allow": ["alice.test"]}}),
        (Rejection.AUTHOR_NOT_ALLOWED, {"authors": {}}),
        (Rejection.BLOCKED, {"viewer": {"muted": True}}),
        (Rejection.MUTED, {"viewer": {}}),
        (Rejection.NOT_TAGGED, {"found": (LIST, CAROL)}),
        (Rejection.REPOST, {"excludeReposts": False}),
        (Rejection.REPLY, {"excludeReplies": False}),
        (Rejection.QUOTE, {"excludeQuotes": False}),
        (Rejection.LABEL, {"excludeLabels": []}),
        (Rejection.TOO_OLD, {"maxAge": "720h"}),
        (Rejection.MIN_LIKES, {"minLikes": 0}),
        (Rejection.LANGUAGE, {"languages": []}),
        (Rejection.EXCLUDED_HASHTAG, {"excludeHashtags": []}),
        (Rejection.MISSING_HASHTAG, {"includeHashtags": []}),
        (Rejection.EXCLUDED_WORD, {"excludeWords": []}),
        (Rejection.MISSING_WORD, {"includeWords": []}),
        (Rejection.EXCLUDED_PATTERN, {"excludePatterns": []}),
        (Rejection.MISSING_PATTERN, {"includePatterns": []}),
        (None, {}),
    ]
    for expected, lift in steps:
        post = make_post(
            "crypto giveaway #nsfw https://bit.ly/x #pythonic",
            author=profile(BOT, "bot.test", viewer=viewer),
            langs=["de"],
            likes=0,
            created=NOW - timedelta(days=2),
            reply=REPLY,
            embed=quote(),
            labels=[label("porn", "at://x")],
        )
        assert check(candidate(post, *found), **wire) == expected
        viewer = lift.pop("viewer", viewer)
        found = lift.pop("found", found)
        wire = wire | lift


# --- who wrote it ---


@pytest.mark.parametrize(
    ("entry", "denied"),
    [
        (ALICE, True),
        ("alice.test", True),
        ("ALICE.Test", True),
        (ALICE.upper().replace("DID:PLC", "did:plc"), False),
    ],
)
def test_authors_match_did_exactly_or_handle_case_insensitively(entry: str, denied: bool):
    assert (check(make_post(), authors={"deny": [entry]}) == Rejection.AUTHOR_DENIED) is denied
    assert (check(make_post(), authors={"allow": [entry]}) is None) is denied


def test_own_posts_only_when_exclude_self():
    own = make_post(author=profile(BOT, "bot.test"))
    assert check(own) == Rejection.SELF
    assert check(own, excludeSelf=False) is None


@pytest.mark.parametrize(
    ("viewer", "reason"),
    [
        ({"blockedBy": True}, Rejection.BLOCKED),
        ({"blocking": f"at://{BOT}/app.bsky.graph.block/3kblock"}, Rejection.BLOCKED),
        ({"muted": True, "blockedBy": True}, Rejection.BLOCKED),
        ({"muted": True}, Rejection.MUTED),
        ({"muted": False, "blockedBy": False}, None),
    ],
)
def test_blocked_and_muted(viewer: dict[str, Any], reason: Rejection | None):
    assert check(make_post(author=profile(viewer=viewer))) == reason


# --- how it was found ---


@pytest.mark.parametrize(
    ("text", "tags", "carried"),
    [
        ("Love #python", None, True),
        ("Love #PYTHON", None, True),
        ("Love #pythonic", None, False),
        ("python is fine", None, False),
        ("python is fine", ["Python"], True),
        ("#py #thon", None, False),
    ],
)
def test_hashtag_sources_yield_only_posts_that_carry_the_tag(
    text: str, tags: list[str] | None, carried: bool
):
    post = make_post(text) if tags is None else make_post(text, tags=tags)
    assert (check(candidate(post, PYTHON_TAG)) is None) is carried


def test_a_hashtag_source_with_a_folded_tag():
    source = HashtagSource(type="hashtag", tag="Straße")
    assert check(candidate(make_post("Unsere #STRASSE"), source)) is None


def test_an_untagged_post_that_another_source_found_passes():
    post = make_post("python, without the tag")
    assert check(merge([candidate(post, PYTHON_TAG), candidate(post, SEARCH)])[0]) is None
    assert (
        check(merge([candidate(post, PYTHON_TAG), candidate(post, LIST, CAROL)])[0]) == Rejection.NOT_TAGGED
    )
    assert check(merge([candidate(post, LIST, CAROL), candidate(post, PYTHON_TAG)])[0]) == Rejection.REPOST


def test_reposts_only_when_excluded_and_only_when_found_only_as_reposts():
    post = make_post()
    assert check(candidate(post, LIST, reposted_by=CAROL)) == Rejection.REPOST
    assert check(candidate(post, LIST, reposted_by=CAROL), excludeReposts=False) is None
    assert check(merge([candidate(post, LIST, CAROL), candidate(post, LIST)])[0]) is None


# --- kind, moderation, age, popularity ---


def test_replies_and_quotes_by_their_flags():
    reply, quoted = make_post(reply=REPLY), make_post(embed=quote())
    assert check(reply) == Rejection.REPLY
    assert check(reply, excludeReplies=False) is None
    assert check(quoted) is None, "quotes are allowed by default"
    assert check(quoted, excludeQuotes=True) == Rejection.QUOTE
    assert check(make_post(embed=images("x")), excludeQuotes=True) is None


@pytest.mark.parametrize(
    ("labels", "author_labels", "rejected"),
    [
        (["porn"], [], True),
        ([], ["!hide"], True),
        (["bot"], ["bot"], False),
        ([], [], False),
    ],
)
def test_default_excluded_labels(labels: list[str], author_labels: list[str], rejected: bool):
    post = make_post(
        author=profile(labels=[label(val, ALICE) for val in author_labels]),
        labels=[label(val, "at://x") for val in labels],
    )
    assert (check(post) == Rejection.LABEL) is rejected


def test_retracted_labels_do_not_count():
    post = make_post(labels=[label("porn", "at://x"), label("porn", "at://x", neg=True)])
    assert check(post) is None
    assert check(post, excludeLabels=["porn"]) is None


def test_self_labels_count():
    post = make_post()
    post.record["labels"] = {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "sexual"}]}
    assert check(post) == Rejection.LABEL
    assert check(post, excludeLabels=[]) is None


def test_max_age_reads_the_earlier_of_created_and_indexed():
    day = timedelta(hours=24)
    assert check(make_post(created=NOW - day + timedelta(seconds=1), indexed=NOW)) is None
    assert check(make_post(created=NOW - day - timedelta(seconds=1), indexed=NOW)) == Rejection.TOO_OLD
    future = make_post(created=NOW + timedelta(days=30), indexed=NOW - timedelta(days=2))
    assert check(future) == Rejection.TOO_OLD, "a future createdAt must not make an old post fresh"
    backdated = make_post(created=datetime(2020, 1, 1, tzinfo=UTC), indexed=NOW)
    assert check(backdated) == Rejection.TOO_OLD
    assert check(make_post(created=NOW - timedelta(minutes=91)), maxAge="1h30m") == Rejection.TOO_OLD
    assert check(make_post(created="garbage", indexed=NOW - timedelta(days=2))) == Rejection.TOO_OLD


def test_min_likes():
    assert check(make_post(likes=9), minLikes=10) == Rejection.MIN_LIKES
    assert check(make_post(likes=10), minLikes=10) is None
    assert check(make_post(likes=0)) is None


def test_now_needs_a_time_zone():
    with pytest.raises(ValueError, match="time zone"):
        PostFilter(Filters(), BOT, datetime(2026, 1, 15))


# --- languages ---


@pytest.mark.parametrize(
    ("wanted", "langs", "passes"),
    [
        (["en"], ["en"], True),
        (["en"], ["en-US"], True),
        (["en"], ["EN-gb"], True),
        (["en"], ["eng"], False),
        (["en"], ["de"], False),
        (["pt-BR"], ["pt-BR"], True),
        (["pt-BR"], ["pt-br"], True),
        (["pt-BR"], ["pt"], False),
        (["pt-BR"], ["pt-PT"], False),
        (["pt"], ["pt-BR"], True),
        (["zh-Hant"], ["zh-Hant-TW"], True),
        (["de", "ja"], ["en", "ja"], True),
        (["de"], ["en", "fr"], False),
    ],
)
def test_languages_by_bcp47_prefix(wanted: list[str], langs: list[str], passes: bool):
    result = check(make_post(langs=langs), languages=wanted)
    assert result == (None if passes else Rejection.LANGUAGE)


def test_posts_without_language():
    post = make_post(langs=[])
    assert check(post, languages=["en"]) is None, "included by default"
    assert check(post, languages=["en"], postsWithoutLanguage="exclude") == Rejection.NO_LANGUAGE
    assert check(post, postsWithoutLanguage="exclude") is None, "no language filter, no language check"
    no_langs_field = make_post()
    del no_langs_field.record["langs"]
    assert check(no_langs_field, languages=["en"], postsWithoutLanguage="exclude") == Rejection.NO_LANGUAGE


# --- hashtags ---


def test_hashtags_case_insensitively_without_hash():
    post = make_post("Release day #Python #K8s")
    assert check(post, includeHashtags=["python"]) is None
    assert check(post, includeHashtags=["rust", "k8s"]) is None
    assert check(post, includeHashtags=["rust"]) == Rejection.MISSING_HASHTAG
    assert check(post, excludeHashtags=["K8S"]) == Rejection.EXCLUDED_HASHTAG
    assert check(make_post("plain #Python mention", facets=[]), includeHashtags=["python"]) == (
        Rejection.MISSING_HASHTAG
    )


# --- words ---


@pytest.mark.parametrize(
    ("word", "text", "matches"),
    [
        ("go", "Go is good", True),
        ("go", "good golang", False),
        ("go", "let's GO!", True),
        ("go", "#go", True),
        ("go", "go_lang", False),
        ("golang", "I ❤️ #golang", True),
        ("kubernetes operator", "a Kubernetes   operator", True),
        ("kubernetes operator", "a kubernetes\noperator", True),
        ("kubernetes operator", "kubernetes operators", False),
        ("kubernetes operator", "kubernetes, operator", False),
        ("Grüße", "viele GRÜSSE aus Köln", True),
        ("grüsse", "Liebe Grüße", True),
        ("grüße", "grüßen", False),
        ("café", "un CAFÉ noir", True),
        ("café", unicodedata.normalize("NFD", "un café noir"), True),
        ("cafe", "un café noir", False),
        ("cafe", unicodedata.normalize("NFD", "un café noir"), False),
        ("python", "python🐍rocks", True),
        ("🐍", "python🐍rocks", True),
        ("c++", "I write C++ daily", True),
        ("c++", "abc++", False),
        ("東京", "今日は東京に行く", True),
        ("ラーメン", "昨日ラーメンを食べた", True),
        ("python", "我爱Python编程", True),
        ("서울", "서울에서 만나요", True),
        ("สวัสดี", "สวัสดีครับ", True),
        ("東京 タワー", "東京タワーへ", True),
        ("go", "go東京", True),
        ("go", "gone東京", False),
        ("Ελλάδα", "ΕΛΛΆΔΑ", True),
        ("word", "", False),
    ],
)
def test_words_are_whole_case_insensitive_and_unicode_aware(word: str, text: str, matches: bool):
    post = make_post(text, facets=[])
    assert (check(post, excludeWords=[word]) == Rejection.EXCLUDED_WORD) is matches
    assert (check(post, includeWords=[word]) is None) is matches


def test_words_are_searched_in_alt_texts_and_the_quoted_post():
    in_alt = make_post("look", embed=images("a kubernetes operator diagram"))
    in_video = make_post("look", embed=video("Kubernetes operator demo"))
    in_quote = make_post("look", embed=quote("writing a Kubernetes operator"))
    in_rwm = make_post("look", embed=with_media(quote("kubernetes operator"), images("x")))
    for post in (in_alt, in_video, in_quote, in_rwm):
        assert check(post, includeWords=["kubernetes operator"]) is None
        assert check(post, excludeWords=["kubernetes operator"]) == Rejection.EXCLUDED_WORD
    link = make_post("look", embed=external("Kubernetes operator"))
    assert check(link, includeWords=["kubernetes operator"]) == Rejection.MISSING_WORD


def test_a_phrase_does_not_span_text_and_alt_text():
    post = make_post("all about kubernetes", embed=images("operator at work"))
    assert check(post, includeWords=["kubernetes operator"]) == Rejection.MISSING_WORD


def test_blank_words_are_ignored():
    assert check(make_post("anything"), includeWords=["  "]) is None
    assert check(make_post("anything"), excludeWords=[" ", "anything"]) == Rejection.EXCLUDED_WORD


def test_regex_metacharacters_in_words_are_literal():
    assert check(make_post("a.b"), excludeWords=["a.b"]) == Rejection.EXCLUDED_WORD
    assert check(make_post("axb"), excludeWords=["a.b"]) is None


# --- patterns ---


def test_patterns_are_case_insensitive_python_regexes_over_every_text():
    post = make_post("Version 3.13 is OUT", embed=images("screenshot of PEP 745"))
    assert check(post, includePatterns=[r"version \d+\.\d+"]) is None
    assert check(post, includePatterns=[r"^screenshot of pep \d+$"]) is None
    assert check(post, includePatterns=[r"rust", r"pep"]) is None
    assert check(post, includePatterns=[r"^is out"]) == Rejection.MISSING_PATTERN
    assert check(post, excludePatterns=[r"\bout\b"]) == Rejection.EXCLUDED_PATTERN
    assert check(post, excludePatterns=[r"out.*screenshot"]) is None, "one text at a time"


def test_patterns_see_composed_text():
    post = make_post(unicodedata.normalize("NFD", "Crème brûlée"))
    assert check(post, excludePatterns=["crème"]) == Rejection.EXCLUDED_PATTERN


# Posts made to make a backtracking engine try every way to split them. Python's re needs about 10 s
# for `(a+)+$` over 26 characters, twice that for each one more; these are 100,000 characters long.
HOSTILE = {
    "nested-quantifiers": (r"(a+)+$", "a" * 100_000 + "!", False),
    "overlapping-alternatives": (r"(a|aa)+b", "a" * 100_000, False),
    "polynomial": (r"(.*a){20}", "a" * 19 + "b" * 100_000, False),
    "words-and-spaces": (r"^(\w+\s?)+$", "word " * 20_000 + "!", False),
    "automaton-blowup": (r"[ab]*a[ab]{20}x", "ab" * 50_000, False),
    "found-at-the-end": (r"(a+)+$", "!" + "a" * 100_000, True),
}


# A stop, not a measurement: each case takes under 50 ms here, building the post included (RE2 is
# linear in the text; in automaton-blowup its DFA keeps running out of its memory budget and it goes
# on without); 10 s leaves room for a busy machine, and a backtracking engine would not finish
# before the sun goes out.
@pytest.mark.timeout(10)
@pytest.mark.parametrize(("pattern", "text", "matches"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_pattern_built_to_backtrack_judges_a_100000_character_post_in_linear_time(
    pattern: str, text: str, matches: bool
) -> None:
    post = make_post(text)
    assert check(post, includePatterns=[pattern]) == (None if matches else Rejection.MISSING_PATTERN)
    assert check(post, excludePatterns=[pattern]) == (Rejection.EXCLUDED_PATTERN if matches else None)


def test_patterns_fold_case_across_scripts_and_their_perl_classes_are_ascii_as_in_re2():
    """Where RE2 and Python's re differ, what a bot's patterns do (the fields' descriptions say so)."""
    post = make_post("ΣΊΣΥΦΟΣ ordered CRÈME BRÛLÉE at the café 🐍 on day ٣")
    assert check(post, includePatterns=["σίσυφος"]) is None  # final sigma too
    assert check(post, includePatterns=["crème brûlée"]) is None
    assert check(post, includePatterns=[r"the \p{L}+ . on"]) is None, "\\p{L}: any letter; '.': one emoji"
    assert check(post, includePatterns=[r"\p{Greek}{7}"]) is None, "Unicode scripts"
    # \w, \d, \s and \b are ASCII in RE2, not Unicode as in Python: "café" ends in a non-word character.
    assert check(post, includePatterns=[r"\bcafé\b"]) == Rejection.MISSING_PATTERN
    assert check(post, includePatterns=[r"day \d"]) == Rejection.MISSING_PATTERN
    assert check(post, includePatterns=[r"day \p{Nd}"]) is None
