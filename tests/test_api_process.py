"""`skybots api` as its own process: JSON log lines with request ids, readiness, errors to Sentry.

Sentry is a local HTTP server that records what the SDK sends (its envelopes); the error is a
Kubernetes API failure injected into the emulator while a bot is created.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import httpx
import itsdangerous
import pytest

import skybots
from skybots.api.pages import BUILT_SPA
from skybots.stores.users import DynamoUsers
from tests.support.api import ISSUER, SESSION_SECRET
from tests.support.aws import REGION
from tests.support.kubernetes import BOTS, ClusterEmulator, internal_error, upcoming
from tests.support.operator import eventually
from tests.support.processes import free_port

PASSWORD = "process-app-pass-0004"


@pytest.fixture
async def sentry() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A DSN, and every envelope posted to it."""
    envelopes: list[bytes] = []

    async def store(request: aiohttp.web.Request) -> aiohttp.web.Response:
        envelopes.append(await request.read())  # aiohttp undoes the gzip
        return aiohttp.web.json_response({})

    app = aiohttp.web.Application()
    app.router.add_post("/api/{project}/envelope/", store)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://public@127.0.0.1:{port}/1", envelopes
    await runner.cleanup()


@pytest.fixture
def api_env() -> dict[str, str]:
    """What a test adds to the API process's environment."""
    return {}


@pytest.fixture
async def served(
    cluster: ClusterEmulator,
    aws: str,
    sentry: tuple[str, list[bytes]],
    api_env: dict[str, str],
    tmp_path: Path,
) -> AsyncIterator[dict[str, Any]]:
    port, metrics_port = free_port(), free_port()
    log = tmp_path / "api.log"
    env = {
        **os.environ,
        "SKYBOTS_KUBERNETES_SERVER": str(cluster.url),
        "SKYBOTS_DYNAMODB_ENDPOINT_URL": aws,
        "SKYBOTS_AWS_REGION": REGION,
        "SKYBOTS_SESSION_SECRET": SESSION_SECRET,
        "SKYBOTS_SENTRY_DSN": sentry[0],
        "SKYBOTS_METRICS_PORT": str(metrics_port),
        "SKYBOTS_RUNTIME": "local",  # what a deployment could set: it must not open the local sign-in
        **api_env,
    }
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            Path(sys.executable).parent / "skybots",
            *("api", "--host", "127.0.0.1", "--port", str(port), "--create-tables"),
            env=env,
            stdout=stderr,
            stderr=stderr,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                await eventually(lambda: _answers(client), seconds=30, what="the API to answer")
                yield {
                    "url": url,
                    "log": log,
                    "client": client,
                    "metrics": f"http://127.0.0.1:{metrics_port}",
                }
        finally:
            process.terminate()
            await process.wait()


async def _answers(client: httpx.AsyncClient) -> bool:
    return (await client.get("/healthz")).status_code == 200


def log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def test_every_request_is_a_json_log_line_with_its_request_id(served: dict[str, Any]) -> None:
    client = served["client"]
    response = await client.get("/healthz", headers={"X-Request-ID": "trace-4711"})
    assert response.headers["X-Request-ID"] == "trace-4711"
    assert (await client.get("/readyz")).status_code == 200

    async def logged() -> list[dict[str, Any]]:
        return [line for line in log_lines(served["log"]) if line.get("request_id") == "trace-4711"]

    [line] = await eventually(logged, what="the access log line")
    assert line["levelname"] == "INFO"
    assert line["status"] == 200
    assert "/healthz" in line["message"]


async def test_metrics_are_served_on_their_own_port_not_the_public_one(served: dict[str, Any]) -> None:
    """The Ingress routes the public port to the world; metrics stay inside the cluster."""
    client = served["client"]
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 404
    async with httpx.AsyncClient() as scraper:
        metrics = (await scraper.get(f"{served['metrics']}/metrics")).text
    assert 'skybots_api_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert "skybots_api_users_by_bot_count" in metrics


