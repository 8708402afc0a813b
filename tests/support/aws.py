"""S3 and DynamoDB for tests: moto in server mode, so boto3 talks real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.support.processes import free_port

REGION = "eu-central-1"

Store = TypeVar("Store")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the session; `aws` resets its state for every test."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The endpoint URL of a clean moto, with dummy credentials in the environment as boto3 needs."""
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    return moto_server


# The params of a fixture that gives each test the AWS store and, in a second run, its embedded stand-in.
CLOUD_OR_EMBEDDED = ["cloud", "embedded"]


def reopener(
    request: pytest.FixtureRequest, embedded: Callable[[], Store], cloud: Callable[[str], Callable[[], Store]]
) -> Callable[[], Store]:
    """How such a fixture's test opens its store, anew on the same data each call (as a restarted
    process would): the embedded one, or the cloud one on a clean moto (`cloud` gets its endpoint)."""
    if request.param == "embedded":
        return embedded
    return cloud(request.getfixturevalue("aws"))
