"""agreement, stats: annotator agreement and dataset health of a revision."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo, rev_option
from lineage.cli.output import emit_json, format_option, render


@main.command()
@rev_option
@click.option(
    "--by",
    type=click.Choice(["pair", "annotator", "class"]),
    default="pair",
    show_default=True,
    help="Figures per annotator pair, per annotator, or per class (and over all classes).",
)
@click.option(
    "--iou-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Two objects match when their IoU (OKS for keypoints) is at least this.",
)
@format_option()
@click.pass_context
def agreement(ctx, rev, by, iou_threshold, fmt):
    """How far annotators agree on the assets two or more of them labelled. One row
    per figure (object precision/recall/F1, mean IoU, class agreement, Cohen's and
    Fleiss' kappa, Krippendorff's alpha, agreement with the others' majority and with
    gold, rejection rate, mean IoU of fixes), with the number of items it rests on and
    a note where it is undefined or rests on fewer than 30 items.

    \b
    Example:
      lineage agreement --rev v2
      lineage agreement --by annotator --format json
      lineage agreement --by class --iou-threshold 0.7 --format csv > agreement.csv
    """
    table = open_repo(ctx).agreement(rev, by=by, iou_threshold=iou_threshold)
    render(table, fmt, title=f"agreement by {by}")


@main.command()
@rev_option
@click.option("--sql", "show_sql", is_flag=True, help="Print each section's SQL instead.")
@format_option()
@click.pass_context
def stats(ctx, rev, show_sql, fmt):
    """Dataset health: labels per class and split, class imbalance, labels per asset,
    attribute and tag coverage, degenerate geometry (zero-area, tiny, outside the
    image), likely duplicates (same asset and class, IoU > 0.95), unlabelled assets.
    Table: one table per section; JSON: one object with a list of rows per section;
    CSV: all sections in one table, with a `section` column.

    \b
    Example:
      lineage stats --rev v1
      lineage stats --format json > stats.json
    """
    repo = open_repo(ctx)
    if show_sql:
        for name, sql in repo.stats_sql().items():
            click.echo(f"-- {name}\n{sql};\n")
        return
    sections = repo.stats(rev)
    if fmt == "json":
        emit_json({name: table.to_pylist() for name, table in sections.items()})
    elif fmt == "csv":
        render(_one_table(sections), fmt)
    else:
        for name, table in sections.items():
            render(table, fmt, title=name)


def _one_table(sections: dict):
    """Every section in one Arrow table: a `section` column, then the union of columns."""
    import pyarrow as pa

    tables = [
        t.add_column(0, "section", pa.array([name] * t.num_rows, pa.string()))
        for name, t in sections.items()
    ]
    return pa.concat_tables(tables, promote_options="permissive")
