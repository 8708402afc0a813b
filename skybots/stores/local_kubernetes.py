"""An embedded stand-in for the Kubernetes API server, kept in one SQLite file: `make demo` has no cluster.

`LocalKubernetes` answers the calls of `Kubernetes` (get, list, snapshot, watch, create, patch,
delete) with what a real API server does for the ones the platform makes:

- server-owned metadata: `uid`, `creationTimestamp`, `generateName`, one `resourceVersion`
  counter for every object (monotonic across restarts), `generation` bumped on spec changes;
- the status subresource (Bots, CronJobs, Jobs, Pods): a create drops status, a write to the
  main resource cannot change it, a write to `status` changes nothing else;
- JSON merge patches (RFC 7386), a `metadata.resourceVersion` in a patch as a precondition
  (409 Conflict), a taken name (409 AlreadyExists), 404 NotFound, a write changing nothing
  is no write; a Secret's `stringData` is folded into base64 `data`;
- label selectors of equality terms (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated);
- watches after a resourceVersion, from a log of the last `history` changes kept in the file:
  an object entering or leaving a watch's selector is ADDED or DELETED to it; a version older
  than the log is 410 Expired, as from a compacted etcd (list again, then watch);
- deletion in the background: dependents (ownerReferences) go with their last owner, transitively.

Simplifications, honest ones: open watches hear only of writes made through the same object
(one process; another process may write the same file, SQLite serializes the writes, and
a watch started after them replays them from the log); the garbage collector's work is done in
the delete's own transaction, so dependents are gone when it returns; finalizers are refused
rather than half done; there is no admission (CRD defaults or schema): the API validates with
the model the CRD is generated from before it writes.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import copy
import json
import random
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skybots.stores.kubernetes import (
    BOT,
    CRON_JOB,
    JOB,
    POD,
    SECRET,
    Conflict,
    Kind,
    KubernetesError,
    NotFound,
    merge_patch,
    timestamp,
)

WITH_STATUS = frozenset({BOT, CRON_JOB, JOB, POD})  # kinds with a status subresource
# Metadata only the server writes: a create cannot set it, a patch cannot change it.
SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "generation", "resourceVersion")
NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
GENERATED_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's, without vowels
SELECTOR_TERM = re.compile(
    r"(?P<absent>!)?(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)(?:(?P<op>==|=|!=)(?P<value>[-A-Za-z0-9_.]*))?"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS changes (
    revision INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL,
    type TEXT NOT NULL, old TEXT, new TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('revision', 0), ('compacted', 0);
"""


def _resource(kind: Kind) -> str:
    """How the server names a resource in keys and messages: `bots.skybots.dev`, `secrets`."""
    return f"{kind.plural}.{kind.group}" if kind.group else kind.plural


def _now() -> str:
    return timestamp(datetime.now(UTC))


@dataclass(frozen=True)
class Selector:
    """A label selector of equality terms, parsed once: `a=b,c!=d,e,!f`; set-based terms (`in`) are a 400."""

    terms: tuple[tuple[str, str, str], ...]  # (key, operator, value); operator one of = != exists !

    @classmethod
    def parse(cls, text: str | None) -> Selector:
        terms = []
        for term in filter(None, (part.replace(" ", "") for part in (text or "").split(","))):
            found = SELECTOR_TERM.fullmatch(term)
            if found is None or (found["absent"] and found["op"]):
                raise KubernetesError(400, "BadRequest", f"unable to parse requirement: {term!r}")
            operator = (
                "!" if found["absent"] else "exists" if found["op"] is None else found["op"].lstrip("=")
            )
            terms.append((found["key"], operator or "=", found["value"] or ""))
        return cls(tuple(terms))

    def matches(self, obj: dict[str, Any]) -> bool:
        labels = obj["metadata"].get("labels") or {}
        for key, operator, value in self.terms:
            present = labels.get(key)
            if operator == "!":
                satisfied = present is None
            elif operator == "exists":
                satisfied = present is not None
            else:  # != also matches objects without the label, as in Kubernetes
                satisfied = (present == value) == (operator == "=")
            if not satisfied:
                return False
        return True


