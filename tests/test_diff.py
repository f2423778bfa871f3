"""diff: a hand-built scenario with one change of every kind (both directions, both
plans), and a property test: random edit scripts over several versions, where the
diff applied to the older state gives the newer one, and the fast path equals the
full comparison."""

from __future__ import annotations

import atexit
import csv
import functools
import io
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lineage.changes import COLUMNS, GEOMETRY_COLUMNS, Change
from lineage.query import diff as d
from lineage.repo import Repo
from lineage.store.identity import CONTENT
from tests.conftest import make_git, write_jsonl

# --------------------------------------------------------------------------- scenario

BASE = {"source": "human", "annotator_id": "ann1", "guideline_version": "v1"}


def _label(lid: str, asset: str, cls: str, bbox: list[float], **extra) -> dict:
    return {"label_id": lid, "asset_id": asset, "class_name": cls, "bbox": bbox, **BASE, **extra}


# v1: one label per kind of change, plus one that does not change.
V1 = [
    _label("00000000000000a1", "img1.jpg", "person", [100, 50, 20, 20]),
    _label("00000000000000a2", "img1.jpg", "car", [10, 10, 40, 40]),
    _label("00000000000000a3", "img2.jpg", "car", [0, 0, 10, 10]),
    _label("00000000000000a4", "img1.jpg", "bike", [60, 10, 10, 10]),
    _label("00000000000000a5", "img1.jpg", "car", [70, 70, 10, 10], attributes={"occluded": False}),
    _label("00000000000000a6", "img2.jpg", "person", [20, 20, 10, 30]),
    _label(
        "00000000000000a7",
        "img2.jpg",
        "car",
        [40, 40, 30, 20],
        source="model",
        model_version="m1",
        annotator_id="det-1",
        score=0.9,
    ),
    _label("00000000000000a8", "img1.jpg", "bike", [5, 60, 10, 10]),
    _label("00000000000000a9", "img1.jpg", "person", [30, 60, 10, 20]),
    _label("0000000000000a10", "img2.jpg", "car", [80, 10, 10, 10]),
]
# v2: the edits (full records: a record with a label_id replaces that label's content).
V2 = [
    {
        "label_id": "00000000000000a1",
        "asset_id": "img1.jpg",
        "class_name": "person",
        "op": "delete",
    },
    {**V1[1], "bbox": [12, 10, 40, 40]},
    {**V1[2], "bbox": [50, 50, 10, 10]},
    {**V1[3], "class_name": "person"},
    {**V1[4], "attributes": {"occluded": True, "truncated": True}},
    {**V1[5], "annotator_id": "ann2"},
    {**V1[6], "source": "assisted"},
    {**V1[7], "guideline_version": "v2"},
    _label("0000000000000a11", "img2.jpg", "bike", [0, 80, 15, 15]),
]
# label -> (kinds, IoU) of the diff v1 -> v2
EXPECTED = {
    "00000000000000a1": (["removed"], None),
    "00000000000000a2": (["geometry"], 1520 / 1680),  # 38x40 overlap of two 40x40 boxes
    "00000000000000a3": (["moved"], 0.0),
    "00000000000000a4": (["class"], None),
    "00000000000000a5": (["attributes"], None),
    "00000000000000a6": (["annotator"], None),
    "00000000000000a7": (["source"], None),
    "00000000000000a8": (["guideline"], None),
    "00000000000000a9": (["review"], None),
    "0000000000000a11": (["added"], None),
}


@dataclass(frozen=True)
class Scenario:
    repo: Repo
    root: Path


