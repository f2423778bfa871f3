"""Audit checks computed outside SQL: agreement between annotators (and, once plugged
in, the integrity of the stored files)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lineage.audit.checks import Finding

if TYPE_CHECKING:
    from lineage.audit.policy import Policy
    from lineage.query.snapshot import Snapshot
    from lineage.versioning.verify import VerifyResult

MIN_ITEMS = 30  # an agreement figure on fewer items is too unsure to fail an audit on


def agreement(
    snap: Snapshot, policy: Policy, examples: int, verified: VerifyResult | None
) -> list[Finding]:
    """Annotators whose agreement with the others is below ``limits.min_agreement``."""
    from lineage.audit.agreement import annotator_figures

    figures = annotator_figures(snap)
    below = sorted(
        who
        for who, f in figures.items()
        if f["n_items"] >= MIN_ITEMS
        and not math.isnan(f["agreement"])
        and f["agreement"] < policy.min_agreement
    )
    return [
        Finding(
            check="limits.agreement",
            title="Inter-annotator agreement below the minimum",
            severity=policy.severity.get("limits.agreement", "error"),
            subject="annotator",
            count=len(below),
            examples=below[:examples],
            sql="-- not one query: see `lineage agreement --by annotator` "
            "(object_f1_vs_others, else consensus_kappa)",
            why=f"Object F1 (or class kappa) against the other annotators below "
            f"{policy.min_agreement}, judged on at least {MIN_ITEMS} shared items.",
        )
    ]


def integrity(
    snap: Snapshot, policy: Policy, examples: int, verified: VerifyResult | None
) -> list[Finding] | None:
    """The integrity part of ``lineage verify`` (run by ``Repo.audit``): stored files
    match their hashes, the transaction chain holds, and each version kept its
    ancestors' files. None: not verified (the work state has no commit to verify)."""
    if snap.commit is None:
        return []
    if verified is None:
        return None
    result = verified
    where = [p.file or p.txn_id or p.commit or p.check for p in result.problems]
    return [
        Finding(
            check="integrity",
            title="Stored segments match their hashes; versions are append-only",
            severity=policy.severity.get("integrity", "error"),
            subject="file",
            count=len(result.problems),
            examples=where[:examples],
            sql="-- not a query: run `lineage verify --rev "
            f"{snap.rev or snap.commit[:10]}` for every problem",
            why="A file that does not match its recorded hash, a broken hash chain, or a "
            "version that dropped an ancestor's files means the store was corrupted or "
            "rewritten.",
        )
    ]
