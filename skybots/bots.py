"""The Bot resource: spec and status models, the single source of truth.

The CRD's schema (`skybots crd`), the API's request bodies, the operator's rendering and
the reposter's config file are all this module's models. Field names are camelCase on the
wire (Kubernetes style) and snake_case in Python.

Cross-field rules live twice, by necessity: as Python validators here and as CEL rules in
`x-kubernetes-validations` for the API server. `tests/test_bot_validation.py` runs every
fixture through both and fails when they disagree.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from skybots.bluesky.egress import (
    LOCAL_NAME_URL,
    PRIVATE_ADDRESSES_ALLOWED,
    PUBLIC_SERVICE_URL,
    service_problem,
)

GROUP = "skybots.dev"
VERSION = "v1alpha1"
KIND = "Bot"
PLURAL = "bots"
API_VERSION = f"{GROUP}/{VERSION}"
OWNER_LABEL = f"{GROUP}/owner"  # on the Bots the API makes: the id of the user they belong to

# CronJob names are at most 52 characters; ours are "bot-<name>".
MAX_BOT_NAME_LENGTH = 48
CRONJOB_PREFIX = "bot-"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HANDLE = r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
DID = r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$"
ACTOR = f"^({HANDLE[1:-1]}|{DID[1:-1]})$"
AT_URI_AUTHORITY = f"({HANDLE[1:-1]}|{DID[1:-1]})"
RKEY = r"[a-zA-Z0-9._~:-]{1,512}"
LIST_URI = rf"^at://{AT_URI_AUTHORITY}/app\.bsky\.graph\.list/{RKEY}$"
FEED_URI = rf"^at://{AT_URI_AUTHORITY}/app\.bsky\.feed\.generator/{RKEY}$"
# Whitespace spelled out: Python's \s, ECMAScript's (JSON Schema) and Go's (the API server) disagree.
# NEL (U+0085) goes in as the regex escape \x85, which all three read: Kustomize (so Argo CD) turns
# the character itself into a space on its way to the API server.
WHITESPACE = " \t\n\r\f\v\\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TAG = f"^[^#{WHITESPACE}][^{WHITESPACE}]*$"
LANGUAGE = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$"
LABEL_VALUE = r"^!?[a-z0-9][a-z0-9-]*$"
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*?,/-]+( +[0-9A-Za-z*?,/-]+){4})$"
)
DURATION = r"^([0-9]{1,4}h)?([0-9]{1,4}m)?$"
MIN_MAX_AGE = timedelta(minutes=1)
MAX_MAX_AGE = timedelta(hours=720)

DEFAULT_EXCLUDED_LABELS = [
    "!hide",
    "!warn",
    "!no-unauthenticated",
    "porn",
    "sexual",
    "nudity",
    "graphic-media",
]


class WireModel(BaseModel):
    """camelCase on the wire, unknown fields refused, every field described.

    Fields are described by the docstring under them. pydantic could read those when each class
    is made (use_attribute_docstrings), but that parses source at every start of every process;
    the reposter starts every few minutes for every bot. So they are read only when a schema is
    made (the CRD, the OpenAPI document), by `__get_pydantic_json_schema__`.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )
    # CEL rules for the CRD: (rule, message, fieldPath or None); the Python validators mirror them.
    cel_rules: ClassVar[list[tuple[str, str, str | None]]] = []

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(super().__get_pydantic_json_schema__(schema, handler))
        properties = json_schema.get("properties", {})
        for name, field in cls.model_fields.items():
            described = properties.get(field.alias or name)
            if described is not None and "description" not in described and name in field_docstrings(cls):
                described["description"] = field_docstrings(cls)[name]
        if cls.cel_rules:
            json_schema["x-kubernetes-validations"] = [
                {"rule": rule, "message": message} | ({"fieldPath": path} if path else {})
                for rule, message, path in cls.cel_rules
            ]
        return json_schema