def build_scenario(root: Path) -> Scenario:
    """v1: ten labels (one reviewed); v2: one change of every kind (tags v1, v2)."""
    make_git(root)
    repo = Repo.init(root)
    repo.add_guideline("v1", classes=["car", "person", "bike"])
    repo.add_guideline("v2", classes=["car", "person", "bike"])
    assets = [
        {"record": "asset", "asset_id": "img1.jpg", "width": 200, "height": 100},
        {"record": "asset", "asset_id": "img2.jpg", "width": 200, "height": 100},
    ]
    repo.import_("native", write_jsonl(root.parent / "v1.jsonl", assets + V1), mode="patch")
    repo.add_review("0000000000000a10", pass_=1, reviewer="rev1", verdict="accept")
    repo.commit("v1", tag="v1")
    repo.import_("native", write_jsonl(root.parent / "v2.jsonl", V2), mode="patch")
    repo.add_review("00000000000000a9", pass_=1, reviewer="rev1", verdict="reject", reason="loose")
    repo.commit("v2", tag="v2")
    return Scenario(repo, root)


@functools.cache
def scenario() -> Scenario:
    """Built once per test run (read-only for the tests that use it)."""
    tmp = Path(tempfile.mkdtemp(prefix="lineage-diff-"))
    atexit.register(shutil.rmtree, tmp, True)
    return build_scenario(tmp / "repo")


def _rows(repo: Repo, a, b, **kw) -> list[dict]:
    with repo.diff(a, b, **kw) as res:
        return res.relation.to_arrow_table().to_pylist()


# --------------------------------------------------------------------------- tests


def test_every_content_column_belongs_to_one_kind():
    covered = [*GEOMETRY_COLUMNS, "asset_id", *(c for cols in COLUMNS.values() for c in cols)]
    assert sorted(covered) == sorted(CONTENT)


@pytest.mark.parametrize("fast", [True, False])
def test_scenario_gives_exactly_the_expected_diff(fast):
    s = scenario()
    rows = _rows(s.repo, "v1", "v2", fast=fast)
    got = {r["label_id"]: (r["kinds"], r["iou"]) for r in rows}
    assert got.keys() == EXPECTED.keys()
    for lid, (kinds, iou) in EXPECTED.items():
        assert got[lid][0] == kinds, lid
        assert got[lid][1] == pytest.approx(iou) if iou is not None else got[lid][1] is None
    by_id = {r["label_id"]: r for r in rows}
    assert by_id["0000000000000a11"]["before"] is None
    assert by_id["00000000000000a1"]["after"] is None
    assert by_id["00000000000000a1"]["before"]["class_name"] == "person"
    cls = by_id["00000000000000a4"]
    assert (cls["before"]["class_name"], cls["after"]["class_name"]) == ("bike", "person")
    assert (cls["before"]["revision"], cls["after"]["revision"]) == (1, 2)
    src = by_id["00000000000000a7"]
    assert (src["before"]["source"], src["after"]["source"]) == ("model", "assisted")
    att = by_id["00000000000000a5"]
    assert json.loads(att["after"]["attributes"]) == {"occluded": True, "truncated": True}
    rev = by_id["00000000000000a9"]
    assert rev["before"]["reviews"] == {
        "reviews": 0,
        "passes": 0,
        "verdict": None,
        "reviewed_revision": None,
    }
    assert rev["after"]["reviews"] == {
        "reviews": 1,
        "passes": 1,
        "verdict": "reject",
        "reviewed_revision": 1,
    }
    assert by_id["00000000000000a2"]["after"]["bbox"] == {"x": 12, "y": 10, "w": 40, "h": 40}


def _mirror(row: dict) -> dict:
    kinds = [Change(k).mirror().value for k in row["kinds"]]
    return {**row, "kinds": kinds, "before": row["after"], "after": row["before"]}


@pytest.mark.parametrize("fast", [True, False])
def test_b_to_a_is_the_mirror_of_a_to_b(fast):
    s = scenario()
    forward = _rows(s.repo, "v1", "v2", fast=fast)
    backward = _rows(s.repo, "v2", "v1")  # v2 is no ancestor of v1: always the full plan
    assert backward == [_mirror(r) for r in forward]


