"""Configuration from the environment (SKYBOTS_*), one model per process kind.

Every setting has a default that works for a cluster where the platform runs in one namespace;
docs/configuration.md lists them (a test keeps that list complete).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """What the operator needs: where it watches, and what it puts into every bot's CronJob."""

    model_config = SettingsConfigDict(env_prefix="SKYBOTS_", extra="ignore", use_attribute_docstrings=True)

    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["skybots"])
    """Namespaces whose Bots the operator reconciles, comma-separated (ignored with --all-namespaces)."""
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
    reposter_cpu_request: str = "50m"
    """CPU request of a reposter pod (a run mostly waits on the network)."""
    reposter_memory_request: str = "64Mi"
    """Memory request of a reposter pod."""
    reposter_memory_limit: str = "128Mi"
    """Memory limit of a reposter pod."""
    run_deadline_seconds: int = Field(default=600, ge=30)
    """A run that takes longer is stopped and counted as failed."""
    starting_deadline_seconds: int = Field(default=300, ge=10)
    """A run that could not start within this long after its time is skipped."""
    successful_jobs_history: int = Field(default=3, ge=0)
    """Finished Jobs kept per bot (successfulJobsHistoryLimit)."""
    failed_jobs_history: int = Field(default=3, ge=0)
    """Failed Jobs kept per bot (failedJobsHistoryLimit)."""

    redis_url: str = "redis://skybots-redis:6379/0"
    """Redis for the reposter's dedup cache, sessions and rate budgets."""
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

    @field_validator("namespaces", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )
