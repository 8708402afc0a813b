"""What one reposter run did: the report the reposter writes and the operator collects.

The reposter prints the report on stdout and writes it to its container's termination
message (at most 4096 bytes, Kubernetes' limit); the operator reads it from the finished
pod and turns it into Bot status, metrics and a run history record.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from skybots.bots import RunOutcome, WireModel

TERMINATION_MESSAGE_LIMIT = 4096
REPORT_VERSION = 1

# The reposter's exit code tells the outcome even when no report could be written.
EXIT_CODES: dict[str, int] = {
    "succeeded": 0,
    "rateLimited": 0,
    "failed": 1,
    "invalidConfig": 2,
    "authFailed": 3,
    "upstreamFailed": 4,
}


class RejectedPost(WireModel):
    """A candidate a dry run turned down, and why."""

    model_config = ConfigDict(extra="ignore")

    uri: str
    """at:// URI of the post."""
    reason: str
    """The filter that rejected it."""


class RunReport(WireModel):
    """The summary of one run, as JSON."""

    model_config = ConfigDict(extra="ignore")

    version: int = REPORT_VERSION
    """Format version of the report."""
    outcome: RunOutcome
    """How the run ended."""
    message: str = Field(default="", max_length=1024)
    """Why it ended so, for people."""
    dry_run: bool = False
    """Nothing was written to Bluesky."""
    started_at: datetime
    """When the run started."""
    finished_at: datetime
    """When the run finished."""
    candidates: int = Field(default=0, ge=0)
    """Posts read from the sources (after merging duplicates across sources)."""
    reposted: int = Field(default=0, ge=0)
    """Posts reposted (in a dry run: that would have been)."""
    duplicates: int = Field(default=0, ge=0)
    """Candidates already reposted before."""
    rejected: dict[str, int] = Field(default_factory=dict)
    """Candidates the filters rejected, by reason."""
    api_calls: int = Field(default=0, ge=0)
    """Requests made to Bluesky."""
    logins: int = Field(default=0, ge=0)
    """Logins with the app password (0 when a stored session was reused)."""
    would_repost: list[str] = Field(default_factory=list)
    """In a dry run: the at:// URIs that would have been reposted (may be cut short to fit)."""
    rejected_posts: list[RejectedPost] = Field(default_factory=list)
    """In a dry run: every candidate the filters turned down, and why (may be cut short to fit)."""

    @property
    def duration_seconds(self) -> float:
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def termination_message(self) -> str:
        """Compact JSON that fits Kubernetes' termination message: the dry-run lists are cut first.

        stdout has the whole report; the operator needs the counts.
        """
        report = self
        for listing in ("rejected_posts", "would_repost"):
            while len(text := report.model_dump_json(by_alias=True).encode()) > TERMINATION_MESSAGE_LIMIT:
                items = getattr(report, listing)
                if not items:
                    break
                report = report.model_copy(update={listing: items[: len(items) // 2]})
        return text.decode()
