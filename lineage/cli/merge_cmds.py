"""merge, conflicts, resolve, and the git merge driver."""

from __future__ import annotations

import sys

import click

from lineage.cli import main
from lineage.cli.common import open_repo, show_notes
from lineage.cli.output import emit_json, format_option, message, render


@main.command()
@click.argument("branch", required=False)
@click.option("-m", "--message", "msg", default=None, help="Message of the merge commit.")
@click.option("--continue", "cont", is_flag=True, help="Commit once every conflict is resolved.")
@click.option("--abort", is_flag=True, help="Drop the merge: both branches stay as they were.")
@format_option()
@click.pass_context
def merge(ctx, branch, msg, cont, abort, fmt):
    """Merge BRANCH's labels into the checked-out branch. Both stores' segments union;
    a label changed on both branches since their common history (both edited, edited
    vs deleted, or reviewed with different verdicts) stops the merge as a conflict.
    Exit code 1 while conflicts (or other files git could not merge) remain.

    \b
    Example:
      lineage merge vendor-b
      lineage conflicts
      lineage resolve L123 --theirs && lineage merge --continue
      lineage merge --abort
    """
    if sum(bool(x) for x in (branch, cont, abort)) != 1:
        raise click.UsageError("name a BRANCH, or give --continue or --abort")
    repo = open_repo(ctx)
    if abort:
        repo.merge_abort()
        show_notes(repo)
        message("Merge aborted: both branches are as they were")
        return
    result = repo.merge_continue() if cont else repo.merge(branch, msg)
    show_notes(repo)
    if fmt == "json":
        emit_json(result.as_dict())
    elif result.status == "up-to-date":
        message(f"Already up to date with {result.branch}")
    elif result.status == "fast-forward":
        message(f"Fast-forward to {result.branch} ({result.commit[:10]})")
    elif result.status == "merged":
        added = ", ".join(f"{t}={n}" for t, n in sorted(result.added.items())) or "none"
        message(
            f"Merged {result.branch} as {result.commit[:10]}: segments brought in: {added}; "
            f"{result.resolved} conflict(s) resolved, {result.renumbered} row(s) renumbered"
        )
    else:
        if result.conflicts:
            message(
                f"{result.conflicts} label(s) conflict: see `lineage conflicts`, choose with "
                "`lineage resolve LABEL_ID --ours|--theirs|--revision N`, then "
                "`lineage merge --continue` (or `lineage merge --abort`)"
            )
        if result.unmerged:
            message(
                f"git could not merge {len(result.unmerged)} other file(s): "
                + ", ".join(result.unmerged)
                + "; resolve them and `git add` them before `lineage merge --continue`"
            )
    if result.status == "conflicts":
        ctx.exit(1)


@main.command()
@format_option()
@click.pass_context
def conflicts(ctx, fmt):
    """The labels the merge in progress cannot merge alone: the kind of conflict, the
    revision at the common history, ours and theirs (in the merged numbering), what each
    branch did, and the resolution chosen so far. Also the `conflicts` view of
    `lineage query` while the merge is in progress.

    \b
    Example:
      lineage conflicts --format csv > conflicts.csv
    """
    with open_repo(ctx).conflicts() as rows:
        render(rows, fmt, title=rows.title)


@main.command()
@click.argument("label_ids", nargs=-1)
@click.option("--ours", "take", flag_value="ours", help="Keep the checked-out branch's label.")
@click.option("--theirs", "take", flag_value="theirs", help="Take the merged branch's label.")
@click.option("--revision", type=int, default=None, help="Take this revision (merged numbering).")
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A CSV of label_id,take[,revision] rows (take: ours, theirs or revision).",
)
@click.pass_context
def resolve(ctx, label_ids, take, revision, from_file):
    """Choose how conflicted labels of the merge in progress merge. The choice is
    recorded in the merge as a review row (kind merge) naming who chose what.

    \b
    Example:
      lineage resolve L1 L2 --ours
      lineage resolve L3 --revision 4
      lineage resolve --from resolutions.csv
    """
    if revision is not None:
        if take is not None:
            raise click.UsageError("give one of --ours, --theirs, --revision")
        take = "revision"
    if from_file is None and (take is None or not label_ids):
        raise click.UsageError("name labels and one of --ours, --theirs, --revision N")
    if from_file is not None and (take is not None or label_ids):
        raise click.UsageError("--from takes the labels and choices from the file alone")
    repo = open_repo(ctx)
    n = repo.resolve(label_ids, take or "ours", revision, from_file=from_file)
    show_notes(repo)
    message(f"Resolved {n} label(s); `lineage merge --continue` commits once all are")


@main.command("merge-driver", hidden=True)
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("pointer")
def merge_driver(base, ours, theirs, pointer):
    """git's merge driver for the store pointer (registered by `lineage init`): it keeps
    our pointer and tells the user to run `lineage merge` instead.

    \b
    Example:
      git merge vendor-b    # git runs it; it refuses with guidance
    """
    from lineage.repo import merge_driver as drive

    code, text = drive(pointer)  # git keeps OURS, our side's pointer, as it is
    if text:
        click.echo(text, err=True)
    sys.exit(code)
