"""How fast the reposter's filters judge candidates: 10,000 varied posts through a bot with every filter on.

The posts are post views as the AppView returns them (facets, images, videos, quotes, link
cards, labels, replies; English, German, Japanese, emoji), parsed with the PostView model
before the clock starts. Prints one row: the PostView parse rate for scale, Candidate
construction, check() on fresh candidates (which derives what it reads) and again on the
same candidates (derived values cached), PostFilter compilation (the first, so with the
lazily compiled regex of unspaced scripts), how many passed, and the process's RSS after
its imports and at its peak.

    .venv/bin/python benchmarks/reposter_filters.py [N]      # default: 10000

Target: check() on fresh candidates >= 20,000 a second, so that a run's largest harvest
(10 sources x 10 pages x 100 posts) costs under half a second.
"""

from __future__ import annotations

import random
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from skybots.bluesky.models import PostView
from skybots.bots import Filters, HashtagSource, SearchSource, Source
from skybots.reposter.candidates import Candidate
from skybots.reposter.filters import PostFilter

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BOT = "did:plc:b0tb0tb0tb0tb0tb0tb0tb0t"
CID = "bafyreib2rxk3rybk3aobmv5msrxhwrcupisrnq7egkkbqfy7m7mphfhc3e"
REPEATS = 5
VOCABULARY = (
    "the a kubernetes operator python release today cluster helm chart deploy rust golang "
    "Grüße aus Köln Straße café crème brûlée 東京 ラーメン 今日は 🐍 🚀 ✨ crypto giveaway "
    "bug fix review merged pull request testing async await pydantic fastapi docs"
)
WORDS = VOCABULARY.split()
TAGS = ["python", "Python", "golang", "rust", "k8s", "DevOps", "nsfw", "100DaysOfCode", "Kubernetes"]
LANGS = [["en"], ["en-US"], ["de"], ["ja"], ["pt-BR"], [], ["en", "de"]]
LABELS = ["porn", "bot", "!warn", "graphic-media"]

