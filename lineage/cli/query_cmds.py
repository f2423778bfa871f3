"""query: read-only SQL over the views of any revision."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import engine_options, open_repo, rev_option, spark_engine
from lineage.cli.output import format_option, render


@main.command()
@click.argument("sql")
@rev_option
@click.option(
    "--diff",
    "diff_revs",
    default=None,
    metavar="A[..B]",
    help="Also offer a `diff` view of the changes from A to B (B: the work state); "
    "`a.labels` and `b.labels` are the two states.",
)
@click.option("--timeout", type=float, default=None, help="Stop the query after this many seconds.")
@engine_options
@format_option()
@click.pass_context
def query(ctx, sql, rev, diff_revs, timeout, engine, master, fmt):
    """Run read-only SQL over the views: labels, label_events, reviews, guidelines,
    annotators, assets, categories, transactions, samples, label_lineage, versions.

    \b
    Example:
      lineage query --rev v1 "select class_name, count(*) from labels group by 1" --format json
      lineage query --diff v1..v2 "select kinds, count(*) from diff group by all"
      lineage query --engine spark "select class_name, count(*) from labels group by 1"
    """
    spark = spark_engine(engine, master, diff=diff_revs, timeout=timeout)
    if spark is not None:
        repo = open_repo(ctx)
        table = spark.run_query(repo, sql, rev, master=master)
        render(table, fmt, types=spark.result_types(repo, sql, rev))
        return
    a, _, b = (diff_revs or "").partition("..")
    pair = (a, b or None) if diff_revs else None
    with open_repo(ctx).query(sql, rev, diff=pair, timeout=timeout) as rows:
        render(rows, fmt)
