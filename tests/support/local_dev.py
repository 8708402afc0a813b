"""`skybots dev` as a process for tests: started on a free port, the local developer signed in,
stopped with Ctrl-C, and checked to leave no port behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.atproto import Account, AtprotoNetwork
from tests.support.operator import eventually
from tests.support.processes import free_port, port_is_free

SKYBOTS = Path(sys.executable).parent / "skybots"
# A bot that runs only when asked, for tests that count its runs: a scheduled run in the middle
# would take their posts, or make their "run now" a 409 (a run is in progress).
ASKED_ONLY = ("--bot-schedule", "0 0 1 1 *")


def live_hashtag_bot(
    network: AtprotoNetwork, bot: Account, tag: str, service: str | None = None
) -> tuple[str, ...]:
    """`skybots dev`'s arguments for a bot that reposts `tag` as `bot`, for real, when asked
    (through `service`, a proxy before the network's PDS, when given)."""
    return (
        "--bot-handle",
        bot.handle,
        "--bot-tag",
        tag,
        "--bot-service",
        service or network.pds_url,
        "--live",
        *ASKED_ONLY,
    )


class Dev:
    """A running `skybots dev`, and the local developer signed in to it."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, client: httpx.AsyncClient) -> None:
        self.process, self.url, self.client = process, url, client

    async def run_now(self, bot: str) -> str:
        response = await self.client.post(f"/api/bots/{bot}/run")
        assert response.status_code == 202, response.text
        job: str = response.json()["job"]
        return job

    async def finished(self, bot: str, job: str) -> dict[str, Any]:
        async def collected() -> dict[str, Any] | None:
            last = (await self.client.get(f"/api/bots/{bot}")).json()["status"].get("lastRun") or {}
            return last if last.get("job") == job else None

        found: dict[str, Any] = await eventually(collected, seconds=90, what=f"run {job} collected")
        return found


@asynccontextmanager
async def skybots_dev(
    data_dir: Path,
    *args: str,
    password: str,
    redis_url: str | None = None,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Dev]:
    """`skybots dev` with `args`, and `settings` (SKYBOTS_* variables) in its environment."""
    port = free_port()
    env = {
        **os.environ,
        **(settings or {}),
        "SKYBOTS_DATA_DIR": str(data_dir),
        "SKYBOTS_APP_PASSWORD": password,
    }
    env.pop("SKYBOTS_REDIS_URL", None)
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    process = await asyncio.create_subprocess_exec(
        SKYBOTS, "dev", "--port", str(port), *args, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await eventually(lambda: _answers(client), seconds=60, what="skybots dev to answer")
            assert (await client.post("/auth/local")).status_code == 303
            client.headers["X-CSRF-Token"] = (await client.get("/api/me")).json()["csrfToken"]
            yield Dev(process, url, client)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                await asyncio.wait_for(process.wait(), 30)
            finally:
                if process.returncode is None:  # stuck: it must not outlive the test
                    process.kill()
                    await process.wait()
    assert process.returncode == 0
    assert port_is_free(port), "skybots dev left its port open"


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


def posts(network: AtprotoNetwork, author: Account, tag: str, count: int) -> list[str]:
    """`count` posts on `tag`, indexed by the AppView: what a local bot on that tag reposts."""
    uris = [network.post(author, f"demo post {n}", tags=[tag], langs=["en"]).uri for n in range(count)]
    network.process_all()
    return uris
