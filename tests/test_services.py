"""The Redis and PostgreSQL fixtures give each test what the services under test will expect."""

from __future__ import annotations

import subprocess

import pytest
import redis

from tests.support.services import PostgresServer, RedisServer, postgres_bindir


@pytest.mark.parametrize("run", [1, 2])
def test_redis_url_is_empty_for_every_test(redis_url: str, run: int) -> None:
    """Whichever run comes second sees nothing of the first's key."""
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set(f"reserved:{run}", "1")
    assert client.dbsize() == 1


def test_redis_keeps_nothing_on_disk_and_listens_on_loopback(redis_server: RedisServer) -> None:
    config = redis_server.client.config_get("*")
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert config["bind"] == "127.0.0.1"


def test_postgres_accepts_trusted_connections_on_loopback_only(postgres_server: PostgresServer) -> None:
    psql = [str(postgres_bindir() / "psql"), postgres_server.url, "-XAtqc"]
    shown = subprocess.run(
        [*psql, "show listen_addresses; create schema probe_schema; drop schema probe_schema"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.split() == ["127.0.0.1"]