@functools.cache
def field_docstrings(cls: type) -> dict[str, str]:
    """The docstrings under the annotated attributes of a class and of the classes it inherits from."""
    import ast
    import inspect
    import textwrap

    found: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if issubclass(k, BaseModel) and k is not BaseModel]):
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body  # type: ignore[attr-defined]
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                found[node.target.id] = inspect.cleandoc(after.value.value)
    return found


def parse_cron(expression: str) -> str:
    """Accept what Kubernetes' CronJob accepts: 5 fields or a macro; no seconds, L, W or #."""
    from cronsim import CronSim, CronSimError

    fields = CRON_MACROS.get(expression, expression).split()
    if len(fields) != 5:
        raise ValueError(f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    for name, field, pattern in zip(_CRON_FIELD_NAMES, fields, _CRON_FIELD_PATTERNS, strict=True):
        if not re.fullmatch(pattern, field, re.IGNORECASE):
            raise ValueError(f"the {name} field {field!r} is not valid for a Kubernetes CronJob")
    try:
        CronSim(cron_sim_expression(expression), datetime(2026, 1, 1))
    except CronSimError as error:
        raise ValueError(str(error).lower()) from None
    return expression


def cron_sim_expression(expression: str) -> str:
    """A valid schedule as cronsim reads it: macros spelled out, `?` as `*`."""
    return " ".join(CRON_MACROS.get(expression, expression).split()).replace("?", "*")


GREGORIAN_CYCLE_DAYS = 146_097  # 400 years, after which dates fall on the same weekdays again


def shortest_interval(expression: str) -> timedelta:
    """The shortest time between two consecutive runs of a valid schedule, exactly, from its fields.

    The shorter of: the closest two times of day it runs at, and the gap from the last time of a
    day to the first time of the next day it runs on (the days over the calendar's 400-year cycle).
    Daylight saving time is not counted: it moves one night's runs by an hour, twice a year.
    """
    from cronsim import CronSim

    sim = CronSim(cron_sim_expression(expression), datetime(2000, 1, 1))
    times = sorted(hour * 60 + minute for hour in sim.hours for minute in sim.minutes)
    within_a_day = [later - earlier for earlier, later in itertools.pairwise(times)]
    across_days = _shortest_day_gap(sim) * 24 * 60 - (times[-1] - times[0])
    return timedelta(minutes=min([*within_a_day, across_days]))


def _shortest_day_gap(sim: Any) -> int:
    """The fewest days from one day the schedule runs on to the next (cron's day rule: both day
    fields when one is `*`, either one when both are restricted), over the 400-year cycle."""
    import calendar

    weekdays = {day % 7 for day in sim.weekdays}  # cron's Sunday is 0 or 7

    @functools.cache
    def year(leap: bool, first_weekday: int) -> tuple[int, int, int] | None:
        """(first, last, fewest days between two) of the days a year runs on, as days of the year;
        a year is known by whether it is a leap year and the weekday of its 1 January (Monday 0)."""
        found, start = [], 0
        for month in range(1, 13):
            length = calendar.monthrange(2000 if leap else 2001, month)[1]
            for day in range(1, length + 1) if month in sim.months else ():
                by_date, by_weekday = day in sim.days, (first_weekday + start + day) % 7 in weekdays
                if (by_date and by_weekday) if sim.day_and else (by_date or by_weekday):
                    found.append(start + day)
            start += length
        if not found:
            return None
        gaps = [later - earlier for earlier, later in itertools.pairwise(found)]
        return found[0], found[-1], min(gaps, default=GREGORIAN_CYCLE_DAYS)

    spans, start = [], 0  # (first, last, fewest days between two) of each year, as days of the cycle
    for number in range(2000, 2400):
        leap = calendar.isleap(number)
        if (days := year(leap, calendar.weekday(number, 1, 1))) is not None:
            spans.append((start + days[0], start + days[1], days[2]))
        start += 366 if leap else 365
    next_cycle = (spans[0][0] + GREGORIAN_CYCLE_DAYS, 0, 0)
    between_years = [later[0] - earlier[1] for earlier, later in itertools.pairwise([*spans, next_cycle])]
    return min([*between_years, *(span[2] for span in spans)])


_CRON_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_CRON_NUMERIC = r"[0-9*?,/-]+"
_CRON_FIELD_PATTERNS = (
    _CRON_NUMERIC,
    _CRON_NUMERIC,
    _CRON_NUMERIC,
    r"([0-9*?,/-]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)+",
    r"([0-9*?,/-]|SUN|MON|TUE|WED|THU|FRI|SAT)+",
)


def parse_duration(value: str) -> timedelta:
    """Hours and minutes in Go's duration syntax ("24h", "1h30m"), as CEL's duration() reads them."""
    match = re.fullmatch(DURATION, value)
    if not value or match is None:
        raise ValueError("must look like 24h, 90m or 1h30m")
    hours, minutes = (int(part[:-1]) if part else 0 for part in match.groups())
    return timedelta(hours=hours, minutes=minutes)


class Matches:
    """A regex constraint with a message a person can act on; the CRD gets the same `pattern`."""

    def __init__(self, pattern: str, hint: str) -> None:
        self.pattern, self.hint, self._compiled = pattern, hint, re.compile(pattern)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def check(value: str) -> str:
            if not self._compiled.fullmatch(value):
                raise ValueError(f"{value!r} is not {self.hint}")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


class ServiceUrl(Matches):
    """A PDS's URL: the CRD gets the public-only pattern; the model follows this process's egress
    policy (skybots.bluesky.egress), which lets only the local runtime use http and loopback."""

    def __init__(self) -> None:
        super().__init__(PUBLIC_SERVICE_URL, "an https URL of a public host name")

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def check(value: str, info: ValidationInfo) -> str:
            if _as_stored(info):
                return value
            if problem := service_problem(value, private_allowed=PRIVATE_ADDRESSES_ALLOWED.get()):
                raise ValueError(f"{value!r} {problem}")
            return value

        return core_schema.with_info_after_validator_function(check, handler(source))


AS_STORED = {"as_stored": True}
"""Validation context for a spec read back from Kubernetes. The rules that guard what a run may do
(public services only, patterns RE2 runs) apply to what is written; a spec an earlier version
stored is shown as it is, so that its owner can see and fix it (the operator holds such a bot)."""


def _as_stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("as_stored"))


