"""init, status, commit, log, discard."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo, show_notes
from lineage.cli.output import emit_json, format_option, message, render, working


@main.command()
@click.option(
    "--store", default="annotations", show_default=True, help="Folder of the label store."
)
@click.pass_context
def init(ctx, store):
    """Set up DVC (if absent) and the label store in this git repository. Safe to run twice.

    \b
    Example:
      git init && lineage init
    """
    from lineage.repo import Repo

    repo = Repo.init(ctx.obj["path"], store=store)
    message(f"Initialised lineage in {repo.root} (store: {repo.layout.store_name}/)")
    show_notes(repo)


@main.command()
@format_option()
@click.pass_context
def status(ctx, fmt):
    """What is staged, and row counts of the work state (HEAD plus staged).

    \b
    Example:
      lineage status --format json
    """
    repo = open_repo(ctx)
    info = repo.status()
    show_notes(repo)
    if fmt == "json":
        emit_json(
            {
                "commit": info.commit,
                "staged": info.staged,
                "counts": info.counts,
                "merge": info.merge,
            }
        )
        return
    rows = [{"table": k, "rows": v} for k, v in info.counts.items()]
    message(f"HEAD: {info.commit[:10] if info.commit else '(no commits yet)'}")
    if info.merge:
        m = info.merge
        message(
            f"Merging {m['branch']} into {m['into']}: {m['resolved']} of {m['conflicts']} "
            "conflict(s) resolved"
            + (
                f"; git left {len(m['unmerged_files'])} file(s) to resolve"
                if m["unmerged_files"]
                else ""
            )
            + " (`lineage conflicts`, `lineage resolve`, `lineage merge --continue`)"
        )
    if info.staged:
        render(
            [
                {
                    "txn_id": s["txn_id"],
                    "kind": s["kind"],
                    "message": s["message"],
                    "rows": ", ".join(
                        f"{k}={v}" for k, v in s["rows"].items() if k != "transactions"
                    ),
                }
                for s in info.staged
            ],
            fmt,
            title="staged",
        )
    else:
        message("nothing staged")
    render(rows, fmt, title="work state")


@main.command()
@click.option("-m", "--message", "msg", required=True, help="Commit message.")
@click.option("--tag", default=None, help="Tag the commit as this dataset version.")
@click.pass_context
def commit(ctx, msg, tag):
    """Move staged transactions into the store: segments, dvc add, git commit (+ tag).

    \b
    Example:
      lineage commit -m "batch 1" --tag v1
    """
    repo = open_repo(ctx)
    with working("committing"):
        result = repo.commit(msg, tag=tag)
    show_notes(repo)
    rows = ", ".join(f"{k} {v}" for k, v in result.rows.items())
    tag_txt = f" (tag {result.tag})" if result.tag else ""
    message(
        f"Committed {result.commit[:10]}{tag_txt}: {len(result.transactions)} transaction(s); {rows}"
    )


@main.command()
@click.option("--rev", default="HEAD", show_default=True, help="Start from this revision.")
@format_option()
@click.pass_context
def log(ctx, rev, fmt):
    """Dataset versions, newest first, with what each transaction did.

    \b
    Example:
      lineage log --format json
    """
    repo = open_repo(ctx)
    versions = repo.log(rev)
    if fmt == "json":
        emit_json(versions)
        return
    rows = []
    for v in versions:
        for t in v["transactions"] or [{}]:
            counts = t.get("counts", {})
            rows.append(
                {
                    "commit": v["short"],
                    "tags": ",".join(v["tags"]),
                    "date": v["committed_at"].strftime("%Y-%m-%d %H:%M"),
                    "message": v["message"],
                    "txn": t.get("txn_id", ""),
                    "kind": t.get("kind", ""),
                    "did": t.get("message", ""),
                    "rows": ", ".join(f"{k}={n}" for k, n in counts.items() if n),
                }
            )
    render(rows, fmt, title="versions")


@main.command()
@click.pass_context
def discard(ctx):
    """Drop every staged transaction (the committed store is untouched).

    \b
    Example:
      lineage discard && lineage status
    """
    repo = open_repo(ctx)
    n = repo.discard()
    message(f"Discarded {n} staged transaction(s)")


@main.command()
@click.option("-m", "--message", "msg", default="lineage compact: checkpoint", show_default=True)
@click.option("--tag", default=None, help="Tag the checkpoint commit.")
@click.pass_context
def compact(ctx, msg, tag):
    """Write a checkpoint of the current labels and commit it, so reads stay fast as the
    history grows. Nothing is removed: history queries still see every event.

    \b
    Example:
      lineage compact
    """
    repo = open_repo(ctx)
    with working("writing a checkpoint"):
        result = repo.compact(msg, tag=tag)
    show_notes(repo)
    message(
        f"Checkpoint committed as {result.commit[:10]} ({result.rows.get('checkpoints', 0)} labels)"
    )
