"""Dataset health sections on a hand-built store, with exact counts."""

from __future__ import annotations

import pytest

from lineage.audit.health import SECTIONS, degenerate_sql, duplicates_sql
from lineage.errors import InputError
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl


def asset(asset_id, split=None, tags=None, width=100, height=100):
    rec = {"record": "asset", "asset_id": asset_id, "width": width, "height": height}
    if split:
        rec["split"] = split
    if tags:
        rec["tags"] = tags
    return rec


def box(label_id, asset_id, cls, bbox, who="alice", **extra):
    return {"label_id": label_id, "asset_id": asset_id, "class_name": cls, "bbox": bbox,
            "annotator_id": who, **extra}  # fmt: skip


RECORDS = [
    asset("a.jpg", "train", ["night", "blur"]),
    asset("b.jpg", "train", ["night"]),
    asset("c.jpg", "val"),
    asset("e.jpg", "val"),  # no labels
    box("dup1", "a.jpg", "car", [0, 0, 10, 10], attributes={"occluded": True}),
    box("dup2", "a.jpg", "car", [0, 0, 10, 10.1]),  # IoU 100/101 with dup1: a duplicate
    box("near", "a.jpg", "car", [0, 0, 10, 11]),  # IoU 100/110 with dup1: not one
    box("flat", "a.jpg", "car", [50, 50, 0, 10]),  # zero area
    box("edge", "a.jpg", "person", [95, 0, 10, 10], attributes={"truncated": True, "occluded": False}),
    box("dot", "b.jpg", "person", [10, 10, 1, 1], "bob"),  # tiny
    box("gone", "c.jpg", "bike", [200, 200, 10, 10], "bob", attributes={"difficult": 1}),
    box("other", "a.jpg", "car", [0, 0, 10, 10], "bob"),  # same box as dup1, by bob
    box("nosize", "x.jpg", "car", [0, 0, 10, 10], "bob"),  # asset never registered
    {"label_id": "scene", "asset_id": "c.jpg", "class_name": "car", "annotator_id": "bob"},
]  # fmt: skip


@pytest.fixture(scope="module")
def health_repo(tmp_path_factory):
    """One store for the read-only tests of this module (a git + DVC init is dear)."""
    root = tmp_path_factory.mktemp("health")
    make_git(root / "repo")
    repo = Repo.init(root / "repo")
    # c.jpg's size comes in a later import: an import refuses a box outside a known
    # image, but the stats must still find one that an earlier import let in
    first = [r for r in RECORDS if r.get("asset_id") != "c.jpg" or "record" not in r]
    later = [r for r in RECORDS if r.get("asset_id") == "c.jpg" and "record" in r]
    repo.import_("native", write_jsonl(root / "labels.jsonl", first))
    repo.import_("native", write_jsonl(root / "assets.jsonl", later), mode="patch")
    return repo


@pytest.fixture(scope="module")
def health(health_repo):
    return health_repo.stats()


def rows(health, section, key):
    return {r[key]: r for r in health[section].to_pylist()}


def test_sections_in_order(health):
    assert tuple(health) == SECTIONS


def test_classes_and_splits(health):
    classes = rows(health, "classes", "class_name")
    assert {k: v["labels"] for k, v in classes.items()} == {"car": 7, "person": 2, "bike": 1}
    assert classes["car"]["assets"] == 3 and classes["car"]["share"] == 0.7
    splits = rows(health, "splits", "split")
    assert splits["train"] == {"split": "train", "assets": 2, "labelled_assets": 2, "labels": 7}
    assert splits["val"] == {"split": "val", "assets": 2, "labelled_assets": 1, "labels": 2}
    assert splits[None]["labels"] == 1  # x.jpg: labelled, never registered
    by_split = {
        (r["class_name"], r["split"]): r["labels"] for r in health["classes_by_split"].to_pylist()
    }
    assert by_split == {("car", "train"): 5, ("car", "val"): 1, ("car", None): 1,
                        ("person", "train"): 2, ("bike", "val"): 1}  # fmt: skip
    [imbalance] = health["imbalance"].to_pylist()
    assert imbalance == {"classes": 3, "most_common": "car", "most_labels": 7,
                         "least_common": "bike", "least_labels": 1, "imbalance_ratio": 7.0}  # fmt: skip


