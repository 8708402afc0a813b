"""Configuration from the environment (SKYBOTS_*), one model per process kind.

Every setting has a default that works for a cluster where the platform runs in one namespace;
docs/configuration.md lists them (a test keeps that list complete).
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from skybots.bluesky.egress import allowed_networks
from skybots.reposter.dedup import RESERVATION_SECONDS


def _comma_separated(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


# A list in one variable: "a, b, c".
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]
# Networks in one variable, "10.20.0.0/16, fd12::/64", checked and written as the reposter reads them.
NetworkList = Annotated[
    list[str], NoDecode, BeforeValidator(lambda value: [str(net) for net in allowed_networks(value)])
]

# A Kubernetes CPU quantity: "500m", "1", "1.5".
CpuQuantity = Annotated[str, Field(pattern=r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")]


POST_LINK_FIELDS = frozenset({"handle", "did", "rkey", "uri"})


def _post_link(template: str) -> str:
    """A post link template the web app can fill: http(s), naming the post, no other placeholder."""
    try:
        fields = [
            (name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
        ]
    except ValueError as error:
        raise ValueError(f"not a link template ({error}): {template!r}") from None
    names = {name for name, _, _ in fields if name is not None}
    if any(spec or conversion for _, spec, conversion in fields):
        raise ValueError(f"placeholders take no format or conversion: {template!r}")
    if not re.match(r"https?://[^/{}]+/", template):
        raise ValueError(f"not an http(s) URL with a host: {template!r}")
    if unknown := names - POST_LINK_FIELDS:
        raise ValueError(f"unknown placeholder {sorted(unknown)[0]!r}; known: {sorted(POST_LINK_FIELDS)}")
    if not names & {"rkey", "uri"}:
        raise ValueError(f"names no post: it needs {{rkey}} or {{uri}}: {template!r}")
    return template


def _millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


class BotBounds(BaseSettings):
    """How much a Bot may ask of the platform: the API refuses a spec past these (422), and the
    operator holds a Bot made with kubectl past them at its last valid spec (InvalidSpec).

    The defaults with Bluesky's 3,000 requests per 5 minutes per address: a bot at most every 5
    minutes reading at most 30 pages is 12 x 30 = 360 requests an hour, and a user's 10 bots 3,600
    an hour (1 a second), an eighth of the reposters' 8 a second; what is left when many users
    run at once the governor shares between them.
    """

    model_config = SettingsConfigDict(env_prefix="SKYBOTS_", extra="ignore", use_attribute_docstrings=True)

    min_run_interval_minutes: int = Field(default=5, ge=1, le=1440)
    """The shortest time between two runs a bot's schedule may ask for, in minutes (at most a day)."""
    max_pages_per_run: int = Field(default=30, ge=1, le=100)
    """The most pages a bot's sources may read in one run together (their maxPages summed)."""


