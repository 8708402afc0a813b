"""Users, a mirror of their bots, and their quotas, in DynamoDB (one table).

Items: `pk` = "USER#<id>"; the user's profile at `sk` = "PROFILE", each of their bots at
`sk` = "BOT#<name>". One Query lists a user and their bots. Kubernetes stays the source of
truth for bots; the mirror serves listings and analytics, and keeps deleted bots (deletedAt).

The per-user limits live here because every API replica shares this store and it writes
atomically: `sk` = "BOT-SLOTS" holds the names of the user's bots and of their creates in
flight (the bot quota), `sk` = "RUN-REQUESTS" counts their run-now and preview requests of the
current minute.

Deleted accounts' erasures still pending (see skybots.api.erasure) sit in one partition of their
own, `pk` = "ERASURES", `sk` = the user's id, with the lease of the API replica erasing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from skybots.stores import dynamo
from skybots.stores.sqlite import Database


def user_id(issuer: str, subject: str) -> str:
    """A short, stable id for a person at a provider; safe as a Kubernetes label value."""
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class User:
    id: str
    issuer: str
    subject: str
    email: str
    name: str
    created_at: datetime
    signed_out_at: float = 0.0
    """When the user last signed out (epoch seconds): sessions issued until then are refused."""
    mail_off: frozenset[str] = frozenset()
    """The mails (template names) the user turned off; every other mail is on."""


class Users(Protocol):
    async def sign_in(self, issuer: str, subject: str, email: str, name: str) -> tuple[User, bool]:
        """Record a sign-in; the user, and whether this was their first."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def sign_out(self, user_id: str) -> float:
        """Record that every session of the user issued until now is signed out; that moment."""
        ...

    async def set_mail_off(self, user_id: str, mails: frozenset[str]) -> None:
        """Record which mails (template names) the user turned off: all others are sent."""
        ...

    async def delete(self, user_id: str) -> None:
        """Forget the user and everything kept of them here: profile, mirror, quotas, alerts, settings.

        Idempotent: a delete stopped halfway is finished by the next.
        """
        ...

    async def record_erasure(self, erasure: Erasure) -> None:
        """Record what is left to erase of a deleted account (its bots' names added to any recorded
        before): it stays pending until `finish_erasure`, across restarts."""
        ...

    async def pending_erasures(self) -> list[Erasure]:
        """Every erasure recorded and not finished, whoever holds it."""
        ...

    async def lease_erasure(self, erasure_id: str, holder: str, *, until: float, now: float) -> bool:
        """Hold the erasure for `holder` until `until` (epoch seconds), unless another holder's lease
        runs past `now`; whether it is held. A holder renews its lease the same way."""
        ...

    async def finish_erasure(self, erasure_id: str, holder: str) -> None:
        """Remove the erasure, done: unless another holder leased it meanwhile (it finishes it then)."""
        ...

    async def mirror_bot(
        self, owner: str, name: str, summary: dict[str, Any], *, deleted: bool = False
    ) -> None:
        """Record a bot's latest state (or its deletion) for listings and analytics."""
        ...

    async def mirrored_bots(self, owner: str) -> dict[str, dict[str, Any]]:
        """The owner's bots as last mirrored, by name (deleted ones included, with deletedAt)."""
        ...

    async def claim_alert(self, owner: str, alert: str) -> bool:
        """True for the first caller only, per owner and alert: API replicas agree on who sends a mail."""
        ...

    async def reserve_bot(
        self, owner: str, name: str, *, limit: int, existing: Collection[str], now: datetime
    ) -> Reservation:
        """Hold one of the owner's `limit` bot slots for a bot being made, atomically across replicas.

        `existing` names the owner's bots as the caller sees them: they hold slots too, and a
        slot that is neither one of them nor younger than RESERVATION_GRACE (a create that
        crashed) is given back here. "taken": the name is held already; "full": no slot is free.
        """
        ...

    async def release_bot(self, owner: str, name: str) -> None:
        """Give a slot back: the bot's create failed, or the bot was deleted."""
        ...

    async def admit_run_request(self, owner: str, *, per_minute: int, now: float) -> int | None:
        """Count a run-now or preview request; None when admitted, else the seconds until the
        owner's next minute (a fixed window of epoch minutes, shared by every replica)."""
        ...

    async def ready(self) -> None:
        """Raises when the store cannot be reached (the API's /readyz)."""
        ...