def _check_max_age(value: str) -> str:
    age = parse_duration(value)
    if not MIN_MAX_AGE <= age <= MAX_MAX_AGE:
        raise ValueError("must be between 1m and 720h (30 days)")
    return value


def _check_pattern(value: str, info: ValidationInfo) -> str:
    """A user's pattern must be one RE2 compiles within its memory bound (see skybots.patterns)."""
    from skybots.patterns import pattern_error

    if not _as_stored(info) and (error := pattern_error(value)):
        raise ValueError(error)
    return value


def _check_time_zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
    return value


def _disjoint(first: list[str], second: list[str], fold: bool = True) -> list[str]:
    """The values in both lists (case-folded unless told otherwise)."""

    def norm(value: str) -> str:
        return value.casefold() if fold else value

    seen = {norm(v) for v in first}
    return sorted({v for v in second if norm(v) in seen})


Word = Annotated[str, Field(min_length=1, max_length=100)]
Regex = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_check_pattern)]
Tag = Annotated[str, Field(min_length=1, max_length=64), Matches(TAG, "a hashtag without '#' and spaces")]
Language = Annotated[str, Field(max_length=35), Matches(LANGUAGE, "a language code such as en or pt-BR")]
Label = Annotated[
    str, Field(min_length=1, max_length=128), Matches(LABEL_VALUE, "a label value such as porn or !warn")
]
Actor = Annotated[
    str,
    Field(min_length=3, max_length=253),
    Matches(ACTOR, "a handle (alice.bsky.social) or a DID (did:plc:...)"),
]
MaxPages = Annotated[int, Field(ge=1, le=10)]


