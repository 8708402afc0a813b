"""Running `skybots reposter run` as its CronJob does: a process, a config file, its environment."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.atproto import Account, AtprotoNetwork

SKYBOTS = Path(sys.executable).parent / "skybots"


def fernet_key() -> str:
    """A key for SKYBOTS_SESSION_KEYS, as `cryptography.fernet.Fernet.generate_key()` makes one."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def platform_keys() -> dict[str, str]:
    """The reposter's session keys, as the operator gives them from the platform's Secret (new ones each call)."""
    return {"SKYBOTS_CREDENTIAL_KEY": secrets.token_hex(32), "SKYBOTS_SESSION_KEYS": fernet_key()}


@dataclass
class Outcome:
    """What a run left behind: its exit code, its report (stdout), stderr, the termination message."""

    exit_code: int
    report: dict[str, Any]
    stderr: str
    termination: dict[str, Any] | None


@dataclass
class Bot:
    """A bot account on the test network and everything a run of it needs."""

    account: Account
    app_password: str
    workdir: Path
    service: str
    env: dict[str, str] = field(default_factory=dict)
    name: str = "news"
    namespace: str = "team"

    def config(self, **spec: Any) -> Path:
        """Write the bot's config file (as the operator renders it) and return its path."""
        body = {
            "apiVersion": "skybots.dev/v1alpha1",
            "kind": "BotConfig",
            "namespace": self.namespace,
            "name": self.name,
            "spec": {
                "account": {
                    "handle": self.account.handle,
                    "service": self.service,
                    "credentialsSecretRef": {"name": self.name},
                },
                "sources": [{"type": "mentions"}],
                **spec,
            },
        }
        path = self.workdir / f"{self.name}.json"
        path.write_text(json.dumps(body))
        return path

    async def run(self, config: Path | None = None, *args: str, **spec: Any) -> Outcome:
        """One run; `spec` (when given) writes the config first."""
        path = config or self.config(**spec)
        return await run_reposter(path, self.env, *args, workdir=self.workdir)

    def process(self, config: Path, *args: str) -> Any:
        """Start a run without waiting for it (for tests that kill it or run two at once; `outcome_of` ends it)."""
        return asyncio.create_subprocess_exec(
            SKYBOTS,
            "reposter",
            "run",
            "--config",
            str(config),
            *args,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )


async def run_reposter(config: Path, env: dict[str, str], *args: str, workdir: Path) -> Outcome:
    termination = workdir / "termination-log"
    termination.unlink(missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        SKYBOTS,
        "reposter",
        "run",
        "--config",
        str(config),
        *args,
        env={**os.environ, "SKYBOTS_TERMINATION_LOG": str(termination), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    outcome = await outcome_of(process)
    outcome.termination = json.loads(termination.read_text()) if termination.exists() else None
    return outcome


async def outcome_of(process: asyncio.subprocess.Process) -> Outcome:
    """Wait for a run started as a process; its report is what it printed (no termination message)."""
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:  # a run that hangs does not outlive its test
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Outcome(
        exit_code=process.returncode,
        report=json.loads(stdout) if stdout.strip() else {},
        stderr=stderr.decode(),
        termination=None,
    )


def reposted_by(network: AtprotoNetwork, bot: Account, uris: list[str]) -> dict[str, str | None]:
    """viewer.repost of each post as the bot sees it (the AppView's truth)."""
    network.process_all()
    posts = network.query("app.bsky.feed.getPosts", bot, uris=uris)["posts"]
    return {post["uri"]: post.get("viewer", {}).get("repost") for post in posts}
