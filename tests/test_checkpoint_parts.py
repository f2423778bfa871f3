"""Checkpoints in parts: each commit rewrites a few ranges of label ids, and the labels
read from the parts' newest files plus the events newer than each are the labels the
whole event log gives (the oracle: the latest revision of each label, ranked)."""

from __future__ import annotations

import json
import random
import re

import pyarrow.parquet as pq
import pytest

from lineage.errors import RepoError
from lineage.store import checkpoint
from lineage.store.checkpoint import EVERYTHING, Holder, PartMap
from lineage.versioning import gitrepo
from lineage.versioning.revision import resolve
from tests.conftest import write_jsonl

ORACLE = """
SELECT label_id, revision, class_name, bbox FROM label_events
QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY revision DESC) = 1
    AND op <> 'delete'
ORDER BY label_id
"""
VIEW = "SELECT label_id, revision, class_name, bbox FROM labels ORDER BY label_id"
CLASSES = ["car", "person", "bike"]


def test_ranges_join_adjacent_parts():
    parts = PartMap(("b", "d", "f"))
    assert parts.count == 4
    assert parts.ranges([0]) == [(None, "b")]
    assert parts.ranges([1, 2]) == [("b", "f")]
    assert parts.ranges([0, 2, 3]) == [(None, "b"), ("d", None)]
    assert parts.ranges(range(4)) == [(None, None)]
    assert checkpoint.ranges_sql([("it's", None)]) == "(label_id >= 'it''s')"
    assert checkpoint.ranges_sql(EVERYTHING) == "(true)"


def test_each_event_file_is_read_once_for_the_parts_it_is_newer_than():
    parts = PartMap(
        ("m",),
        (Holder("c1", frozenset({0}), frozenset({"e1"})), Holder("c2", frozenset({1}), frozenset({"e1", "e2"}))),
    )  # fmt: skip
    got = checkpoint.pieces(
        parts,
        {"c1": "c1.parquet", "c2": "c2.parquet"},
        [
            ("e1", "e1.parquet"),
            ("e2", "e2.parquet"),
            ("e3", "e3.parquet"),
            (None, "staged.parquet"),
        ],
    )
    assert got.state == [("c1.parquet", [(None, "m")]), ("c2.parquet", [("m", None)])]
    assert sorted(got.tail) == [
        (["e2.parquet"], [(None, "m")]),
        (["e3.parquet", "staged.parquet"], EVERYTHING),
    ]
    # a holder the revision lacks: its parts are read from every event
    lacking = checkpoint.pieces(parts, {"c2": "c2.parquet"}, [("e1", "e1.parquet")])
    assert lacking.state == [("c2.parquet", [("m", None)])]
    assert lacking.tail == [(["e1.parquet"], [(None, "m")])]


def test_the_part_map_survives_the_footer_with_the_segment_named():
    parts = PartMap(
        ("m",),
        (Holder("s1", frozenset({0}), frozenset({"e1", "e9"})), Holder("self", frozenset({1}), frozenset({"e1", "e2", "self"}))),
    )  # fmt: skip
    covers = ["e1", "e2", "self"]
    meta = {"covers": covers, "parts": checkpoint.encode_map(parts, covers).decode()}
    footer = checkpoint.footer([meta], "s5")
    assert json.loads(footer[checkpoint.COVERS]) == ["e1", "e2", "s5"]
    back = checkpoint.read_map("s5", footer)
    assert back.bounds == ("m",)
    assert back.holders == (
        Holder("s1", frozenset({0}), frozenset({"e1", "e9"})),
        Holder("s5", frozenset({1}), frozenset({"e1", "e2", "s5"})),
    )
    # a checkpoint written before parts holds every label it covers
    old = checkpoint.read_map("s0", {checkpoint.COVERS: b'["e1"]'})
    assert old == PartMap((), (Holder("s0", frozenset({0}), frozenset({"e1"})),))


def edit(repo, tmp_path, rng: random.Random, version: int) -> None:
    with repo.at(None) as snap:
        live = snap.sql("SELECT label_id, asset_id FROM labels ORDER BY label_id").fetchall()
    records = []
    for label_id, asset in rng.sample(live, 8):
        if rng.random() < 0.25:
            records.append({"label_id": label_id, "asset_id": asset, "op": "delete"})
        else:
            x = rng.randint(0, 50)
            records.append(
                {
                    "label_id": label_id,
                    "asset_id": asset,
                    "class_name": rng.choice(CLASSES),
                    "bbox": [x, x, 10, 10],
                }
            )
    path = write_jsonl(tmp_path / f"edit{version}.jsonl", records)
    repo.import_("native", path, guideline="v1", mode="patch")
    new = [
        {"asset_id": f"n{version}.jpg", "class_name": "car", "bbox": [1, 2, 3, 4]} for _ in range(3)
    ]
    repo.import_("native", write_jsonl(tmp_path / f"new{version}.jsonl", new), guideline="v1")


