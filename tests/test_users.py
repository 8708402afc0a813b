"""The users store contract, held by both implementations: DynamoDB (moto server) and the SQLite
file the embedded runtime uses. Each contract test runs once against each."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from skybots.stores.users import DynamoUsers, SqliteUsers, user_id
from tests.support.aws import CLOUD_OR_EMBEDDED, REGION, reopener

Store = DynamoUsers | SqliteUsers
Opener = Callable[[], Store]
ISSUER = "https://accounts.google.com"


@pytest.fixture(params=CLOUD_OR_EMBEDDED)
def open_users(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return reopener(request, lambda: SqliteUsers(tmp_path / "state" / "skybots.db"), dynamo_users)


def dynamo_users(aws: str) -> Opener:
    DynamoUsers("users", region=REGION, endpoint_url=aws).ensure_table()
    return lambda: DynamoUsers("users", region=REGION, endpoint_url=aws)


async def test_the_first_sign_in_creates_the_user_and_later_ones_update_it(open_users: Opener) -> None:
    users = open_users()
    await users.ready()
    alice, created = await users.sign_in(ISSUER, "1234", "alice@example.org", "Alice")
    assert created is True
    assert alice.id == user_id(ISSUER, "1234")
    assert (alice.issuer, alice.subject, alice.email, alice.name) == (
        ISSUER,
        "1234",
        "alice@example.org",
        "Alice",
    )
    assert alice.created_at.tzinfo is not None

    again, created = await open_users().sign_in(ISSUER, "1234", "alice@example.com", "Alice B.")
    assert created is False
    assert (again.email, again.name, again.created_at) == ("alice@example.com", "Alice B.", alice.created_at)
    assert await open_users().get(alice.id) == again
    assert await users.get(user_id(ISSUER, "5678")) is None


async def test_a_sign_out_is_remembered_and_a_later_sign_in_keeps_it(open_users: Opener) -> None:
    users = open_users()
    alice, _ = await users.sign_in(ISSUER, "1234", "alice@example.org", "Alice")
    assert alice.signed_out_at == 0
    before = time.time()
    moment = await users.sign_out(alice.id)
    signed_out = await open_users().get(alice.id)
    assert signed_out is not None
    assert before <= signed_out.signed_out_at == moment <= time.time()
    again, _ = await users.sign_in(ISSUER, "1234", "alice@example.org", "Alice")
    assert again.signed_out_at == signed_out.signed_out_at


async def test_of_concurrent_first_sign_ins_one_creates_the_user(open_users: Opener) -> None:
    users = open_users()
    signed_in = await asyncio.gather(*(users.sign_in(ISSUER, "1234", "a@example.org", "A") for _ in range(8)))
    assert [created for _, created in signed_in].count(True) == 1
    assert len({user for user, _ in signed_in}) == 1


async def test_mirrored_bots_keep_their_deletion_until_they_come_back(open_users: Opener) -> None:
    users = open_users()
    owner = user_id(ISSUER, "1234")
    assert await users.mirrored_bots(owner) == {}
    await users.mirror_bot(owner, "news", {"description": "Python news", "sources": ["hashtag"]})
    await users.mirror_bot(owner, "art", {"description": "Art"})
    await users.mirror_bot(user_id(ISSUER, "other"), "news", {"description": "not Alice's"})
    await users.mirror_bot(owner, "art", {"description": "Art"}, deleted=True)

    mirrored = await open_users().mirrored_bots(owner)
    assert list(mirrored) == ["art", "news"]
    assert mirrored["news"]["summary"] == {"description": "Python news", "sources": ["hashtag"]}
    assert "deletedAt" not in mirrored["news"]
    assert mirrored["art"]["deletedAt"] == mirrored["art"]["updatedAt"]
    assert mirrored["art"]["createdAt"] <= mirrored["art"]["updatedAt"]

    await users.mirror_bot(owner, "art", {"description": "Art again"})
    revived = (await users.mirrored_bots(owner))["art"]
    assert "deletedAt" not in revived
    assert revived["summary"] == {"description": "Art again"}
    assert revived["createdAt"] == mirrored["art"]["createdAt"]


async def test_an_alert_is_claimed_once_per_owner_across_stores(open_users: Opener) -> None:
    first, second = open_users(), open_users()
    claims = await asyncio.gather(*(store.claim_alert("owner", "failing") for store in (first, second) * 4))
    assert claims.count(True) == 1
    assert await open_users().claim_alert("owner", "failing") is False
    assert await first.claim_alert("owner", "unhealthy") is True
    assert await first.claim_alert("someone-else", "failing") is True


async def test_a_sqlite_file_that_is_no_database_is_not_ready(tmp_path: Path) -> None:
    """/readyz's check; DynamoDB's unreachable table is test_api_bots' case."""
    users = SqliteUsers(tmp_path / "skybots.db")
    await users.ready()
    (tmp_path / "skybots.db").write_bytes(b"not a database" * 512)
    with pytest.raises(sqlite3.DatabaseError):
        await users.ready()