class OperatorSettings(BotBounds):
    """What the operator needs: where it watches, and what it puts into every bot's CronJob."""

    model_config = SettingsConfigDict(env_prefix="SKYBOTS_", extra="ignore", use_attribute_docstrings=True)

    namespaces: CommaList = Field(default_factory=lambda: ["skybots"])
    """Namespaces whose Bots the operator reconciles, comma-separated (ignored with --all-namespaces)."""
    api_namespace: str = "skybots"
    """Where the API keeps users' Bots: there a Bot's owner label names whose share of the request budget its runs use; elsewhere, its namespace's."""
    kubernetes_server: str | None = None
    """Talk to this API server without credentials (tests); unset: in-cluster config or kubeconfig."""

    reposter_image: str = "ghcr.io/skybots/skybots-reposter:0.1.0"
    """Image of the reposter container in every bot's CronJob."""
    reposter_image_pull_policy: str = "IfNotPresent"
    """imagePullPolicy of the reposter container."""
    reposter_service_account: str = "skybots-reposter"
    """ServiceAccount of reposter pods; it needs no Kubernetes API access (no token is mounted)."""
    reposter_env_secret: str = "skybots-reposter-env"
    """Optional Secret whose keys become environment variables of reposter pods (e.g. AWS keys)."""
    reposter_cpu_request: CpuQuantity = "50m"
    """CPU request of a reposter pod (a run mostly waits on the network)."""
    reposter_cpu_limit: CpuQuantity = "500m"
    """CPU limit of a reposter pod: what one bot's run can take of a node, whatever its settings."""
    reposter_memory_request: str = "64Mi"
    """Memory request of a reposter pod."""
    reposter_memory_limit: str = "128Mi"
    """Memory limit of a reposter pod."""
    egress_allowed_networks: NetworkList = Field(default_factory=list)
    """Networks runs may reach although not public (your PDS in your VPC), comma-separated CIDRs."""
    run_deadline_seconds: int = Field(default=600, ge=30, le=RESERVATION_SECONDS - 60)
    """A run that takes longer is stopped and counted as failed (at most 840: a claim on a post lasts 15 minutes)."""
    starting_deadline_seconds: int = Field(default=300, ge=10)
    """A run that could not start within this long after its time is skipped."""
    successful_jobs_history: int = Field(default=3, ge=0)
    """Finished Jobs kept per bot (successfulJobsHistoryLimit)."""
    failed_jobs_history: int = Field(default=3, ge=0)
    """Failed Jobs kept per bot (failedJobsHistoryLimit)."""

    redis_url: str = "redis://skybots-redis:6379/0"
    """Redis for the reposter's dedup cache, sessions and rate budgets (no password: that comes from a Secret)."""
    redis_password_secret: str = "skybots-redis"
    """Secret whose key `password` is Redis's password (AUTH); reposter pods get it as SKYBOTS_REDIS_PASSWORD."""
    session_keys_secret: str = "skybots-sessions"
    """Secret of the reposter's session keys: `credential-key` (SKYBOTS_CREDENTIAL_KEY), `session-keys` (SKYBOTS_SESSION_KEYS)."""
    s3_bucket: str = "skybots-dedup"
    """S3 bucket for the reposter's durable dedup records."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (a local stand-in); unset: AWS."""
    aws_region: str = "us-east-1"
    """AWS region of the S3 bucket and the DynamoDB table."""

    runs_table: str = "skybots-runs"
    """DynamoDB table of run history (what the API charts)."""
    dynamodb_endpoint_url: str | None = None
    """DynamoDB-compatible endpoint (a local stand-in); unset: AWS."""
    run_history_days: int = Field(default=90, ge=1)
    """Run records expire (DynamoDB TTL) after this many days."""

    retry_seconds: float = Field(default=10, gt=0)
    """Delay before retrying a reconciliation the API server refused (e.g. 500) or a child's name is taken."""
    failing_runs_threshold: int = Field(default=3, ge=1)
    """After this many failed runs in a row a bot is Healthy=False (RunsFailing)."""
    metrics_port: int = 9090
    """Port of the operator's Prometheus metrics (0: no metrics server)."""
    liveness_endpoint: str = "http://0.0.0.0:8080/healthz"
    """Where Kopf serves the liveness probe (empty: none)."""

    @model_validator(mode="after")
    def _cpu_limit_covers_the_request(self) -> OperatorSettings:
        """Kubernetes refuses a pod whose request exceeds its limit: every bot's CronJob would fail."""
        if _millicores(self.reposter_cpu_request) > _millicores(self.reposter_cpu_limit):
            raise ValueError(
                f"reposter_cpu_limit {self.reposter_cpu_limit} is below reposter_cpu_request"
                f" {self.reposter_cpu_request}"
            )
        return self


