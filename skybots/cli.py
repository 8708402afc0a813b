"""The `skybots` command. Subcommands import their modules lazily: the reposter's start-up pays
only for what it uses."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="skybots")
def main() -> None:
    """Hosted Bluesky repost bots on Kubernetes."""


@main.command()
def crd() -> None:
    """Print the Bot CustomResourceDefinition (the file under crds/) generated from the models."""
    from skybots.crd import crd_yaml

    click.echo(crd_yaml(), nl=False)


@main.group()
def reposter() -> None:
    """The reposter: what each bot's CronJob runs."""


@reposter.command("run")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The bot's config file (its ConfigMap's bot.json).",
)
@click.option("--dry-run", is_flag=True, help="Evaluate everything, repost nothing (also spec.dryRun).")
def reposter_run(config_path: Path, dry_run: bool) -> None:
    """One run of one bot. The app password comes from SKYBOTS_APP_PASSWORD.

    Prints the run's report (JSON) and writes it to the termination message; exits 0 when the
    run succeeded or stopped at a rate limit, 2 for an unusable config, 3 when Bluesky refused
    the credentials, 4 when Bluesky failed, 1 otherwise.
    """
    from skybots.reposter.main import run

    sys.exit(run(config_path, dry_run=dry_run))


@main.command()
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Namespace to watch (repeatable); default: SKYBOTS_NAMESPACES, or skybots.",
)
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch Bots in every namespace.")
@click.option(
    "--create-tables", is_flag=True, help="Create the run history table when missing (local stand-ins)."
)
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@click.option("--log-format", type=click.Choice(["json", "plain"]), default="json", show_default=True)
def operator(
    namespaces: tuple[str, ...], all_namespaces: bool, create_tables: bool, verbose: bool, log_format: str
) -> None:
    """Run the operator: Bots into CronJobs, finished runs into status, metrics and history.

    Always standalone (no peering): run one replica with the Recreate strategy.
    """
    import asyncio

    import kopf

    from skybots.operator.main import run_operator
    from skybots.settings import OperatorSettings

    settings = OperatorSettings()
    if namespaces:
        settings.namespaces = list(namespaces)
    kopf.configure(
        verbose=verbose, log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.PLAIN
    )
    asyncio.run(run_operator(settings, clusterwide=all_namespaces, create_tables=create_tables))


@main.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--create-tables", is_flag=True, help="Create the DynamoDB tables when missing (local stand-ins)."
)
def api(host: str, port: int, create_tables: bool) -> None:
    """Run the API: sign-in, /api/bots, the pages and the web app. Settings: SKYBOTS_* (docs/configuration.md)."""
    import uvicorn

    from skybots.api.app import create_app
    from skybots.api.observability import configure_logging
    from skybots.settings import ApiSettings

    configure_logging()
    app = create_app(ApiSettings(), create_tables=create_tables)
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True, forwarded_allow_ips="*")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--bot-handle",
    help="Make a bot for this Bluesky account at start-up (SKYBOTS_APP_PASSWORD: its app password).",
)
@click.option("--bot-tag", default="skybots", show_default=True, help="The hashtag that bot watches.")
@click.option("--bot-service", default="https://bsky.social", show_default=True, help="The account's PDS.")
@click.option("--bot-schedule", default="*/10 * * * *", show_default=True, help="When that bot runs (cron).")
@click.option("--live", is_flag=True, help="Let that bot repost for real (default: a dry run).")
@click.option("--log-format", type=click.Choice(["plain", "json"]), default="plain", show_default=True)
def dev(
    host: str,
    port: int,
    bot_handle: str | None,
    bot_tag: str,
    bot_service: str,
    bot_schedule: str,
    live: bool,
    log_format: str,
) -> None:
    """The whole platform in this process, no cluster, no cloud: state in SKYBOTS_DATA_DIR (.skybots).

    Development only: the sign-in is one local developer, no Google.
    """
    import asyncio
    import os

    from skybots.local.main import serve
    from skybots.local.runtime import StartingBot

    starting = None
    if bot_handle:
        password = os.environ.get("SKYBOTS_APP_PASSWORD")
        if not password:
            raise click.UsageError("--bot-handle needs the account's app password in SKYBOTS_APP_PASSWORD")
        starting = StartingBot(
            name="my-bot",
            handle=bot_handle,
            app_password=password,
            hashtag=bot_tag,
            service=bot_service,
            schedule=bot_schedule,
            live=live,
        )
    asyncio.run(serve(host, port, starting, log_format=log_format))


@main.command()
@click.option(
    "--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write here, not to stdout."
)
def openapi(output: Path | None) -> None:
    """Print the API's OpenAPI document (JSON)."""
    import json

    from skybots.api.app import create_app
    from skybots.settings import ApiSettings

    document = json.dumps(create_app(ApiSettings(session_secret="unused")).openapi(), indent=2) + "\n"
    if output:
        output.write_text(document)
    else:
        click.echo(document, nl=False)
