"""Mail to users: sent through Mailjet, or written to the log when no Mailjet keys are set.

Every mail is a template folder under skybots/templates/mail/ (`subject.txt`, `body.txt`,
`body.html`); a mailer renders it with the caller's context and sends both bodies. Contexts
carry names, links and condition texts only: nothing secret is ever handed to a template.
Every mail links to the account page's mail settings (`links`); a user gets every mail
of OPTIONAL_MAILS unless they turned it off there (`User.mail_off`).
This is the one module that imports mailjet_rest (lazily: only a configured Mailjet needs it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from skybots.settings import ApiSettings
from skybots.stores.users import User

if TYPE_CHECKING:
    import requests
    from mailjet_rest import ApiError

log = logging.getLogger(__name__)

# Autoescape for the HTML bodies only: the subject and the text body are plain text.
# StrictUndefined: a context missing a link fails the send instead of mailing an empty link.
_templates = Environment(
    loader=PackageLoader("skybots", "templates/mail"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


def render(template: str, context: Mapping[str, Any]) -> Mail:
    """A mail from its template folder; the subject is made one line whatever the template holds."""
    subject = _templates.get_template(f"{template}/subject.txt").render(context)
    return Mail(
        subject=" ".join(subject.split()),
        text=_templates.get_template(f"{template}/body.txt").render(context),
        html=_templates.get_template(f"{template}/body.html").render(context),
    )


class Mailer(Protocol):
    async def send(self, to_email: str, to_name: str, template: str, context: Mapping[str, Any]) -> None:
        """Render `template` for this recipient (`to_name` joins the context) and deliver it."""
        ...


class MailError(Exception):
    """Mailjet did not take a mail: its HTTP status (None when unreachable) and its own words."""

    def __init__(self, status: int | None, message: str) -> None:
        self.status = status
        self.message = message
        where = f"answered {status}" if status is not None else "could not be reached"
        super().__init__(f"Mailjet {where}: {message}")


def _mailjet_message(body: str) -> str:
    """What Mailjet says went wrong: a top-level ErrorMessage, or every message's errors."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:300] or "(no body)"
    if not isinstance(answer, dict):
        return body[:300]
    if "ErrorMessage" in answer:
        return str(answer["ErrorMessage"])
    errors = [
        f"{error.get('ErrorMessage', '?')} ({', '.join(error.get('ErrorRelatedTo') or []) or 'request'})"
        for message in answer.get("Messages") or []
        for error in message.get("Errors") or []
    ]
    return "; ".join(errors) or body[:300]


def _failure(error: ApiError) -> MailError:
    """mailjet_rest's errors, read back to Mailjet's status and message (they hold no keys)."""
    response: requests.Response | None = getattr(error.__cause__, "response", None)
    if response is None:
        return MailError(None, str(error))
    return MailError(response.status_code, _mailjet_message(response.text))


class MailjetMailer:
    """Sends through Mailjet's Send API v3.1, one message per call, with a text and an HTML part.

    mailjet_rest is synchronous, so each send runs in a worker thread, with a client of its
    own (a requests.Session is not meant to be shared between threads).
    """

    def __init__(self, api_key: str, api_secret: str, *, sender: str, url: str) -> None:
        from mailjet_rest import Config

        name, email = parseaddr(sender)
        if "@" not in email:
            raise ValueError(
                f"SKYBOTS_MAIL_FROM must be an address like 'skybots <noreply@example.org>', not {sender!r}"
            )
        self._sender = {"Email": email, "Name": name} if name else {"Email": email}
        self._auth = (api_key, api_secret)
        # Config checks the URL now (https, a mailjet.com host, or a loopback one for tests).
        self._config = Config(version="v3.1", api_url=url)

    def __repr__(self) -> str:
        return f"MailjetMailer(url={self._config.api_url!r}, sender={self._sender['Email']!r})"

    async def send(self, to_email: str, to_name: str, template: str, context: Mapping[str, Any]) -> None:
        mail = render(template, {**context, "to_name": to_name})
        recipient = {"Email": to_email, "Name": to_name} if to_name else {"Email": to_email}
        message = {
            "From": self._sender,
            "To": [recipient],
            "Subject": mail.subject,
            "TextPart": mail.text,
            "HTMLPart": mail.html,
            "CustomID": template,
        }
        message_ids = await asyncio.to_thread(self._post, {"Messages": [message]})
        log.info("Sent the %s mail (Mailjet message %s)", template, ", ".join(message_ids))

    def _post(self, payload: dict[str, Any]) -> list[str]:
        from mailjet_rest import ApiError, Client

        try:
            with Client(auth=self._auth, config=self._config) as client:
                response = client.send.create(data=payload)
        except ApiError as error:
            raise _failure(error) from error
        try:
            [result] = response.json()["Messages"]
            if result["Status"] != "success":
                raise MailError(response.status_code, _mailjet_message(response.text))
            return [str(to["MessageID"]) for to in result["To"]]
        except (ValueError, KeyError, TypeError) as error:
            raise MailError(
                response.status_code, f"an answer that is not Mailjet's: {response.text[:300]}"
            ) from error


