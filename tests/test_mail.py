"""Mail: what reaches Mailjet (through a local recorder of its API), its errors, the log mailer, events."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi_events.dispatcher import dispatch
from pydantic import SecretStr

from skybots.api.app import build_services, create_app
from skybots.api.deps import Services
from skybots.api.events import USER_SIGNED_UP
from skybots.mail import ConsoleMailer, MailError, MailjetMailer, links, mailer_for, notify_bot_trouble
from skybots.settings import ApiSettings
from skybots.stores.users import User
from tests.support.api import api_settings
from tests.support.kubernetes import ClusterEmulator
from tests.support.mailjet import UNAUTHORIZED, MailjetRecorder, invalid_recipient

MAILJET_KEY = "mj-test-key-0123456789"
MAILJET_SECRET = "mj-test-secret-9876543210"

ADA = User(
    id="u-ada",
    issuer="https://accounts.google.com",
    subject="1234",
    email="ada@example.org",
    name="Ada Lovelace",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)
LINKS = links(ApiSettings(public_url="https://x"))


@pytest.fixture
def settings(aws: str, cluster: ClusterEmulator, mailjet_recorder: MailjetRecorder) -> ApiSettings:
    """The API's settings with Mailjet keys, its mail going to the recorder."""
    return api_settings(
        "skybots",
        aws,
        kubernetes_server=str(cluster.url),
        public_url="https://skybots.example",
        mailjet_api_key=MAILJET_KEY,
        mailjet_api_secret=MAILJET_SECRET,
        mailjet_url=mailjet_recorder.url,
        mail_from="skybots <noreply@skybots.example>",
    )


@pytest.fixture
async def services(settings: ApiSettings) -> AsyncIterator[Services]:
    """What the API builds from `settings` at start-up: its mailer is Mailjet's (the recorder)."""
    services = await build_services(settings, create_tables=True)
    yield services
    await services.kube.close()


def mailjet(recorder: MailjetRecorder) -> MailjetMailer:
    return MailjetMailer(
        MAILJET_KEY, MAILJET_SECRET, sender="skybots <noreply@skybots.example>", url=recorder.url
    )


def the_message(recorder: MailjetRecorder) -> dict[str, Any]:
    [call] = recorder.calls
    [message] = call.body["Messages"]
    assert isinstance(message, dict)
    return message


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert MAILJET_KEY not in text
        assert MAILJET_SECRET not in text


async def test_welcome_mail_reaches_mailjet_v31_with_both_parts(
    settings: ApiSettings, mailjet_recorder: MailjetRecorder
) -> None:
    mailer = mailer_for(settings)
    assert isinstance(mailer, MailjetMailer)

    await mailer.send(ADA.email, ADA.name, "welcome", links(settings))

    [call] = mailjet_recorder.calls
    assert (call.method, call.path, call.user) == ("POST", "/v3.1/send", MAILJET_KEY)
    message = the_message(mailjet_recorder)
    assert message["From"] == {"Email": "noreply@skybots.example", "Name": "skybots"}
    assert message["To"] == [{"Email": "ada@example.org", "Name": "Ada Lovelace"}]
    assert message["Subject"] == "Welcome to skybots"
    assert message["CustomID"] == "welcome"
    text, html = message["TextPart"], message["HTMLPart"]
    assert text.startswith("Hello Ada Lovelace,\n")
    assert "A skybots bot is a Bluesky account that reposts for you" in text
    assert "Open the app: https://skybots.example/app/\n" in text
    assert "<html" not in text
    assert "Hello Ada Lovelace," in html
    assert 'href="https://skybots.example/app/"' in html
    assert_no_secret(json.dumps(call.body))


async def test_a_recipient_without_a_name_is_greeted_plainly(mailjet_recorder: MailjetRecorder) -> None:
    await mailjet(mailjet_recorder).send("bob@example.org", "", "welcome", LINKS)

    message = the_message(mailjet_recorder)
    assert message["To"] == [{"Email": "bob@example.org"}]
    assert message["TextPart"].startswith("Hello,\n")


