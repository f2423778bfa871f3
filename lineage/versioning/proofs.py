"""RFC 9162 proofs over a version's transaction chain: that a later version only
appended to an earlier one (consistency), and that a label's transaction is in a
version's tree (inclusion)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lineage.errors import InputError, IntegrityError
from lineage.store import merkle
from lineage.store.layout import Layout
from lineage.versioning import gitrepo
from lineage.versioning.manifests import commit_of, leaves, manifest, read_chain

if TYPE_CHECKING:
    from git import Commit, Repo


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 proof that the tree at ``since`` (``first_size`` leaves) is a prefix of
    the tree at the revision (``second_size`` leaves)."""

    since: str
    first_size: int
    second_size: int
    first_root: str
    second_root: str
    proof: list[str]
    verified: bool


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 audit path of the transaction holding a label's current revision."""

    label_id: str
    revision: int
    txn_id: str
    segment: str | None
    segment_sha256: str | None
    leaf: str
    leaf_index: int
    tree_size: int
    proof: list[str]
    root: str
    verified: bool


def consistency(name: str, old: list[dict], new: list[dict]) -> ConsistencyProof:
    first, second = leaves(old), leaves(new)
    first_root, second_root = merkle.root(first), merkle.root(second)
    if len(first) <= len(second):
        proof = merkle.consistency_proof(second, len(first))
        ok = merkle.verify_consistency(len(first), len(second), first_root, second_root, proof)
    else:
        proof, ok = [], False
    return ConsistencyProof(
        name,
        len(first),
        len(second),
        first_root.hex(),
        second_root.hex(),
        [p.hex() for p in proof],
        ok,
    )


def consistency_proof(
    layout: Layout, git: Repo, since_tag: str, rev: str | None = None
) -> ConsistencyProof:
    """RFC 9162 consistency proof that ``rev`` (default HEAD) only appended to ``since_tag``."""
    _, old_files = manifest(layout, gitrepo.resolve(git, since_tag))
    commit = commit_of(git, rev)
    if commit is None:
        raise InputError("the repository has no commits yet", field="rev")
    _, new_files = manifest(layout, commit)
    return consistency(since_tag, read_chain(layout, old_files), read_chain(layout, new_files))


def inclusion_proof(
    layout: Layout, commit: Commit, label_id: str, revision: int, txn_id: str, rev: str
) -> InclusionProof:
    """RFC 9162 inclusion proof of transaction ``txn_id``, which wrote revision
    ``revision`` of ``label_id`` in ``commit`` (named ``rev``), plus the segment (and
    its SHA-256) holding it. ``Repo.inclusion_proof`` finds the label's current revision."""
    _, files = manifest(layout, commit)
    rows = read_chain(layout, files)
    index = next((i for i, r in enumerate(rows) if r["txn_id"] == txn_id), None)
    if index is None:
        raise IntegrityError(
            f"transaction {txn_id} of label {label_id} is not in the transactions of {rev}"
        )
    leaf_data = leaves(rows)
    tree = merkle.MerkleTree(leaf_data)
    proof = tree.inclusion_proof(index)
    seg = next((s for s in rows[index].get("segments") or [] if s["table"] == "label_events"), None)
    return InclusionProof(
        label_id=label_id,
        revision=int(revision),
        txn_id=txn_id,
        segment=seg["path"] if seg else None,
        segment_sha256=seg["sha256"] if seg else None,
        leaf=leaf_data[index].hex(),
        leaf_index=index,
        tree_size=tree.size,
        proof=[p.hex() for p in proof],
        root=tree.root.hex(),
        verified=merkle.verify_inclusion(leaf_data[index], index, tree.size, proof, tree.root),
    )