# --- account -------------------------------------------------------------------------------


class SecretKeyRef(WireModel):
    """A key of a Secret in the Bot's namespace."""

    name: Annotated[
        str, Field(min_length=1, max_length=253), Matches(DNS_SUBDOMAIN, "a Kubernetes object name")
    ]
    """Name of the Secret holding the app password, in the Bot's namespace."""
    key: Annotated[
        str, Field(min_length=1, max_length=253), Matches(r"^[-._a-zA-Z0-9]+$", "a Secret key")
    ] = "app-password"
    """Key in the Secret whose value is the app password."""


class BlueskyAccount(WireModel):
    """The Bluesky account the bot reposts as."""

    cel_rules: ClassVar[list[tuple[str, str, str | None]]] = [
        (
            f"!self.service.lowerAscii().matches({json.dumps(LOCAL_NAME_URL)})",
            "service names a host only a local resolver knows (localhost, .local, .internal, .svc, ...)",
            ".service",
        ),
    ]

    handle: Annotated[
        str, Field(min_length=3, max_length=253), Matches(HANDLE, "a handle such as news-bot.bsky.social")
    ]
    """The account's handle, e.g. news-bot.bsky.social."""
    service: Annotated[str, Field(max_length=253), ServiceUrl()] = "https://bsky.social"
    """URL of the account's PDS: https and a public host name (no IP address, no in-cluster name)."""


class Account(BlueskyAccount):
    """The Bluesky account the bot reposts as."""

    credentials_secret_ref: SecretKeyRef
    """The Secret with the account's app password (Settings > App passwords on Bluesky)."""


# --- sources -------------------------------------------------------------------------------


class HashtagSource(WireModel):
    """Posts carrying a hashtag (from the post's facets and tags)."""

    type: Literal["hashtag"]
    """The kind of source; decides which other fields apply."""
    tag: Tag
    """The hashtag without '#', e.g. python."""
    max_pages: MaxPages = 3
    """At most this many pages (up to 100 posts each) are read per run."""


class SearchSource(WireModel):
    """Posts matching a Bluesky search query."""

    type: Literal["search"]
    """The kind of source; decides which other fields apply."""
    query: str = Field(min_length=1, max_length=300)
    """A search query as typed into Bluesky's search box."""
    max_pages: MaxPages = 3
    """At most this many pages (up to 100 posts each) are read per run."""


class MentionsSource(WireModel):
    """Posts that mention the bot's own account."""

    type: Literal["mentions"]
    """The kind of source; decides which other fields apply."""
    max_pages: MaxPages = 3
    """At most this many pages (up to 100 posts each) are read per run."""


class AuthorSource(WireModel):
    """Posts by one account."""

    type: Literal["author"]
    """The kind of source; decides which other fields apply."""
    actor: Actor
    """Handle or DID of the account whose posts are watched."""
    max_pages: MaxPages = 3
    """At most this many pages (up to 100 posts each) are read per run."""


class ListSource(WireModel):
    """Posts by the members of a Bluesky list."""

    type: Literal["list"]
    """The kind of source; decides which other fields apply."""
    list: Annotated[
        str, Field(max_length=1024), Matches(LIST_URI, "an at:// URI of a list (app.bsky.graph.list)")
    ]
    """at:// URI of the list (app.bsky.graph.list)."""
    max_pages: MaxPages = 3
    """At most this many pages (up to 100 posts each) are read per run."""


class FeedSource(WireModel):
    """Posts of a custom feed."""

    type: Literal["feed"]
    """The kind of source; decides which other fields apply."""
    feed: Annotated[
        str, Field(max_length=1024), Matches(FEED_URI, "an at:// URI of a feed (app.bsky.feed.generator)")
    ]
    """at:// URI of the feed generator (app.bsky.feed.generator)."""
    max_pages: MaxPages = 3
    """At most this many pages (up to 100 posts each) are read per run."""