def test_partial_checkpoints_read_the_labels_the_log_gives(repo, tmp_path):
    (repo.root / "lineage.toml").write_text(
        '[store]\npath = "annotations"\ncheckpoint_ratio = 0.01\ncheckpoint_min_events = 1\n'
        "checkpoint_parts = 4\ncheckpoint_budget = 0.26\n"
    )
    rng = random.Random(7)
    first = [
        {"asset_id": f"{i % 20}.jpg", "class_name": rng.choice(CLASSES), "bbox": [i, i, 5, 5]}
        for i in range(80)
    ]
    repo.import_("native", write_jsonl(tmp_path / "v1.jsonl", first), guideline="v1")
    repo.commit("v1", tag="v1")
    edit(repo, tmp_path, rng, 2)
    repo.compact(tag="v2")  # one file holds every part; later commits rewrite some
    for version in range(3, 10):
        edit(repo, tmp_path, rng, version)
        repo.commit(f"v{version}", tag=f"v{version}")
    holders = set()
    for version in range(1, 10):
        with repo.at(f"v{version}") as snap:
            assert snap.sql(VIEW).fetchall() == snap.sql(ORACLE).fetchall(), version
            pieces = snap.files.checkpoint()
        if pieces is not None:
            assert pieces.map.count == 4
            holders |= {h.segment for h in pieces.map.holders}
    # each commit rewrote one part (4 parts, 26 % budget), never the whole state, and every
    # part was rewritten more than once (older files hold rows no longer current)
    written = [
        s for s in resolve(repo.layout, repo.commits, "v9").segments if s.table == "checkpoints"
    ]
    assert len(written) >= 5 and len(holders) >= 5
    with repo.at("v9") as snap:
        live = snap.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    assert [pq.ParquetFile(s.path).metadata.num_rows < live / 2 for s in written[1:]] == [True] * (
        len(written) - 1
    )
    # staged work is read over the parts as well
    edit(repo, tmp_path, rng, 10)
    with repo.at(None) as snap:
        assert snap.sql(VIEW).fetchall() == snap.sql(ORACLE).fetchall()
    # compact draws the parts afresh and writes them all: the view is the checkpoint
    repo.compact(tag="cp")
    with repo.at("cp") as snap:
        assert snap.sql(VIEW).fetchall() == snap.sql(ORACLE).fetchall()
        pieces = snap.files.checkpoint()
        assert pieces is not None and not pieces.tail and len(pieces.state) == 1


@pytest.mark.parametrize(
    "setting, shown",
    [
        (
            "checkpoint_parts = 0",
            "'store.checkpoint_parts': 0 is not a whole number from 1 to 4096",
        ),
        ("checkpoint_parts = 2.5", "'store.checkpoint_parts': 2.5 is not a whole number from 1"),
        ("checkpoint_parts = 1000000000", "'store.checkpoint_parts': 1000000000 is not"),
        ("checkpoint_budget = 2", "'store.checkpoint_budget': 2 is not a number from 0 to 1"),
        ('checkpoint_budget = "1%"', "'store.checkpoint_budget': '1%' is not a number from 0 to 1"),
        ("checkpoint_ratio = -1", "'store.checkpoint_ratio': -1 is not a number >= 0"),
        ("checkpoint_min_events = true", "'store.checkpoint_min_events': True is not a whole"),
    ],
)
def test_a_bad_checkpoint_setting_is_named_and_nothing_is_committed(repo, tmp_path, setting, shown):
    repo.import_("native", write_jsonl(tmp_path / "a.jsonl", [{"asset_id": "a.jpg",
                 "class_name": "car", "bbox": [0, 0, 1, 1]}]), guideline="v1")  # fmt: skip
    (repo.root / "lineage.toml").write_text(f'[store]\npath = "annotations"\n{setting}\n')
    with pytest.raises(RepoError, match=re.escape(shown)):
        repo.commit("refused")
    assert not gitrepo.has_commits(repo.git) and repo.status().staged


@pytest.mark.parametrize(
    "parts, reason",
    [
        (b"{not json", "not readable"),
        (b'{"bounds": ["b", "a"], "holders": []}', "not strictly increasing"),
        (b'{"bounds": ["a"], "holders": [{"segment": "s", "parts": [2]}]}', "not all in 0..1"),
        (b'{"bounds": ["a"], "holders": [{"segment": "s", "parts": [true]}]}', "not all in"),
        (
            b'{"bounds": [], "holders": [{"segment": "s", "parts": [0]}, {"segment": "t", "parts": [0]}]}',
            "have two holders",
        ),
        (b'{"bounds": [1], "holders": []}', "bounds is not a list of strings"),
        (b'{"bounds": [], "holders": [{"segment": ["x"], "parts": [0]}]}', "segment is not"),
        (b'{"bounds": []}', "KeyError"),
    ],
)
def test_a_part_map_that_is_not_one_is_refused(parts, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        checkpoint.read_map("s1", {checkpoint.COVERS: b"[]", checkpoint.MAP: parts})
