"""history, blame, diff: where a label came from, who touched an image, what changed."""

from __future__ import annotations

import json
import sys

import click

from lineage.cli import main
from lineage.cli.common import open_repo, rev_option
from lineage.cli.output import format_option, json_rows, jsonable, render

sql_option = click.option(
    "--sql", "show_sql", is_flag=True, help="Print the SQL instead of running it."
)


@main.command()
@click.argument("label_id", required=False)
@click.option("--external-id", default=None, help="Find the label by the id its tool gave it.")
@rev_option
@sql_option
@format_option()
@click.pass_context
def history(ctx, label_id, external_id, rev, show_sql, fmt):
    """Every revision of a label, oldest first: version, time, op, class, geometry and
    its IoU with the previous revision, attribute keys changed, annotator, source,
    guideline; under each revision its review passes. JSON gives a list of revisions,
    each with a `reviews` list; CSV one row per revision or review (`row_type`).

    \b
    Example:
      lineage history 3f2a5a53f5c1feb0
      lineage history --external-id 1768 --format json
    """
    if (label_id is None) == (external_id is None):
        raise click.UsageError("give either LABEL_ID or --external-id")
    form = {"json": "nested", "table": "compact"}.get(fmt, "rows")
    with open_repo(ctx).history(label_id, rev, external_id=external_id, form=form) as rows:
        if show_sql:
            click.echo(rows.sql)
            return
        render(rows, fmt, title=rows.title)


@main.command()
@click.argument("asset_id")
@rev_option
@sql_option
@format_option()
@click.pass_context
def blame(ctx, asset_id, rev, show_sql, fmt):
    """Each current label on an image: who made its current revision, in which version,
    under which guideline, and its review status (passes and latest verdict).

    \b
    Example:
      lineage blame images/000123.jpg --rev v2
    """
    with open_repo(ctx).blame(asset_id, rev, compact=fmt == "table") as rows:
        if show_sql:
            click.echo(rows.sql)
            return
        render(rows, fmt, title=rows.title)


@main.command()
@click.argument("a")
@click.argument("b", required=False)
@click.option(
    "--summary", "summary_only", is_flag=True, help="Counts per kind, class, annotator, asset."
)
@click.option(
    "--iou-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="A geometry change with IoU below this is 'moved', else 'geometry'.",
)
@click.option(
    "--class",
    "classes",
    multiple=True,
    help="Only labels of this class before or after (repeatable).",
)
@click.option(
    "--annotator",
    "annotators",
    multiple=True,
    help="Only labels by this annotator before or after (repeatable).",
)
@click.option("--exit-code", is_flag=True, help="Exit with 1 when there are differences.")
@sql_option
@format_option()
@click.pass_context
def diff(ctx, a, b, summary_only, iou_threshold, classes, annotators, exit_code, show_sql, fmt):
    """What changed from revision A to B (default: the work state, HEAD plus staged, as
    `git diff`). Each changed label once, with its kinds of change (added, removed,
    geometry, moved, class, attributes, annotator, source, guideline, review) and its
    values before and after. JSON: one object {from, to, summary, changes}.

    \b
    Example:
      lineage diff v1 v2 --summary
      lineage diff v1 --class car --format json
      lineage diff v2 --exit-code --format csv > changes.csv
    """
    repo = open_repo(ctx)
    with repo.diff(
        a, b, iou_threshold=iou_threshold, classes=classes, annotators=annotators
    ) as result:
        form = "summary" if summary_only else {"json": "changes", "csv": "flat"}.get(fmt, fmt)
        if show_sql:
            click.echo(result.form_sql(form))
            return
        if fmt == "json":
            result.materialize()  # the summary and the changes read it once
            summary = result.summary()
            changed = summary["labels"]
            head = {"from": result.source, "to": result.target, "summary": summary}
            _emit_diff(head, None if summary_only else result.rows("changes"))
        elif summary_only:
            rows = result.rows(form)
            table = rows.arrow()
            changed = _total(table.to_pylist())
            render(table, fmt, title=rows.title)
        else:
            rows = result.rows(form)
            changed = render(rows, fmt, title=rows.title)
    if exit_code and changed:
        ctx.exit(1)


def _total(rows: list[dict]) -> int:
    return next((r["labels"] for r in rows if r["dimension"] == "total"), 0)


def _emit_diff(head: dict, changes, out=None) -> None:
    """One JSON object; the changes stream from DuckDB in batches."""
    out = out or sys.stdout
    body = json.dumps(jsonable(head), indent=2, ensure_ascii=False)
    if changes is None:
        out.write(body + "\n")
        return
    out.write(body[:-2] + ',\n  "changes": [')
    n = 0
    for row in json_rows(changes):
        out.write(",\n    " if n else "\n    ")
        out.write(row)
        n += 1
    out.write("\n  ]\n}\n" if n else "]\n}\n")
