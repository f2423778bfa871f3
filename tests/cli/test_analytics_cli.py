"""`lineage agreement` and `lineage stats`: exit codes, messages and the three formats."""

from __future__ import annotations

import csv
import io
import json

import pytest

from lineage.audit.health import SECTIONS
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl
from tests.test_agreement import OBJECTS


@pytest.fixture
def root(tmp_path, cli):
    root = tmp_path / "work"
    make_git(root)
    repo = Repo.init(root)
    repo.import_("native", write_jsonl(tmp_path / "labels.jsonl", OBJECTS))
    repo.commit("labels", tag="v1")
    return root


def test_agreement_json(root, cli):
    res = cli(root, "agreement", "--rev", "v1", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    f1 = next(r for r in rows if r["figure"] == "object_f1")
    assert f1 == {
        "annotator_a": "alice",
        "annotator_b": "bob",
        "figure": "object_f1",
        "value": 0.75,
        "n_items": 5,
        "note": "rests on only 5 items (fewer than 30): too few for a stable figure, "
        "treat it as indicative",
    }
    # the same figures as the API
    assert len(rows) == Repo.open(root).agreement("v1").num_rows


def test_agreement_csv_and_table(root, cli):
    res = cli(root, "agreement", "--by", "annotator", "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert list(rows[0]) == ["annotator_id", "figure", "value", "n_items", "note"]
    alice = {r["figure"]: r for r in rows if r["annotator_id"] == "alice"}
    assert alice["object_f1_vs_others"]["value"] == "0.75"
    res = cli(root, "agreement", "--by", "class", "--iou-threshold", "0.7", "--format", "table")
    assert res.exit_code == 0, res.output
    assert "agreement by class" in res.output and "object_recall" in res.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["agreement", "--by", "asset"], "Invalid value for '--by'"),
        (["agreement", "--iou-threshold", "1.5"], "Invalid value for '--iou-threshold'"),
        (["agreement", "--rev", "v9"], "Error: "),
        (["stats", "--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_bad_usage_exits_2(root, cli, args, message):
    res = cli(root, *args)
    assert res.exit_code == 2
    assert message in res.output


def test_outside_a_repository(tmp_path, cli):
    make_git(tmp_path / "plain")
    res = cli(tmp_path / "plain", "stats")
    assert res.exit_code == 2 and "no lineage store" in res.output


def test_stats_json(root, cli):
    res = cli(root, "stats", "--rev", "v1", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert tuple(doc) == SECTIONS
    assert doc["classes"] == [
        {"class_name": "car", "labels": 3, "assets": 1, "share": 0.375},
        {"class_name": "person", "labels": 3, "assets": 1, "share": 0.375},
        {"class_name": "bike", "labels": 2, "assets": 1, "share": 0.25},
    ]
    assert doc["imbalance"][0]["imbalance_ratio"] == 1.5


def test_stats_csv_has_a_section_column(root, cli):
    res = cli(root, "stats", "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert list(rows[0])[0] == "section"
    assert {r["section"] for r in rows} <= set(SECTIONS)
    bike = next(r for r in rows if r["section"] == "classes" and r["class_name"] == "bike")
    assert bike["labels"] == "2"
    problems = {r["problem"]: r["labels"] for r in rows if r["section"] == "degenerate"}
    assert problems["fully_outside_image"] == "0"


def test_stats_table_prints_every_section(root, cli):
    res = cli(root, "stats", "--format", "table")
    assert res.exit_code == 0, res.output
    for name in SECTIONS:
        assert name in res.output


def test_stats_sql(root, cli):
    res = cli(root, "stats", "--sql")
    assert res.exit_code == 0
    assert "-- duplicates" in res.output and "FROM labels" in res.output


@pytest.mark.parametrize("command", ["agreement", "stats"])
def test_help_has_an_example(cli, tmp_path, command):
    res = cli(tmp_path, command, "--help")
    assert res.exit_code == 0
    assert "Example:" in res.output and f"lineage {command}" in res.output
