"""`skybots reposter run`: one run of one bot, as its CronJob starts it.

The report goes to stdout (for people and logs) and to the termination message (for the
operator). The exit code says how the run went (skybots.runs.EXIT_CODES). A config that cannot
be used is one line on stderr naming the field, and the report (with that line) goes to the
termination message too; Bluesky is never called.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from skybots.runs import EXIT_CODES, RunReport

if TYPE_CHECKING:
    from skybots.bots import BotConfig
    from skybots.reposter.config import ReposterSettings


def run(config_path: Path, *, dry_run: bool = False) -> int:
    """Run the bot of `config_path` once; the process's exit code."""
    from skybots.bluesky.egress import PRIVATE_ADDRESSES_ALLOWED
    from skybots.reposter.config import PREFIX, ConfigError, ReposterSettings, load_config

    started = datetime.now(UTC)
    try:
        settings = ReposterSettings.from_environ()
        PRIVATE_ADDRESSES_ALLOWED.set(settings.allow_private_addresses)
        config = load_config(config_path)
    except ConfigError as error:
        print(f"skybots reposter: {error}", file=sys.stderr)
        failed = invalid_config(error, started)
        # The settings may be what failed: their termination log is read as they would read it.
        termination_log = ReposterSettings.model_fields["termination_log"].default
        return _finish(failed, os.environ.get(f"{PREFIX}TERMINATION_LOG", termination_log))
    report = asyncio.run(_run(config, settings, dry_run))
    return _finish(report, settings.termination_log)


def invalid_config(error: Exception, started: datetime) -> RunReport:
    """The report of a run whose config or environment cannot be used: Bluesky was never called."""
    return RunReport(
        outcome="invalidConfig", message=str(error)[:1024], started_at=started, finished_at=datetime.now(UTC)
    )


async def _run(config: BotConfig, settings: ReposterSettings, dry_run: bool) -> RunReport:
    from skybots.reposter.run import run_bot
    from skybots.stores.objects import S3Objects
    from skybots.stores.redis import RedisCache

    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    cache = RedisCache(settings.redis_url, password=password)
    objects = (
        S3Objects(settings.s3_bucket, region=settings.aws_region, endpoint_url=settings.s3_endpoint_url)
        if settings.s3_bucket
        else None
    )
    try:
        return await run_bot(config, settings, cache=cache, objects=objects, dry_run=dry_run)
    finally:
        await cache.close()


def _finish(report: RunReport, termination_log: str) -> int:
    print(report.model_dump_json(by_alias=True, indent=2))
    with contextlib.suppress(OSError):  # not in a pod: stdout is the report
        Path(termination_log).write_text(report.termination_message())
    return EXIT_CODES[report.outcome]
