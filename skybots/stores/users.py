"""Users, and a mirror of their bots, in DynamoDB (one table).

Items: `pk` = "USER#<id>"; the user's profile at `sk` = "PROFILE", each of their bots at
`sk` = "BOT#<name>". One Query lists a user and their bots. Kubernetes stays the source of
truth for bots; the mirror serves listings and analytics, and keeps deleted bots (deletedAt).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

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


class Users(Protocol):
    async def sign_in(self, issuer: str, subject: str, email: str, name: str) -> tuple[User, bool]:
        """Record a sign-in; the user, and whether this was their first."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def sign_out(self, user_id: str) -> float:
        """Record that every session of the user issued until now is signed out; that moment."""
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

    async def ready(self) -> None:
        """Raises when the store cannot be reached (the API's /readyz)."""
        ...


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
"""


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
        return User(uid, issuer, subject, email, name, datetime.fromisoformat(created_at), signed_out_at)

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
