"""What the SQLite stores share (the embedded runtime's stand-ins for DynamoDB): one file,
tables made when missing, and a fresh connection per call, run in a thread as sqlite3 blocks."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")

BUSY_SECONDS = 10.0


class Database:
    """A SQLite file that several stores, threads and processes can share.

    Write-ahead logging lets readers go on while one writer writes; a writer waits up to
    BUSY_SECONDS for another to finish.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connect()
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.executescript(schema)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        # What is deleted is overwritten, not left in free pages: a deleted account is gone from the file
        # (Debian builds SQLite to do so by default; a build without SQLITE_SECURE_DELETE does not).
        connection.execute("PRAGMA secure_delete = ON")
        return connection

    def _transaction(
        self,
        work: Callable[Concatenate[sqlite3.Connection, Arguments], Result],
        *args: Arguments.args,
        **kwargs: Arguments.kwargs,
    ) -> Result:
        """Run `work(connection, ...)` in one transaction on a connection of its own: all of it is committed, or none.

        BEGIN IMMEDIATE takes the write lock first, so that a transaction that reads and then
        writes waits for another writer instead of failing as a deadlock.
        """
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection, *args, **kwargs)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result
        finally:
            connection.close()

    async def run(
        self,
        work: Callable[Concatenate[sqlite3.Connection, Arguments], Result],
        *args: Arguments.args,
        **kwargs: Arguments.kwargs,
    ) -> Result:
        """`_transaction` in a thread, so that the event loop goes on meanwhile."""
        return await asyncio.to_thread(functools.partial(self._transaction, work, *args, **kwargs))
