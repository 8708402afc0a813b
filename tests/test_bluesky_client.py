"""The Bluesky client in-process, against the reference PDS: the calls the reposter's runs don't show."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import AsyncIterator

import aiohttp.web
import pytest
import redis.asyncio
from cryptography.fernet import Fernet

from skybots.bluesky.client import REPOST, Bluesky, Xrpc
from skybots.bluesky.errors import AuthFailed, UpstreamError
from skybots.bluesky.models import Session
from skybots.bluesky.sessions import SessionKeys, SessionManager
from skybots.stores.redis import RedisCache
from tests.support.atproto import AtprotoNetwork
from tests.support.processes import free_port

KEYS = SessionKeys(secrets.token_hex(32), [Fernet.generate_key().decode()])


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache(redis_url)
    yield cache
    await cache.close()


async def test_a_repost_can_be_undone(atproto_network: AtprotoNetwork, cache: RedisCache) -> None:
    net = atproto_network
    bot, author = net.create_account("bot"), net.create_account("author")
    post = net.post(author, "undo me")
    net.process_all()
    bluesky = Bluesky(Xrpc(net.pds_url, private_allowed=True))
    session = await SessionManager(
        bluesky,
        cache,
        keys=KEYS,
        service=net.pds_url,
        identifier=bot.handle,
        password=net.create_app_password(bot),
    ).open()
    assert (await bluesky.get_session())["did"] == session.did == bot.did

    [view] = await bluesky.get_posts([post.uri])
    written = await bluesky.repost(view)
    net.process_all()
    [view] = await bluesky.get_posts([post.uri])
    assert view.viewer.repost == written.uri

    await bluesky.delete_record(REPOST, written.uri.rsplit("/", 1)[1])
    net.process_all()
    [view] = await bluesky.get_posts([post.uri])
    assert view.viewer.repost is None
    assert view.repost_count == 0
    await bluesky.xrpc.aclose()


async def test_a_stored_session_is_reused_and_a_revoked_one_replaced(
    atproto_network: AtprotoNetwork, cache: RedisCache, redis_url: str
) -> None:
    net = atproto_network
    bot = net.create_account("bot")
    password = net.create_app_password(bot)

    async def open_session() -> tuple[str, int]:
        bluesky = Bluesky(Xrpc(net.pds_url, private_allowed=True))
        sessions = SessionManager(
            bluesky, cache, keys=KEYS, service=net.pds_url, identifier=bot.handle, password=password
        )
        session = await sessions.open()
        await bluesky.get_session()  # the session works
        await bluesky.xrpc.aclose()
        return session.access_jwt, sessions.logins

    first, logins = await open_session()
    assert logins == 1
    again, logins = await open_session()
    assert (again, logins) == (first, 0)

    # Revoked on the server (deleteSession takes the refresh token) while the access token is due
    # for a refresh: refreshing fails, so the next run logs in anew.
    [found] = await redis.asyncio.Redis.from_url(redis_url, decode_responses=True).keys("skybots:session:*")
    key = str(found)
    stored = Session.model_validate_json(KEYS.decrypt(await cache.get(key) or "") or "")
    net.http.post(
        f"{net.pds_url}/xrpc/com.atproto.server.deleteSession",
        headers={"Authorization": f"Bearer {stored.refresh_jwt}"},
    ).raise_for_status()
    expired = stored.model_copy(update={"access_jwt": "no.e30.expiry"})
    await cache.set(key, KEYS.encrypt(expired.model_dump_json()), 60)
    _, logins = await open_session()
    assert logins == 1


async def test_a_wrong_password_is_auth_failed(atproto_network: AtprotoNetwork, cache: RedisCache) -> None:
    net = atproto_network
    bot = net.create_account("bot")
    bluesky = Bluesky(Xrpc(net.pds_url, private_allowed=True))
    sessions = SessionManager(
        bluesky, cache, keys=KEYS, service=net.pds_url, identifier=bot.handle, password="wrong-wrong"
    )
    with pytest.raises(AuthFailed, match="refused the app password"):
        await sessions.open()
    await bluesky.xrpc.aclose()


async def test_https_certificates_are_checked(self_signed: ssl.SSLContext) -> None:
    """A PDS whose certificate no trusted CA signed is refused: TLS verification is on."""

    async def search(_: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"posts": []})

    app = aiohttp.web.Application()
    app.router.add_get("/xrpc/{nsid}", search)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port, ssl_context=self_signed).start()
    xrpc = Xrpc(f"https://127.0.0.1:{port}", retries=0, private_allowed=True)
    try:
        with pytest.raises(UpstreamError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await xrpc.query("app.bsky.feed.searchPosts", {"q": "x"})
    finally:
        await xrpc.aclose()
        await runner.cleanup()
