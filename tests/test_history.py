"""history and blame: every revision with the reviews of each, and blame agrees."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from pycocotools import mask as mask_utils

from lineage.errors import InputError
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl

SQUARE = [[10, 10, 60, 10, 60, 60, 10, 60]]
SHIFTED = [[20, 15, 70, 15, 45, 65]]  # a triangle: its mask IoU is not its box IoU
H1, H2, H3, H4 = "00000000000000b1", "00000000000000b2", "00000000000000b3", "00000000000000b4"


def _poly(lid, cls, poly, **extra) -> dict:
    return {
        "label_id": lid,
        "asset_id": "img.jpg",
        "class_name": cls,
        "shape": "polygon",
        "polygon": poly,
        "external_id": "ext-1",
        "source": "human",
        **extra,
    }


@dataclass(frozen=True)
class Story:
    repo: Repo
    root: Path
    short: dict  # tag -> short commit SHA


def build_story(root: Path) -> Story:
    """H1: three revisions (v1, v2, staged) with reviews on the first and the last;
    H2: created in v1, deleted in v2; H3 and H4 share an external id."""
    make_git(root)
    repo = Repo.init(root)
    repo.add_guideline("v1", classes=["car", "person", "bike"])
    repo.add_guideline("v2", classes=["car", "person", "bike"])
    v1 = [
        {"record": "asset", "asset_id": "img.jpg", "width": 100, "height": 80},
        _poly(
            H1,
            "car",
            SQUARE,
            annotator_id="ann1",
            guideline_version="v1",
            attributes={"occluded": False, "color": "red"},
        ),
        {"label_id": H2, "asset_id": "img.jpg", "class_name": "bike", "bbox": [0, 0, 5, 5]},
        {"label_id": H3, "asset_id": "x.jpg", "class_name": "bike", "bbox": [0, 0, 5, 5]},
        {"label_id": H4, "asset_id": "y.jpg", "class_name": "bike", "bbox": [0, 0, 5, 5]},
    ]
    v1[3]["external_id"] = v1[4]["external_id"] = "dup"
    repo.import_("native", write_jsonl(root.parent / "v1.jsonl", v1), mode="patch")
    repo.add_review(H1, pass_=1, reviewer="rev1", verdict="accept")
    repo.add_review(H1, pass_=2, reviewer="rev2", verdict="reject", reason="too loose")
    repo.commit("v1", tag="v1")
    v2 = [
        _poly(
            H1,
            "person",
            SHIFTED,
            annotator_id="ann2",
            guideline_version="v2",
            attributes={"occluded": True, "truncated": True},
        ),
        {"label_id": H2, "asset_id": "img.jpg", "class_name": "bike", "op": "delete"},
    ]
    repo.import_("native", write_jsonl(root.parent / "v2.jsonl", v2), mode="patch")
    repo.commit("v2", tag="v2")
    v3 = [
        _poly(
            H1,
            "person",
            SHIFTED,
            annotator_id="det",
            source="model",
            model_version="m2",
            guideline_version="v2",
            attributes={"occluded": True, "truncated": True},
        )
    ]
    repo.import_("native", write_jsonl(root.parent / "v3.jsonl", v3), mode="patch")
    repo.add_review(H1, pass_=1, reviewer="rev3", verdict="accept")
    short = {t: repo.git.commit(t).hexsha[:10] for t in ("v1", "v2")}
    return Story(repo, root, short)


@functools.cache
def story() -> Story:
    tmp = Path(tempfile.mkdtemp(prefix="lineage-history-"))
    atexit.register(shutil.rmtree, tmp, True)
    return build_story(tmp / "repo")


def _history(repo, label_id=None, rev=None, **kw) -> list[dict]:
    with repo.history(label_id, rev, **kw) as rows:
        return rows.to_pylist()


def _coco_iou(a, b, height=80, width=100) -> float:
    """pycocotools' own polygon IoU, the oracle."""
    ra = mask_utils.merge(mask_utils.frPyObjects(a, height, width))
    rb = mask_utils.merge(mask_utils.frPyObjects(b, height, width))
    return float(mask_utils.iou([ra], [rb], [0])[0][0])


def test_history_shows_every_revision_with_its_reviews():
    s = story()
    rows = _history(s.repo, H1)
    assert [r["revision"] for r in rows] == [1, 2, 3]
    assert [r["op"] for r in rows] == ["create", "update", "update"]
    assert [r["version"] for r in rows] == [
        f"{s.short['v1']} (v1)",
        f"{s.short['v2']} (v2)",
        "staged",
    ]
    assert [r["class_name"] for r in rows] == ["car", "person", "person"]
    assert [r["annotator_id"] for r in rows] == ["ann1", "ann2", "det"]
    assert [r["guideline_version"] for r in rows] == ["v1", "v2", "v2"]
    assert [(r["source"], r["model_version"]) for r in rows] == [
        ("human", None),
        ("human", None),
        ("model", "m2"),
    ]
    # IoU with the previous revision: none for the first, pycocotools' for the moved
    # polygon, 1 for unchanged geometry
    assert rows[0]["iou"] is None
    assert rows[1]["iou"] == pytest.approx(_coco_iou(SQUARE, SHIFTED), abs=1e-12)
    assert rows[2]["iou"] == 1.0
    assert rows[1]["attributes_added"] == ["truncated"]
    assert rows[1]["attributes_removed"] == ["color"]
    assert rows[1]["attributes_changed"] == ["occluded"]
    assert rows[2]["attributes_added"] == rows[2]["attributes_changed"] == []
    assert rows[0]["attributes_added"] is None
    assert json.loads(rows[1]["attributes"]) == {"occluded": True, "truncated": True}
    reviews = [
        [(v["pass"], v["reviewer_id"], v["verdict"], v["reason"]) for v in r["reviews"]]
        for r in rows
    ]
    assert reviews == [
        [(1, "rev1", "accept", None), (2, "rev2", "reject", "too loose")],
        [],
        [(1, "rev3", "accept", None)],
    ]
    assert all(v["kind"] == "review" for r in rows for v in r["reviews"])


def test_history_at_an_older_revision_and_of_a_deleted_label():
    s = story()
    rows = _history(s.repo, H1, "v1")
    assert [r["revision"] for r in rows] == [1]
    assert len(rows[0]["reviews"]) == 2
    rows = _history(s.repo, H2)
    assert [(r["revision"], r["op"], r["iou"]) for r in rows] == [
        (1, "create", None),
        (2, "delete", 1.0),
    ]


def test_history_by_external_id():
    s = story()
    assert [r["label_id"] for r in _history(s.repo, None, external_id="ext-1")] == [H1] * 3
    with pytest.raises(InputError) as err:
        _history(s.repo, None, external_id="dup")
    assert str(err.value).splitlines()[0] == f"external id 'dup' names 2 labels: {H3}, {H4}"
    with pytest.raises(InputError) as err:
        _history(s.repo, None, external_id="nope")
    assert err.value.message == "no label with external id 'nope' in the work state"


def test_unknown_label_is_an_input_error_with_a_hint():
    s = story()
    with pytest.raises(InputError) as err:
        _history(s.repo, "ffffffffffffffff", "v1")
    assert err.value.message == "no label 'ffffffffffffffff' in revision 'v1'"
    assert "lineage blame" in err.value.hint


def test_flat_rows_put_reviews_under_their_revision():
    s = story()
    with s.repo.history(H1, form="rows") as found:
        rows = found.to_pylist()
    assert [(r["row_type"], r["revision"], r["pass"]) for r in rows] == [
        ("revision", 1, None),
        ("review", 1, 1),
        ("review", 1, 2),
        ("revision", 2, None),
        ("revision", 3, None),
        ("review", 3, 1),
    ]
    assert rows[3]["attributes_changed"] == "+truncated -color ~occluded"


@pytest.mark.parametrize("rev", [None, "v2", "v1"])
def test_blame_agrees_with_history(rev):
    s = story()
    with s.repo.blame("img.jpg", rev) as rows:
        blamed = rows.to_pylist()
    expected_ids = {None: [H1], "v2": [H1], "v1": [H1, H2]}[rev]
    assert sorted(b["label_id"] for b in blamed) == expected_ids
    for b in blamed:
        last = _history(s.repo, b["label_id"], rev)[-1]
        for col in ("revision", "version", "annotator_id", "guideline_version", "class_name"):
            assert b[col] == last[col], col
        passes = {v["pass"] for v in last["reviews"] if v["kind"] == "review"}
        assert b["review_passes"] == len(passes)
        assert b["latest_verdict"] == (last["reviews"][-1]["verdict"] if last["reviews"] else None)


def test_blame_of_an_unknown_asset():
    s = story()
    with pytest.raises(InputError) as err:
        s.repo.blame("missing.jpg")
    assert err.value.message == "no asset 'missing.jpg' in the work state"
