"""verify: file hashes, hash chain, append-only history, Merkle proofs."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo
from lineage.cli.output import format_option, message, render, working

COLUMNS = ("check", "status", "detail", "file", "txn_id", "proof")


def _row(check: str, status: str, detail: str, **extra) -> dict:
    return {c: extra.get(c) for c in COLUMNS} | {"check": check, "status": status, "detail": detail}


@main.command()
@click.option("--rev", default=None, help="Revision to verify (default: HEAD).")
@click.option(
    "--since", default=None, help="Tag to prove against: a Merkle consistency proof from it."
)
@click.option(
    "--proof",
    "label_id",
    default=None,
    help="Print a Merkle inclusion proof for this label's current revision.",
)
@format_option()
@click.pass_context
def verify(ctx, rev, since, label_id, fmt):
    """Check that a revision's store is intact and its history only appended: segment
    hashes, the transaction hash chain, earlier versions and tags, the Merkle root.
    Exit 0 when every check passes, 1 when one fails.

    \b
    Example:
      lineage verify --rev v2 --since v1
      lineage verify --proof 3f9a0c1d2e4b5a69 --format json
    """
    from lineage.versioning.verify import CHECKS

    repo = open_repo(ctx)
    with working("verifying"):
        result = repo.verify(rev, since)
    rows = []
    for check in CHECKS:
        failed = result.failed(check)
        if not failed:
            rows.append(_row(check, "ok", _summary(check, result)))
        rows += [_row(check, "FAILED", p.message, file=p.file, txn_id=p.txn_id) for p in failed]
    for c in result.consistency:
        if since is not None:
            rows.append(
                _row(
                    "consistency",
                    "ok" if c.verified else "FAILED",
                    f"{c.since} ({c.first_size} transactions, root {c.first_root}) -> "
                    f"{result.rev} ({c.second_size}, root {c.second_root})",
                    proof=c.proof,
                )
            )
    if label_id is not None and not result.ok:
        rows.append(_row("inclusion", "FAILED", "no proof: the store failed verification"))
    elif label_id is not None:
        p = repo.inclusion_proof(label_id, rev)
        rows.append(
            _row(
                "inclusion",
                "ok" if p.verified else "FAILED",
                f"label {p.label_id} revision {p.revision} is in transaction {p.txn_id}, "
                f"leaf {p.leaf_index} of {p.tree_size} (leaf {p.leaf}) under root {p.root}",
                file=p.segment,
                txn_id=p.txn_id,
                proof=p.proof,
            )
        )
    render(rows, fmt, title=f"verify {result.rev}")
    if result.ok and all(r["status"] == "ok" for r in rows):
        message(
            f"Verified {result.rev} ({(result.commit or 'empty')[:10]}): {result.segments} "
            f"segment(s), {result.transactions} transaction(s), Merkle root {result.root}"
        )
        return
    message(f"Verification of {result.rev} FAILED: {len(result.problems) or 1} problem(s)")
    ctx.exit(1)


def _summary(check: str, result) -> str:
    if check == "files":
        return f"{result.segments} segment(s) match their md5 and recorded SHA-256"
    if check == "chain":
        return f"{result.transactions} transaction hash(es) recompute and link"
    if check == "append-only":
        return "every earlier version's files are kept unchanged"
    if check == "history":
        tags = ", ".join(c.since for c in result.consistency) or "no earlier tag"
        return f"earlier tags are prefixes of this history: {tags}"
    return f"root {result.root} over {result.transactions} transaction(s)"
