"""The reposter against Bluesky's reference network (PDS + AppView), Redis and S3 (moto).

Each test runs `skybots reposter run` as a process, as the CronJob does, through a proxy that
records what it asked of the PDS. Assertions are what the AppView shows (viewer.repost,
repostCount), what the bot's repo holds (a double repost would be a second record), and the
run's report.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from skybots.bluesky.egress import PRIVATE_ADDRESSES_ALLOWED
from skybots.bots import BotConfig, HashtagSource
from skybots.reposter.config import ReposterSettings
from skybots.reposter.run import run_bot
from skybots.reposter.sources import source_id
from skybots.stores.redis import RedisCache
from tests.support.atproto import Account, AtprotoNetwork, Record
from tests.support.aws import REGION
from tests.support.operator import eventually
from tests.support.reposter import (
    Bot,
    Outcome,
    fernet_key,
    outcome_of,
    platform_keys,
    reposted_by,
    run_reposter,
)
from tests.support.services import RedisServer, readable_tokens, redis_text
from tests.support.xrpc_proxy import XrpcProxy, xrpc_proxy

SEARCH = "app.bsky.feed.searchPosts"
CREATE_RECORD = "com.atproto.repo.createRecord"
CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"


@pytest.fixture
async def proxy(atproto_network: AtprotoNetwork) -> AsyncIterator[XrpcProxy]:
    async with xrpc_proxy(atproto_network.pds_url) as running:
        yield running


@pytest.fixture
def bot(
    atproto_network: AtprotoNetwork,
    proxy: XrpcProxy,
    redis_server: RedisServer,
    redis_url: str,
    aws: str,
    tmp_path: Path,
) -> Bot:
    """A bot's run as its CronJob starts it: the operator's settings and the platform's Secrets."""
    account = atproto_network.create_account("bot")
    boto3.client("s3", region_name=REGION, endpoint_url=aws).create_bucket(
        Bucket="dedup", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    bot = Bot(account, atproto_network.create_app_password(account), tmp_path, proxy.url)
    assert redis_server.password
    bot.env = {
        "SKYBOTS_ALLOW_PRIVATE_ADDRESSES": "true",  # the test network is on loopback
        "SKYBOTS_APP_PASSWORD": bot.app_password,
        "SKYBOTS_REDIS_URL": redis_server.address,
        "SKYBOTS_REDIS_PASSWORD": redis_server.password,
        **platform_keys(),
        "SKYBOTS_S3_BUCKET": "dedup",
        "SKYBOTS_S3_ENDPOINT_URL": aws,
        "AWS_REGION": REGION,
    }
    return bot


def word() -> str:
    """A word no other test posts: the session shares one network, and dev-env search is a substring match."""
    return "w" + uuid.uuid4().hex[:10]


def cards(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A report's post cards, their times as datetimes."""
    return [{**card, "createdAt": datetime.fromisoformat(card["createdAt"])} for card in listed]


def written_at(post: Record) -> datetime:
    return datetime.fromisoformat(post.value["createdAt"])


def tagged_posts(network: AtprotoNetwork, author: Account, tag: str, count: int) -> list[str]:
    uris = [network.post(author, f"news number {n}", tags=[tag], langs=["en"]).uri for n in range(count)]
    network.process_all()
    return uris


def watched_posts(network: AtprotoNetwork, bot: Bot, count: int) -> tuple[list[str], Path]:
    """`count` posts under a hashtag of their own, and the config of the bot that watches it."""
    tag = word()
    uris = tagged_posts(network, network.create_account("author"), tag, count)
    return uris, bot.config(sources=[{"type": "hashtag", "tag": tag}])


def forget_sessions(redis_url: str) -> None:
    """Every stored session gone (as when its refresh token expired): the next run must log in."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*client.keys("skybots:session:*"))


# --- reposting, once ---------------------------------------------------------------------------


async def test_a_hashtag_bot_reposts_what_carries_the_tag_once(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    author = net.create_account("author")
    uris = tagged_posts(net, author, tag, 3)
    untagged = net.post(
        author, f"the text says #{tag} but it is no hashtag facet"
    ).uri  # dev-env search finds it
    lookalike = net.post(author, "a longer tag", tags=[tag + "ish"]).uri
    net.process_all()

    config = bot.config(sources=[{"type": "hashtag", "tag": tag}])
    first = await bot.run(config)
    assert first.exit_code == 0, first.stderr
    report = first.report
    assert report["outcome"] == "succeeded"
    assert report["reposted"] == 3
    assert (
        report["rejected"].get("not_tagged", 0) >= 1
    )  # the plain-text one; the lookalike too, if search found it
    assert report["logins"] == 1
    assert first.termination == report  # the operator reads the same report

    seen = reposted_by(net, bot.account, [*uris, untagged, lookalike])
    assert all(seen[uri] for uri in uris)
    assert not seen[untagged]
    assert not seen[lookalike]
    posts = net.query("app.bsky.feed.getPosts", None, uris=uris)["posts"]
    assert [p["repostCount"] for p in posts] == [1, 1, 1]

    proxy.calls.clear()
    second = await bot.run(config)
    assert second.report["reposted"] == 0
    assert second.report["duplicates"] == 3
    assert second.report["logins"] == 0  # the stored session, no login
    assert proxy.count(CREATE_SESSION) == 0
    assert proxy.count(CREATE_RECORD) == 0
    assert second.report["apiCalls"] == len(proxy.calls) == 1  # one page of search, nothing else
    assert sorted(proxy.reposts) == sorted(uris)


async def test_a_run_imports_no_cloud_or_cluster_library_it_does_not_need(
    atproto_network: AtprotoNetwork, bot: Bot
) -> None:
    config = bot.config(sources=[{"type": "search", "query": word()}])
    await bot.run(config)  # a cold cache: the S3 snapshot is read, so boto3 is imported
    bot.env["PYTHONPROFILEIMPORTTIME"] = "1"
    warm = await bot.run(config)  # nothing new, nothing written: no S3
    imported = {
        line.split("|")[-1].strip() for line in warm.stderr.splitlines() if line.startswith("import time:")
    }
    assert "redis" in imported  # the measurement works
    assert not imported & {"boto3", "botocore", "kubernetes_asyncio", "kopf", "fastapi", "pydantic_settings"}
    assert not imported & {"re2", "skybots.patterns"}  # no patterns, no regex engine


async def test_requests_are_pages_read_plus_reposts(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    author = net.create_account("author")
    config = bot.config(sources=[{"type": "hashtag", "tag": tag}])
    await bot.run(config)  # logs in, nothing to do yet
    tagged_posts(net, author, tag, 2)
    proxy.calls.clear()
    outcome = await bot.run(config)
    assert outcome.report["reposted"] == 2
    assert [nsid for _, nsid in proxy.calls] == [SEARCH, CREATE_RECORD, CREATE_RECORD]


@pytest.mark.parametrize("kind", ["search", "mentions", "author", "list", "feed"])
async def test_every_source_kind(atproto_network: AtprotoNetwork, bot: Bot, kind: str) -> None:
    net, marker = atproto_network, word()
    author = net.create_account("author")
    if kind == "mentions":
        uri = net.post(author, f"hey @{bot.account.handle} {marker}", mentions=[bot.account]).uri
    else:
        uri = net.post(author, f"something about {marker}").uri
    other = net.post(net.create_account("other"), f"unrelated {word()}").uri
    source: dict[str, Any] = {
        "search": {"type": "search", "query": marker},
        "mentions": {"type": "mentions"},
        "author": {"type": "author", "actor": author.did},
        "list": {"type": "list", "list": net.create_list(bot.account, "watched", [author]).uri},
        "feed": {"type": "feed", "feed": net.create_feed(bot.account, "picked", [uri]).uri},
    }[kind]
    net.process_all()

    outcome = await bot.run(sources=[source])
    assert outcome.report["outcome"] == "succeeded", outcome.stderr
    seen = reposted_by(net, bot.account, [uri, other])
    assert seen[uri]
    assert not seen[other]


# --- filters and limits ---------------------------------------------------------------------------


async def test_filters_reject_what_they_should_and_count_why(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    author, blocker = net.create_account("author"), net.create_account("blocker")
    keep = net.post(author, "kubernetes operators explained", tags=[tag], langs=["en"])
    rejected = {
        "language": net.post(author, "Kubernetes auf Deutsch", tags=[tag], langs=["de"]),
        "excluded_word": net.post(author, "we are hiring kubernetes people", tags=[tag], langs=["en"]),
        "reply": net.post(author, "a reply about kubernetes", tags=[tag], langs=["en"], reply_to=keep),
        "label": net.post(author, "kubernetes but spicy", tags=[tag], langs=["en"], labels=["porn"]),
        "self": net.post(bot.account, "my own kubernetes post", tags=[tag], langs=["en"]),
    }
    # Never candidates: the AppView hides the posts of authors who block the bot, and a post made
    # before the bot's maxAge is below the horizon its sources read to.
    net.post(blocker, "kubernetes from someone who blocks the bot", tags=[tag], langs=["en"])
    net.post(author, "old news", tags=[tag], langs=["en"], created_at=datetime.now(UTC) - timedelta(days=3))
    net.block(blocker, bot.account.did)
    net.process_all()

    outcome = await bot.run(
        sources=[{"type": "hashtag", "tag": tag}],
        filters={"languages": ["en"], "excludeWords": ["hiring"], "maxAge": "24h"},
    )
    report = outcome.report
    assert report["reposted"] == 1
    assert report["rejected"] == dict.fromkeys(rejected, 1)
    assert report["candidates"] == 1 + len(rejected)
    seen = reposted_by(net, bot.account, [keep.uri, *(r.uri for r in rejected.values())])
    assert seen.pop(keep.uri)
    assert not any(seen.values())
    assert proxy.reposts == [keep.uri]


async def test_patterns_built_to_backtrack_over_posts_built_for_them_cost_a_run_nothing(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    """A tenant's catastrophic patterns: on a backtracking engine each of these posts takes longer than
    the universe is old (2^280 ways to split 280 x's); the run has to judge all three and finish."""
    net, marker = atproto_network, word()  # the marker is hex: no x, no y
    author = net.create_account("author")
    xs = "x" * 280
    kept = net.post(author, f"{marker} {xs}").uri  # the exclusion tries every split, the inclusion matches
    missed = net.post(author, f"{marker} {xs}!").uri  # neither matches, after trying every split
    excluded = net.post(author, f"{marker} {xs}y").uri
    net.process_all()

    outcome = await bot.run(
        sources=[{"type": "search", "query": marker}],
        filters={"includePatterns": [r"(x+)+$"], "excludePatterns": [r"(x|xx)+y"]},
    )
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.report
    assert (report["outcome"], report["candidates"], report["reposted"]) == ("succeeded", 3, 1)
    assert report["rejected"] == {"missing_pattern": 1, "excluded_pattern": 1}
    assert proxy.reposts == [kept]
    assert not any(reposted_by(net, bot.account, [missed, excluded]).values())


async def test_a_dry_run_reposts_nothing_and_says_why(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    author = net.create_account("author")
    net.create_record(author, "app.bsky.actor.profile", {"displayName": "Anna <b>Author</b>"}, rkey="self")
    good = net.post(author, "good one", tags=[tag], langs=["en"])
    bad = net.post(author, "schlecht", tags=[tag], langs=["de"])
    net.process_all()

    proxy.calls.clear()
    outcome = await bot.run(
        None, "--dry-run", sources=[{"type": "hashtag", "tag": tag}], filters={"languages": ["en"]}
    )
    report = outcome.report
    assert (report["dryRun"], report["reposted"]) == (True, 1)
    # Cards from the post views the run read anyway: no request more than a real run makes.
    card = {"authorHandle": author.handle, "authorName": "Anna <b>Author</b>"}
    assert cards(report["wouldRepost"]) == [
        {**card, "uri": good.uri, "excerpt": f"good one #{tag}", "createdAt": written_at(good)}
    ]
    assert cards(report["rejectedPosts"]) == [
        {
            **card,
            "uri": bad.uri,
            "excerpt": f"schlecht #{tag}",
            "createdAt": written_at(bad),
            "reason": "language",
        }
    ]
    assert outcome.termination == report
    assert {nsid for _, nsid in proxy.calls} == {CREATE_SESSION, SEARCH}
    assert proxy.reposts == []
    # Nothing was taken away from the real run that follows: it reposts the same post.
    real = await bot.run(bot.workdir / f"{bot.name}.json")
    assert real.report["reposted"] == 1


async def test_a_dry_run_of_many_long_posts_shows_cards_of_both_lists_within_the_termination_message(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    """Posts as long as Bluesky takes, in 4-byte and 3-byte characters, with markup, by an author
    whose name is as long as Bluesky takes: stdout has every card; the termination message, which
    the operator reads, holds as many as fit, of both lists and both reasons, and all the counts."""
    net, tag = atproto_network, word()
    author = net.create_account("author")
    net.create_record(author, "app.bsky.actor.profile", {"displayName": "名前" * 32}, rkey="self")
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 25 bytes, one character
    kept = [net.post(author, family * 110, tags=[tag], langs=["en"]).uri for _ in range(12)]
    markup = '<img src=x onerror="alert(1)"> '
    german = [net.post(author, markup + "ü" * 200, tags=[tag], langs=["de"]).uri for _ in range(12)]
    japanese = [net.post(author, "日本語" * 90, tags=[tag], langs=["ja"]).uri for _ in range(12)]
    net.process_all()

    outcome = await bot.run(
        None,
        "--dry-run",
        sources=[{"type": "hashtag", "tag": tag}],
        filters={"languages": ["en", "ja"], "excludeWords": ["日本語"]},
        limits={"perRun": 50, "perHour": 100},
    )
    report, cut = outcome.report, outcome.termination
    assert outcome.exit_code == 0, outcome.stderr
    assert cut is not None
    assert len(json.dumps(cut, separators=(",", ":"), ensure_ascii=False).encode()) <= 4096
    counts = (report["reposted"], report["rejected"])
    assert counts == (12, {"language": 12, "excluded_word": 12}) == (cut["reposted"], cut["rejected"])
    assert {c["uri"] for c in report["wouldRepost"]} == set(kept)
    assert {c["uri"] for c in report["rejectedPosts"]} == set(german + japanese)
    shown = {reason: [c for c in cut["rejectedPosts"] if c["reason"] == reason] for reason in counts[1]}
    assert cut["wouldRepost"], "both lists and every reason have cards"
    assert all(shown.values())
    assert cut["wouldRepost"] == report["wouldRepost"][: len(cut["wouldRepost"])]
    for card in [*cut["wouldRepost"], *cut["rejectedPosts"]]:
        assert len(card["excerpt"]) <= 100
        assert len(card["excerpt"].encode()) <= 200
        assert card["authorName"] == "名前" * 12 + "名…"  # 80 bytes at most
    assert {c["excerpt"] for c in cut["wouldRepost"]} == {family * 7 + "…"}  # whole families only
    assert shown["language"][0]["excerpt"].startswith(markup)  # text, as written


async def test_limits_take_the_freshest_first_and_leave_the_rest_for_later_runs(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    author = net.create_account("author")
    uris = [
        net.post(
            author, f"post {n}", tags=[tag], created_at=datetime.now(UTC) - timedelta(minutes=10 - n)
        ).uri
        for n in range(5)
    ]
    net.process_all()
    config = bot.config(
        sources=[{"type": "hashtag", "tag": tag}], limits={"perRun": 2, "perHour": 3, "perDay": 10}
    )

    first = await bot.run(config)
    assert first.report["reposted"] == 2
    assert "perRun (2) limit reached: 3 matching posts left for later runs" in first.report["message"]
    assert sorted(proxy.reposts) == sorted(uris[3:])  # the two freshest

    second = await bot.run(config)
    assert second.report["reposted"] == 1  # perHour (3) allows one more
    third = await bot.run(config)
    assert third.report["reposted"] == 0
    assert "perHour (3) limit reached" in third.report["message"]
    assert sorted(proxy.reposts) == sorted(uris[2:])


async def test_a_source_reads_no_more_than_its_max_pages(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    author = net.create_account("author")
    for n in range(105):
        net.post(author, f"post {n}", tags=[tag])
    net.process_all()
    outcome = await bot.run(sources=[{"type": "hashtag", "tag": tag, "maxPages": 1}], limits={"perRun": 1})
    assert outcome.report["candidates"] == 100  # one page of 100
    assert proxy.count(SEARCH) == 1


async def test_posts_past_max_pages_are_read_by_later_runs_and_the_reports_say_so(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 150)
    config = bot.config(
        sources=[{"type": "hashtag", "tag": tag, "maxPages": 1}],
        limits={"perRun": 50, "perHour": 200, "perDay": 200},
    )
    reports = []
    for run in range(5):
        proxy.calls.clear()
        if run == 1:  # the cursor kept for it is refused (expired, say): it costs a page, not the posts
            proxy.fail(SEARCH, 400, body=b'{"error":"InvalidRequest","message":"malformed cursor"}')
        reports.append((await bot.run(config)).report)
        assert reports[-1]["outcome"] == "succeeded"
        assert proxy.count(SEARCH) == 1 + (run == 1)  # never more pages than maxPages

    assert sorted(proxy.reposts) == sorted(uris)  # all 150, none twice
    assert sum(report["reposted"] for report in reports) == len(uris)
    first = reports[0]["message"]
    assert "perRun (50) limit reached: 50 matching posts left for later runs" in first
    assert (
        "maxPages reached, posts not read yet (later runs read them): sources[0] (hashtag) before " in first
    )
    # Everything read: no later report claims posts unread.
    assert all("not read yet" not in report["message"] for report in reports[-2:])


async def test_a_watermark_kept_by_an_earlier_version_still_bounds_the_reading(
    atproto_network: AtprotoNetwork, bot: Bot, redis_url: str
) -> None:
    import redis

    tag = word()
    tagged_posts(atproto_network, atproto_network.create_account("author"), tag, 2)
    source = {"type": "hashtag", "tag": tag}
    earlier = datetime.now(UTC).isoformat()  # a bare time: what the watermarks map held before backlogs
    field = source_id(HashtagSource.model_validate(source))
    redis.Redis.from_url(redis_url).hset(f"skybots:watermarks:team/{bot.name}", field, earlier)
    bot.env["SKYBOTS_WATERMARK_OVERLAP_SECONDS"] = "0"
    outcome = await bot.run(sources=[source])
    assert (outcome.report["candidates"], outcome.report["reposted"]) == (0, 0)


async def test_the_write_budget_of_the_account_stops_the_run(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    tagged_posts(net, net.create_account("author"), tag, 3)
    bot.env["SKYBOTS_WRITE_POINTS_PER_HOUR"] = "6"  # two reposts' worth
    outcome = await bot.run(sources=[{"type": "hashtag", "tag": tag}])
    assert outcome.exit_code == 0
    assert outcome.report["outcome"] == "rateLimited"
    assert outcome.report["reposted"] == 2
    assert "write budget" in outcome.report["message"]
    assert len(proxy.reposts) == 2


async def test_the_shared_request_budget_ends_a_run_it_cannot_wait_for(bot: Bot, proxy: XrpcProxy) -> None:
    bot.env |= {"SKYBOTS_EGRESS_RATE": "0.01", "SKYBOTS_EGRESS_BURST": "1", "SKYBOTS_DEADLINE_SECONDS": "5"}
    outcome = await bot.run(sources=[{"type": "search", "query": word()}])  # a login, then a search
    assert outcome.report["outcome"] == "rateLimited"
    assert "shared request budget" in outcome.report["message"]
    assert len(proxy.calls) == 1


async def test_one_tenants_many_runs_cannot_starve_another_tenants_run(
    atproto_network: AtprotoNetwork, redis_url: str
) -> None:
    """An abuser's six bots of ten sources each run at once, in-process, against the network; the
    victim's run of three requests comes while they have the small shared budget (4 a second)
    spent. Each tenant goes through its own proxy, which counts what it got through."""
    net, cache = atproto_network, RedisCache(redis_url)
    abuser, victim = net.create_account("abuser"), net.create_account("victim")
    passwords = {
        abuser.handle: net.create_app_password(abuser),
        victim.handle: net.create_app_password(victim),
    }
    keys = platform_keys()  # one platform: every run reads the sessions the others stored

    def run(tenant: str, name: str, account: Account, proxy: XrpcProxy, sources: int) -> Any:
        config = BotConfig.model_validate(
            {
                "namespace": "team",
                "name": name,
                "tenant": tenant,
                "spec": {
                    "account": {
                        "handle": account.handle,
                        "service": proxy.url,
                        "credentialsSecretRef": {"name": name},
                    },
                    "sources": [{"type": "search", "query": word()} for _ in range(sources)],
                },
            }
        )
        settings = ReposterSettings(
            app_password=passwords[account.handle],
            credential_key=keys["SKYBOTS_CREDENTIAL_KEY"],
            session_keys=keys["SKYBOTS_SESSION_KEYS"],
            redis_url=redis_url,
            egress_rate=4,
            egress_burst=4,
            allow_private_addresses=True,
        )
        return run_bot(config, settings, cache=cache, objects=None)

    allowed = PRIVATE_ADDRESSES_ALLOWED.set(True)  # as `skybots reposter run` sets it: loopback proxies
    try:
        async with xrpc_proxy(net.pds_url) as abusers, xrpc_proxy(net.pds_url) as victims:
            assert (await run("user/victim", "victim", victim, victims, 1)).logins == 1
            assert (await run("user/abuser", "a0", abuser, abusers, 1)).logins == 1
            flood = [asyncio.create_task(run("user/abuser", f"a{n}", abuser, abusers, 10)) for n in range(6)]

            async def burst_spent() -> bool:
                return len(abusers.calls) >= 2 + 8  # the warm-up run's calls, then more than the burst

            await eventually(burst_spent, what="the abuser spending the burst")
            before = len(abusers.calls)
            report = await run("user/victim", "victim", victim, victims, 3)
            abuser_meanwhile = len(abusers.calls) - before
            for task in flood:
                task.cancel()
            await asyncio.gather(*flood, return_exceptions=True)
    finally:
        PRIVATE_ADDRESSES_ALLOWED.reset(allowed)
        await cache.close()
    assert report.outcome == "succeeded"
    assert report.api_calls == len(victims.calls) - 2 == 3
    # Fair: about as many as the victim's 3 (each tenant 2 a second), and a token or two either
    # side of the victim's requests. Unfair, the victim's are 3 of 63 requests waiting for each token.
    print(f"abuser meanwhile {abuser_meanwhile}, victim's run {report.finished_at - report.started_at}")
    assert abuser_meanwhile <= 3 + 5, abuser_meanwhile


async def test_an_unreachable_cache_is_a_failed_run_with_a_report(bot: Bot, proxy: XrpcProxy) -> None:
    bot.env["SKYBOTS_REDIS_URL"] = "redis://127.0.0.1:9/0"
    outcome = await bot.run(sources=[{"type": "mentions"}])
    assert outcome.exit_code == 1
    assert outcome.report["outcome"] == "failed"
    assert "ConnectionError" in outcome.report["message"]
    assert proxy.calls == []


# --- sessions and credentials ----------------------------------------------------------------------


async def test_an_expired_access_token_is_refreshed_not_logged_in_again(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    config = bot.config(sources=[{"type": "search", "query": word()}])
    assert (await bot.run(config)).report["logins"] == 1
    proxy.fail(SEARCH, 400, body=b'{"error":"ExpiredToken","message":"Token has expired"}')
    outcome = await bot.run(config)
    assert outcome.report["outcome"] == "succeeded"
    assert outcome.report["logins"] == 0
    assert proxy.count("com.atproto.server.refreshSession") == 1


async def test_a_wrong_app_password_is_an_auth_failure(bot: Bot) -> None:
    bot.env["SKYBOTS_APP_PASSWORD"] = "aaaa-bbbb-cccc-dddd"
    outcome = await bot.run(sources=[{"type": "mentions"}])
    assert outcome.exit_code == 3
    assert outcome.report["outcome"] == "authFailed"
    assert "refused the app password" in outcome.report["message"]
    assert bot.app_password not in outcome.stderr + str(outcome.report)


async def test_logins_are_capped_per_day(bot: Bot, proxy: XrpcProxy, redis_url: str) -> None:
    bot.env["SKYBOTS_LOGINS_PER_DAY"] = "2"
    config = bot.config(sources=[{"type": "mentions"}])
    for _ in range(2):
        assert (await bot.run(config)).report["logins"] == 1
        forget_sessions(redis_url)
    capped = await bot.run(config)
    assert capped.exit_code == 3
    assert "logged in 2 times today" in capped.report["message"]
    assert proxy.count(CREATE_SESSION) == 2  # the third login was never tried


async def test_another_tenants_bot_with_your_handle_never_runs_on_your_session(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy, redis_url: str, tmp_path: Path
) -> None:
    """Mallory makes a bot in her own namespace with the victim's handle and passwords she guesses."""
    net, tag = atproto_network, word()
    sources = [{"type": "hashtag", "tag": tag}]
    victim = bot.config(sources=sources)
    assert (await bot.run(victim)).report["logins"] == 1  # the victim's session is stored
    uris = tagged_posts(net, net.create_account("author"), tag, 2)
    (tmp_path / "mallory").mkdir()
    mallory = Bot(bot.account, "", tmp_path / "mallory", bot.service, dict(bot.env), namespace="mallory")
    attack = mallory.config(sources=sources)
    proxy.answers.clear()
    for guess in range(10):  # ten runs, each with another password (her Secret changed each time)
        mallory.env["SKYBOTS_APP_PASSWORD"] = f"guess-{guess:04d}-xxxx-yyyy"
        outcome = await mallory.run(attack)
        assert (outcome.report["outcome"], outcome.report["reposted"]) == ("authFailed", 0)
    assert proxy.answers == [(CREATE_SESSION, 401)] * 10  # a login the PDS refused, and nothing else
    assert proxy.reposts == []

    mine = await bot.run(victim)  # the victim's bot goes on with its stored session
    assert (mine.report["outcome"], mine.report["logins"], mine.report["reposted"]) == ("succeeded", 0, 2)
    assert sorted(proxy.reposts) == sorted(uris)
    forget_sessions(redis_url)
    again = await bot.run(victim)  # ...and logs in when it must: the ten refusals were not its logins
    assert (again.report["outcome"], again.report["logins"]) == ("succeeded", 1)


async def test_a_refused_app_password_is_not_tried_again_until_the_secret_changes(
    bot: Bot, proxy: XrpcProxy
) -> None:
    right = bot.app_password
    bot.env["SKYBOTS_APP_PASSWORD"] = "aaaa-bbbb-cccc-dddd"
    config = bot.config(sources=[{"type": "mentions"}])
    assert (await bot.run(config)).report["outcome"] == "authFailed"
    assert proxy.answers == [(CREATE_SESSION, 401)]
    for _ in range(3):
        outcome = await bot.run(config)
        assert (outcome.exit_code, outcome.report["outcome"], outcome.report["logins"]) == (
            3,
            "authFailed",
            0,
        )
        assert "refused this app password" in outcome.report["message"]
    assert proxy.calls == [("POST", CREATE_SESSION)]  # the first refusal, and no request since

    bot.env["SKYBOTS_APP_PASSWORD"] = right  # the owner puts the right one into the Secret
    fixed = await bot.run(config)
    assert (fixed.report["outcome"], fixed.report["logins"]) == ("succeeded", 1)


async def test_the_account_keeps_a_daily_cap_that_only_accepted_logins_count_toward(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy, redis_url: str
) -> None:
    """Two bots of one owner, each with an app password of its own, share the account's cap."""
    bot.env["SKYBOTS_LOGINS_PER_DAY"] = "2"
    bot.env["SKYBOTS_APP_PASSWORD"] = "aaaa-bbbb-cccc-dddd"  # refused: not one of the account's logins
    config = bot.config(sources=[{"type": "mentions"}])
    assert (await bot.run(config)).report["outcome"] == "authFailed"
    bot.env["SKYBOTS_APP_PASSWORD"] = bot.app_password
    for _ in range(2):
        assert (await bot.run(config)).report["logins"] == 1
        forget_sessions(redis_url)
    bot.env["SKYBOTS_APP_PASSWORD"] = atproto_network.create_app_password(bot.account, "second-bot")
    capped = await bot.run(config)
    assert (capped.exit_code, capped.report["logins"]) == (3, 0)
    assert "logged in 2 times today" in capped.report["message"]
    assert proxy.count(CREATE_SESSION) == 3  # the refused one and two accepted; the fourth was never tried


async def test_redis_holds_no_readable_token(bot: Bot, redis_url: str) -> None:
    config = bot.config(sources=[{"type": "mentions"}])
    assert (await bot.run(config)).report["logins"] == 1
    assert (await bot.run(config)).report["logins"] == 0  # a session is stored...
    stored = redis_text(redis_url)
    assert "skybots:session:" in stored
    assert readable_tokens(redis_url) == []  # ...and no token in it can be read
    assert bot.app_password not in stored


async def test_session_keys_rotate_the_newest_encrypts_and_all_decrypt(bot: Bot, proxy: XrpcProxy) -> None:
    old, new, unrelated = fernet_key(), fernet_key(), fernet_key()
    config = bot.config(sources=[{"type": "search", "query": word()}])
    bot.env["SKYBOTS_SESSION_KEYS"] = old
    assert (await bot.run(config)).report["logins"] == 1

    bot.env["SKYBOTS_SESSION_KEYS"] = f"{new},{old}"  # a new key added first: the old session still reads
    proxy.fail(SEARCH, 400, body=b'{"error":"ExpiredToken","message":"Token has expired"}')
    refreshed = await bot.run(config)  # ...and the refreshed one is written under the new key
    assert (refreshed.report["outcome"], refreshed.report["logins"]) == ("succeeded", 0)
    assert proxy.count(REFRESH_SESSION) == 1
    bot.env["SKYBOTS_SESSION_KEYS"] = new  # the old key retired
    assert (await bot.run(config)).report["logins"] == 0

    bot.env["SKYBOTS_SESSION_KEYS"] = unrelated  # no key reads the stored session: it is absent, no error
    lost = await bot.run(config)
    assert (lost.report["outcome"], lost.report["logins"]) == ("succeeded", 1)


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SKYBOTS_SESSION_KEYS", None, "SKYBOTS_SESSION_KEYS: not set"),
        ("SKYBOTS_SESSION_KEYS", "c2VjcmV0LXRleHQ=", "SKYBOTS_SESSION_KEYS: key 2 is not a Fernet key"),
        ("SKYBOTS_CREDENTIAL_KEY", None, "SKYBOTS_CREDENTIAL_KEY: not set"),
        (
            "SKYBOTS_CREDENTIAL_KEY",
            "short-secret",
            "SKYBOTS_CREDENTIAL_KEY: at least 32 characters are needed",
        ),
    ],
)
async def test_platform_keys_that_cannot_work_stop_the_run_naming_the_variable(
    bot: Bot, proxy: XrpcProxy, variable: str, value: str | None, problem: str
) -> None:
    if value is None:
        del bot.env[variable]
    else:
        bot.env[variable] = value if variable != "SKYBOTS_SESSION_KEYS" else f"{fernet_key()},{value}"
    outcome = await bot.run(sources=[{"type": "mentions"}])
    assert (outcome.exit_code, outcome.report["outcome"]) == (2, "invalidConfig")
    assert problem in outcome.stderr
    assert value is None or value not in outcome.stderr + str(outcome.report)
    assert proxy.calls == []


async def test_redis_takes_no_command_without_its_password(bot: Bot, proxy: XrpcProxy) -> None:
    config = bot.config(sources=[{"type": "mentions"}])
    assert (await bot.run(config)).report["outcome"] == "succeeded"  # with SKYBOTS_REDIS_PASSWORD
    del bot.env["SKYBOTS_REDIS_PASSWORD"]
    refused = await bot.run(config)
    assert refused.report["outcome"] == "failed"
    assert "AuthenticationError" in refused.report["message"]
    assert proxy.count(CREATE_SESSION) == 1  # the second run asked Bluesky nothing


async def test_a_bad_config_is_one_line_naming_the_field_and_no_request(bot: Bot, proxy: XrpcProxy) -> None:
    outcome = await bot.run(sources=[{"type": "hashtag", "tag": "#nope"}])
    assert outcome.exit_code == 2
    assert outcome.report["outcome"] == "invalidConfig"
    assert outcome.stderr.count("\n") == 1
    assert "spec.sources[0].tag" in outcome.stderr
    assert outcome.termination == outcome.report, "the operator reads why, at SKYBOTS_TERMINATION_LOG"
    del bot.env["SKYBOTS_APP_PASSWORD"]
    missing = await bot.run(sources=[{"type": "mentions"}])
    assert missing.exit_code == 2
    assert "SKYBOTS_APP_PASSWORD: not set" in missing.stderr
    assert missing.termination is not None
    assert "SKYBOTS_APP_PASSWORD: not set" in missing.termination["message"]
    assert proxy.calls == []


# --- dedup under failure ----------------------------------------------------------------------------


async def test_a_flushed_cache_rebuilds_from_s3(
    atproto_network: AtprotoNetwork, bot: Bot, redis_url: str, proxy: XrpcProxy
) -> None:
    import redis

    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 2)
    config = bot.config(sources=[{"type": "hashtag", "tag": tag}])
    assert (await bot.run(config)).report["reposted"] == 2
    redis.Redis.from_url(redis_url).flushall()

    again = await bot.run(config)
    assert again.report["reposted"] == 0
    assert again.report["duplicates"] == 2
    assert sorted(proxy.reposts) == sorted(uris)


async def test_with_s3_unreachable_the_cache_and_bluesky_still_dedup(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 2)
    bot.env["SKYBOTS_S3_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
    config = bot.config(sources=[{"type": "hashtag", "tag": tag}])
    first = await bot.run(config)
    assert first.report["outcome"] == "succeeded"
    assert first.report["reposted"] == 2
    assert "dedup snapshot" in first.report["message"]
    second = await bot.run(config)
    assert second.report["reposted"] == 0
    assert sorted(proxy.reposts) == sorted(uris)


@pytest.mark.parametrize(
    "bots",
    [["news", "news"], ["news", "news", "news"], ["news", "digest"]],
    ids=["two-runs", "three-runs", "two-bots-one-account"],
)
async def test_runs_at_once_never_repost_twice(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy, bots: list[str]
) -> None:
    """The worst interleaving, held on purpose: every run has read the posts and found none reposted;
    the first to write is parked at the proxy until all the others have written, recorded and exited.
    ("Run now" during a scheduled run is two runs of one bot; two bots may share an account.)"""
    uris, config = watched_posts(atproto_network, bot, 6)
    await bot.run(config, "--dry-run")  # logs in once, so the runs below start with the stored session
    configs = [replace(bot, name=name).config(**json.loads(config.read_text())["spec"]) for name in bots]
    proxy.together(SEARCH, len(bots))  # all read the same posts before any writes
    others_done = asyncio.Event()
    proxy.hold(CREATE_RECORD, others_done.wait)
    running = {asyncio.ensure_future(outcome_of(await bot.process(path))) for path in configs}
    finished: list[Outcome] = []
    while len(finished) < len(bots) - 1:
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        finished += [task.result() for task in done]
    others_done.set()
    held = await running.pop()

    assert sorted(proxy.reposts) == sorted(uris)  # each accepted once, whatever the order
    assert held.report["reposted"] == 1  # its parked write; everything else was someone else's
    reports = [outcome.report for outcome in [*finished, held]]
    assert sum(report["reposted"] for report in reports) == len(uris)
    assert all(report["reposted"] + report["duplicates"] == len(uris) for report in reports)


async def test_a_run_starved_mid_write_reposts_nothing_another_run_did_meanwhile(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    """A run stopped (SIGSTOP, as a starved CPU would) right after its first write reached the PDS,
    while a second run does everything; resumed, the first must not repost what the second did."""
    uris, config = watched_posts(atproto_network, bot, 4)
    await bot.run(config, "--dry-run")
    slow = await bot.process(config)
    meanwhile: list[Outcome] = []

    async def starve_it_while_another_run_goes() -> None:
        os.kill(slow.pid, signal.SIGSTOP)
        try:
            meanwhile.append(await bot.run(config))
        finally:
            os.kill(slow.pid, signal.SIGCONT)

    proxy.then(CREATE_RECORD, starve_it_while_another_run_goes)
    resumed = await outcome_of(slow)

    assert sorted(proxy.reposts) == sorted(uris)
    assert (resumed.report["reposted"], meanwhile[0].report["reposted"]) == (1, len(uris) - 1)
    assert resumed.report["duplicates"] == len(uris) - 1


async def test_a_run_past_its_deadline_writes_nothing_and_leaves_the_posts_to_the_next(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    """A run held (a starved CPU, a slow read) past its deadline sends no write: its claims on the
    posts last only so long past the deadline, so another run could be reposting them by now."""
    uris, config = watched_posts(atproto_network, bot, 2)
    await bot.run(config, "--dry-run")  # the stored session: the held run goes straight to its read
    late = dict(bot.env, SKYBOTS_DEADLINE_SECONDS="2")
    proxy.hold(SEARCH, lambda: asyncio.sleep(3))
    held = await run_reposter(config, late, workdir=bot.workdir)
    assert held.report["outcome"] == "rateLimited"
    assert "the run's time is up" in held.report["message"]
    assert (held.report["reposted"], proxy.reposts) == (0, [])

    following = await bot.run(config)  # the claims were given back: nothing waits 15 minutes
    assert following.report["reposted"] == len(uris)
    assert sorted(proxy.reposts) == sorted(uris)


@pytest.mark.parametrize("flush", [False, True], ids=["cache-kept", "cache-flushed"])
async def test_killed_between_repost_and_record_it_does_not_repost_again(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy, redis_url: str, flush: bool
) -> None:
    import redis

    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 1)
    config = bot.config(sources=[{"type": "hashtag", "tag": tag}])
    process = await bot.process(config)

    async def kill() -> None:
        process.kill()  # the repost is written; the run never hears back

    proxy.then(CREATE_RECORD, kill)
    await process.wait()
    assert proxy.reposts == uris
    if flush:
        redis.Redis.from_url(redis_url).flushall()  # the reservation is gone too: only Bluesky knows
        net.process_all()

    again = await bot.run(config)
    assert again.report["outcome"] == "succeeded"
    assert again.report["reposted"] == 0
    assert proxy.reposts == uris


# --- faults ----------------------------------------------------------------------------------------


async def test_a_429_with_a_near_reset_is_waited_out(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 1)
    reset = int(datetime.now(UTC).timestamp()) + 2
    proxy.fail(
        SEARCH,
        429,
        headers={
            "ratelimit-reset": str(reset),
            "ratelimit-remaining": "0",
            "ratelimit-limit": "3000",
            "ratelimit-policy": "3000;w=300",
        },
    )
    outcome = await bot.run(sources=[{"type": "hashtag", "tag": tag}])
    assert outcome.report["outcome"] == "succeeded"
    assert proxy.reposts == uris


async def test_a_429_with_a_far_reset_ends_the_run_cleanly(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 2)
    config = bot.config(sources=[{"type": "hashtag", "tag": tag}])
    reset = int(datetime.now(UTC).timestamp()) + 3600
    proxy.fail(
        CREATE_RECORD,
        429,
        headers={"ratelimit-reset": str(reset), "ratelimit-policy": "5000;w=3600"},
        times=5,
    )
    limited = await bot.run(config)
    assert limited.exit_code == 0
    assert limited.report["outcome"] == "rateLimited"
    assert "rate limit" in limited.report["message"]
    assert proxy.reposts == []

    proxy.faults.clear()
    after = await bot.run(config)  # the limit passed: the posts were not lost
    assert after.report["reposted"] == 2
    assert sorted(proxy.reposts) == sorted(uris)


async def test_5xx_and_garbled_answers_are_retried(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy
) -> None:
    net, tag = atproto_network, word()
    uris = tagged_posts(net, net.create_account("author"), tag, 1)
    proxy.fail(SEARCH, 502, body=b"<html>bad gateway</html>")
    proxy.fail(SEARCH, 200, body=b'{"posts": [', headers={"content-type": "application/json"})
    outcome = await bot.run(sources=[{"type": "hashtag", "tag": tag}])
    assert outcome.report["outcome"] == "succeeded"
    assert proxy.count(SEARCH) == 3
    assert proxy.reposts == uris


@pytest.mark.parametrize(
    ("status", "body"),
    [(502, b"<html>bad gateway</html>"), (200, b'{"uri": "at://')],
    ids=["502-after-the-commit", "garbled-200"],
)
async def test_a_repost_whose_answer_is_lost_is_not_written_again(
    atproto_network: AtprotoNetwork, bot: Bot, proxy: XrpcProxy, status: int, body: bytes
) -> None:
    """The PDS wrote the repost, the answer did not make it back: a new attempt would be a second repost."""
    uris, config = watched_posts(atproto_network, bot, 2)
    proxy.fail(CREATE_RECORD, status, body=body, forwarded=True, times=4)
    lost = await bot.run(config)
    assert lost.report["outcome"] == "upstreamFailed"
    assert lost.report["reposted"] == 0  # perhaps written; not counted as done
    assert len(proxy.reposts) == 1  # one write, not one per retry

    proxy.faults.clear()
    atproto_network.process_all()  # viewer.repost tells the next run what the first one could not know
    after = await bot.run(config)
    assert after.report["reposted"] == 1
    assert sorted(proxy.reposts) == sorted(uris)


async def test_bluesky_down_is_an_upstream_failure(bot: Bot, proxy: XrpcProxy) -> None:
    proxy.fail(SEARCH, 503, times=10)
    outcome = await bot.run(sources=[{"type": "search", "query": word()}])
    assert outcome.exit_code == 4
    assert outcome.report["outcome"] == "upstreamFailed"
    assert proxy.count(SEARCH) == 4  # one try and three retries