Source = Annotated[
    HashtagSource | SearchSource | MentionsSource | AuthorSource | ListSource | FeedSource,
    Field(discriminator="type"),
]
SOURCE_TYPES: tuple[type[WireModel], ...] = (
    HashtagSource,
    SearchSource,
    MentionsSource,
    AuthorSource,
    ListSource,
    FeedSource,
)


# --- filters and limits ----------------------------------------------------------------------


class AuthorFilter(WireModel):
    """Whose posts may be reposted."""

    cel_rules: ClassVar[list[tuple[str, str, str | None]]] = [
        ("!self.allow.exists(a, a in self.deny)", "an account cannot be both allowed and denied", ".allow"),
    ]

    allow: list[Actor] = Field(default_factory=list, max_length=500)
    """When not empty, only posts by these handles or DIDs are reposted."""
    deny: list[Actor] = Field(default_factory=list, max_length=500)
    """Posts by these handles or DIDs are never reposted."""

    @model_validator(mode="after")
    def _allow_deny_disjoint(self) -> AuthorFilter:
        if both := _disjoint(self.allow, self.deny, fold=False):
            raise _field_error("allow", f"an account cannot be both allowed and denied: {', '.join(both)}")
        return self


class Filters(WireModel):
    """Which of the candidate posts are reposted; a post must pass every filter."""

    cel_rules: ClassVar[list[tuple[str, str, str | None]]] = [
        (
            "!self.includeWords.exists(w, self.excludeWords.exists(x, x.lowerAscii() == w.lowerAscii()))",
            "a word cannot be both included and excluded",
            ".includeWords",
        ),
        (
            "!self.includeHashtags.exists(t, self.excludeHashtags.exists(x, x.lowerAscii() == t.lowerAscii()))",
            "a hashtag cannot be both included and excluded",
            ".includeHashtags",
        ),
        (
            "duration(self.maxAge) >= duration('1m') && duration(self.maxAge) <= duration('720h')",
            "maxAge must be between 1m and 720h (30 days)",
            ".maxAge",
        ),
    ]

    languages: list[Language] = Field(default_factory=list, max_length=20)
    """Only posts in these languages (BCP-47, e.g. en, pt-BR); empty means any language."""
    posts_without_language: Literal["include", "exclude"] = "include"
    """What to do with posts that declare no language when languages is set."""
    include_words: list[Word] = Field(default_factory=list, max_length=50)
    """When not empty, a post must contain one of these words (case-insensitive; text, alt text, quotes)."""
    exclude_words: list[Word] = Field(default_factory=list, max_length=50)
    """Posts containing any of these words are skipped (case-insensitive; text, alt text, quotes)."""
    include_patterns: list[Regex] = Field(default_factory=list, max_length=20)
    """When not empty, a post must match one of these regular expressions (RE2 syntax, case-insensitive: no lookaround or backreferences; \\w, \\d and \\b are ASCII, \\p{L} is any letter)."""
    exclude_patterns: list[Regex] = Field(default_factory=list, max_length=20)
    """Posts matching any of these regular expressions are skipped (RE2 syntax, case-insensitive: no lookaround or backreferences; \\w, \\d and \\b are ASCII, \\p{L} is any letter)."""
    include_hashtags: list[Tag] = Field(default_factory=list, max_length=20)
    """When not empty, a post must carry one of these hashtags (without '#')."""
    exclude_hashtags: list[Tag] = Field(default_factory=list, max_length=20)
    """Posts carrying any of these hashtags (without '#') are skipped."""
    exclude_replies: bool = True
    """Skip replies."""
    exclude_quotes: bool = False
    """Skip quote posts."""
    exclude_reposts: bool = True
    """Skip reposts that appear in author, list and feed sources."""
    exclude_self: bool = True
    """Skip the bot's own posts."""
    min_likes: int = Field(default=0, ge=0, le=1_000_000)
    """Only posts with at least this many likes."""
    max_age: Annotated[
        str,
        Field(max_length=16),
        Matches(DURATION, "a duration such as 24h, 90m or 1h30m"),
        AfterValidator(_check_max_age),
    ] = "24h"
    """Only posts younger than this, in hours and minutes (e.g. 24h, 90m, 1h30m)."""
    exclude_labels: list[Label] = Field(default_factory=lambda: list(DEFAULT_EXCLUDED_LABELS), max_length=50)
    """Posts or authors carrying any of these moderation labels are skipped."""
    authors: AuthorFilter = Field(default_factory=AuthorFilter)
    """Allow and deny lists of accounts."""

    @model_validator(mode="after")
    def _lists_disjoint(self) -> Filters:
        if both := _disjoint(self.include_words, self.exclude_words):
            raise _field_error(
                "includeWords", f"a word cannot be both included and excluded: {', '.join(both)}"
            )
        if both := _disjoint(self.include_hashtags, self.exclude_hashtags):
            raise _field_error(
                "includeHashtags", f"a hashtag cannot be both included and excluded: {', '.join(both)}"
            )
        return self

    @property
    def max_age_delta(self) -> timedelta:
        return parse_duration(self.max_age)


