"""The `skybots` command. Subcommands import their modules lazily: the reposter's start-up pays
only for what it uses."""

from __future__ import annotations

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