def test_labels_per_asset(health):
    [per] = health["labels_per_asset"].to_pylist()
    # a: 6, b: 1, c: 2, e: 0, x: 1
    assert per == {"assets": 5, "min": 0, "mean": 2.0, "median": 1.0, "max": 6}
    hist = {r["bucket"]: r["assets"] for r in health["labels_per_asset_histogram"].to_pylist()}
    assert hist == {"0": 1, "1": 2, "2": 1, "5-8": 1}


def test_coverage(health):
    cov = {(r["kind"], r["name"]): r for r in health["coverage"].to_pylist()}
    assert cov["attribute", "occluded"]["annotated"] == 2  # one true, one false
    assert cov["attribute", "occluded"]["count"] == 1
    assert cov["attribute", "truncated"]["count"] == 1
    assert cov["attribute", "difficult"]["count"] == 1  # 1 counts as set
    assert cov["attribute", "occluded"]["share"] == 0.1
    assert cov["tag", "night"]["count"] == 2 and cov["tag", "night"]["share"] == 0.4
    assert cov["tag", "blur"]["count"] == 1


def test_degenerate_geometry(health):
    found = {r["problem"]: (r["labels"], r["examples"]) for r in health["degenerate"].to_pylist()}
    assert found == {
        "zero_area": (1, ["flat"]),
        "tiny": (1, ["dot"]),
        "partly_outside_image": (1, ["edge"]),
        "fully_outside_image": (1, ["gone"]),
        "no_image_size": (1, ["nosize"]),
    }


def test_degenerate_sql_lists_every_label(health_repo):
    with health_repo.at(None) as snap:
        listed = snap.sql(degenerate_sql()).fetchall()  # runs as user SQL too
    assert ("tiny", "dot", "b.jpg") in listed and len(listed) == 5


def test_duplicates(health, health_repo):
    [car] = health["duplicates"].to_pylist()
    # dup1~dup2 (same annotator); dup1~other and dup2~other (alice and bob)
    assert car["class_name"] == "car" and car["pairs"] == 3
    assert car["same_annotator_pairs"] == 1 and car["cross_annotator_pairs"] == 2
    assert car["examples"] == ["dup1~dup2", "dup1~other", "dup2~other"]
    with health_repo.at(None) as snap:
        pairs = snap.sql(duplicates_sql()).fetchall()
    same = [p for p in pairs if p[7]]
    assert [(p[3], p[4]) for p in same] == [("dup1", "dup2")]
    assert same[0][8] == pytest.approx(100 / 101)


def test_unlabelled_assets(health):
    split = rows(health, "unlabelled_assets", "split")
    assert split["val"]["unlabelled"] == 1 and split["val"]["examples"] == ["e.jpg"]
    assert split["val"]["share"] == 0.5
    assert split["train"]["unlabelled"] == 0 and split["train"]["examples"] == []


def test_empty_store(repo):
    health = repo.stats()
    assert health["classes"].num_rows == 0
    assert health["imbalance"].num_rows == 0
    assert [r["labels"] for r in health["degenerate"].to_pylist()] == [0] * 5


def test_images_marked_empty_are_not_unlabelled(repo, tmp_path):
    """A native asset line with "empty": true says the image was looked at and holds
    nothing to label: stats counts it apart, and the audit does not list it."""
    lines = [
        {"record": "asset", "asset_id": "busy.jpg", "width": 50, "height": 50, "split": "val"},
        {"record": "asset", "asset_id": "blank.jpg", "width": 50, "height": 50, "split": "val",
         "empty": True},
        {"record": "asset", "asset_id": "forgot.jpg", "width": 50, "height": 50, "split": "val"},
        {"asset_id": "busy.jpg", "class_name": "car", "bbox": [1, 1, 10, 10]},
    ]  # fmt: skip
    repo.import_("native", write_jsonl(tmp_path / "l.jsonl", lines))
    (row,) = repo.stats()["unlabelled_assets"].to_pylist()
    assert (row["assets"], row["unlabelled"], row["marked_empty"]) == (3, 1, 1)
    assert row["examples"] == ["forgot.jpg"]
    result = repo.audit(None)
    (finding,) = [f for f in result.findings if f.check == "coverage.unlabelled"]
    assert finding.examples == ["forgot.jpg"]
    bad = [{"record": "asset", "asset_id": "x.jpg", "empty": "yes"}]
    with pytest.raises(InputError, match="empty must be true or false"):
        repo.import_("native", write_jsonl(tmp_path / "bad.jsonl", bad))
