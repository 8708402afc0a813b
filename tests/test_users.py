"""The users store contract, held by both implementations: DynamoDB (moto server) and the SQLite
file the embedded runtime uses. Each contract test runs once against each."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skybots.stores.users import RESERVATION_GRACE, DynamoUsers, Erasure, SqliteUsers, user_id
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


# --- the bot quota and the run-request rate, per user ---------------------------------------------------

T0 = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)


async def test_of_25_concurrent_reservations_on_two_replicas_10_are_granted(open_users: Opener) -> None:
    replicas = open_users(), open_users()
    answers = await asyncio.gather(
        *(replicas[n % 2].reserve_bot("owner", f"bot{n}", limit=10, existing=(), now=T0) for n in range(25))
    )
    assert answers.count("reserved") == 10
    assert answers.count("full") == 15
    assert await replicas[0].reserve_bot("other", "bot0", limit=10, existing=(), now=T0) == "reserved"

    granted = [f"bot{n}" for n, answer in enumerate(answers) if answer == "reserved"]
    await replicas[1].release_bot("owner", granted[0])  # its create failed, or it was deleted
    again = await asyncio.gather(
        *(
            store.reserve_bot("owner", f"late{n}", limit=10, existing=(), now=T0)
            for n, store in enumerate(replicas)
        )
    )
    assert sorted(again) == ["full", "reserved"]


async def test_a_name_is_reserved_once_and_a_bot_that_exists_holds_its_name(open_users: Opener) -> None:
    users = open_users()
    assert await users.reserve_bot("owner", "news", limit=10, existing=(), now=T0) == "reserved"
    assert await open_users().reserve_bot("owner", "news", limit=10, existing=(), now=T0) == "taken"
    assert await users.reserve_bot("owner", "art", limit=10, existing=("art",), now=T0) == "taken"


async def test_existing_bots_count_and_a_reservation_leaked_by_a_crash_expires(open_users: Opener) -> None:
    users = open_users()
    made_before = [f"old{n}" for n in range(3)]  # bots made before reservations were kept
    for n in range(7):  # creates that crashed between the reservation and the Bot
        assert (
            await users.reserve_bot("owner", f"lost{n}", limit=10, existing=made_before, now=T0) == "reserved"
        )
    assert await users.reserve_bot("owner", "new", limit=10, existing=made_before, now=T0) == "full"
    later = T0 + RESERVATION_GRACE + timedelta(seconds=1)
    assert await users.reserve_bot("owner", "new", limit=10, existing=made_before, now=later) == "reserved"
    for n in range(6):
        assert await users.reserve_bot("owner", f"more{n}", limit=10, existing=made_before, now=later) == (
            "reserved"
        )
    assert await users.reserve_bot("owner", "eleventh", limit=10, existing=made_before, now=later) == "full"


async def test_run_requests_are_admitted_up_to_the_limit_per_minute_on_two_replicas(
    open_users: Opener,
) -> None:
    replicas = open_users(), open_users()
    now = T0.timestamp()
    answers = await asyncio.gather(
        *(replicas[n % 2].admit_run_request("owner", per_minute=5, now=now) for n in range(12))
    )
    assert answers.count(None) == 5
    assert [wait for wait in answers if wait is not None] == [30] * 7  # seconds to the next minute
    assert await replicas[0].admit_run_request("other", per_minute=5, now=now) is None
    assert await replicas[0].admit_run_request("owner", per_minute=5, now=now + 29.5) == 1
    next_minute = await asyncio.gather(
        *(replicas[n % 2].admit_run_request("owner", per_minute=5, now=now + 30) for n in range(6))
    )
    assert next_minute.count(None) == 5


async def test_mail_settings_are_kept_per_user_and_every_mail_is_on_until_turned_off(
    open_users: Opener,
) -> None:
    users = open_users()
    alice, _ = await users.sign_in(ISSUER, "1", "alice@example.org", "Alice")
    bob, _ = await users.sign_in(ISSUER, "2", "bob@example.org", "Bob")
    assert alice.mail_off == frozenset()
    await users.set_mail_off(alice.id, frozenset({"bot_failing", "credentials_rejected"}))
    await users.set_mail_off(alice.id, frozenset({"bot_failing"}))
    again, _ = await open_users().sign_in(
        ISSUER, "1", "alice@example.org", "Alice"
    )  # a later sign-in keeps them
    assert again.mail_off == frozenset({"bot_failing"})
    assert (await open_users().get(bob.id)).mail_off == frozenset()  # type: ignore[union-attr]
    await users.set_mail_off(alice.id, frozenset())
    assert (await open_users().get(alice.id)).mail_off == frozenset()  # type: ignore[union-attr]
    await users.set_mail_off("nobody", frozenset({"bot_failing"}))  # no such user: nothing is made
    assert await users.get("nobody") is None


async def test_deleting_a_user_forgets_everything_kept_of_them_and_nothing_of_others(
    open_users: Opener,
) -> None:
    users = open_users()
    now = datetime.now(UTC)
    made = {}
    for who in ("alice", "bob"):
        user, _ = await users.sign_in(ISSUER, who, f"{who}@example.org", who.title())
        made[who] = user
        await users.mirror_bot(user.id, f"{who}-news", {"handle": f"{who}.bsky.social"})
        await users.mirror_bot(user.id, f"{who}-old", {}, deleted=True)
        await users.reserve_bot(user.id, f"{who}-new", limit=3, existing=[f"{who}-news"], now=now)
        await users.admit_run_request(user.id, per_minute=5, now=time.time())
        assert await users.claim_alert(user.id, f"{who}#failing")
        await users.set_mail_off(user.id, frozenset({"bot_failing"}))
        await users.sign_out(user.id)
    alice, bob = made["alice"], made["bob"]
    bob_before = (await users.get(bob.id), await users.mirrored_bots(bob.id))

    for _ in range(2):  # a second delete (of one stopped halfway) finds nothing more to do
        await open_users().delete(alice.id)

    users = open_users()
    assert await users.get(alice.id) is None
    assert await users.mirrored_bots(alice.id) == {}
    assert await users.claim_alert(alice.id, "alice#failing")  # the claim went with her
    # Her slots are free again: a quota of 1 takes a new bot.
    assert await users.reserve_bot(alice.id, "fresh", limit=1, existing=[], now=now) == "reserved"
    assert (await users.get(bob.id), await users.mirrored_bots(bob.id)) == bob_before
    assert not await users.claim_alert(bob.id, "bob#failing")
    assert await users.reserve_bot(bob.id, "more", limit=2, existing=[], now=now) == "full"
    # Signing up again is a new account: no settings, signed out never.
    fresh, created = await users.sign_in(ISSUER, "alice", "alice@example.org", "Alice")
    assert created
    assert (fresh.mail_off, fresh.signed_out_at) == (frozenset(), 0.0)


async def test_a_pending_erasure_is_held_by_one_holder_at_a_time_until_its_lease_runs_out(
    open_users: Opener,
) -> None:
    users = open_users()
    await users.record_erasure(Erasure("alice-id", "skybots", frozenset({"news-alice"})))
    await open_users().record_erasure(Erasure("alice-id", "skybots", frozenset({"art-alice"})))  # adds
    await users.record_erasure(Erasure("bob-id", "skybots", frozenset({"news-bob"})))
    assert sorted(await open_users().pending_erasures(), key=lambda erasure: erasure.id) == [
        Erasure("alice-id", "skybots", frozenset({"news-alice", "art-alice"})),
        Erasure("bob-id", "skybots", frozenset({"news-bob"})),
    ]

    now = time.time()
    first, second = open_users(), open_users()
    # Both replicas at once: one lease each time, never two.
    leases = await asyncio.gather(
        first.lease_erasure("alice-id", "first", until=now + 60, now=now),
        second.lease_erasure("alice-id", "second", until=now + 60, now=now),
    )
    assert leases.count(True) == 1
    holder, other = ("first", second) if leases[0] else ("second", first)
    assert not await other.lease_erasure("alice-id", "other", until=now + 120, now=now + 59)
    assert await open_users().lease_erasure("alice-id", holder, until=now + 120, now=now + 59)  # renewed
    assert not await other.lease_erasure("alice-id", "other", until=now + 180, now=now + 119)
    await other.finish_erasure("alice-id", "other")  # not its lease: the erasure stays
    assert "alice-id" in [erasure.id for erasure in await users.pending_erasures()]

    # The holder died: once its lease ran out, another takes the erasure up, and the first cannot finish it.
    assert await other.lease_erasure("alice-id", "other", until=now + 240, now=now + 121)
    await users.finish_erasure("alice-id", holder)
    assert "alice-id" in [erasure.id for erasure in await users.pending_erasures()]
    await other.finish_erasure("alice-id", "other")
    assert [erasure.id for erasure in await open_users().pending_erasures()] == ["bob-id"]
    assert not await users.lease_erasure("alice-id", "other", until=now + 300, now=now + 122)  # gone
