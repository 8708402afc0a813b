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