@dataclass(frozen=True)
class Change:
    """One committed write, as the log keeps it and watchers are told of it."""

    revision: int
    resource: str
    namespace: str
    type: str  # ADDED, MODIFIED or DELETED
    old: str | None  # the object before a MODIFIED change (JSON)
    new: str  # the object as written (JSON)

    def event_for(self, resource: str, namespace: str, selector: Selector) -> dict[str, Any] | None:
        """As the watch cache tells it: an object that starts or stops matching is ADDED or DELETED."""
        if (self.resource, self.namespace) != (resource, namespace):
            return None
        new = json.loads(self.new)
        now = selector.matches(new)
        before = self.old is not None and selector.matches(json.loads(self.old))
        if self.type != "MODIFIED":
            kind = self.type if now else None
        else:
            kind = "MODIFIED" if before and now else "ADDED" if now else "DELETED" if before else None
        return None if kind is None else {"type": kind, "object": new}


class LocalKubernetes:
    """The `Kubernetes` adapter's interface on a SQLite file; use it from one event loop."""

    def __init__(self, path: str | Path, *, history: int = 1000) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._history = history  # changes kept for watches to resume from
        self._watchers: set[asyncio.Queue[Change | None]] = set()
        self._pending: builtins.list[Change] = []  # written in the open transaction, told after it

    async def close(self) -> None:
        for queue in self._watchers:
            queue.put_nowait(None)  # ends every watch
        self._db.close()

    # Reading.

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        return self._existing(kind, namespace, name)

    async def list(
        self, kind: Kind, namespace: str, label_selector: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        return (await self.snapshot(kind, namespace, label_selector))[0]

    async def snapshot(
        self, kind: Kind, namespace: str, label_selector: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], str]:
        """The objects, and the resourceVersion to watch from for what happens after."""
        selector = Selector.parse(label_selector)
        return list(self._objects(kind, namespace, selector)), str(self._counter("revision"))

    async def watch(
        self,
        kind: Kind,
        namespace: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events ({type, object}) after `resource_version`, until `timeout_seconds` pass.

        "" or "0" starts with the current objects, as ADDED. A version older than the kept log
        raises KubernetesError 410: list again, then watch.
        """
        if not (resource_version.isdigit() or resource_version == ""):
            raise KubernetesError(400, "BadRequest", f"invalid resourceVersion {resource_version!r}")
        selector = Selector.parse(label_selector)  # a bad one is refused before the stream starts
        since = int(resource_version or 0)
        resource = _resource(kind)
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        # No await from subscribing to reading the log: no change can fall in between.
        self._watchers.add(queue)
        try:
            if since == 0:
                last = self._counter("revision")
                backlog = [
                    {"type": "ADDED", "object": obj} for obj in self._objects(kind, namespace, selector)
                ]
            else:
                last = max(since, self._counter("revision"))
                backlog = [
                    event
                    for change in self._changes_after(since)
                    if (event := change.event_for(resource, namespace, selector)) is not None
                ]
            for event in backlog:
                yield event
            deadline = asyncio.get_running_loop().time() + timeout_seconds
            while True:
                try:  # no yield inside the timeout: it would cancel the consumer instead
                    async with asyncio.timeout_at(deadline):
                        change = await queue.get()
                except TimeoutError:
                    return  # the server ends a watch after its timeout; the client watches again
                if change is None:
                    return  # closed
                event = None if change.revision <= last else change.event_for(resource, namespace, selector)
                if event is not None:
                    yield event
        finally:
            self._watchers.discard(queue)

    # Writing.

    async def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if meta.setdefault("namespace", namespace) != namespace:
            raise KubernetesError(
                400, "BadRequest", "the namespace of the object does not match the namespace of the request"
            )
        while not meta.get("name") and meta.get("generateName"):
            name = meta["generateName"] + "".join(random.choices(GENERATED_NAME_ALPHABET, k=5))
            if self._row(kind, namespace, name) is None:
                meta["name"] = name
        name = str(meta.get("name") or "")
        if not (NAME.fullmatch(name) and len(name) <= 253):
            message = (
                f'{kind.kind} "{name}" is invalid: metadata.name: a lowercase RFC 1123 subdomain is required'
            )
            raise KubernetesError(422, "Invalid", message)
        _refuse_finalizers(obj)
        for key in SERVER_METADATA:
            meta.pop(key, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        obj.update(apiVersion=kind.api_version, kind=kind.kind)
        if kind in WITH_STATUS:
            obj.pop("status", None)
        with self._transaction():
            if self._row(kind, namespace, name) is not None:
                raise Conflict(409, "AlreadyExists", f'{_resource(kind)} "{name}" already exists')
            return self._write(kind, "ADDED", None, _folded(kind, obj))

    async def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        body: dict[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386); a `metadata.resourceVersion` in it must be the current one."""
        if subresource not in (None, "status") or (subresource == "status" and kind not in WITH_STATUS):
            raise NotFound(404, "NotFound", "the server could not find the requested resource")
        with self._transaction():
            current = self._existing(kind, namespace, name)
            precondition = (body.get("metadata") or {}).get("resourceVersion")
            if precondition is not None and str(precondition) != current["metadata"]["resourceVersion"]:
                raise Conflict(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {_resource(kind)} "{name}": the object has been'
                    " modified; please apply your changes to the latest version and try again",
                )
            merged = merge_patch(current, body)
            if subresource == "status":  # only the status changes
                updated = {**current, "status": merged.get("status")}
            elif kind in WITH_STATUS:  # anything but the status changes
                updated = {**merged, "status": current.get("status")}
            else:
                updated = merged
            if updated.get("status") is None:
                updated.pop("status", None)
            meta = updated["metadata"] = dict(updated.get("metadata") or {})
            for key in ("name", "namespace", *SERVER_METADATA):
                meta.pop(key, None)
                if key in current["metadata"]:
                    meta[key] = current["metadata"][key]
            updated.update(apiVersion=current["apiVersion"], kind=current["kind"])
            _refuse_finalizers(updated)
            updated = _folded(kind, updated)
            if _spec(kind, updated) != _spec(kind, current):
                meta["generation"] = int(current["metadata"].get("generation", 0)) + 1
            if updated == current:
                return current  # a write that changes nothing: no new resourceVersion, no event
            return self._write(kind, "MODIFIED", current, updated)

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        """Delete in the background: owned objects go with it (ownerReferences)."""
        with self._transaction():
            self._remove(kind, self._existing(kind, namespace, name))

    # The store.

    def _counter(self, name: str) -> int:
        (value,) = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(value)

    def _row(self, kind: Kind, namespace: str, name: str) -> str | None:
        row = self._db.execute(
            "SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
            (_resource(kind), namespace, name),
        ).fetchone()
        return None if row is None else str(row[0])

    def _existing(self, kind: Kind, namespace: str, name: str) -> dict[str, Any]:
        row = self._row(kind, namespace, name)
        if row is None:
            raise NotFound(404, "NotFound", f'{_resource(kind)} "{name}" not found')
        return dict(json.loads(row))

    def _objects(self, kind: Kind, namespace: str, selector: Selector) -> Iterator[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT body FROM objects WHERE resource = ? AND namespace = ? ORDER BY name",
            (_resource(kind), namespace),
        ).fetchall()
        for (body,) in rows:
            obj = json.loads(body)
            if selector.matches(obj):
                yield obj

    def _changes_after(self, since: int) -> builtins.list[Change]:
        compacted = self._counter("compacted")
        if since < compacted:
            raise KubernetesError(410, "Expired", f"too old resource version: {since} ({compacted})")
        rows = self._db.execute(
            "SELECT revision, resource, namespace, type, old, new FROM changes WHERE revision > ? ORDER BY revision",
            (since,),
        ).fetchall()
        return [Change(*row) for row in rows]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Writes commit together, then watchers hear of them; on an error nothing was written.

        BEGIN IMMEDIATE takes the file's write lock first: the revision read is the one written after.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            if self._pending:
                revision = self._pending[-1].revision
                self._db.execute("UPDATE counters SET value = ? WHERE name = 'revision'", (revision,))
                self._compact(revision - self._history)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._pending.clear()
            raise
        changes, self._pending = self._pending, []
        for change in changes:
            for queue in self._watchers:
                queue.put_nowait(change)

    def _compact(self, through: int) -> None:
        """Drop the log's changes up to `through`: a watch from before then gets 410."""
        if through > self._counter("compacted"):
            self._db.execute("DELETE FROM changes WHERE revision <= ?", (through,))
            self._db.execute("UPDATE counters SET value = ? WHERE name = 'compacted'", (through,))

    def _write(
        self, kind: Kind, type_: str, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> dict[str, Any]:
        """Store (or remove, for DELETED) `new` at the next resourceVersion, and log the change."""
        revision = (self._pending[-1].revision if self._pending else self._counter("revision")) + 1
        new["metadata"]["resourceVersion"] = str(revision)
        meta = new["metadata"]
        key = (_resource(kind), meta["namespace"], meta["name"])
        body = json.dumps(new, separators=(",", ":"))
        if type_ == "DELETED":
            self._db.execute("DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?", key)
        else:
            self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (*key, body))
        change = Change(revision, key[0], key[1], type_, None if old is None else json.dumps(old), body)
        self._db.execute(
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)", (revision, *key[:2], type_, change.old, body)
        )
        self._pending.append(change)
        return new

    def _remove(self, kind: Kind, obj: dict[str, Any]) -> None:
        """Remove an object, then its dependents, as the garbage collector does after a background delete."""
        self._write(kind, "DELETED", None, obj)
        uid = obj["metadata"]["uid"]
        rows = self._db.execute(
            "SELECT DISTINCT objects.resource, objects.body FROM objects,"
            " json_each(objects.body, '$.metadata.ownerReferences') AS owner"
            " WHERE objects.namespace = ? AND json_extract(owner.value, '$.uid') = ?",
            (obj["metadata"]["namespace"], uid),
        ).fetchall()
        for resource, body in rows:
            dependent = json.loads(body)
            meta, dependent_kind = dependent["metadata"], _kind_of(resource, dependent)
            others = {ref.get("uid") for ref in meta["ownerReferences"]} - {uid}
            gone = self._row(dependent_kind, meta["namespace"], meta["name"]) is None  # with an earlier one
            if not gone and not any(self._lives(other) for other in others):
                self._remove(dependent_kind, dependent)

    def _lives(self, uid: str | None) -> bool:
        """Whether an object with this uid exists: a dependent stays while one of its owners does."""
        found = self._db.execute(
            "SELECT 1 FROM objects WHERE json_extract(body, '$.metadata.uid') = ?", (uid,)
        ).fetchone()
        return found is not None


def _kind_of(resource: str, obj: dict[str, Any]) -> Kind:
    plural, _, group = resource.partition(".")
    return Kind(group, str(obj["apiVersion"]).rpartition("/")[2], plural, str(obj["kind"]))


def _spec(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """What bumps metadata.generation: everything but metadata, and but status where it is a subresource."""
    ignored = ("metadata", "status") if kind in WITH_STATUS else ("metadata",)
    return {key: value for key, value in obj.items() if key not in ignored}


def _folded(kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
    """A Secret as stored: `stringData` is write-only, folded into base64 `data`."""
    if kind != SECRET or "stringData" not in obj:
        return obj
    encoded = {
        key: base64.b64encode(str(value).encode()).decode() for key, value in obj.pop("stringData").items()
    }
    obj["data"] = {**(obj.get("data") or {}), **encoded}
    return obj


def _refuse_finalizers(obj: dict[str, Any]) -> None:
    """A finalizer would hold a delete until a controller removes it; nothing here would, so refuse it."""
    if obj["metadata"].get("finalizers"):
        raise KubernetesError(
            422, "Invalid", "metadata.finalizers: LocalKubernetes does not emulate finalizers"
        )