def test_fast_path_is_taken_only_for_ancestors():
    s = scenario()
    with s.repo.diff("v1", "v2") as res:
        assert res.fast
        new = d.plan(res.pair.base, res.pair.files).new_files
        # the one label_events and one reviews segment that v2 added, and nothing else
        assert [len(new["label_events"]), len(new["reviews"])] == [1, 1]
        assert res.sql.count("read_parquet(") == 2
        assert all(str(p) in res.sql for p in new["label_events"] + new["reviews"])
        assert "a.labels WHERE label_id IN" in res.sql
    with s.repo.diff("v2", "v1") as res:
        assert not res.fast
        assert "read_parquet" not in res.sql
    with pytest.raises(ValueError):
        _rows(s.repo, "v2", "v1", fast=True)


def test_same_revision_has_no_changes():
    s = scenario()
    assert _rows(s.repo, "v2", "v2") == []
    assert _rows(s.repo, "v2", None) == []  # nothing staged: the work state is v2


def _expected_summary(rows: list[dict]) -> dict:
    def key(r, col):
        side = r["after"] or r["before"]
        return side[col] if side[col] is not None else "(none)"

    return {
        "labels": len(rows),
        "kinds": dict(Counter(k for r in rows for k in r["kinds"])),
        "classes": dict(Counter(key(r, "class_name") for r in rows)),
        "annotators": dict(Counter(key(r, "annotator_id") for r in rows)),
        "assets": dict(Counter(r["asset_id"] for r in rows)),
    }


def test_summary_counts_per_kind_class_annotator_asset():
    s = scenario()
    with s.repo.diff("v1", "v2") as res:
        summary = res.summary()
        rows = res.relation.to_arrow_table().to_pylist()
    assert summary == _expected_summary(rows)
    assert summary["kinds"] == {k: 1 for k in [k for ks, _ in EXPECTED.values() for k in ks]}
    assert summary["classes"] == {"person": 4, "car": 4, "bike": 2}
    assert summary["annotators"] == {"ann1": 8, "ann2": 1, "det-1": 1}
    assert summary["assets"] == {"img1.jpg": 6, "img2.jpg": 4}
    assert list(summary["kinds"]) == [k.value for k in Change if k.value in summary["kinds"]]


def test_filters_by_class_and_annotator():
    s = scenario()
    rows = _rows(s.repo, "v1", "v2", classes=["bike"])
    # a4 was a bike (now a person), a8 and a11 are bikes
    assert [r["label_id"] for r in rows] == [
        "00000000000000a4",
        "00000000000000a8",
        "0000000000000a11",
    ]
    rows = _rows(s.repo, "v1", "v2", annotators=["ann2"])
    assert [r["label_id"] for r in rows] == ["00000000000000a6"]


def test_iou_threshold_decides_geometry_or_moved():
    s = scenario()
    rows = _rows(s.repo, "v1", "v2", iou_threshold=0.95)
    kinds = {r["label_id"]: r["kinds"] for r in rows}
    assert kinds["00000000000000a2"] == ["moved"]
    rows = _rows(s.repo, "v1", "v2", iou_threshold=0.0)
    kinds = {r["label_id"]: r["kinds"] for r in rows}
    assert kinds["00000000000000a3"] == ["geometry"]


def test_every_output_form_both_directions(cli):
    s = scenario()
    for a, b in (("v1", "v2"), ("v2", "v1")):
        expected = {lid: kinds for lid, (kinds, _) in EXPECTED.items()}
        if a == "v2":
            expected = {lid: [Change(k).mirror().value for k in ks] for lid, ks in expected.items()}
        # json: one object
        res = cli(s.root, "diff", a, b, "--format", "json")
        assert res.exit_code == 0
        doc = json.loads(res.output)
        assert list(doc) == ["from", "to", "summary", "changes"]
        assert doc["from"]["rev"] == a and doc["to"]["rev"] == b
        assert {c["label_id"]: c["kinds"] for c in doc["changes"]} == expected
        assert doc["summary"] == _expected_summary(doc["changes"])
        # csv: one row per change, before_/after_ columns
        res = cli(s.root, "diff", a, b, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(res.output)))
        assert {r["label_id"]: json.loads(r["kinds"]) for r in rows} == expected
        by_id = {r["label_id"]: r for r in rows}
        cls = by_id["00000000000000a4"]
        pair = (cls["before_class_name"], cls["after_class_name"])
        assert pair == (("bike", "person") if a == "v1" else ("person", "bike"))
        added = "0000000000000a11"
        assert (by_id[added]["before_revision"] == "") == (a == "v1")
        # table: one row per change with its kinds
        res = cli(s.root, "diff", a, b, "--format", "table")
        lines = [ln for ln in res.output.splitlines() if ln.startswith("│ 0")]
        assert len(lines) == len(expected)
        for lid, kinds in expected.items():
            line = next(ln for ln in lines if lid in ln)
            assert f"│ {', '.join(kinds)} " in line
        assert ("bike → person" if a == "v1" else "person → bike") in res.output
        # summary as rows
        res = cli(s.root, "diff", a, b, "--summary", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(res.output)))
        assert rows[0] == {"dimension": "total", "key": "", "labels": "10"}
        assert {r["key"] for r in rows if r["dimension"] == "kind"} == {
            k for ks in expected.values() for k in ks
        }


