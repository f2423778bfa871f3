"""review import/add, guideline add/list, annotator add/list."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo, rev_option, show_notes
from lineage.cli.output import format_option, message, render


@main.group()
def review():
    """Record review passes of labels."""


@review.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-m", "--message", "msg", default=None, help="Transaction message.")
@click.pass_context
def review_import(ctx, path, msg):
    """Stage review passes from a CSV with columns label_id,pass,reviewer_id,verdict and
    optional reason,reviewed_at,guideline_version,revision,kind.

    \b
    Example:
      lineage review import reviews.csv
    """
    repo = open_repo(ctx)
    result = repo.import_reviews(path, message=msg)
    show_notes(repo)
    message(f"Staged {result.rows.get('reviews', 0)} review(s) as {result.txn_id}")


@review.command("add")
@click.argument("label_id")
@click.option("--pass", "pass_", type=int, required=True, help="Review pass number (1, 2, ...).")
@click.option("--reviewer", required=True, help="Reviewer id.")
@click.option("--verdict", type=click.Choice(["accept", "reject", "fix"]), required=True)
@click.option("--reason", default=None, help="Why (for reject and fix).")
@click.option("--guideline", default=None, help="Guideline version checked against.")
@click.option("--kind", type=click.Choice(["review", "audit", "gold"]), default="review")
@click.pass_context
def review_add(ctx, label_id, pass_, reviewer, verdict, reason, guideline, kind):
    """Stage one review pass of a label's current revision.

    \b
    Example:
      lineage review add 3f9a0c1d2e4b5a69 --pass 1 --reviewer bob --verdict accept
    """
    repo = open_repo(ctx)
    result = repo.add_review(
        label_id,
        pass_=pass_,
        reviewer=reviewer,
        verdict=verdict,
        reason=reason,
        guideline_version=guideline,
        kind=kind,
    )
    show_notes(repo)
    message(f"Staged review of {label_id} as {result.txn_id}")


@main.group()
def guideline():
    """Labelling guideline versions and their class taxonomies."""


@guideline.command("add")
@click.argument("version")
@click.option(
    "--classes",
    "classes",
    required=True,
    type=click.Path(dir_okay=False),
    help="Text file of class names, one per line.",
)
@click.option(
    "--doc",
    type=click.Path(dir_okay=False),
    default=None,
    help="The guideline document; its SHA-256 is recorded.",
)
@click.option(
    "--released-at",
    default=None,
    help="When the version was released (ISO 8601, e.g. 2026-09-15 or "
    "2026-09-15T08:00:00Z; default: now). The audit checks each label was made while "
    "its guideline version was in force.",
)
@click.pass_context
def guideline_add(ctx, version, classes, doc, released_at):
    """Record a guideline version: taxonomy, release time, document hash.

    \b
    Example:
      lineage guideline add v1 --classes classes.txt --doc guideline-v1.pdf
      lineage guideline add v2 --classes classes.txt --released-at 2026-11-01
    """
    repo = open_repo(ctx)
    result = repo.add_guideline(version, classes=classes, doc=doc, released_at=released_at)
    show_notes(repo)
    message(f"Staged guideline {version} as {result.txn_id}")


@guideline.command("list")
@rev_option
@format_option()
@click.pass_context
def guideline_list(ctx, rev, fmt):
    """Guideline versions of a revision.

    \b
    Example:
      lineage guideline list --rev v1
    """
    with open_repo(ctx).guidelines(rev) as rows:
        render(rows, fmt)


@main.group()
def annotator():
    """People and models that make and review labels."""


@annotator.command("add")
@click.argument("annotator_id")
@click.option("--kind", type=click.Choice(["human", "model"]), default="human", show_default=True)
@click.option("--name", default=None, help="Display name.")
@click.option("--team", default=None, help="Team or vendor.")
@click.pass_context
def annotator_add(ctx, annotator_id, kind, name, team):
    """Register an annotator, so audits can tell known ones from unknown ones.

    \b
    Example:
      lineage annotator add alice --team vendor-a
    """
    repo = open_repo(ctx)
    result = repo.add_annotator(annotator_id, kind=kind, name=name, team=team)
    show_notes(repo)
    message(f"Staged annotator {annotator_id} as {result.txn_id}")


@annotator.command("import")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.pass_context
def annotator_import(ctx, path):
    """Register annotators from a CSV with columns annotator_id,kind,name,team.

    \b
    Example:
      lineage annotator import annotators.csv
    """
    repo = open_repo(ctx)
    result = repo.import_annotators(path)
    show_notes(repo)
    message(f"Staged {result.rows.get('annotators', 0)} annotator(s) as {result.txn_id}")


@annotator.command("list")
@rev_option
@format_option()
@click.pass_context
def annotator_list(ctx, rev, fmt):
    """Registered annotators of a revision.

    \b
    Example:
      lineage annotator list --format csv
    """
    with open_repo(ctx).annotators(rev) as rows:
        render(rows, fmt)
