"""The web app in Debian's Chromium against `skybots dev` on Bluesky's reference network: a signed-out
visit to a bot page leads to sign-in and back; the bot page's charts paint the reposts, candidates
and rejections a real run made, their totals fit at 360 px, the range switch lives in the address; a
preview lists the posts it skips with their reasons, as post cards (markup shown as text, a link to
the local AppView's view of the post); pause, resume and run now work; the overview shows the bot in
words; a bot made through the form (a bad hashtag refused at its field first), an edit that crosses
a change made elsewhere (409, reload, save); its schedule in words; deleting it after typing its
name; a bot with a day of runs in the history, its failed and rate-limited runs marked and its runs
table paged with the keyboard; the account page (a mail switch saved, the bots downloaded as YAML);
the not-found page; a keyboard-only walk (every control of the bot page and the form reached with
Tab, actions done with Enter and Space, ending on the empty overview); the theme switch and sign-out;
and last, signed in again, deleting the account after typing its email. axe-core checks every page
the flow visits (and the delete dialog): a serious or critical violation fails it.

The browser is driven by playwright-core from a Node script (frontend/e2e/app.mjs), which says
which step failed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skybots.api.pages import BUILT_SPA
from skybots.stores.runs import SqliteRunHistory
from tests.support.atproto import AtprotoNetwork
from tests.support.local_dev import Dev, live_hashtag_bot, posts, skybots_dev
from tests.support.manifests import ROOT
from tests.support.processes import NODE
from tests.support.runs import run_record

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = ROOT / "frontend" / "e2e" / "app.mjs"
HISTORY_BOT = "history-bot"  # the bot with a day of runs that frontend/e2e/app.mjs pages through


@pytest.fixture
def browser_and_build() -> None:
    """What the browser test needs beside the network; `make test` installs both."""
    if not (BUILT_SPA / "index.html").is_file():
        pytest.fail("The web app is not built: run `make app` (part of `make install`)")
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-packages` (part of `make test`)")


async def a_day_of_runs(dev: Dev, data_dir: Path, runs: int = 40) -> None:
    """A paused bot and `runs` runs of the last day in skybots dev's run history, as its runtime collects
    them (a real run takes seconds: too many for a second page): two failed, one rate-limited."""
    spec = {
        "account": {"handle": "history.bsky.social"},
        "suspend": True,
        "sources": [{"type": "hashtag", "tag": "history"}],
    }
    made = await dev.client.post(
        "/api/bots", json={"name": HISTORY_BOT, "appPassword": "abcd-efgh-ijkl-mnop", "spec": spec}
    )
    assert made.status_code == 201, made.text
    owner = (await dev.client.get("/api/me")).json()["id"]
    history, now = SqliteRunHistory(data_dir / "runs.db"), datetime.now(UTC)
    for n in range(runs):
        started = now - timedelta(minutes=30 * n + 5)
        outcome = {10: "upstreamFailed", 11: "upstreamFailed", 20: "rateLimited"}.get(n, "succeeded")
        await history.append(
            run_record(
                f"bot-{HISTORY_BOT}-{n}",
                started,
                bot=f"{HISTORY_BOT}-{owner[:16]}",
                outcome=outcome,
                candidates=5 + n % 4,
                reposted=n % 3,
                rejected={"language": n % 2, "reply": 1},
            )
        )


@pytest.mark.usefixtures("browser_and_build")
async def test_a_bot_owner_signs_in_and_watches_their_bot(
    atproto_network: AtprotoNetwork, tmp_path: Path
) -> None:
    network = atproto_network
    tag = "app" + uuid.uuid4().hex[:8]
    author, bot = network.create_account("appposter"), network.create_account("appbot")
    password = network.create_app_password(bot)
    network.post(bot, "the bot's own post, which its filters reject", tags=[tag], langs=["en"])
    posts(network, author, tag, 3)
    args = live_hashtag_bot(network, bot, tag)

    # Post cards link to the local AppView's view of a post (bsky.app knows none of these).
    link = {"SKYBOTS_POST_LINK": f"{network.appview_url}/xrpc/app.bsky.feed.getPostThread?uri={{uri}}"}

    async with skybots_dev(tmp_path / "state", *args, password=password, settings=link) as dev:
        last = await dev.finished("my-bot", await dev.run_now("my-bot"))
        assert (last["outcome"], last["reposted"], last["rejected"]) == ("succeeded", 3, 1)
        # What the preview skips, with its reasons: a reply, and a post with the tag only in its
        # text, and markup the page must show as text.
        thread = network.post(author, "a thread starts here")
        network.post(author, "a reply", tags=[tag], langs=["en"], reply_to=thread)
        network.post(
            author, f'<img src=x onerror="window.pwned=1"> <b>#{tag}</b> in the text only', langs=["en"]
        )
        network.process_all()
        await a_day_of_runs(dev, tmp_path / "state")

        browser = await asyncio.create_subprocess_exec(
            NODE,
            SCRIPT,
            dev.url,
            "my-bot",
            bot.handle,
            network.pds_url,
            password,
            tag,
            cwd=ROOT / "frontend",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(browser.communicate(), 180)

    assert browser.returncode == 0, output.decode()