FILTERS = Filters.model_validate(
    {
        "languages": ["en", "de", "ja"],
        "includeWords": ["kubernetes operator", "python", "helm", "東京", "grüße", "🐍", "rust", "docs"],
        "excludeWords": ["crypto", "giveaway", "nft", "airdrop", "casino"],
        "includePatterns": [r"\brelease[sd]?\b", r"v\d+\.\d+", r"pull request"],
        "excludePatterns": [r"https?://bit\.ly/", r"(?:buy|sell)\s+now"],
        "includeHashtags": ["python", "golang", "rust", "k8s", "kubernetes"],
        "excludeHashtags": ["nsfw", "spam"],
        "excludeQuotes": False,
        "minLikes": 1,
        "maxAge": "24h",
        "authors": {"deny": ["spammer.test", "did:plc:spamspamspamspamspamspam"]},
    }
)
SOURCES: list[Source] = [
    HashtagSource(type="hashtag", tag="python"),
    SearchSource(type="search", query="python"),
]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_json(rng: random.Random, i: int) -> dict[str, Any]:
    did = f"did:plc:{i:024d}"
    tags = rng.sample(TAGS, rng.randint(0, 3))
    text = " ".join(rng.choices(WORDS, k=rng.randint(5, 40)) + [f"#{tag}" for tag in tags])
    facets = []
    for tag in tags:
        start = len(text[: text.index(f"#{tag}")].encode())
        facets.append(
            {
                "$type": "app.bsky.richtext.facet",
                "index": {"byteStart": start, "byteEnd": start + len(f"#{tag}".encode())},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
    created = NOW - timedelta(minutes=rng.randint(1, 30 * 60))
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": iso(created),
        "langs": rng.choice(LANGS),
        "text": text,
        "facets": facets,
    }
    view: dict[str, Any] = {
        "uri": f"at://{did}/app.bsky.feed.post/3l{i:011d}",
        "cid": CID,
        "author": {
            "did": did,
            "handle": f"user{i}.bsky.social",
            "displayName": f"User {i}",
            "viewer": {"muted": rng.random() < 0.01, "blockedBy": rng.random() < 0.01},
            "labels": [],
        },
        "record": record,
        "replyCount": rng.randint(0, 5),
        "repostCount": rng.randint(0, 5),
        "likeCount": rng.randint(0, 50),
        "quoteCount": 0,
        "indexedAt": iso(created + timedelta(seconds=rng.randint(0, 5))),
        "viewer": {},
        "labels": [],
    }
    if rng.random() < 0.03:
        view["labels"] = [{"src": did, "uri": view["uri"], "val": rng.choice(LABELS), "cts": iso(NOW)}]
    if rng.random() < 0.1:
        ref = {"uri": f"at://did:plc:{0:024d}/app.bsky.feed.post/3kparent", "cid": CID}
        record["reply"] = {"root": ref, "parent": ref}
    kind = rng.choice(["none", "none", "images", "video", "quote", "quote+images", "external"])
    alt = " ".join(rng.choices(WORDS, k=rng.randint(0, 20)))
    images = {"$type": "app.bsky.embed.images#view", "images": [{"thumb": "t", "fullsize": "f", "alt": alt}]}
    video = {"$type": "app.bsky.embed.video#view", "cid": CID, "playlist": "p", "alt": alt}
    quoted_uri = f"at://did:plc:{1:024d}/app.bsky.feed.post/3kquoted"
    quote = {
        "$type": "app.bsky.embed.record#view",
        "record": {
            "$type": "app.bsky.embed.record#viewRecord",
            "uri": quoted_uri,
            "cid": CID,
            "author": {"did": "did:plc:q", "handle": "q.test"},
            "value": {"$type": "app.bsky.feed.post", "text": " ".join(rng.choices(WORDS, k=20))},
            "indexedAt": iso(NOW),
        },
    }
    external = {"$type": "app.bsky.embed.external#view", "external": {"uri": "https://e", "title": "T"}}
    blob = {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/jpeg", "size": 1000}
    stored_images = {"$type": "app.bsky.embed.images", "images": [{"alt": alt, "image": blob}]}
    stored_quote = {"$type": "app.bsky.embed.record", "record": {"uri": quoted_uri, "cid": CID}}
    embeds = {  # the record's embed, and the AppView's view of it
        "images": (stored_images, images),
        "video": ({"$type": "app.bsky.embed.video", "video": blob, "alt": alt}, video),
        "quote": (stored_quote, quote),
        "quote+images": (
            {"$type": "app.bsky.embed.recordWithMedia", "record": stored_quote, "media": stored_images},
            {"$type": "app.bsky.embed.recordWithMedia#view", "record": quote, "media": images},
        ),
        "external": (
            {"$type": "app.bsky.embed.external", "external": {"uri": "https://e", "title": "T"}},
            external,
        ),
    }
    if kind in embeds:
        record["embed"], view["embed"] = embeds[kind]
    return view


def best_rate(count: int, run: Callable[[], object]) -> float:
    """Items a second over the fastest of REPEATS runs."""
    return count / min(seconds(run) for _ in range(REPEATS))


def seconds(run: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    run(*args)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(count: int) -> None:
    import_mb = peak_rss_mb()
    rng = random.Random(42)
    raw = [post_json(rng, i) for i in range(count)]
    parse = best_rate(count, lambda: [PostView.model_validate(item) for item in raw])
    posts = [PostView.model_validate(item) for item in raw]
    pairs = [(post, SOURCES[i % 2]) for i, post in enumerate(posts)]

    construct = best_rate(count, lambda: [Candidate.from_post(post, source) for post, source in pairs])
    compile_ms = seconds(PostFilter, FILTERS, BOT, NOW) * 1000
    post_filter = PostFilter(FILTERS, BOT, NOW)

    def judge(candidates: list[Candidate]) -> list[object]:
        return [post_filter.check(candidate) for candidate in candidates]

    fresh_times = []
    for _ in range(REPEATS):
        candidates = [Candidate.from_post(post, source) for post, source in pairs]
        fresh_times.append(seconds(judge, candidates))
    fresh = count / min(fresh_times)
    cached = best_rate(count, lambda: judge(candidates))
    accepted = judge(candidates).count(None)

    header = (
        "candidates",
        "PostView parse/s",
        "Candidate()/s",
        "check()/s fresh",
        "check()/s cached",
        "PostFilter() ms",
        "accepted",
        "RSS after import MB",
        "peak RSS MB",
    )
    row = (
        f"{count:,}",
        f"{parse:,.0f}",
        f"{construct:,.0f}",
        f"{fresh:,.0f}",
        f"{cached:,.0f}",
        f"{compile_ms:.2f}",
        f"{accepted:,}",
        f"{import_mb:.0f}",
        f"{peak_rss_mb():.0f}",
    )
    widths = [max(len(h), len(r)) for h, r in zip(header, row, strict=True)]
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    print(" | ".join(r.rjust(w) for r, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