# --------------------------------------------------------------------------- property

CLASSES = ["car", "person", "bike"]
ASSETS = ["a.jpg", "b.jpg"]


@functools.cache
def _template() -> Path:
    """An initialised repository with guideline v1 committed, copied for each example."""
    tmp = Path(tempfile.mkdtemp(prefix="lineage-tpl-"))
    atexit.register(shutil.rmtree, tmp, True)
    make_git(tmp / "repo")
    repo = Repo.init(tmp / "repo")
    repo.add_guideline("v1", classes=CLASSES)
    repo.add_guideline("v2", classes=CLASSES)
    repo.commit("guidelines", tag="g")
    return tmp / "repo"


box = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(5, 30), st.integers(5, 30)).map(
    list
)
add = st.tuples(st.just("add"), st.sampled_from(ASSETS), st.sampled_from(CLASSES), box)
edit = st.one_of(
    add,
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("nudge"), st.integers(0, 99), st.integers(1, 3)),
    st.tuples(st.just("move"), st.integers(0, 99), box),
    st.tuples(st.just("class"), st.integers(0, 99), st.sampled_from(CLASSES)),
    st.tuples(st.just("attr"), st.integers(0, 99), st.booleans()),
    st.tuples(st.just("annotator"), st.integers(0, 99), st.sampled_from(["p", "q"])),
    st.tuples(st.just("source"), st.integers(0, 99), st.sampled_from(["human", "assisted"])),
    st.tuples(st.just("guideline"), st.integers(0, 99), st.sampled_from(["v1", "v2"])),
    st.tuples(st.just("review"), st.integers(0, 99), st.sampled_from(["accept", "reject"])),
)
script = st.lists(st.lists(edit, min_size=1, max_size=8), min_size=2, max_size=2)