class Limits(WireModel):
    """How many reposts the bot may make; the lowest applicable limit wins."""

    cel_rules: ClassVar[list[tuple[str, str, str | None]]] = [
        ("self.perRun <= self.perHour", "perRun cannot exceed perHour", ".perRun"),
        ("self.perHour <= self.perDay", "perHour cannot exceed perDay", ".perHour"),
    ]

    per_run: int = Field(default=10, ge=1, le=100)
    """At most this many reposts in one run."""
    per_hour: int = Field(default=30, ge=1, le=1000)
    """At most this many reposts in any hour (Bluesky allows about 1,600)."""
    per_day: int = Field(default=200, ge=1, le=10000)
    """At most this many reposts in any day (Bluesky allows about 11,000)."""

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        if self.per_run > self.per_hour:
            raise _field_error("perRun", "perRun cannot exceed perHour")
        if self.per_hour > self.per_day:
            raise _field_error("perHour", "perHour cannot exceed perDay")
        return self


# --- the spec --------------------------------------------------------------------------------


class BotSpec(WireModel):
    """What a bot reposts, as which account, and how often."""

    cel_rules: ClassVar[list[tuple[str, str, str | None]]] = [
        (
            "self.sources.all(s, self.sources.exists_one(t, t == s))",
            "sources must not repeat",
            ".sources",
        ),
    ]

    description: str = Field(default="", max_length=500)
    """A sentence for people: what this bot is for."""
    account: Account
    """The Bluesky account the bot reposts as."""
    schedule: Annotated[
        str,
        Field(max_length=100),
        Matches(CRON, "a 5-field cron expression or a macro such as @hourly"),
        AfterValidator(parse_cron),
    ] = "*/15 * * * *"
    """When the bot runs: a 5-field cron expression or a macro such as @hourly."""
    time_zone: Annotated[str | None, Field(max_length=64), AfterValidator(_check_time_zone)] = None
    """IANA time zone of the schedule (e.g. Europe/Berlin); the cluster's time zone when unset."""
    suspend: bool = False
    """Pause the bot: no runs are scheduled while true."""
    dry_run: bool = False
    """Evaluate every candidate but repost nothing; the run reports what it would have reposted."""
    sources: list[Source] = Field(min_length=1, max_length=10)
    """Where candidate posts come from; at least one."""
    filters: Filters = Field(default_factory=Filters)
    """Which candidates are reposted."""
    limits: Limits = Field(default_factory=Limits)
    """How many reposts the bot may make."""

    @model_validator(mode="after")
    def _sources_unique(self) -> BotSpec:
        seen: list[Any] = []
        for source in self.sources:
            if source in seen:
                raise _field_error("sources", "sources must not repeat")
            seen.append(source)
        return self