@dataclass(frozen=True)
class Erasure:
    """What is left of a deleted account, erased in the background (run history, the bots' cache
    state): opaque ids and bot names only, nothing that says who the user was."""

    id: str
    """The deleted user's id (a hash of their issuer and subject)."""
    namespace: str
    bots: frozenset[str]
    """The names of the Bots (resources) whose run history and cache state are still to erase."""


Reservation = Literal["reserved", "taken", "full"]
RESERVATION_GRACE = timedelta(minutes=2)
"""How long a reservation without a Bot is kept: far longer than a create takes, short
enough that a create that crashed locks no slot for long."""
RESERVE_ATTEMPTS = 50  # optimistic writes lost to other replicas before a reservation gives up


def reserved(
    slots: dict[str, str], name: str, limit: int, existing: Collection[str], now: datetime
) -> tuple[Reservation, dict[str, str]]:
    """The answer to a reservation, and the slots (name -> reserved at) to store when it is granted."""
    held = {
        slot: at
        for slot, at in slots.items()
        if slot in existing or datetime.fromisoformat(at) > now - RESERVATION_GRACE
    }
    held |= {bot: now.isoformat() for bot in existing if bot not in held}
    if name in held:
        return "taken", held
    if len(held) >= limit:
        return "full", held
    return "reserved", held | {name: now.isoformat()}


def _seconds_left(now: float) -> int:
    """Whole seconds until the next epoch minute (at least 1): a Retry-After."""
    return max(1, math.ceil(60 - now % 60))