class ConsoleMailer:
    """Writes each mail (recipient, subject, text body) to the log: `make demo`, and no Mailjet keys."""

    async def send(self, to_email: str, to_name: str, template: str, context: Mapping[str, Any]) -> None:
        mail = render(template, {**context, "to_name": to_name})
        log.info(
            "Mail (not sent: no Mailjet keys) to %s <%s>\nSubject: %s\n\n%s",
            to_name,
            to_email,
            mail.subject,
            mail.text,
        )


def mailer_for(settings: ApiSettings) -> Mailer:
    """Mailjet when both keys are set, the log when neither is; one without the other is a mistake."""
    key = settings.mailjet_api_key.get_secret_value()
    secret = settings.mailjet_api_secret.get_secret_value()
    if key and secret:
        return MailjetMailer(key, secret, sender=settings.mail_from, url=settings.mailjet_url)
    if key or secret:
        missing = "SKYBOTS_MAILJET_API_SECRET" if key else "SKYBOTS_MAILJET_API_KEY"
        raise ValueError(f"{missing} is not set: set both Mailjet keys, or neither to write mails to the log")
    log.warning("Mailjet keys are not set: mails are written to the log instead of sent")
    return ConsoleMailer()


def app_url(settings: ApiSettings) -> str:
    """The web app's address, as users follow it from a mail."""
    return settings.public_url.rstrip("/") + "/app/"


def links(settings: ApiSettings) -> dict[str, str]:
    """What every mail's context holds: the app, and the account page's mail settings (the layout's footer)."""
    return {"app_url": app_url(settings), "mail_settings_url": f"{app_url(settings)}account#mail"}


def bot_url(settings: ApiSettings, bot_name: str) -> str:
    """A bot's page in the web app."""
    return f"{app_url(settings)}bots/{quote(bot_name, safe='')}"


TROUBLE_TEMPLATES = {"failing": "bot_failing", "credentials": "credentials_rejected"}
OPTIONAL_MAILS = tuple(TROUBLE_TEMPLATES.values())
"""The mails a user can turn off. The welcome mail is not one: it goes before anything can be set."""


async def notify_bot_trouble(
    mailer: Mailer,
    user: User,
    bot_name: str,
    kind: Literal["failing", "credentials"],
    reason: str,
    message: str,
    settings: ApiSettings,
) -> None:
    """Tell a bot's owner that its condition turned bad: runs keep failing, or Bluesky refused its password.

    `reason` and `message` are the condition's (e.g. RunsFailing and its text). Raises MailError
    when Mailjet refuses; the caller decides whether to retry. Nothing is sent when the user
    turned this mail off.
    """
    template = TROUBLE_TEMPLATES[kind]
    if template in user.mail_off:
        log.info("Not sending the %s mail of %s: its owner turned it off", template, bot_name)
        return
    context = {
        **links(settings),
        "bot_name": bot_name,
        "reason": reason,
        "message": message,
        "bot_url": bot_url(settings, bot_name),
    }
    await mailer.send(user.email, user.name, template, context)