def _apply_script(repo: Repo, work: Path, versions: list[list[tuple]], start: list) -> list:
    """Stage each version's edits; commit all but the last (the work state). Returns the
    revisions to compare: the first ``start`` labels, then one per version."""
    live: dict[str, dict] = {}
    passes: Counter = Counter()
    n = 0
    revs = []
    for i, edits in enumerate([start, *versions]):
        records, reviews = {}, []
        for e in edits:
            ids = sorted(live)
            if e[0] == "add":
                lid = f"{n:016x}"
                n += 1
                live[lid] = _label(lid, e[1], e[2], e[3])
                records[lid] = {**live[lid], "_new": True}
                continue
            if not ids:
                continue
            lid = ids[e[1] % len(ids)]
            rec = dict(live[lid])
            if e[0] == "delete":
                del live[lid]
                if records.get(lid, {}).get("_new"):
                    del records[lid]  # created and deleted in one file: nothing to import
                else:
                    records[lid] = {**rec, "op": "delete"}
                continue
            if e[0] == "review":
                if lid not in records:  # reviews of labels staged in this txn are refused
                    passes[lid] += 1
                    reviews.append(f"{lid},{passes[lid]},r1,{e[2]}")
                continue
            if e[0] == "nudge":
                rec["bbox"] = [rec["bbox"][0] + e[2], *rec["bbox"][1:]]
            elif e[0] == "move":
                rec["bbox"] = e[2]
            elif e[0] == "class":
                rec["class_name"] = e[2]
            elif e[0] == "attr":
                rec["attributes"] = {"occluded": e[2]}
            elif e[0] == "annotator":
                rec["annotator_id"] = e[2]
            elif e[0] == "source":
                rec["source"] = e[2]
            elif e[0] == "guideline":
                rec["guideline_version"] = e[2]
            live[lid] = rec
            records[lid] = {**rec, "_new": records.get(lid, {}).get("_new", False)}
        staged = False
        if reviews:
            csv_path = work / f"r{i}.csv"
            csv_path.write_text("label_id,pass,reviewer_id,verdict\n" + "\n".join(reviews) + "\n")
            staged = repo.import_reviews(csv_path).txn_id is not None
        if records:
            lines = [{k: v for k, v in r.items() if k != "_new"} for r in records.values()]
            path = write_jsonl(work / f"v{i}.jsonl", lines)
            staged = repo.import_("native", path, mode="patch").txn_id is not None or staged
        if i == len(versions):
            revs.append(None)  # the work state: HEAD plus what is staged
        elif staged:
            repo.commit(f"v{i}", tag=f"v{i}")
            revs.append(f"v{i}")
    return revs


def _state(repo: Repo, rev) -> dict:
    """label -> content and review summary, read independently of the diff SQL."""
    with repo.at(rev) as snap:
        labels = snap.con.sql("SELECT * FROM labels").to_arrow_table().to_pylist()
        reviews = snap.con.sql("SELECT * FROM reviews").to_arrow_table().to_pylist()
    out = {}
    for lab in labels:
        mine = [r for r in reviews if r["label_id"] == lab["label_id"]]
        latest = max(
            mine,
            key=lambda r: (r["revision"], r["pass"], r["reviewed_at"], r["review_id"]),
            default=None,
        )
        summary = {
            "reviews": len(mine),
            "passes": len({r["pass"] for r in mine if r["kind"] == "review"}),
            "verdict": latest["verdict"] if latest else None,
            "reviewed_revision": max((r["revision"] for r in mine), default=None),
        }
        out[lab["label_id"]] = ({c: lab[c] for c in CONTENT}, summary)
    return out


def _applied(state: dict, rows: list[dict]) -> dict:
    out = dict(state)
    for r in rows:
        if r["after"] is None:
            del out[r["label_id"]]
        else:
            after = dict(r["after"])
            out[r["label_id"]] = ({c: after[c] for c in CONTENT}, after["reviews"])
    return out


@settings(
    max_examples=5,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking real repos takes minutes
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(start=st.lists(add, min_size=1, max_size=4), versions=script)
def test_diff_applied_to_older_gives_newer(start, versions):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(_template(), root, symlinks=True)
        repo = Repo.open(root)
        revs = _apply_script(repo, Path(tmp), versions, start)
        states = {rev: _state(repo, rev) for rev in dict.fromkeys(revs)}
        for i, a in enumerate(revs):
            for b in revs[i + 1 :]:
                with repo.pair(a, b) as pair:  # one connection, both plans
                    fast, full = (
                        pair.con.sql(d.diff_sql(pair, fast=f)).to_arrow_table().to_pylist()
                        for f in (True, False)
                    )
                assert fast == full
                assert _applied(states[a], full) == states[b]
                backward = _rows(repo, b, a)
                assert backward == [_mirror(r) for r in full]
                for r in full:
                    assert r["kinds"], r
                    if r["after"] is not None:
                        assert (
                            r["after"]["revision"] >= (r["before"] or {"revision": 0})["revision"]
                        )


def test_diff_view_for_user_sql():
    s = scenario()
    with s.repo.pair("v1", "v2") as pair:
        d.create_view(pair)
        got = pair.sql("SELECT label_id, kinds FROM diff ORDER BY label_id").fetchall()
    assert dict(got) == {lid: kinds for lid, (kinds, _) in EXPECTED.items()}
