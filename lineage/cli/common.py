"""What every command shares: opening the repository, showing recovery notes."""

from __future__ import annotations

import click

from lineage.cli.output import message


def open_repo(ctx: click.Context):
    from lineage.repo import Repo

    return Repo.open(ctx.obj["path"])


def show_notes(repo) -> None:
    for note in repo.notes:
        message(f"Note: {note}")
    repo.notes.clear()


rev_option = click.option(
    "--rev", default=None, help="Revision: tag, branch, SHA or HEAD~N (default: work state)."
)
