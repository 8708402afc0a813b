"""`make demo`: Bluesky's reference network on this machine, people posting on it, and a bot.

Starts PostgreSQL and Redis (for the network only), the network (PDS + AppView), two accounts that
post #skybotsdemo every few seconds, a bot account, and `skybots dev` with a live bot watching the
hashtag every minute. Prints where to look. Ctrl-C stops everything it started.

It reuses the test suite's process helpers (tests/support/): the same code starts the same
servers for the tests, and stops them the same way.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.atproto import Account, AtprotoNetwork, running_atproto_network  # noqa: E402
from tests.support.processes import free_port, port_is_free  # noqa: E402
from tests.support.services import PostgresServer, RedisServer  # noqa: E402

TAG = "skybotsdemo"
POST_EVERY_SECONDS = 15
PORT = int(os.environ.get("SKYBOTS_DEMO_PORT", "8000"))
LINES = [
    "Just shipped a tiny Python script that waters my plants",
    "Reading about CRDTs on the train this morning",
    "Kubernetes operators are controllers with opinions",
    "Made sourdough again, the crumb is finally right",
    "Is it just me or is every cron expression a puzzle",
    "The AT Protocol keeps every post in a signed repo",
]


def post_forever(network: AtprotoNetwork, authors: list[Account], stop: threading.Event) -> None:
    """Someone posts with the hashtag every few seconds, so the bot always has something new."""
    while not stop.wait(POST_EVERY_SECONDS):
        author = random.choice(authors)
        network.post(author, f"{random.choice(LINES)} #{TAG}", tags=[TAG], langs=["en"])
        network.process_all()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Ctrl-C, and SIGTERM too, stop everything (also where SIGINT came in ignored, as in a background job).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="skybots-demo-"))
    # Fresh each demo: the network's accounts are new too.
    state = Path(os.environ.get("SKYBOTS_DEMO_STATE", ROOT / ".cache" / "demo-state"))
    shutil.rmtree(state, ignore_errors=True)
    stop = threading.Event()
    servers: list[PostgresServer | RedisServer] = []
    dev: subprocess.Popen[bytes] | None = None
    try:
        postgres = PostgresServer()
        servers.append(postgres)
        redis = RedisServer(workdir)
        servers.append(redis)
        print("Starting Bluesky's reference network (PDS + AppView) on 127.0.0.1 ...", flush=True)
        with running_atproto_network(
            workdir / "network", postgres_url=postgres.url, redis_host=redis.host
        ) as network:
            authors = [network.create_account(name) for name in ("alice", "bob")]
            bot = network.create_account("demobot")
            for author in authors:
                network.post(author, f"Hello from the demo #{TAG}", tags=[TAG], langs=["en"])
            network.process_all()
            threading.Thread(target=post_forever, args=(network, authors, stop), daemon=True).start()
            env = {**os.environ, "SKYBOTS_DATA_DIR": str(state)}
            env["SKYBOTS_APP_PASSWORD"] = network.create_app_password(bot)
            # Post cards link to the local AppView's view of a post: bsky.app knows none of them.
            env["SKYBOTS_POST_LINK"] = f"{network.appview_url}/xrpc/app.bsky.feed.getPostThread?uri={{uri}}"
            port = PORT if port_is_free(PORT) else free_port()
            dev = subprocess.Popen(
                [ROOT / ".venv" / "bin" / "skybots", "dev", "--port", str(port), "--bot-handle", bot.handle,
                 "--bot-tag", TAG, "--bot-service", network.pds_url, "--bot-schedule", "* * * * *", "--live"],
                env=env, start_new_session=True,
            )  # fmt: skip
            _wait_for(f"http://127.0.0.1:{port}/healthz", dev)
            print(_what_to_look_at(port, network, bot.handle), flush=True)
            while dev.poll() is None:
                time.sleep(0.5)
            return dev.returncode or 0
    except KeyboardInterrupt:
        print("\nStopping everything the demo started ...", flush=True)
        return 0
    finally:
        stop.set()
        if dev is not None and dev.poll() is None:
            os.killpg(dev.pid, signal.SIGINT)
            dev.wait(30)
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"skybots dev stopped (exit code {process.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"skybots dev did not answer at {url}")


def _what_to_look_at(port: int, network: AtprotoNetwork, handle: str) -> str:
    base = f"http://localhost:{port}"
    return f"""
skybots is running, with a bot reposting #{TAG} on a local Bluesky network.

  1. Open {base}/app/bots/my-bot and sign in as the local developer (development only):
     the bot's page, its status explained, its chart growing with a run every minute, its runs.
  2. {base}/app/                          your bots: each one's state, last run, reposts in 24 h
  3. {base}/api/docs                      the API the app uses, signed in: try GET /api/bots
  The bot is @{handle} on the local PDS ({network.pds_url}); alice and bob post #{TAG} every
  {POST_EVERY_SECONDS} seconds. Press Ctrl-C to stop everything.
"""


if __name__ == "__main__":
    raise SystemExit(main())
