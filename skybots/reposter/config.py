"""What a run needs to know: the bot (its config file) and the platform (environment variables).

The environment is read by hand rather than with pydantic-settings: the reposter starts every
few minutes for every bot, and that import alone costs a tenth of a second.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from skybots.bluesky.egress import IpNetwork, allowed_networks
from skybots.bots import BotConfig, error_paths, name_errors
from skybots.reposter.dedup import RESERVATION_SECONDS

PREFIX = "SKYBOTS_"


class ConfigError(Exception):
    """The config file or the environment is unusable; the message names the field."""


class ReposterSettings(BaseModel):
    """The reposter's environment: SKYBOTS_<NAME> (AWS_REGION as AWS spells it)."""

    model_config = ConfigDict(extra="ignore")

    app_password: SecretStr
    """The bot's app password, from its Secret (never logged, never in the report)."""
    credential_key: SecretStr
    """Keys stored sessions, login counts and refusals by an HMAC of service, handle and app password (a Secret)."""
    session_keys: SecretStr
    """Fernet keys that encrypt sessions in the cache, comma-separated, newest first: the first encrypts, all decrypt."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """The shared cache: sessions, dedup records, watermarks, budgets."""
    redis_password: SecretStr | None = None
    """The cache's password (AUTH), from a Secret; unset: the one in the URL, if any."""
    s3_bucket: str | None = None
    """Bucket of the durable dedup snapshots; unset: Redis and Bluesky are the only layers."""
    s3_endpoint_url: str | None = None
    """An S3-compatible endpoint; unset: AWS."""
    aws_region: str = "us-east-1"
    """Region of the bucket."""
    termination_log: str = "/dev/termination-log"
    """Where the report goes for the operator (Kubernetes' termination message)."""
    deadline_seconds: float = Field(default=240, gt=0, le=RESERVATION_SECONDS - 60)
    """A run stops cleanly after this long and sends no write after it (at most 840: a claim on a post lasts 15 minutes)."""
    logins_per_day: int = Field(default=10, ge=1, le=50)
    """Login attempts per app password and day, and accepted logins per account and day (Bluesky locks out around 100)."""
    egress_rate: float = Field(default=8, gt=0)
    """Requests per second to Bluesky for all bots together, shared fairly between tenants (Bluesky allows 3,000 per 5 minutes per IP)."""
    egress_burst: float = Field(default=100, ge=1)
    """How many requests may go at once before the rate applies."""
    write_points_per_hour: int = Field(default=4500, ge=3)
    """Write points an account may spend an hour (Bluesky allows 5,000; a repost costs 3)."""
    write_points_per_day: int = Field(default=31500, ge=3)
    """Write points an account may spend a day (Bluesky allows 35,000)."""
    watermark_overlap_seconds: float = Field(default=300, ge=0)
    """How far before its watermark a source is read again (late-indexed posts)."""
    dedup_retention_days: int = Field(default=31, ge=1)
    """How long reposts are remembered in the cache and S3 (longer than the longest maxAge)."""
    allow_private_addresses: bool = False
    """Allow http and private addresses (a local Bluesky network); the operator always renders false."""
    egress_allowed_networks: Annotated[tuple[IpNetwork, ...], BeforeValidator(allowed_networks)] = ()
    """Networks a run may reach although not public, comma-separated CIDRs; the operator renders its own."""

    @field_validator("credential_key")
    @classmethod
    def _long_enough(cls, key: SecretStr) -> SecretStr:
        if len(key.get_secret_value()) < 32:
            raise ValueError("at least 32 characters are needed (e.g. `openssl rand -hex 32`)")
        return key

    @field_validator("session_keys")
    @classmethod
    def _fernet_keys(cls, keys: SecretStr) -> SecretStr:
        parts = keys.get_secret_value().split(",")
        for number, key in enumerate(parts, 1):
            try:
                valid = len(base64.urlsafe_b64decode(key.strip().encode())) == 32
            except (binascii.Error, ValueError):
                valid = False
            if not valid:
                raise ValueError(f"key {number} is not a Fernet key (32 bytes in url-safe base64)")
        return keys

    def fernet_keys(self) -> list[str]:
        """The session keys, newest first."""
        return [key.strip() for key in self.session_keys.get_secret_value().split(",")]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ReposterSettings:
        values: dict[str, Any] = {
            name: environ[PREFIX + name.upper()]
            for name in cls.model_fields
            if PREFIX + name.upper() in environ
        }
        if "AWS_REGION" in environ:
            values.setdefault("aws_region", environ["AWS_REGION"])
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{PREFIX}{path.upper()}: {'not set' if message == 'Field required' else message}"
                for path, message in error_paths(error.errors(include_url=False))
            )
            raise ConfigError(f"environment: {problems}") from None


def load_config(path: Path) -> BotConfig:
    """The bot's config file; ConfigError names the file and the field when it is unusable.

    Its service is checked under this context's egress policy (skybots.bluesky.egress).
    """
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"{path}: not JSON: {error}") from None
    try:
        config = BotConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(
            f"{path}: " + "; ".join(f"{p}: {m}" for p, m in error_paths(error.errors(include_url=False)))
        ) from None
    if problems := name_errors(config.name):
        raise ConfigError(f"{path}: " + "; ".join(f"{p}: {m}" for p, m in problems))
    return config
