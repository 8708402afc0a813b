"""A bot's condition turning bad reaches its owner by mail: once per transition, whatever the replicas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from skybots.api.app import create_app
from skybots.api.deps import running_of
from skybots.mail import MailjetMailer
from skybots.stores.kubernetes import BOT
from tests.support.api import Api, UserClient
from tests.support.mailjet import MailjetRecorder
from tests.support.operator import eventually

NS = "skybots"


def failing(since: datetime) -> dict[str, Any]:
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": stamp,
            },
            {
                "type": "Healthy",
                "status": "False",
                "reason": "RunsFailing",
                "message": "3 runs failed in a row; the last: Job bot-x upstreamFailed",
                "lastTransitionTime": stamp,
            },
        ]
    }


async def mailing(api: Api, recorder: MailjetRecorder) -> UserClient:
    """Alice signed in, on an API that mails through Mailjet's stand-in."""
    api.services.mailer = MailjetMailer(
        "key", "secret", sender="skybots <noreply@skybots.dev>", url=recorder.url
    )
    return await api.sign_in("alice")


async def alices_bot(api: Api, alice: UserClient) -> str:
    """Alice's bot "news", made through the API: its resource name."""
    spec = {"account": {"handle": "news.bsky.social"}, "sources": [{"type": "mentions"}]}
    made = await alice.post("/api/bots", json={"name": "news", "appPassword": "p4ss-word", "spec": spec})
    assert made.status_code == 201, made.text
    [bot] = await api.kube.list(BOT, NS)
    return str(bot["metadata"]["name"])


async def test_runs_failing_mails_the_owner_once_per_transition_across_replicas(
    api: Api, mailjet_recorder: MailjetRecorder
) -> None:
    name = await alices_bot(api, await mailing(api, mailjet_recorder))

    second = create_app(api.settings, api.services)  # another replica, watching the same Bots
    async with second.router.lifespan_context(second):
        first_failure = datetime.now(UTC) - timedelta(minutes=5)
        await api.kube.patch(BOT, NS, name, {"status": failing(first_failure)}, subresource="status")
        await eventually(lambda: _mails(mailjet_recorder, 1), what="one mail")
        message = mailjet_recorder.calls[0].body["Messages"][0]
        assert message["To"] == [{"Email": "alice@example.com", "Name": "Alice"}]
        assert "news" in message["Subject"]
        assert "3 runs failed in a row" in message["TextPart"]

        # Still failing, a new message: the same transition, no new mail.
        status = failing(first_failure)
        status["conditions"][1]["message"] = "4 runs failed in a row"
        await api.kube.patch(BOT, NS, name, {"status": status}, subresource="status")
        # Failing again later (after a recovery): a new transition, a new mail.
        await api.kube.patch(BOT, NS, name, {"status": failing(datetime.now(UTC))}, subresource="status")
        await eventually(lambda: _mails(mailjet_recorder, 2), what="a second mail")

    restarted = create_app(api.settings, api.services)  # a restart sees the same conditions: nothing again
    async with restarted.router.lifespan_context(restarted):
        await running_of(restarted).bot_cache.synced.wait()
    assert len(mailjet_recorder.calls) == 2


async def _mails(recorder: MailjetRecorder, count: int) -> bool:
    assert len(recorder.calls) <= count, recorder.calls
    return len(recorder.calls) == count


def rejected(since: datetime) -> dict[str, Any]:
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "CredentialsRejected",
        "message": "Bluesky rejected the app password",
        "lastTransitionTime": stamp,
    }
    return {"conditions": [condition]}


async def test_a_mail_the_owner_turned_off_is_not_sent_and_the_others_are(
    api: Api, mailjet_recorder: MailjetRecorder
) -> None:
    alice = await mailing(api, mailjet_recorder)
    assert (
        await alice.put("/api/account/mail", json={"botFailing": False, "credentialsRejected": True})
    ).status_code == 200
    name = await alices_bot(api, alice)

    second = create_app(api.settings, api.services)  # another replica: it reads the setting from the store
    async with second.router.lifespan_context(second):
        await running_of(second).bot_cache.synced.wait()
        await api.kube.patch(BOT, NS, name, {"status": failing(datetime.now(UTC))}, subresource="status")
        # Then a mail she gets: had the first been sent, it would have come first.
        await api.kube.patch(BOT, NS, name, {"status": rejected(datetime.now(UTC))}, subresource="status")
        await eventually(lambda: _mails(mailjet_recorder, 1), what="the credentials mail")
    assert [call.body["Messages"][0]["CustomID"] for call in mailjet_recorder.calls] == [
        "credentials_rejected"
    ]