class BotConfig(WireModel):
    """The reposter's config file, rendered by the operator into the bot's ConfigMap."""

    api_version: Literal["skybots.dev/v1alpha1"] = "skybots.dev/v1alpha1"
    """Format of the file."""
    kind: Literal["BotConfig"] = "BotConfig"
    """Always BotConfig."""
    namespace: str = Field(max_length=63)
    """Namespace of the Bot."""
    name: str = Field(max_length=MAX_BOT_NAME_LENGTH)
    """Name of the Bot."""
    spec: BotSpec
    """The Bot's spec."""
    tenant: str = Field(default="", max_length=128)
    """Whose share of the platform's request budget the runs draw from (see `tenant`); empty, in a
    config an older operator rendered: the Bot's namespace."""

    @model_validator(mode="after")
    def _tenant_defaults_to_the_namespace(self) -> BotConfig:
        self.tenant = self.tenant or f"namespace/{self.namespace}"
        return self


def tenant(namespace: str, labels: dict[str, str], users_namespace: str) -> str:
    """Who a Bot's runs share the request budget as: in the namespace where the API keeps users'
    Bots, the user its owner label names (only the API and the platform's admins write there);
    anywhere else the namespace, whatever its Bots' labels say, so a tenant with kubectl cannot
    draw from a user's share, nor claim more shares by inventing owners."""
    owner = labels.get(OWNER_LABEL)
    return f"user/{owner}" if owner and namespace == users_namespace else f"namespace/{namespace}"


# --- status ----------------------------------------------------------------------------------

ConditionStatus = Literal["True", "False", "Unknown"]
RunOutcome = Literal["succeeded", "rateLimited", "authFailed", "upstreamFailed", "invalidConfig", "failed"]
FAILED_OUTCOMES: frozenset[str] = frozenset({"authFailed", "upstreamFailed", "invalidConfig", "failed"})


class StatusModel(WireModel):
    """Status is written by the operator; reading it tolerates fields a newer version added."""

    model_config = ConfigDict(extra="ignore")


