"""The local Bluesky network behaves as the reposter will use it: log in with an app password,
search through the PDS, repost, and see the repost in `viewer.repost`.

Calls under test are spelled out in plain httpx, as the reposter makes them; the network's
helpers only set up data.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import httpx
import psutil
import pytest

from tests.support.atproto import (
    Account,
    AtprotoNetwork,
    Record,
    XrpcError,
    running_atproto_network,
    tag_facets,
)
from tests.support.processes import HOST, port_is_free
from tests.support.services import PostgresServer, RedisServer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_word() -> str:
    """Search is shared by the whole session's network: each test searches for its own word."""
    return f"skybots{secrets.token_hex(4)}"


@pytest.fixture
def http() -> httpx.Client:
    return httpx.Client(timeout=30, trust_env=False)


def test_bot_finds_a_hashtag_post_by_search_and_reposts_it_once(
    atproto_network: AtprotoNetwork, http: httpx.Client
) -> None:
    net = atproto_network
    author = net.create_account("author")
    bot_account = net.create_account("bot")
    app_password = net.create_app_password(bot_account)
    word = unique_word()
    post = net.post(author, f"Grüße 🌍 {word} is live", tags=["skybots"], langs=["de"])

    # The bot logs in with its app password, as it will in production.
    login = http.post(
        f"{net.pds_url}/xrpc/com.atproto.server.createSession",
        json={"identifier": bot_account.handle, "password": app_password},
    )
    assert login.status_code == 200, login.text
    session = login.json()
    assert session["did"] == bot_account.did

    net.process_all()
    search = http.get(
        f"{net.pds_url}/xrpc/app.bsky.feed.searchPosts",
        params={"q": word, "limit": 25},
        headers=bearer(session["accessJwt"]),
    )
    assert search.status_code == 200, search.text
    [found] = search.json()["posts"]
    assert found["uri"] == post.uri
    assert found["cid"] == post.cid
    assert found["author"]["did"] == author.did
    [facet] = found["record"]["facets"]
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "skybots"}]
    text = found["record"]["text"].encode()
    assert text[facet["index"]["byteStart"] : facet["index"]["byteEnd"]] == b"#skybots"
    assert found["record"]["langs"] == ["de"]
    assert "repost" not in found.get("viewer", {})

    repost = http.post(
        f"{net.pds_url}/xrpc/com.atproto.repo.createRecord",
        headers=bearer(session["accessJwt"]),
        json={
            "repo": session["did"],
            "collection": "app.bsky.feed.repost",
            "record": {
                "$type": "app.bsky.feed.repost",
                "subject": {"uri": found["uri"], "cid": found["cid"]},
                "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            },
        },
    )
    assert repost.status_code == 200, repost.text
    repost_uri = repost.json()["uri"]
    assert repost_uri.startswith(f"at://{bot_account.did}/app.bsky.feed.repost/")

    net.process_all()
    # Proxied by the PDS by default, and the same with the explicit atproto-proxy header.
    for extra_headers in ({}, net.proxy_headers):
        posts = http.get(
            f"{net.pds_url}/xrpc/app.bsky.feed.getPosts",
            params={"uris": [post.uri]},
            headers={**bearer(session["accessJwt"]), **extra_headers},
        )
        assert posts.status_code == 200, posts.text
        [view] = posts.json()["posts"]
        assert view["repostCount"] == 1
        assert view["viewer"]["repost"] == repost_uri

    # Without a session the AppView still counts the repost, but knows no viewer.
    [anonymous] = net.query("app.bsky.feed.getPosts", uris=[post.uri])["posts"]
    assert anonymous["repostCount"] == 1
    assert "repost" not in anonymous.get("viewer", {})


def test_pds_requires_a_session_for_proxied_reads(
    atproto_network: AtprotoNetwork, http: httpx.Client
) -> None:
    response = http.get(f"{atproto_network.pds_url}/xrpc/app.bsky.feed.searchPosts", params={"q": "x"})
    assert response.status_code == 401
    assert response.json()["error"] == "AuthMissing"


def test_app_password_session_refreshes_without_a_new_login(
    atproto_network: AtprotoNetwork, http: httpx.Client
) -> None:
    net = atproto_network
    owner = net.create_account("owner")
    app_password = net.create_app_password(owner, "skybots")
    bot = net.login(owner.handle, app_password)

    with pytest.raises(XrpcError) as wrong:
        net.login(owner.handle, "not-the-password")
    assert (wrong.value.status, wrong.value.error) == (401, "AuthenticationRequired")

    refreshed = http.post(
        f"{net.pds_url}/xrpc/com.atproto.server.refreshSession", headers=bearer(bot.refresh_jwt)
    )
    assert refreshed.status_code == 200, refreshed.text
    tokens = refreshed.json()
    assert tokens["did"] == owner.did
    assert tokens["refreshJwt"] != bot.refresh_jwt  # refresh rotates the refresh token

    me = http.get(f"{net.pds_url}/xrpc/com.atproto.server.getSession", headers=bearer(tokens["accessJwt"]))
    assert me.status_code == 200, me.text
    assert me.json()["handle"] == owner.handle

    # An access token is not a refresh token.
    wrong_token = http.post(
        f"{net.pds_url}/xrpc/com.atproto.server.refreshSession", headers=bearer(tokens["accessJwt"])
    )
    assert wrong_token.status_code in (400, 401)


def test_post_helper_writes_the_fields_the_reposter_filters_on(atproto_network: AtprotoNetwork) -> None:
    net = atproto_network
    author = net.create_account("writer")
    reader = net.create_account("reader")
    original = net.post(author, "the original", created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    reply = net.post(reader, "a reply", reply_to=original)
    nested = net.post(author, "a reply to the reply", reply_to=reply)
    quote = net.post(author, "look", quote=original, images=["a red square"], labels=["graphic-media"])
    tagged = net.post(author, "no tag in the text", tags=["python"], outline_tags=["hidden"], langs=["en"])
    net.process_all()

    views = {
        view["uri"]: view
        for view in net.query(
            "app.bsky.feed.getPosts", reader, uris=[r.uri for r in (original, reply, nested, quote, tagged)]
        )["posts"]
    }
    assert views[original.uri]["record"]["createdAt"] == "2026-01-02T03:04:05.000Z"
    assert views[original.uri]["replyCount"] == 1
    assert views[nested.uri]["record"]["reply"] == {"root": original.ref, "parent": reply.ref}
    embed = views[quote.uri]["embed"]
    assert embed["$type"] == "app.bsky.embed.recordWithMedia#view"
    assert embed["record"]["record"]["uri"] == original.uri
    assert [image["alt"] for image in embed["media"]["images"]] == ["a red square"]
    assert [label["val"] for label in views[quote.uri]["labels"]] == ["graphic-media"]
    assert views[quote.uri]["labels"][0]["src"] == author.did
    assert views[tagged.uri]["record"]["text"] == "no tag in the text #python"
    assert views[tagged.uri]["record"]["tags"] == ["hidden"]


def test_likes_lists_blocks_and_feeds_show_in_the_appview(atproto_network: AtprotoNetwork) -> None:
    net = atproto_network
    member, outsider, curator = (net.create_account(name) for name in ("member", "outsider", "curator"))
    member_posts = [net.post(member, f"member post {n}") for n in range(3)]
    outsider_post = net.post(outsider, "outsider post")
    net.like(curator, outsider_post.uri, outsider_post.cid)
    listed = net.create_list(curator, "watched", [member])
    block = net.block(curator, outsider.did)
    feed = net.create_feed(curator, "picked", [member_posts[2], outsider_post, member_posts[0]])
    net.process_all()

    list_feed = net.query("app.bsky.feed.getListFeed", curator, list=listed.uri)["feed"]
    assert {item["post"]["uri"] for item in list_feed} == {p.uri for p in member_posts}

    [seen] = net.query("app.bsky.feed.getPosts", uris=[outsider_post.uri])["posts"]
    assert seen["likeCount"] == 1
    # The blocker's own getPosts leaves the blocked account's posts out altogether.
    assert net.query("app.bsky.feed.getPosts", curator, uris=[outsider_post.uri])["posts"] == []
    profile = net.query("app.bsky.actor.getProfile", curator, actor=outsider.did)
    assert profile["viewer"]["blocking"] == block.uri

    first = net.query("app.bsky.feed.getFeed", curator, feed=feed.uri, limit=2)
    second = net.query("app.bsky.feed.getFeed", curator, feed=feed.uri, limit=2, cursor=first["cursor"])
    uris = [item["post"]["uri"] for item in first["feed"] + second["feed"]]
    # The AppView drops posts of accounts the viewer blocks from custom feeds.
    assert uris == [member_posts[2].uri, member_posts[0].uri]
    assert "cursor" not in second

    net.set_feed_posts(feed.uri, [member_posts[1]])
    assert [i["post"]["uri"] for i in net.query("app.bsky.feed.getFeed", curator, feed=feed.uri)["feed"]] == [
        member_posts[1].uri
    ]


def test_tag_facets_count_utf8_bytes() -> None:
    text, facets = tag_facets("Grüße 🌍 #python, und #py #python", ["python", "#py", "rust"])
    assert text == "Grüße 🌍 #python, und #py #python #rust"
    encoded = text.encode()
    assert [encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]] for f in facets] == [
        b"#python",
        b"#py",
        b"#python",
        b"#rust",
    ]
    assert [f["features"][0]["tag"] for f in facets] == ["python", "py", "python", "rust"]


