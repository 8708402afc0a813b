"""Real Redis, PostgreSQL and Bluesky network servers for tests, on free ports of 127.0.0.1.

`make test` installs them (Debian's redis-server and postgresql, Node 22 and @atproto/dev-env
under .cache/ and tools/atproto-network/). Each fixture's server is private to the test
session: its own folder, its own port, stopped at the end with everything it started.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.atproto import AtprotoNetwork, running_atproto_network
from tests.support.processes import HOST, ServerProcess, free_port, wait_until

STARTUP_TIMEOUT = 30
# A JWT's header and payload: base64url JSON objects ("eyJ" is '{"'), joined by a dot. A Fernet
# token is base64url without dots, so it never matches one.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+")


class RedisServer:
    """Debian's redis-server with no persistence: a cache that forgets everything when stopped.

    With a `password` it asks every client for it (AUTH), as the platform's Redis does; `url` then
    carries it, `address` does not.
    """

    def __init__(self, workdir: Path, *, password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `make system-packages` (part of `make test`)")
        self.port = free_port()
        self.password = password
        self.address = f"redis://{HOST}:{self.port}/0"
        self.url = f"redis://:{password}@{HOST}:{self.port}/0" if password else self.address
        self.host = f"{HOST}:{self.port}"
        # Flags, not a config file: bind loopback only, keep nothing on disk.
        self.server = ServerProcess(
            "redis-server",
            [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", workdir, "--daemonize", "no", "--protected-mode", "yes",
             *(["--requirepass", password] if password else [])],
            log=workdir / "redis.log",
        )  # fmt: skip
        self.client = redis.Redis.from_url(self.url)
        try:
            wait_until(self._answers, STARTUP_TIMEOUT, "redis-server to answer PING")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        self.server.check_running()
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def redis_text(url: str) -> str:
    """Every key in a Redis and its value, whatever its type, as one text (what a thief of a dump reads)."""
    client = redis.Redis.from_url(url, decode_responses=True)
    read: dict[str, Callable[[str], Any]] = {
        "string": client.get,
        "hash": client.hgetall,
        "zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        "set": client.smembers,
        "list": lambda key: client.lrange(key, 0, -1),
        "stream": client.xrange,
    }
    try:
        return "\n".join(f"{key} {read[str(client.type(key))](key)}" for key in client.scan_iter())
    finally:
        client.close()


def readable_tokens(url: str) -> list[str]:
    """The JWTs (Bluesky's access and refresh tokens) anyone reading the Redis could use."""
    return JWT.findall(redis_text(url))


def postgres_bindir() -> Path:
    """Debian keeps initdb and postgres in /usr/lib/postgresql/<version>/bin, off the PATH."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail("PostgreSQL is not installed: run `make system-packages` (part of `make test`)")
    return Path(found[-1]).parent


class PostgresServer:
    """A throwaway PostgreSQL cluster: trust auth, loopback only, its socket in its own folder.

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, in a folder
    under the system temp dir that this user can reach (pytest's own temp dirs are root-only).
    """

    def __init__(self) -> None:
        bindir = postgres_bindir()
        as_root = os.geteuid() == 0
        account = pwd.getpwnam("postgres") if as_root else None
        self.workdir = Path(tempfile.mkdtemp(prefix="skybots-pg-"))
        self.server: ServerProcess | None = None
        try:
            data = self.workdir / "data"
            if account:
                os.chown(self.workdir, account.pw_uid, account.pw_gid)
            user = account.pw_uid if account else None
            group = account.pw_gid if account else None
            subprocess.run(
                [bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                check=True, capture_output=True, user=user, group=group, extra_groups=[] if account else None,
            )  # fmt: skip
            self.port = free_port()
            self.url = f"postgresql://postgres@{HOST}:{self.port}/postgres"
            # The postmaster itself, not pg_ctl (which would detach it from our process group).
            # Durability is off: the data dies with the test session anyway.
            self.server = ServerProcess(
                "postgres",
                [bindir / "postgres", "-D", data, "-p", str(self.port), "-c", f"listen_addresses={HOST}",
                 "-c", f"unix_socket_directories={self.workdir}", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"],
                log=self.workdir / "postgres.log", user=user, group=group, stop_signal=signal.SIGINT,
            )  # fmt: skip
            pg_isready: list[Path | str] = [bindir / "pg_isready", "-q", "-h", HOST, "-p", str(self.port)]
            wait_until(lambda: self._ready(pg_isready), STARTUP_TIMEOUT, "postgres to accept connections")
        except BaseException:
            self.stop()
            raise

    def _ready(self, pg_isready: list[Path | str]) -> bool:
        assert self.server
        self.server.check_running()
        return subprocess.run(pg_isready, check=False).returncode == 0

    def stop(self) -> None:
        """SIGINT is PostgreSQL's fast shutdown: it ends sessions without waiting for them."""
        if self.server:
            self.server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The platform's Redis: it takes no command before AUTH with its password (in `url`)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), password=secrets.token_hex(16))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, empty at the start of every test."""
    redis_server.client.flushall()
    yield redis_server.url
    redis_server.client.flushall()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def atproto_network(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[AtprotoNetwork]:
    """Bluesky's PDS and AppView for the whole session: tests tell their data apart by account.

    The AppView gets a Redis of its own, so that `redis_url`'s FLUSHALL never touches it.
    """
    cache = RedisServer(tmp_path_factory.mktemp("atproto-redis"))
    try:
        with running_atproto_network(
            tmp_path_factory.mktemp("atproto"), postgres_url=postgres_server.url, redis_host=cache.host
        ) as network:
            yield network
    finally:
        cache.stop()
