"""demo: build the example repository."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.output import format_option, message, render


@main.command()
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@format_option()
def demo(path, force, fmt):
    """Build an example repository from the bundled street-scene labels: three tagged
    versions (v1-unreviewed, v1, v2), reviews, a guideline change, a relabel, a moved
    box, a delete and additions; prints its labels per class at v2.

    \b
    Example:
      lineage demo demo-repo && lineage -C demo-repo log
    """
    from lineage.demo import build_demo
    from lineage.repo import Repo

    result = build_demo(path, force=force)
    message(f"Built {result.root} with versions {', '.join(result.versions)}\n")
    repo = Repo.open(result.root)
    with repo.query(
        "SELECT class_name, count(*) AS labels, "
        "count(*) FILTER (WHERE review_passes > 0) AS reviewed "
        "FROM label_lineage GROUP BY 1 ORDER BY 1",
        "v2",
    ) as rows:
        render(rows, fmt, title="labels per class at v2")
    message("\nTry:")
    for cmd in (
        "log",
        f"history {result.example_label}",
        "diff v1 v2 --summary",
        f"blame {result.example_asset} --rev v2",
        "audit --rev v2",
        'query --rev v1 "select class_name, count(*) from labels group by 1"',
    ):
        message(f"  lineage -C {result.root} {cmd}")
