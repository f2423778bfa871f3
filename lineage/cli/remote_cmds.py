"""remote add/list, push, pull: DVC remotes for the segment files."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo, show_notes
from lineage.cli.output import format_option, message, render, working


@main.group()
def remote():
    """DVC remotes that hold the store's segment files."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--no-default", is_flag=True, help="Do not make it the default remote.")
@click.option(
    "--endpoint-url",
    default=None,
    help="S3-compatible server (MinIO, SeaweedFS, Ceph...), e.g. http://127.0.0.1:9000.",
)
@click.option("--region", default=None, help="The bucket's region (s3://).")
@click.option("--commit", is_flag=True, help="Commit .dvc/config (default: stage it).")
@click.pass_context
def remote_add(ctx, name, url, no_default, endpoint_url, region, commit):
    """Add a DVC remote: a folder, or object storage (s3://bucket/prefix; gs:// and
    azure:// with their DVC plugins). Credentials come from the environment or your
    profile (AWS_ACCESS_KEY_ID / AWS_PROFILE ...) and are never written to the config.

    \b
    Example:
      lineage remote add local /mnt/backup/lineage-remote
      lineage remote add store s3://labels/team-a --region eu-west-1 --commit
      lineage remote add minio s3://labels/team-a --endpoint-url http://127.0.0.1:9000
    """
    repo = open_repo(ctx)
    repo.remote_add(
        name,
        url,
        default=not no_default,
        endpoint_url=endpoint_url,
        region=region,
        commit=commit,
    )
    message(f"Remote '{name}' -> {url}")
    show_notes(repo)


@remote.command("list")
@format_option()
@click.pass_context
def remote_list(ctx, fmt):
    """The configured remotes.

    \b
    Example:
      lineage remote list --format json
    """
    rows = [{"name": n, "url": u, "default": d} for n, u, d in open_repo(ctx).remotes()]
    render(rows, fmt)


@main.command()
@click.option("-r", "--remote", "name", default=None, help="Remote (default: the default one).")
@click.pass_context
def push(ctx, name):
    """Upload the segment files of every version to the DVC remote.

    \b
    Example:
      lineage push
    """
    with working("pushing"):
        n = open_repo(ctx).push(name)
    message(f"Pushed {n} file(s)")


@main.command()
@click.option("-r", "--remote", "name", default=None, help="Remote (default: the default one).")
@click.pass_context
def pull(ctx, name):
    """Download missing (or repair corrupt) segment files from the DVC remote.

    \b
    Example:
      lineage pull
    """
    repo = open_repo(ctx)
    with working("pulling"):
        n = repo.pull(name)
    show_notes(repo)
    message(f"Fetched {n} file(s)")