async def test_bot_failing_mail_names_the_bot_its_condition_and_links_to_it(
    settings: ApiSettings, mailjet_recorder: MailjetRecorder
) -> None:
    mailer = mailer_for(settings)
    await notify_bot_trouble(
        mailer, ADA, "k8s-news", "failing", "RunsFailing", "3 runs in a row failed: <timeout>", settings
    )

    message = the_message(mailjet_recorder)
    assert message["To"] == [{"Email": "ada@example.org", "Name": "Ada Lovelace"}]
    assert message["Subject"] == "Your bot k8s-news keeps failing"
    assert message["CustomID"] == "bot_failing"
    text, html = message["TextPart"], message["HTMLPart"]
    for part in (text, html):
        assert "k8s-news" in part
        assert "RunsFailing" in part
    assert "3 runs in a row failed: <timeout>" in text
    assert "https://skybots.example/app/bots/k8s-news" in text
    # The condition's message is data: escaped in HTML, as is in text.
    assert "3 runs in a row failed: &lt;timeout&gt;" in html
    assert "<timeout>" not in html
    assert 'href="https://skybots.example/app/bots/k8s-news"' in html


async def test_credentials_mail_says_what_to_do(
    settings: ApiSettings, mailjet_recorder: MailjetRecorder
) -> None:
    mailer = mailer_for(settings)
    await notify_bot_trouble(
        mailer,
        ADA,
        "k8s-news",
        "credentials",
        "CredentialsRejected",
        "Bluesky rejected the app password in the last run: Invalid identifier or password",
        settings,
    )

    message = the_message(mailjet_recorder)
    assert message["Subject"] == "Bluesky refused the app password of your bot k8s-news"
    assert message["CustomID"] == "credentials_rejected"
    text, html = message["TextPart"], message["HTMLPart"]
    for part in (text, html):
        assert "Invalid identifier or password" in part
        assert "make a new app password" in part
        assert "App passwords" in part
        assert "paste the new app password" in part
    assert "https://skybots.example/app/bots/k8s-news" in text
    assert 'href="https://skybots.example/app/bots/k8s-news"' in html


@pytest.mark.parametrize(
    ("status", "answer", "expected"),
    [
        (401, UNAUTHORIZED, "Mailjet answered 401: API key authentication/authorization failure."),
        (
            400,
            invalid_recipient("nobody"),
            'Mailjet answered 400: "nobody" is an invalid email address. (To[0].Email)',
        ),
        (
            500,
            {"ErrorIdentifier": "D4DF574C", "StatusCode": 500, "ErrorMessage": "Internal Server Error"},
            "Mailjet answered 500: Internal Server Error",
        ),
    ],
)
async def test_a_refused_send_is_a_clear_error_without_the_keys(
    mailjet_recorder: MailjetRecorder, status: int, answer: Any, expected: str
) -> None:
    mailjet_recorder.fail_next(status, answer)

    with pytest.raises(MailError) as raised:
        await mailjet(mailjet_recorder).send(ADA.email, ADA.name, "welcome", LINKS)

    assert raised.value.status == status
    assert str(raised.value).startswith(expected)
    assert_no_secret(repr(raised.value), "".join(traceback.format_exception(raised.value)))


async def test_an_unreachable_mailjet_is_a_clear_error() -> None:
    with MailjetRecorder() as gone:
        url = gone.url
    mailer = MailjetMailer(MAILJET_KEY, MAILJET_SECRET, sender="noreply@skybots.example", url=url)

    with pytest.raises(MailError, match=r"^Mailjet could not be reached: ") as raised:
        await mailer.send(ADA.email, ADA.name, "welcome", LINKS)

    assert raised.value.status is None
    assert_no_secret("".join(traceback.format_exception(raised.value)))