class ApiSettings(BotBounds):
    """What the API needs: who may sign in, where bots and users live, how mail goes out."""

    model_config = SettingsConfigDict(env_prefix="SKYBOTS_", extra="ignore", use_attribute_docstrings=True)

    public_url: str = "http://localhost:8000"
    """Where users reach the API: sign-in redirects go here, and cookies are Secure when it is https."""
    namespace: str = "skybots"
    """Namespace of the users' Bots and their Secrets."""
    kubernetes_server: str | None = None
    """Talk to this API server without credentials (tests); unset: in-cluster config or kubeconfig."""

    oidc_issuer: str = "https://accounts.google.com"
    """The OpenID provider (Google; any other, e.g. Auth0 or Keycloak, by its issuer URL)."""
    oidc_client_id: str = ""
    """The OAuth client id registered with the provider."""
    oidc_client_secret: SecretStr = SecretStr("")
    """The OAuth client secret."""
    allowed_emails: CommaList = Field(default_factory=list)
    """When set (with allowed_domains), only these addresses may sign in, comma-separated."""
    allowed_domains: CommaList = Field(default_factory=list)
    """When set (with allowed_emails), only addresses of these domains may sign in, comma-separated."""
    session_secret: SecretStr = SecretStr("")
    """Signs session cookies; unset: a random one per process (sessions end on restart)."""
    session_days: int = Field(default=7, ge=1, le=90)
    """How long a sign-in lasts."""
    user_cache_seconds: int = Field(default=60, ge=0, le=300)
    """How long a replica trusts the user it read: a sign-out on another replica reaches it within this."""

    bots_per_user: int = Field(default=10, ge=1)
    """How many bots one user may have; held in the users table, so it holds across API replicas."""
    run_requests_per_minute: int = Field(default=10, ge=1)
    """Run-now and preview requests one user may make a minute (all their bots, all replicas); past it: 429."""
    erasure_lease_seconds: float = Field(default=60, gt=0, le=3600)
    """How long a replica holds a deleted account's erasure without renewing it (it renews after
    every batch): when a replica dies mid-erasure, another takes it up after this."""
    erasure_interval_seconds: float = Field(default=60, gt=0, le=3600)
    """How often a replica looks for pending erasures besides its start-up and its own deletions."""
    users_table: str = "skybots-users"
    """DynamoDB table of users and the mirror of their bots."""
    runs_table: str = "skybots-runs"
    """DynamoDB table of run history (written by the operator)."""
    dynamodb_endpoint_url: str | None = None
    """DynamoDB-compatible endpoint (a local stand-in); unset: AWS."""
    aws_region: str = "us-east-1"
    """AWS region of the DynamoDB tables."""

    mailjet_api_key: SecretStr = SecretStr("")
    """Mailjet's API key; unset: mails are written to the log instead of sent."""
    mailjet_api_secret: SecretStr = SecretStr("")
    """Mailjet's API secret (set both keys, or neither: one alone stops the API at start-up)."""
    mailjet_url: str = "https://api.mailjet.com/"
    """Mailjet's API address: a mailjet.com host, or a loopback one (tests point it at a recorder)."""
    mail_from: str = "skybots <noreply@skybots.dev>"
    """Sender of every mail."""
    redis_url: str | None = None
    """The reposter's Redis (as SKYBOTS_REDIS_URL of the reposter): deleting an account forgets its bots' state there. Unset: that state stays until Redis evicts it."""
    redis_password: SecretStr = SecretStr("")
    """The password of that Redis, for a URL without one."""
    sentry_dsn: SecretStr = SecretStr("")
    """Errors go to Sentry when set."""
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    """Port of the API's Prometheus metrics, apart from the public port (0: no metrics server)."""

    spa_dir: str | None = None
    """The web app's built files, served at /app/; unset: the build shipped in the package, if any."""
    post_link: Annotated[str, AfterValidator(_post_link)] = "https://bsky.app/profile/{handle}/post/{rkey}"
    """Where the web app links a post: an http(s) URL with {handle} (the DID without one), {did}, {rkey} or {uri}."""
    dev_reload: bool = False
    """Development: pages reload in the browser when a template or the stylesheet changes."""


class LocalSettings(BaseSettings):
    """`skybots dev`: the whole platform in one process, its state in one folder."""

    model_config = SettingsConfigDict(env_prefix="SKYBOTS_", extra="ignore", use_attribute_docstrings=True)

    data_dir: str = ".skybots"
    """Where the local runtime keeps its state (SQLite files, dedup snapshots, its own keys); it survives restarts."""
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "SKYBOTS_REDIS_URL")
    )
    """A Redis for the reposter's cache (REDIS_URL); unset: an embedded one in memory."""
    namespace: str = "skybots"
    """The namespace the local runtime's bots live in (as in a cluster)."""