ERASURES = "ERASURES"
"""The partition of pending erasures in the DynamoDB table (`sk` = the user's id): one Query lists them."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _mirrored(summary: str, created_at: str, updated_at: str, deleted_at: str | None) -> dict[str, Any]:
    """A mirrored bot as `Users.mirrored_bots` tells it, from what either store keeps."""
    entry = {"summary": json.loads(summary), "createdAt": created_at, "updatedAt": updated_at}
    if deleted_at is not None:
        entry["deletedAt"] = deleted_at
    return entry


class DynamoUsers:
    """`Users` on a DynamoDB table (moto in tests, AWS in production)."""

    def __init__(self, table: str, *, region: str, endpoint_url: str | None = None) -> None:
        self._client = dynamo.client(region, endpoint_url)
        self._table = table

    def ensure_table(self) -> None:
        dynamo.ensure_table(self._client, self._table)

    async def ready(self) -> None:
        """Raise when the table cannot be reached (for /readyz)."""
        await asyncio.to_thread(self._client.describe_table, TableName=self._table)

    async def sign_in(self, issuer: str, subject: str, email: str, name: str) -> tuple[User, bool]:
        return await asyncio.to_thread(self._sign_in, issuer, subject, email, name)

    def _sign_in(self, issuer: str, subject: str, email: str, name: str) -> tuple[User, bool]:
        uid, now = user_id(issuer, subject), _now()
        item = {
            "pk": {"S": f"USER#{uid}"},
            "sk": {"S": "PROFILE"},
            "issuer": {"S": issuer},
            "subject": {"S": subject},
            "email": {"S": email},
            "name": {"S": name},
            "createdAt": {"S": now},
            "lastSignInAt": {"S": now},
        }
        created = dynamo.put_new(self._client, self._table, item)
        if not created:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET email = :e, #n = :n, lastSignInAt = :t",
                ExpressionAttributeNames={"#n": "name"},
                ExpressionAttributeValues={":e": {"S": email}, ":n": {"S": name}, ":t": {"S": now}},
            )
        user = self._get(uid)
        assert user is not None
        return user, created

    async def get(self, user_id: str) -> User | None:
        return await asyncio.to_thread(self._get, user_id)

    def _get(self, uid: str) -> User | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": f"USER#{uid}"}, "sk": {"S": "PROFILE"}}
        )
        found = item.get("Item")
        if not found:
            return None
        return User(
            id=uid,
            issuer=found["issuer"]["S"],
            subject=found["subject"]["S"],
            email=found["email"]["S"],
            name=found["name"]["S"],
            created_at=datetime.fromisoformat(found["createdAt"]["S"]),
            signed_out_at=float(found.get("signedOutAt", {}).get("N", 0)),
            mail_off=frozenset(found.get("mailOff", {}).get("SS", [])),
        )

    async def sign_out(self, user_id: str) -> float:
        moment = time.time()
        await asyncio.to_thread(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression="SET signedOutAt = :t",
            ExpressionAttributeValues={":t": {"N": repr(moment)}},
        )
        return moment

    async def set_mail_off(self, user_id: str, mails: frozenset[str]) -> None:
        # A string set cannot be empty in DynamoDB: no mail turned off is no attribute.
        change: dict[str, Any] = (
            {
                "UpdateExpression": "SET mailOff = :m",
                "ExpressionAttributeValues": {":m": {"SS": sorted(mails)}},
            }
            if mails
            else {"UpdateExpression": "REMOVE mailOff"}
        )
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):  # no such user
            await asyncio.to_thread(
                self._client.update_item,
                TableName=self._table,
                Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "PROFILE"}},
                ConditionExpression="attribute_exists(pk)",
                **change,
            )

    async def delete(self, user_id: str) -> None:
        await asyncio.to_thread(dynamo.delete_partition, self._client, self._table, f"USER#{user_id}")

    async def record_erasure(self, erasure: Erasure) -> None:
        await asyncio.to_thread(
            self._client.update_item,
            TableName=self._table,
            Key={"pk": {"S": ERASURES}, "sk": {"S": erasure.id}},
            UpdateExpression="SET #ns = :ns ADD bots :b",
            ExpressionAttributeNames={"#ns": "namespace"},
            ExpressionAttributeValues={":ns": {"S": erasure.namespace}, ":b": {"SS": sorted(erasure.bots)}},
        )

    async def pending_erasures(self) -> list[Erasure]:
        return await asyncio.to_thread(self._pending_erasures)

    def _pending_erasures(self) -> list[Erasure]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": ERASURES}},
            "ConsistentRead": True,
        }
        erasures: list[Erasure] = []
        while True:
            page = self._client.query(**request)
            erasures += [
                Erasure(item["sk"]["S"], item["namespace"]["S"], frozenset(item["bots"]["SS"]))
                for item in page["Items"]
            ]
            if "LastEvaluatedKey" not in page:
                return erasures
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def lease_erasure(self, erasure_id: str, holder: str, *, until: float, now: float) -> bool:
        try:
            await asyncio.to_thread(
                self._client.update_item,
                TableName=self._table,
                Key={"pk": {"S": ERASURES}, "sk": {"S": erasure_id}},
                UpdateExpression="SET holder = :h, leaseUntil = :u",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(holder) OR holder = :h OR leaseUntil < :now)"
                ),
                ExpressionAttributeValues={
                    ":h": {"S": holder},
                    ":u": {"N": repr(until)},
                    ":now": {"N": repr(now)},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    async def finish_erasure(self, erasure_id: str, holder: str) -> None:
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            await asyncio.to_thread(
                self._client.delete_item,
                TableName=self._table,
                Key={"pk": {"S": ERASURES}, "sk": {"S": erasure_id}},
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={":h": {"S": holder}},
            )

    async def mirror_bot(
        self, owner: str, name: str, summary: dict[str, Any], *, deleted: bool = False
    ) -> None:
        await asyncio.to_thread(self._mirror_bot, owner, name, summary, deleted)

    def _mirror_bot(self, owner: str, name: str, summary: dict[str, Any], deleted: bool) -> None:
        now = _now()
        values: dict[str, Any] = {":s": {"S": json.dumps(summary, sort_keys=True)}, ":t": {"S": now}}
        update = "SET summary = :s, updatedAt = :t, createdAt = if_not_exists(createdAt, :t)"
        if deleted:
            update += ", deletedAt = :t"
        else:
            update += " REMOVE deletedAt"
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"USER#{owner}"}, "sk": {"S": f"BOT#{name}"}},
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )

    async def mirrored_bots(self, owner: str) -> dict[str, dict[str, Any]]:
        return await asyncio.to_thread(self._mirrored_bots, owner)

    async def claim_alert(self, owner: str, alert: str) -> bool:
        return await asyncio.to_thread(self._claim_alert, owner, alert)

    def _claim_alert(self, owner: str, alert: str) -> bool:
        item = {"pk": {"S": f"USER#{owner}"}, "sk": {"S": f"ALERT#{alert}"}, "sentAt": {"S": _now()}}
        return dynamo.put_new(self._client, self._table, item)

    async def reserve_bot(
        self, owner: str, name: str, *, limit: int, existing: Collection[str], now: datetime
    ) -> Reservation:
        return await asyncio.to_thread(self._reserve_bot, owner, name, limit, existing, now)

    def _reserve_bot(
        self, owner: str, name: str, limit: int, existing: Collection[str], now: datetime
    ) -> Reservation:
        """Read the slots, decide, write them back unless another replica wrote since (its version)."""
        key = {"pk": {"S": f"USER#{owner}"}, "sk": {"S": "BOT-SLOTS"}}
        for _ in range(RESERVE_ATTEMPTS):
            item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item", {})
            slots = {slot: at["S"] for slot, at in item.get("slots", {}).get("M", {}).items()}
            answer, held = reserved(slots, name, limit, existing, now)
            if answer != "reserved":
                return answer
            version = int(item.get("version", {}).get("N", "0"))
            new = {
                **key,
                "slots": {"M": {slot: {"S": at} for slot, at in held.items()}},
                "version": {"N": str(version + 1)},
            }
            condition: dict[str, Any] = (
                {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": item["version"]}}
                if item
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            try:
                self._client.put_item(TableName=self._table, Item=new, **condition)
            except self._client.exceptions.ConditionalCheckFailedException:
                continue  # another reservation or release came first: decide again on what it wrote
            return answer
        raise RuntimeError(f"the bot slots of {owner} changed {RESERVE_ATTEMPTS} times while reserving one")

    async def release_bot(self, owner: str, name: str) -> None:
        await asyncio.to_thread(self._release_bot, owner, name)

    def _release_bot(self, owner: str, name: str) -> None:
        # No slots at all (a condition that fails): nothing to give back.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"USER#{owner}"}, "sk": {"S": "BOT-SLOTS"}},
                UpdateExpression="REMOVE slots.#n ADD version :one",  # a new version: reservers read again
                ConditionExpression="attribute_exists(slots)",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    async def admit_run_request(self, owner: str, *, per_minute: int, now: float) -> int | None:
        return await asyncio.to_thread(self._admit_run_request, owner, per_minute, now)

    def _admit_run_request(self, owner: str, per_minute: int, now: float) -> int | None:
        """Count within this minute while under the limit, or start this minute's count at 1."""
        minute = {"N": str(int(now // 60))}
        key = {"pk": {"S": f"USER#{owner}"}, "sk": {"S": "RUN-REQUESTS"}}
        failed = self._client.exceptions.ConditionalCheckFailedException
        for _ in range(2):  # a refused start means another replica started this minute: count in it
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET #c = #c + :one",
                    ConditionExpression="#m = :m AND #c < :limit",
                    ExpressionAttributeNames={"#m": "minute", "#c": "count"},
                    ExpressionAttributeValues={
                        ":m": minute,
                        ":one": {"N": "1"},
                        ":limit": {"N": str(per_minute)},
                    },
                )
                return None
            except failed:
                pass
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={**key, "minute": minute, "count": {"N": "1"}},
                    ConditionExpression="attribute_not_exists(pk) OR #m < :m",
                    ExpressionAttributeNames={"#m": "minute"},
                    ExpressionAttributeValues={":m": minute},
                )
                return None
            except failed:
                pass
        return _seconds_left(now)

    def _mirrored_bots(self, owner: str) -> dict[str, dict[str, Any]]:
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :b)",
            ExpressionAttributeValues={":p": {"S": f"USER#{owner}"}, ":b": {"S": "BOT#"}},
        )
        return {
            item["sk"]["S"].removeprefix("BOT#"): _mirrored(
                item["summary"]["S"],
                item["createdAt"]["S"],
                item["updatedAt"]["S"],
                item.get("deletedAt", {}).get("S"),
            )
            for item in answer["Items"]
        }


USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, issuer TEXT NOT NULL, subject TEXT NOT NULL, email TEXT NOT NULL,
    name TEXT NOT NULL, created_at TEXT NOT NULL, last_sign_in_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mirrored_bots (
    owner TEXT NOT NULL, name TEXT NOT NULL, summary TEXT NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, deleted_at TEXT, PRIMARY KEY (owner, name)
);
CREATE TABLE IF NOT EXISTS signed_out (id TEXT PRIMARY KEY, signed_out_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS claimed_alerts (
    owner TEXT NOT NULL, alert TEXT NOT NULL, sent_at TEXT NOT NULL, PRIMARY KEY (owner, alert)
);
CREATE TABLE IF NOT EXISTS bot_slots (
    owner TEXT NOT NULL, name TEXT NOT NULL, reserved_at TEXT NOT NULL, PRIMARY KEY (owner, name)
);
CREATE TABLE IF NOT EXISTS run_requests (
    owner TEXT PRIMARY KEY, minute INTEGER NOT NULL, count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_off (id TEXT NOT NULL, mail TEXT NOT NULL, PRIMARY KEY (id, mail));
CREATE TABLE IF NOT EXISTS erasures (
    id TEXT PRIMARY KEY, namespace TEXT NOT NULL, bots TEXT NOT NULL, holder TEXT, lease_until REAL
);
"""
# Every table and the column that names the user in it: what deleting a user deletes.
USER_COLUMNS = {
    "users": "id",
    "mirrored_bots": "owner",
    "signed_out": "id",
    "claimed_alerts": "owner",
    "bot_slots": "owner",
    "run_requests": "owner",
    "mail_off": "id",
}


class SqliteUsers:
    """`Users` in a SQLite file, for the embedded runtime: the same answers as `DynamoUsers`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = Database(path, USERS_SCHEMA)

    async def ready(self) -> None:
        """Raise when the file cannot be read (for /readyz)."""
        await self._db.run(lambda db: db.execute("SELECT 1 FROM users LIMIT 1").fetchall())

    async def sign_in(self, issuer: str, subject: str, email: str, name: str) -> tuple[User, bool]:
        return await self._db.run(self._sign_in, issuer, subject, email, name)

    @staticmethod
    def _sign_in(
        db: sqlite3.Connection, issuer: str, subject: str, email: str, name: str
    ) -> tuple[User, bool]:
        uid, now = user_id(issuer, subject), _now()
        created = (
            db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (uid, issuer, subject, email, name, now, now),
            ).rowcount
            == 1
        )
        if not created:
            db.execute(
                "UPDATE users SET email = ?, name = ?, last_sign_in_at = ? WHERE id = ?",
                (email, name, now, uid),
            )
        user = SqliteUsers._get(db, uid)
        assert user is not None
        return user, created

    async def get(self, user_id: str) -> User | None:
        return await self._db.run(self._get, user_id)

    @staticmethod
    def _get(db: sqlite3.Connection, uid: str) -> User | None:
        row = db.execute(
            "SELECT issuer, subject, email, name, created_at, coalesce(signed_out_at, 0) FROM users"
            " LEFT JOIN signed_out USING (id) WHERE id = ?",
            (uid,),
        ).fetchone()
        if row is None:
            return None
        issuer, subject, email, name, created_at, signed_out_at = row
        off = db.execute("SELECT mail FROM mail_off WHERE id = ?", (uid,)).fetchall()
        return User(
            uid,
            issuer,
            subject,
            email,
            name,
            datetime.fromisoformat(created_at),
            signed_out_at,
            frozenset(mail for (mail,) in off),
        )

    async def sign_out(self, user_id: str) -> float:
        moment = time.time()
        await self._db.run(
            lambda db: db.execute(
                "INSERT INTO signed_out VALUES (?, ?) ON CONFLICT (id) DO UPDATE"
                " SET signed_out_at = excluded.signed_out_at",
                (user_id, moment),
            )
        )
        return moment

    async def set_mail_off(self, user_id: str, mails: frozenset[str]) -> None:
        def write(db: sqlite3.Connection) -> None:
            if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                return  # no such user
            db.execute("DELETE FROM mail_off WHERE id = ?", (user_id,))
            db.executemany("INSERT INTO mail_off VALUES (?, ?)", [(user_id, mail) for mail in sorted(mails)])

        await self._db.run(write)

    async def delete(self, user_id: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            for table, column in USER_COLUMNS.items():
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (user_id,))

        await self._db.run(delete)

    async def record_erasure(self, erasure: Erasure) -> None:
        def record(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT bots FROM erasures WHERE id = ?", (erasure.id,)).fetchone()
            bots = sorted(erasure.bots | set(json.loads(row[0]) if row else []))
            db.execute(
                "INSERT INTO erasures (id, namespace, bots) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET namespace = excluded.namespace, bots = excluded.bots",
                (erasure.id, erasure.namespace, json.dumps(bots)),
            )

        await self._db.run(record)

    async def pending_erasures(self) -> list[Erasure]:
        rows = await self._db.run(
            lambda db: db.execute("SELECT id, namespace, bots FROM erasures ORDER BY id").fetchall()
        )
        return [Erasure(uid, namespace, frozenset(json.loads(bots))) for uid, namespace, bots in rows]

    async def lease_erasure(self, erasure_id: str, holder: str, *, until: float, now: float) -> bool:
        leased: bool = await self._db.run(
            lambda db: (
                db.execute(
                    "UPDATE erasures SET holder = ?, lease_until = ? WHERE id = ?"
                    " AND (holder IS NULL OR holder = ? OR lease_until < ?)",
                    (holder, until, erasure_id, holder, now),
                ).rowcount
                == 1
            )
        )
        return leased

    async def finish_erasure(self, erasure_id: str, holder: str) -> None:
        await self._db.run(
            lambda db: db.execute("DELETE FROM erasures WHERE id = ? AND holder = ?", (erasure_id, holder))
        )

    async def mirror_bot(
        self, owner: str, name: str, summary: dict[str, Any], *, deleted: bool = False
    ) -> None:
        now = _now()
        await self._db.run(
            lambda db: db.execute(
                "INSERT INTO mirrored_bots VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner, name) DO UPDATE"
                " SET summary = excluded.summary, updated_at = excluded.updated_at, deleted_at = excluded.deleted_at",
                (owner, name, json.dumps(summary, sort_keys=True), now, now, now if deleted else None),
            )
        )

    async def mirrored_bots(self, owner: str) -> dict[str, dict[str, Any]]:
        rows = await self._db.run(
            lambda db: db.execute(
                "SELECT name, summary, created_at, updated_at, deleted_at FROM mirrored_bots"
                " WHERE owner = ? ORDER BY name",
                (owner,),
            ).fetchall()
        )
        return {name: _mirrored(*fields) for name, *fields in rows}

    async def claim_alert(self, owner: str, alert: str) -> bool:
        return await self._db.run(
            lambda db: (
                db.execute(
                    "INSERT INTO claimed_alerts VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (owner, alert, _now()),
                ).rowcount
                == 1
            )
        )

    async def reserve_bot(
        self, owner: str, name: str, *, limit: int, existing: Collection[str], now: datetime
    ) -> Reservation:
        return await self._db.run(self._reserve_bot, owner, name, limit, existing, now)

    @staticmethod
    def _reserve_bot(
        db: sqlite3.Connection, owner: str, name: str, limit: int, existing: Collection[str], now: datetime
    ) -> Reservation:
        """One transaction that holds the write lock: no other reservation reads in between."""
        rows = db.execute("SELECT name, reserved_at FROM bot_slots WHERE owner = ?", (owner,)).fetchall()
        answer, held = reserved(dict(rows), name, limit, existing, now)
        if answer == "reserved":
            db.execute("DELETE FROM bot_slots WHERE owner = ?", (owner,))
            db.executemany(
                "INSERT INTO bot_slots VALUES (?, ?, ?)", [(owner, *slot) for slot in held.items()]
            )
        return answer

    async def release_bot(self, owner: str, name: str) -> None:
        await self._db.run(
            lambda db: db.execute("DELETE FROM bot_slots WHERE owner = ? AND name = ?", (owner, name))
        )

    async def admit_run_request(self, owner: str, *, per_minute: int, now: float) -> int | None:
        return await self._db.run(self._admit_run_request, owner, per_minute, now)

    @staticmethod
    def _admit_run_request(db: sqlite3.Connection, owner: str, per_minute: int, now: float) -> int | None:
        minute = int(now // 60)
        admitted = db.execute(
            "INSERT INTO run_requests VALUES (?, ?, 1) ON CONFLICT (owner) DO UPDATE"
            " SET count = CASE WHEN minute < excluded.minute THEN 1 ELSE count + 1 END,"
            " minute = max(minute, excluded.minute)"
            " WHERE minute < excluded.minute OR count < ?",
            (owner, minute, per_minute),
        ).rowcount
        return None if admitted == 1 else _seconds_left(now)
