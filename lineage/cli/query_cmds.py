"""query: read-only SQL over the views of any revision."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo, rev_option
from lineage.cli.output import format_option, render


@main.command()
@click.argument("sql")
@rev_option
@click.option("--timeout", type=float, default=None, help="Stop the query after this many seconds.")
@format_option()
@click.pass_context
def query(ctx, sql, rev, timeout, fmt):
    """Run read-only SQL over the views: labels, label_events, reviews, guidelines,
    annotators, assets, categories, transactions, samples, label_lineage, versions.

    \b
    Example:
      lineage query --rev v1 "select class_name, count(*) from labels group by 1" --format json
    """
    repo = open_repo(ctx)
    with repo.at(rev) as snap:
        render(snap.sql(sql, timeout=timeout), fmt)