async def test_console_mailer_logs_the_mail(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skybots.mail")

    await ConsoleMailer().send(ADA.email, ADA.name, "welcome", links(ApiSettings()))

    [record] = [r for r in caplog.records if r.name == "skybots.mail"]
    assert record.levelno == logging.INFO
    logged = record.getMessage()
    assert "Ada Lovelace <ada@example.org>" in logged
    assert "Subject: Welcome to skybots" in logged
    assert "Open the app: http://localhost:8000/app/" in logged


def test_mailer_for_picks_by_the_keys(caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(
        mailer_for(ApiSettings(mailjet_api_key=SecretStr(""), mailjet_api_secret=SecretStr(""))),
        ConsoleMailer,
    )
    assert "mails are written to the log" in caplog.text

    with pytest.raises(ValueError, match="SKYBOTS_MAILJET_API_SECRET is not set"):
        mailer_for(ApiSettings(mailjet_api_key=SecretStr("k"), mailjet_api_secret=SecretStr("")))
    with pytest.raises(ValueError, match=r"Hostname 'mail\.example\.org' is not permitted"):
        mailer_for(
            ApiSettings(
                mailjet_api_key=SecretStr("k"),
                mailjet_api_secret=SecretStr("s"),
                mailjet_url="https://mail.example.org/",
            )
        )
    with pytest.raises(ValueError, match="SKYBOTS_MAIL_FROM must be an address"):
        mailer_for(
            ApiSettings(
                mailjet_api_key=SecretStr("k"), mailjet_api_secret=SecretStr("s"), mail_from="skybots"
            )
        )


def sign_up_route(app: FastAPI) -> None:
    """What the sign-in callback does on a first sign-in: dispatch, then answer."""

    @app.post("/test/sign-up")
    async def sign_up() -> dict[str, str]:
        dispatch(USER_SIGNED_UP, {"id": ADA.id, "email": ADA.email, "name": ADA.name})
        return {"status": "signed up"}


async def post_sign_up(app: FastAPI, recorder: MailjetRecorder) -> tuple[httpx.Response, list[int]]:
    """POST the route; also how many mails Mailjet had when the response's last byte went out."""
    mails_when_answered: list[int] = []

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        async def send_and_count(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                mails_when_answered.append(len(recorder.calls))

        await app(scope, receive, send_and_count)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=watching), base_url="http://test") as client,
    ):
        response = await client.post("/test/sign-up")
    return response, mails_when_answered


async def test_welcome_mail_follows_the_response_of_a_sign_up(
    settings: ApiSettings, services: Services, mailjet_recorder: MailjetRecorder
) -> None:
    app = create_app(settings, services)
    sign_up_route(app)

    response, mails_when_answered = await post_sign_up(app, mailjet_recorder)

    assert response.json() == {"status": "signed up"}
    assert mails_when_answered == [0]
    message = the_message(mailjet_recorder)
    assert message["CustomID"] == "welcome"
    assert message["To"] == [{"Email": "ada@example.org", "Name": "Ada Lovelace"}]
    assert "https://skybots.example/app/" in message["TextPart"]


async def test_a_failed_welcome_mail_is_logged_and_the_sign_up_stands(
    settings: ApiSettings,
    services: Services,
    mailjet_recorder: MailjetRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings, services)
    sign_up_route(app)
    mailjet_recorder.fail_next(401, UNAUTHORIZED)

    response, _ = await post_sign_up(app, mailjet_recorder)

    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "skybots.api.mail_events"]
    assert record.getMessage() == f"The welcome mail to user {ADA.id} was not sent"
    assert record.exc_info is not None
    assert "Mailjet answered 401" in caplog.text
    assert_no_secret(caplog.text)


@pytest.mark.parametrize(
    "send",
    [
        lambda mailer, settings: mailer.send(ADA.email, ADA.name, "welcome", links(settings)),
        lambda mailer, settings: notify_bot_trouble(
            mailer, ADA, "news", "failing", "RunsFailing", "x", settings
        ),
        lambda mailer, settings: notify_bot_trouble(
            mailer, ADA, "news", "credentials", "CredentialsRejected", "x", settings
        ),
    ],
    ids=["welcome", "bot_failing", "credentials_rejected"],
)
async def test_every_mail_links_to_the_mail_settings(
    settings: ApiSettings, mailjet_recorder: MailjetRecorder, send: Any
) -> None:
    await send(mailer_for(settings), settings)

    message = the_message(mailjet_recorder)
    assert message["TextPart"].endswith(
        "\nChoose which mails you get: https://skybots.example/app/account#mail"
    )
    assert 'href="https://skybots.example/app/account#mail"' in message["HTMLPart"]