def test_servers_stop_without_leaving_processes_ports_or_files(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A network of its own (the session's stays up), with its own Redis and PostgreSQL too."""
    redis_server = RedisServer(tmp_path_factory.mktemp("stop-redis"))
    postgres = PostgresServer()
    workdir = tmp_path_factory.mktemp("stop-network")
    try:
        with running_atproto_network(workdir, postgres_url=postgres.url, redis_host=redis_server.host) as net:
            account = net.create_account("short")
            assert isinstance(account, Account)
            node = psutil.Process(net.server.pid)
            listening = [c.laddr for c in node.net_connections("inet") if c.status == psutil.CONN_LISTEN]
            assert isinstance(net.post(account, "still here"), Record)
    finally:
        postgres.stop()
        redis_server.stop()

    # PLC, PDS, AppView, bsync, ozone, dataplane and control: all on loopback only.
    assert len(listening) >= 7
    assert {address.ip for address in listening} == {HOST}
    assert postgres.server
    servers = [net.server.pid, postgres.server.pid, redis_server.server.pid]
    assert not [pid for pid in servers if psutil.pid_exists(pid)]
    for pid in servers:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    ports = [address.port for address in listening] + [postgres.port, redis_server.port]
    assert [port for port in ports if not port_is_free(port)] == []
    assert list((workdir / "tmp").iterdir()) == []  # network.mjs removed its temp folder
    assert not postgres.workdir.exists()
