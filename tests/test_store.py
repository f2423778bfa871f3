"""The label store end to end through the Python API, on real git + DVC repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lineage.errors import InputError, RepoError
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl

V1 = [
    {"asset_id": "a.jpg", "class_name": "car", "bbox": [10, 10, 50, 40], "annotator_id": "alice"},
    {
        "asset_id": "a.jpg",
        "class_name": "person",
        "bbox": [100, 10, 20, 60],
        "annotator_id": "alice",
    },
    {
        "asset_id": "b.jpg",
        "class_name": "bike",
        "polygon": [[0, 0, 10, 0, 10, 10, 0, 10]],
        "annotator_id": "bob",
    },
]


def labels_of(repo: Repo, rev: str | None) -> dict[str, dict]:
    with repo.at(rev) as snap:
        rows = snap.sql("select * from labels").fetchall()
        cols = snap.sql("select * from labels").columns
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}


def three_versions(repo: Repo, tmp_path: Path) -> dict:
    """v1: three labels; v2: one moved, one reviewed; v3: one deleted, one added."""
    repo.import_("native", write_jsonl(tmp_path / "v1.jsonl", V1), guideline="v1")
    repo.commit("batch 1", tag="v1")
    ids = {r["class_name"]: lid for lid, r in labels_of(repo, "v1").items()}
    write_jsonl(
        tmp_path / "v2.jsonl",
        [
            {
                "label_id": ids["car"],
                "asset_id": "a.jpg",
                "class_name": "car",
                "bbox": [12, 10, 50, 40],
                "annotator_id": "carol",
            },
        ],
    )
    repo.import_("native", tmp_path / "v2.jsonl", guideline="v1", mode="patch")
    repo.add_review(ids["car"], pass_=1, reviewer="dave", verdict="accept")
    repo.commit("batch 2", tag="v2")
    write_jsonl(
        tmp_path / "v3.jsonl",
        [
            {"label_id": ids["person"], "asset_id": "a.jpg", "op": "delete"},
            {"asset_id": "c.jpg", "class_name": "car", "bbox": [1, 1, 5, 5], "annotator_id": "bob"},
        ],
    )
    repo.import_("native", tmp_path / "v3.jsonl", guideline="v1", mode="patch")
    repo.commit("batch 3", tag="v3")
    return ids


def test_three_versions(repo, tmp_path):
    ids = three_versions(repo, tmp_path)
    assert len(labels_of(repo, "v1")) == 3
    assert len(labels_of(repo, "v2")) == 3
    assert len(labels_of(repo, "v3")) == 3
    with repo.at("v3") as snap:
        revs = snap.sql(
            f"select revision, op, bbox.x from label_events where label_id = '{ids['car']}' "
            "order by revision"
        ).fetchall()
        assert revs == [(1, "create", 10.0), (2, "update", 12.0)]
        deleted = snap.sql(
            f"select op from label_events where label_id = '{ids['person']}' order by revision"
        ).fetchall()
        assert deleted == [("create",), ("delete",)]
        assert ids["person"] not in {
            r[0] for r in snap.sql("select label_id from labels").fetchall()
        }
        # the review applies to the revision current when it was recorded
        assert snap.sql("select label_id, revision, verdict from reviews").fetchall() == [
            (ids["car"], 2, "accept")
        ]
    # v1 is untouched by later versions
    assert labels_of(repo, "v1")[ids["car"]]["bbox"]["x"] == 10.0
    # HEAD~2 is v1, read without checkout
    assert set(labels_of(repo, "HEAD~2")) == set(labels_of(repo, "v1"))


def test_append_only(repo, tmp_path):
    three_versions(repo, tmp_path)
    segs = {}
    for tag in ("v1", "v2", "v3"):
        with repo.at(tag) as snap:
            segs[tag] = {(s.table, s.segment_id, s.md5) for s in snap.files.segments}
    assert segs["v1"] < segs["v2"] < segs["v3"]


def test_label_lineage_shows_current_revision_reviews(repo, tmp_path):
    ids = three_versions(repo, tmp_path)
    with repo.at("v2") as snap:
        row = snap.sql(
            f"select review_passes, latest_verdict, annotator_id from label_lineage "
            f"where label_id = '{ids['car']}'"
        ).fetchall()[0]
    assert row == (1, "accept", "carol")


def test_unchanged_reimport_stages_nothing(repo, tmp_path):
    path = write_jsonl(
        tmp_path / "x.jsonl", [{**r, "label_id": f"{i:016x}"} for i, r in enumerate(V1)]
    )
    first = repo.import_("native", path, guideline="v1")
    assert first.created == 3
    repo.commit("one")
    again = repo.import_("native", path, guideline="v1")
    assert again.txn_id is None and again.created == again.updated == again.deleted == 0
    assert repo.status().staged == []


def test_snapshot_mode_deletes_missing_labels_on_imported_assets(repo, tmp_path):
    path = write_jsonl(
        tmp_path / "x.jsonl", [{**r, "label_id": f"{i:016x}"} for i, r in enumerate(V1)]
    )
    repo.import_("native", path, guideline="v1")
    repo.commit("one")
    write_jsonl(tmp_path / "y.jsonl", [{**V1[0], "label_id": f"{0:016x}"}])
    # a native file naming label ids is a patch by default: nothing is deleted ...
    res = repo.import_("native", tmp_path / "y.jsonl", guideline="v1", dry_run=True)
    assert (res.mode, res.created, res.updated, res.deleted) == ("patch", 0, 0, 0)
    # ... unless the import asks for a snapshot of a.jpg
    res = repo.import_("native", tmp_path / "y.jsonl", guideline="v1", mode="snapshot")
    assert (res.created, res.updated, res.deleted, res.deleted_assets) == (0, 0, 1, 1)
    assert set(labels_of(repo, None)) == {f"{0:016x}", f"{2:016x}"}


def test_snapshot_deletes_the_labels_of_an_image_the_file_lists_empty(repo, tmp_path):
    # "the file is the whole truth for the images it covers": an image a COCO file
    # lists with no annotations left (all boxes removed in the tool) loses its labels;
    # before, only images with a label in the file were looked at, so they stayed
    from tests.formats.contract import FIXTURES

    source = FIXTURES / "coco" / "instances.json"
    first = repo.import_("coco", source, guideline="v1")
    repo.commit("one")
    doc = json.loads(source.read_text())
    emptied = [a for a in doc["annotations"] if a["image_id"] == 12]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != 12]
    path = tmp_path / "emptied.json"
    path.write_text(json.dumps(doc))
    kept = repo.import_("coco", path, guideline="v1", mode="patch", dry_run=True)
    assert kept.deleted == 0
    res = repo.import_("coco", path, guideline="v1")
    assert (res.created, res.updated, res.deleted, res.deleted_assets) == (0, 0, len(emptied), 1)
    assert res.unchanged == first.created - len(emptied)


def test_several_revisions_in_one_file(repo, tmp_path):
    lid = "00000000000000aa"
    write_jsonl(
        tmp_path / "h.jsonl",
        [
            {"label_id": lid, "asset_id": "a.jpg", "class_name": "car", "bbox": [0, 0, 5, 5]},
            {"label_id": lid, "asset_id": "a.jpg", "class_name": "car", "bbox": [1, 0, 5, 5]},
            {"label_id": lid, "asset_id": "a.jpg", "class_name": "bike", "bbox": [1, 0, 5, 5]},
        ],
    )
    repo.import_("native", tmp_path / "h.jsonl", guideline="v1", mode="patch")
    with repo.at(None) as snap:
        rows = snap.sql(
            f"select revision, op, class_name from label_events where label_id='{lid}' "
            "order by revision"
        ).fetchall()
    assert rows == [(1, "create", "car"), (2, "update", "car"), (3, "update", "bike")]


def test_old_version_read_from_remote_when_cache_lacks_it(repo, tmp_path):
    three_versions(repo, tmp_path)
    remote = tmp_path / "remote"
    repo.remote_add("local", str(remote))
    repo.git.index.commit("remote")
    assert repo.push() > 0
    clone_dir = tmp_path / "clone"
    import git

    git.Repo.clone_from(repo.root, clone_dir)
    clone = Repo.open(clone_dir)
    # nothing is in the clone's cache: reading v1 fetches its segments from the remote
    assert not (clone_dir / ".dvc" / "cache").exists()
    assert len(labels_of(clone, "v1")) == 3
    with clone.at("v3") as snap:
        assert snap.sql("select count(*) from label_events").fetchall()[0][0] == 6


def test_a_clone_that_read_one_version_credits_each_label_to_its_own_version(repo, tmp_path):
    # the clone fetches v3's manifest to read it; the older versions' manifests must come
    # too, or every older segment is credited to v3 (found while testing reads in place)
    three_versions(repo, tmp_path)
    repo.remote_add("local", str(tmp_path / "remote"))
    repo.git.index.commit("remote")
    repo.push()
    import git

    git.Repo.clone_from(repo.root, tmp_path / "clone")
    clone = Repo.open(tmp_path / "clone")
    with repo.at("v3") as snap:  # the label moved in v2
        lid = snap.sql("select label_id from labels where revision = 2").fetchall()[0][0]
    ours = [(row["revision"], row["version"]) for row in repo.history(lid, "v3").to_pylist()]
    theirs = [(row["revision"], row["version"]) for row in clone.history(lid, "v3").to_pylist()]
    assert theirs == ours and len({v for _, v in ours}) == len(ours) > 1


def test_fresh_clone_pull_then_query(repo, tmp_path):
    three_versions(repo, tmp_path)
    repo.remote_add("local", str(tmp_path / "remote"))
    repo.git.index.commit("remote")
    repo.push()
    import git

    git.Repo.clone_from(repo.root, tmp_path / "clone2")
    clone = Repo.open(tmp_path / "clone2")
    assert clone.pull() > 0
    assert (tmp_path / "clone2" / "annotations").is_dir()
    assert len(labels_of(clone, "v2")) == 3


def test_init_twice_is_safe(tmp_path):
    make_git(tmp_path / "r")
    Repo.init(tmp_path / "r")
    Repo.init(tmp_path / "r")
    assert (tmp_path / "r" / "lineage.toml").exists()
    assert (tmp_path / "r" / ".gitignore").read_text().count("/.lineage/") == 1


def test_open_without_init(tmp_path):
    make_git(tmp_path / "r")
    with pytest.raises(RepoError, match="no lineage store"):
        Repo.open(tmp_path / "r")


def test_commit_with_nothing_staged(repo):
    repo.commit("guideline")
    with pytest.raises(RepoError, match="nothing staged"):
        repo.commit("again")


def test_schema_enforced_on_every_segment(repo, tmp_path):
    three_versions(repo, tmp_path)
    from lineage.store import schema as schemas

    for f in (repo.root / "annotations").rglob("*.parquet"):
        table = f.parent.name
        assert pq.read_schema(f).remove_metadata().equals(schemas.schema(table)), f


def test_transactions_record_sources_and_chain(repo, tmp_path):
    three_versions(repo, tmp_path)
    with repo.at("v3") as snap:
        rows = snap.sql(
            "select txn_id, kind, source_files, prev_hash, hash from transactions order by txn_id"
        ).fetchall()
    assert [r[1] for r in rows].count("import") == 3
    imports = [r for r in rows if r[1] == "import"]
    assert all(len(r[2]) == 1 and len(r[2][0]["sha256"]) == 64 for r in imports)
    for prev, cur in zip(rows, rows[1:], strict=False):
        assert cur[3] == prev[4]


def test_guideline_records_doc_hash(repo, tmp_path):
    doc = tmp_path / "g.pdf"
    doc.write_bytes(b"%PDF-1.4 guideline")
    repo.add_guideline("v2", classes=["car"], doc=doc)
    import hashlib

    with repo.at(None) as snap:
        row = snap.sql(
            "select doc_name, doc_sha256, classes from guidelines where version='v2'"
        ).fetchall()[0]
    assert row == ("g.pdf", hashlib.sha256(b"%PDF-1.4 guideline").hexdigest(), ["car"])


def test_review_of_unknown_label_stages_nothing(repo, tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("label_id,pass,reviewer_id,verdict\nnope,1,bob,accept\n")
    with pytest.raises(InputError) as err:
        repo.import_reviews(csv)
    assert str(err.value) == f"{csv}, line 2, field 'label_id': review of an unknown label 'nope'"
    assert len(repo.status().staged) == 1  # only the fixture's guideline


@pytest.mark.parametrize(
    "line, field, message",
    [
        (
            '{"asset_id": "a", "class_name": "car", "bbox": [1, 2, -3, 4]}',
            "bbox",
            "box width and height must not be negative",
        ),
        ('{"asset_id": "a", "bbox": [1, 2, 3, 4]}', "class_name", "class_name is required"),
        (
            '{"asset_id": "a", "class_name": "car", "source": "robot"}',
            "source",
            "'robot' is not one of human, model, assisted",
        ),
        (
            '{"asset_id": "a", "class_name": "car", "guideline_version": "v9"}',
            "guideline_version",
            "unknown guideline version 'v9'",
        ),
        ('{"asset_id": "a", "class_name": "car", "colour": "red"}', "colour", None),
        ('{"asset_id": "a", "class_name": "car", "bbox": [1, 2, "x", 4]}', "bbox", None),
    ],
)
def test_bad_line_is_named_and_nothing_staged(repo, tmp_path, line, field, message):
    good = json.dumps({"asset_id": "a", "class_name": "car", "bbox": [1, 2, 3, 4]})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good] * 99 + [line]) + "\n")
    before = repo.status().staged
    with pytest.raises(InputError) as err:
        repo.import_("native", path)
    assert err.value.file == str(path)
    assert err.value.record == "line 100"
    assert err.value.field == field
    if message:
        assert err.value.reason == message
    assert repo.status().staged == before


def test_bad_json_is_named(repo, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"asset_id": "a", "class_name": "car"}\n{"asset_id": \n')
    with pytest.raises(InputError) as err:
        repo.import_("native", path)
    assert err.value.record == "line 2" and "not valid JSON" in err.value.reason


def test_checkpoint_keeps_state_and_history(repo, tmp_path):
    ids = three_versions(repo, tmp_path)
    before = labels_of(repo, "v3")
    result = repo.compact(tag="cp")
    assert result.rows["checkpoints"] == len(before)
    assert labels_of(repo, "cp") == before
    with repo.at("cp") as snap:
        assert snap.files.checkpoint() is not None
        assert snap.sql("select count(*) from label_events").fetchall()[0][0] == 6
    # events after the checkpoint are applied over it
    write_jsonl(
        tmp_path / "v4.jsonl",
        [
            {
                "label_id": ids["car"],
                "asset_id": "a.jpg",
                "class_name": "truck",
                "bbox": [12, 10, 50, 40],
            },
            {"label_id": ids["bike"], "asset_id": "b.jpg", "op": "delete"},
        ],
    )
    repo.import_("native", tmp_path / "v4.jsonl", mode="patch")
    after = labels_of(repo, None)
    assert after[ids["car"]]["class_name"] == "truck" and after[ids["car"]]["revision"] == 3
    assert ids["bike"] not in after and len(after) == len(before) - 1


def test_commit_checkpoints_when_the_log_outgrows_the_labels(repo, tmp_path):
    (repo.root / "lineage.toml").write_text(
        '[store]\npath = "annotations"\ncheckpoint_ratio = 0.5\ncheckpoint_min_events = 1\n'
    )
    ids = three_versions(repo, tmp_path)  # 2 superseded events for 3 live labels by v3
    with repo.at("v2") as snap:
        assert snap.files.checkpoint() is None
    with repo.at("v3") as snap:
        assert snap.files.checkpoint() is not None
    assert ids["car"] in labels_of(repo, "v3")


def test_delete_of_an_unknown_label_is_named(repo, tmp_path):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"asset_id": "a.jpg", "class_name": "car", "bbox": [0, 0, 1, 1]},
            {"label_id": "00000000000000ff", "asset_id": "a.jpg", "op": "delete"},
        ],
    )
    with pytest.raises(InputError) as err:
        repo.import_("native", path)
    assert err.value.record == "line 2"
    assert err.value.field == "label_id"
    assert "does not exist" in err.value.reason