class Condition(StatusModel):
    """One aspect of the bot's state, shaped like Kubernetes' metav1.Condition."""

    type: str = Field(max_length=316, pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    """The aspect: Ready, Reconciled, CredentialsFound or Healthy."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """A CamelCase word for programs, e.g. SecretMissing."""
    message: str = Field(default="", max_length=32768)
    """What happened, for people."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the condition was set for."""
    last_transition_time: datetime
    """When status last changed."""


class LastRun(StatusModel):
    """The most recent finished run, as its Job reported it."""

    job: str = Field(max_length=253)
    """Name of the Job that ran."""
    started_at: datetime | None = None
    """When the run started."""
    finished_at: datetime | None = None
    """When the run finished."""
    outcome: RunOutcome
    """succeeded, rateLimited, authFailed, upstreamFailed, invalidConfig or failed."""
    message: str = Field(default="", max_length=1024)
    """The run's own summary, or why it failed."""
    dry_run: bool = False
    """Whether the run was a dry run."""
    candidates: int = Field(default=0, ge=0)
    """Posts considered."""
    reposted: int = Field(default=0, ge=0)
    """Posts reposted (or, in a dry run, that would have been)."""
    duplicates: int = Field(default=0, ge=0)
    """Candidates skipped because they were already reposted."""
    rejected: int = Field(default=0, ge=0)
    """Candidates rejected by the filters."""


class Totals(StatusModel):
    """Sums over every run the operator collected."""

    runs: int = Field(default=0, ge=0)
    """Runs collected."""
    failed_runs: int = Field(default=0, ge=0)
    """Runs that failed."""
    candidates: int = Field(default=0, ge=0)
    """Posts considered."""
    reposted: int = Field(default=0, ge=0)
    """Posts reposted (dry runs excluded)."""
    duplicates: int = Field(default=0, ge=0)
    """Candidates skipped as already reposted."""
    rejected: int = Field(default=0, ge=0)
    """Candidates rejected by the filters."""


class BotStatus(StatusModel):
    """What the operator observed and did."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the operator last acted on."""
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready, Reconciled, CredentialsFound and Healthy."""
    cron_job_name: str | None = Field(default=None, max_length=63)
    """Name of the CronJob that runs the bot."""
    consecutive_failures: int = Field(default=0, ge=0)
    """Failed runs since the last successful one."""
    last_run: LastRun | None = None
    """The most recent finished run."""
    totals: Totals = Field(default_factory=Totals)
    """Sums over every collected run."""

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class Bounds(Protocol):
    """How much a Bot may ask of the platform (`skybots.settings.BotBounds`)."""

    min_run_interval_minutes: int
    max_pages_per_run: int


def bound_errors(spec: BotSpec, bounds: Bounds) -> list[tuple[str, str]]:
    """What a valid spec asks past the platform's bounds, by field."""
    errors = []
    interval, least = shortest_interval(spec.schedule), timedelta(minutes=bounds.min_run_interval_minutes)
    if interval < least:
        errors.append(
            (
                "spec.schedule",
                f"{spec.schedule!r} has runs {_minutes(interval)} apart; "
                f"runs must be at least {_minutes(least)} apart on this platform",
            )
        )
    pages = sum(source.max_pages for source in spec.sources)
    if pages > bounds.max_pages_per_run:
        errors.append(
            (
                "spec.sources",
                f"the sources read up to {pages} pages a run (their maxPages summed); "
                f"this platform allows {bounds.max_pages_per_run}",
            )
        )
    return errors


def _minutes(interval: timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


class BotSpecError(ValueError):
    """A spec that does not validate; `errors` holds (field path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))


def _field_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field error that names the field within its model (pydantic reports only the model)."""
    return PydanticCustomError("field_conflict", message, {"field": field})


def name_errors(name: str) -> list[tuple[str, str]]:
    """What is wrong with a Bot's name (its CronJob, bot-<name>, must be a valid name too)."""
    errors = []
    if len(name) > MAX_BOT_NAME_LENGTH:
        errors.append(("metadata.name", f"a Bot's name is at most {MAX_BOT_NAME_LENGTH} characters"))
    if not re.fullmatch(DNS_LABEL, name):
        errors.append(
            ("metadata.name", "a Bot's name must be a DNS label: lower-case letters, digits and '-'")
        )
    return errors


def validate_bot(manifest: Any, bounds: Bounds | None = None) -> BotSpec:
    """The spec of a Bot manifest, after checking its name too, and the platform's bounds when
    given; BotSpecError names every field."""
    errors = name_errors(str(manifest.get("metadata", {}).get("name", "")))
    try:
        spec = validate_spec(manifest.get("spec"))
    except BotSpecError as error:
        errors += error.errors
    else:
        errors += bound_errors(spec, bounds) if bounds else []
    if errors:
        raise BotSpecError(errors)
    return spec


def validate_spec(data: Any) -> BotSpec:
    """Parse a spec, raising BotSpecError whose paths are dotted camelCase (spec.filters.maxAge)."""
    from pydantic import ValidationError

    try:
        return BotSpec.model_validate(data)
    except ValidationError as error:
        raise BotSpecError(error_paths(error.errors(include_url=False), prefix="spec")) from None


def error_paths(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(path, message) pairs of pydantic's validation errors, paths as a person would write them."""
    pairs: list[tuple[str, str]] = []
    for item in errors:
        path = prefix
        previous: object = None
        for part in item["loc"]:
            # A discriminated union puts the tag after the list index: sources[0].hashtag.tag.
            if not (isinstance(previous, int) and part in _SOURCE_TAGS):
                path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}" if path else str(part)
            previous = part
        if item["type"] == "field_conflict":
            path = f"{path}.{item['ctx']['field']}" if path else item["ctx"]["field"]
        pairs.append((path, str(item["msg"]).removeprefix("Value error, ")))
    return pairs


_SOURCE_TAGS = {model.model_fields["type"].annotation.__args__[0] for model in SOURCE_TYPES}  # type: ignore[union-attr]
