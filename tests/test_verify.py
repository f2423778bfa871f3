"""lineage verify: file hashes, the hash chain, append-only history, rewritten history
against an earlier tag, Merkle proofs, the readers' md5 check and repair from a remote."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lineage.errors import InputError, IntegrityError
from lineage.repo import Repo
from lineage.store import chain, merkle
from lineage.store import schema as schemas
from lineage.store.integrity import check_segments
from lineage.versioning import dvcstore, gitrepo
from lineage.versioning.revision import resolve
from tests.conftest import write_jsonl

BATCHES = [
    [
        {"asset_id": "a.jpg", "class_name": "car", "bbox": [10, 10, 50, 40], "annotator_id": "al"},
        {"asset_id": "b.jpg", "class_name": "bike", "bbox": [1, 1, 9, 9], "annotator_id": "bo"},
    ],
    [{"asset_id": "c.jpg", "class_name": "person", "bbox": [5, 5, 20, 60], "annotator_id": "cy"}],
    [{"asset_id": "d.jpg", "class_name": "car", "bbox": [0, 0, 30, 30], "annotator_id": "di"}],
]


def build(repo: Repo, tmp_path: Path, n: int = 3) -> Repo:
    """Versions v1..vn, one patch import each (v1 also holds the guideline)."""
    for i, batch in enumerate(BATCHES[:n], start=1):
        src = write_jsonl(tmp_path / f"b{i}.jsonl", batch)
        repo.import_("native", src, guideline="v1", mode="patch")
        repo.commit(f"batch {i}", tag=f"v{i}")
    return repo


def segment(repo: Repo, table: str, rev: str = "HEAD", newest: bool = False):
    segs = [s for s in resolve(repo.layout, repo.commits, rev).segments if s.table == table]
    return segs[-1] if newest else segs[0]


def flip_byte(path: Path, offset: int | None = None, keep_mtime: bool = False) -> None:
    """Corrupt one byte; ``keep_mtime`` restores the times, as bit rot leaves them."""
    st = path.stat()
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def chain_rows(repo: Repo, rev: str = "HEAD") -> list[dict]:
    rows = []
    for s in resolve(repo.layout, repo.commits, rev).segments:
        if s.table == "transactions":
            rows += pq.read_table(s.path).to_pylist()
    return sorted(rows, key=lambda r: r["txn_id"])


# ------------------------------------------------------------------ a later git commit


def rewrite_store(repo: Repo, edit, *, orphan: bool = False) -> str:
    """Check out HEAD's store, let ``edit(store_dir)`` change files in place, then
    ``dvc add`` and git-commit it (as a root commit when ``orphan``: history rewritten)."""
    layout = repo.layout
    dvcstore.checkout(layout.root, layout.store_name)
    for f in layout.store.rglob("*.parquet"):
        os.chmod(f, 0o644)
    edit(layout.store)
    dvcstore.add(layout.root, layout.store_name)
    if not orphan:
        return gitrepo.commit_paths(repo.git, [layout.dvc_file.name], "tidy up")
    repo.git.index.add([layout.dvc_file.name])
    return repo.git.index.commit("tidy up", parent_commits=[], head=True).hexsha


def write_table(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path, compression="zstd")


def alter_annotator(store: Path, relink: bool) -> None:
    """Change an annotator id in the oldest label segment; with ``relink``, also update
    the SHA-256 its transactions recorded and recompute the whole chain, as a careful
    forger would."""
    seg = sorted((store / "label_events").glob("*.parquet"))[0]
    t = pq.read_table(seg)
    ids = t.column("annotator_id").to_pylist()
    ids[0] = "mallory"
    write_table(
        seg,
        t.set_column(
            t.schema.get_field_index("annotator_id"), "annotator_id", pa.array(ids, pa.string())
        ),
    )
    if not relink:
        return
    from lineage.store.files import sha256

    digest = sha256(seg)
    files = sorted((store / "transactions").glob("*.parquet"))
    rows = {f: pq.read_table(f).to_pylist() for f in files}
    flat = sorted((r for rs in rows.values() for r in rs), key=lambda r: r["txn_id"])
    for r in flat:
        for s in r["segments"]:
            if s["path"] == f"label_events/{seg.name}":
                s["sha256"] = digest
    linked = {r["txn_id"]: r for r in chain.link(flat, None)}
    for f, rs in rows.items():
        table = pa.Table.from_pylist(
            [linked[r["txn_id"]] for r in rs], schemas.schema("transactions")
        )
        write_table(f, table)


# ------------------------------------------------------------------ tests: intact store


def test_intact_store_verifies_with_merkle_root_over_txn_hashes(repo, tmp_path):
    build(repo, tmp_path)
    result = repo.verify()
    assert result.ok, result.problems
    rows = chain_rows(repo)
    assert result.transactions == len(rows) == 4  # guideline + 3 imports
    assert result.root == merkle.root([bytes.fromhex(r["hash"]) for r in rows]).hex()
    assert [c.since for c in result.consistency] == ["v1", "v2"]
    assert all(c.verified for c in result.consistency)
    assert repo.verify(rev="v1").transactions == 2


def test_empty_repository_verifies(tmp_path):
    from tests.conftest import make_git

    make_git(tmp_path / "r")
    r = Repo.init(tmp_path / "r")
    result = r.verify()
    assert result.ok and result.commit is None and result.transactions == 0


# ------------------------------------------------------------------ tests: corruption


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cache_segment_is_named_with_its_transaction(repo, tmp_path, damage):
    build(repo, tmp_path, 1)
    seg = segment(repo, "label_events")
    txns = {r["txn_id"] for r in chain_rows(repo)}
    if damage == "flip":
        flip_byte(seg.path)
    else:
        os.chmod(seg.path, 0o644)
        seg.path.write_bytes(seg.path.read_bytes()[:100])
    result = repo.verify()
    assert not result.ok
    (p,) = result.failed("files")
    assert p.file == seg.relpath
    assert p.txn_id and set(p.txn_id.split(", ")) == txns
    assert "does not match its md5" in p.message


def test_corrupt_transactions_file_is_detected(repo, tmp_path):
    build(repo, tmp_path, 1)
    seg = segment(repo, "transactions")
    flip_byte(seg.path)
    result = repo.verify()
    assert [p.file for p in result.failed("files")] == [seg.relpath]
    assert result.transactions == 0  # the chain is not read from a corrupt file


def test_corrupt_work_tree_copy_is_detected(repo, tmp_path):
    build(repo, tmp_path, 1)
    seg = segment(repo, "label_events")
    work = repo.layout.store / seg.relpath
    flip_byte(work)
    (p,) = repo.verify().failed("files")
    assert p.file == f"annotations/{seg.relpath}" and "work-tree copy" in p.message
    assert repo.verify(rev="v1").ok is False  # v1 is HEAD


def test_corrupt_directory_manifest_is_detected(repo, tmp_path):
    build(repo, tmp_path, 1)
    from lineage.versioning.gitrepo import read_blob

    dir_md5 = dvcstore.dir_md5(read_blob(repo.git.head.commit, "annotations.dvc"), "HEAD")
    path = dvcstore.cache_path(repo.root, dir_md5)
    os.chmod(path, 0o644)
    entries = json.loads(path.read_text())
    entries[0]["md5"] = "0" * 32  # still valid JSON: points a segment elsewhere
    path.write_text(json.dumps(entries))
    with pytest.raises(IntegrityError, match="does not match its md5"):
        repo.verify()  # no file of it can be trusted: nothing further is checked
    path.write_text("{not json")
    with pytest.raises(IntegrityError, match="corrupt"):
        repo.verify()


def test_readers_refuse_a_corrupt_segment(repo, tmp_path):
    build(repo, tmp_path, 1)
    segs = resolve(repo.layout, repo.commits, "HEAD").segments
    check_segments(repo.layout, segs)  # intact: remembered
    memo = json.loads((repo.layout.work / "intact.json").read_text())
    assert {str(s.path) for s in segs} <= set(memo)
    seg = segment(repo, "label_events")
    flip_byte(seg.path, keep_mtime=True)  # a rewrite that hides behind the old mtime
    with pytest.raises(IntegrityError, match=seg.relpath) as err:
        check_segments(repo.layout, segs)
    assert seg.segment_id in str(err.value) and err.value.exit_code == 1


def test_repair_fetches_good_copies_from_the_remote(repo, tmp_path):
    build(repo, tmp_path, 2)
    repo.remote_add("backup", str(tmp_path / "remote"))
    repo.push()
    old = segment(repo, "label_events", "v1")
    work_seg = segment(repo, "label_events", newest=True)
    flip_byte(old.path, keep_mtime=True)
    flip_byte(repo.layout.store / work_seg.relpath, keep_mtime=True)
    assert not repo.verify().ok
    fixed = repo.repair()
    assert fixed.failed == []
    assert sorted(fixed.repaired) == sorted([old.relpath, f"annotations/{work_seg.relpath}"])
    assert repo.verify().ok and repo.verify(rev="v1").ok


def test_repair_reports_what_the_remote_lacks(repo, tmp_path):
    build(repo, tmp_path, 1)
    repo.remote_add("backup", str(tmp_path / "remote"))  # never pushed
    seg = segment(repo, "label_events")
    flip_byte(seg.path)
    fixed = repo.repair()
    assert fixed.repaired == [] and fixed.failed == [seg.relpath]


# ------------------------------------------------------------------ tests: tampering


def test_segment_replaced_in_a_later_commit(repo, tmp_path):
    build(repo, tmp_path, 2)
    rewrite_store(repo, lambda store: alter_annotator(store, relink=False))
    result = repo.verify()
    assert result.failed("files")[0].message.startswith("label_events/")
    assert "SHA-256 recorded by transaction" in result.failed("files")[0].message
    assert "replaced label_events/" in result.failed("append-only")[0].message


def test_forged_chain_is_caught_by_append_only_and_by_the_tag(repo, tmp_path):
    build(repo, tmp_path, 2)
    rewrite_store(repo, lambda store: alter_annotator(store, relink=True))
    result = repo.verify()
    assert not result.failed("files") and not result.failed("chain")  # a consistent forgery
    assert result.failed("append-only")
    history = result.failed("history")  # v1's first transaction, as recorded at v1 and v2
    assert [p.message.split(", recorded at ")[1][:2] for p in history] == ["v1", "v2"]
    assert all("was altered" in p.message for p in history)


def test_rewritten_git_history_is_caught_against_an_earlier_tag(repo, tmp_path):
    build(repo, tmp_path, 2)
    rewrite_store(repo, lambda store: alter_annotator(store, relink=True), orphan=True)
    plain = repo.verify()  # the rewritten history is self-consistent, but its tags left it
    assert not plain.failed("files") and not plain.failed("chain")
    assert sorted(p.message.split()[1] for p in plain.failed("history")) == ["v1", "v2"]
    assert all("is not on the history of HEAD" in p.message for p in plain.failed("history"))
    result = repo.verify(since="v1")  # ... and not consistent with the tag published before
    assert not result.ok
    assert "recorded at v1, was altered" in result.failed("history")[0].message
    proof = repo.consistency_proof("v1")
    assert not proof.verified
    assert repo.consistency_proof("v1", "v2").verified  # the untouched tags still agree


def test_transaction_removed_breaks_the_chain_at_the_next_one(repo, tmp_path):
    build(repo, tmp_path, 1)
    rows = chain_rows(repo)

    def drop_first(store: Path) -> None:
        (f,) = (store / "transactions").glob("*.parquet")
        t = pq.read_table(f)
        write_table(f, t.slice(1))

    rewrite_store(repo, drop_first)
    result = repo.verify()
    (p,) = result.failed("chain")
    assert p.txn_id == rows[1]["txn_id"] and "does not link" in p.message
    assert result.failed("append-only")


def test_altered_transaction_record_breaks_the_chain_there(repo, tmp_path):
    build(repo, tmp_path, 2)
    target = chain_rows(repo)[1]["txn_id"]

    def alter_author(store: Path) -> None:
        for f in (store / "transactions").glob("*.parquet"):
            rows = pq.read_table(f).to_pylist()
            for r in rows:
                if r["txn_id"] == target:
                    r["author"] = "someone-else@example.org"
            write_table(f, pa.Table.from_pylist(rows, schemas.schema("transactions")))

    rewrite_store(repo, alter_author)
    (p,) = repo.verify().failed("chain")
    assert p.txn_id == target and "altered" in p.message


def test_unrecorded_segment_is_reported(repo, tmp_path):
    build(repo, tmp_path, 1)

    def smuggle(store: Path) -> None:
        src = sorted((store / "label_events").glob("*.parquet"))[0]
        (store / "label_events" / "s99999999T000000000000-evil00.parquet").write_bytes(
            src.read_bytes()
        )

    rewrite_store(repo, smuggle)
    (p,) = repo.verify().failed("files")
    assert "not recorded by any transaction" in p.message and "evil00" in p.file


# ------------------------------------------------------------------ tests: Merkle proofs


def test_inclusion_proof_for_a_label(repo, tmp_path):
    build(repo, tmp_path)
    with repo.at("v3") as snap:
        label_id, txn = snap.sql(
            "select label_id, txn_id from labels where asset_id = 'c.jpg'"
        ).fetchall()[0]
    p = repo.inclusion_proof(label_id, "v3")
    rows = chain_rows(repo, "v3")
    assert p.txn_id == txn and p.tree_size == len(rows) and p.revision == 1
    assert p.leaf == rows[p.leaf_index]["hash"] and p.root == repo.verify("v3").root
    proof = [bytes.fromhex(h) for h in p.proof]
    root = bytes.fromhex(p.root)
    assert merkle.verify_inclusion(bytes.fromhex(p.leaf), p.leaf_index, p.tree_size, proof, root)
    bad = [bytes(32)] + proof[1:]
    assert not merkle.verify_inclusion(bytes.fromhex(p.leaf), p.leaf_index, p.tree_size, bad, root)
    # the label is not in v1
    with pytest.raises(InputError, match=label_id):
        repo.inclusion_proof(label_id, "v1")


def test_consistency_proof_between_tags(repo, tmp_path):
    build(repo, tmp_path)
    p = repo.consistency_proof("v1", "v3")
    assert (p.first_size, p.second_size, p.verified) == (2, 4, True)
    assert p.first_root == repo.verify("v1").root and p.second_root == repo.verify("v3").root
    # v3 -> v1 is not an append
    assert not repo.consistency_proof("v3", "v1").verified


# ------------------------------------------------------------------ tests: CLI


def test_cli_verify_exit_codes_and_output(repo, tmp_path, cli):
    build(repo, tmp_path, 2)
    ok = cli(repo.root, "verify", "--since", "v1", "--format", "json")
    assert ok.exit_code == 0, ok.output
    rows = json.loads(ok.stdout)
    assert {r["check"] for r in rows} >= {"files", "chain", "append-only", "history", "merkle"}
    (cons,) = [r for r in rows if r["check"] == "consistency"]
    assert cons["status"] == "ok" and isinstance(cons["proof"], list)
    assert "Verified HEAD" in ok.stderr

    with repo.at("v2") as snap:
        label_id = snap.sql("select label_id from labels limit 1").fetchall()[0][0]
    proof = cli(repo.root, "verify", "--proof", label_id, "--format", "csv")
    assert proof.exit_code == 0 and "inclusion,ok" in proof.stdout

    unknown = cli(repo.root, "verify", "--proof", "nope")
    assert unknown.exit_code == 2 and "no label 'nope'" in unknown.stderr

    seg = segment(repo, "label_events")
    flip_byte(seg.path)
    bad = cli(repo.root, "verify", "--format", "csv")
    assert bad.exit_code == 1
    assert f"files,FAILED,{seg.relpath} does not match its md5" in bad.stdout
    assert "FAILED" in bad.stderr

    corrupt = cli(repo.root, "verify", "--proof", label_id, "--format", "csv")
    assert corrupt.exit_code == 1 and "inclusion,FAILED,no proof" in corrupt.stdout
    with pytest.raises(IntegrityError, match=f"segment {seg.relpath} is corrupt"):
        repo.inclusion_proof(label_id)  # never a proof over a corrupt store


def test_cli_pull_repairs_a_corrupt_cache_file(repo, tmp_path, cli):
    build(repo, tmp_path, 1)
    repo.remote_add("backup", str(tmp_path / "remote"))
    repo.push()
    seg = segment(repo, "label_events")
    flip_byte(seg.path, keep_mtime=True)  # DVC trusts its state db: its own pull skips it
    assert cli(repo.root, "verify").exit_code == 1
    res = cli(repo.root, "pull")
    assert res.exit_code == 0, res.output
    assert f"repaired {seg.relpath}" in res.stderr
    assert cli(repo.root, "verify").exit_code == 0


def test_checkpoint_files_are_covered(repo, tmp_path):
    build(repo, tmp_path, 2)
    repo.compact(tag="c1")
    result = repo.verify()
    assert result.ok, result.problems
    (cp,) = [
        s for s in resolve(repo.layout, repo.commits, "HEAD").segments if s.table == "checkpoints"
    ]
    claimed = {s["path"] for r in chain_rows(repo) for s in r["segments"]}
    assert cp.relpath in claimed  # its SHA-256 is in the chain

    def forge(store: Path) -> None:
        f = store / cp.relpath
        t = pq.read_table(f)
        write_table(f, t.slice(1))  # a label silently dropped from the checkpoint

    rewrite_store(repo, forge)
    problems = repo.verify().failed("files")
    assert any(p.file == cp.relpath and "SHA-256 recorded" in p.message for p in problems)