async def test_a_server_error_reaches_sentry_without_the_request_body(
    served: dict[str, Any], cluster: ClusterEmulator, aws: str, sentry: tuple[str, list[bytes]]
) -> None:
    users = DynamoUsers("skybots-users", region=REGION, endpoint_url=aws)
    user, _ = await users.sign_in(ISSUER, "sub-sentry", "sentry@example.com", "Sentry")
    csrf = secrets.token_urlsafe(16)
    session = {"user": user.id, "csrf": csrf, "issued": time.time(), "expires": int(time.time()) + 3600}
    cookie = itsdangerous.TimestampSigner(SESSION_SECRET).sign(base64.b64encode(json.dumps(session).encode()))
    upcoming(cluster["post", BOTS], 1) << internal_error("etcdserver: leader changed")
    body = {
        "name": "news",
        "appPassword": PASSWORD,
        "spec": {"account": {"handle": "n.bsky.social"}, "sources": [{"type": "mentions"}]},
    }
    async with httpx.AsyncClient(
        base_url=served["url"], cookies={"skybots_session": cookie.decode()}
    ) as client:
        response = await client.post("/api/bots", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 500
    assert PASSWORD not in response.text

    envelopes = sentry[1]
    await eventually(lambda: _any(envelopes), seconds=15, what="an envelope at Sentry")
    sent = b"\n".join(envelopes).decode(errors="replace")
    assert "KubernetesError" in sent
    assert "etcdserver: leader changed" in sent
    assert PASSWORD not in sent
    assert PASSWORD not in served["log"].read_text()
    assert '"user-agent"' in sent.lower(), "the request's headers are in the event"
    assert csrf not in sent, "the CSRF token is scrubbed from them"


async def test_skybots_api_never_signs_anyone_in_without_the_provider(served: dict[str, Any]) -> None:
    """Started with SKYBOTS_RUNTIME=local (the served fixture sets it): no local sign-in, no button."""
    client = served["client"]
    refused = await client.post("/auth/local")
    assert refused.status_code in (404, 405), refused.text
    assert "skybots_session" not in refused.headers.get("set-cookie", "")
    assert "local developer" not in (await client.get("/sign-in")).text


async def test_a_chunked_body_without_a_length_is_cut_off_at_64_kb(served: dict[str, Any]) -> None:
    """Through uvicorn, as a client that never says how long its body is would send it."""

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"name": "news", "spec": {"description": "'
        for _ in range(64):
            yield b"x" * 16384

    response = await served["client"].post(
        "/api/bots", content=endless(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "64 KB" in response.json()["detail"]


async def test_readyz_tells_the_public_nothing_but_ready_or_not(served: dict[str, Any]) -> None:
    response = await served["client"].get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def _any(items: list[bytes]) -> bool:
    return bool(items)


class TestAnInstalledPackage:
    """The api image: the package installed (not editable), the web app's build copied into it."""

    @pytest.fixture
    def api_env(self, tmp_path: Path) -> dict[str, str]:
        """`skybots` from a site-packages of its own, whose static/app holds a build of the web app."""
        site_packages = tmp_path / "site-packages"
        package = Path(skybots.__file__).parent
        shutil.copytree(
            package, site_packages / "skybots", ignore=shutil.ignore_patterns("__pycache__", "app")
        )
        built = site_packages / BUILT_SPA.relative_to(package.parent)
        (built / "assets").mkdir(parents=True)
        (built / "index.html").write_text('<!doctype html><div id="app">the installed SPA</div>')
        (built / "assets/index-5e6f.js").write_text("console.log('installed')")
        return {"PYTHONPATH": str(site_packages)}

    async def test_skybots_api_serves_the_web_app_from_the_installed_package(
        self, served: dict[str, Any]
    ) -> None:
        client: httpx.AsyncClient = served["client"]
        page = await client.get("/app/bots/k8s-news", headers={"Accept": "text/html"})
        script = await client.get("/app/assets/index-5e6f.js")

        assert page.status_code == 200
        assert "the installed SPA" in page.text
        assert script.status_code == 200
        assert script.text == "console.log('installed')"
