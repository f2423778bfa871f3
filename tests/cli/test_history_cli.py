"""history, blame and diff from the command line: exit codes, exact messages, and the
output checked against the Python API."""

from __future__ import annotations

import csv
import io
import json

from lineage.cli.output import jsonable
from tests.test_diff import EXPECTED, scenario
from tests.test_history import H1, story


def test_diff_exit_codes(cli):
    s = scenario()
    assert cli(s.root, "diff", "v1", "v2").exit_code == 0
    assert cli(s.root, "diff", "v1", "v2", "--exit-code").exit_code == 1
    assert (
        cli(s.root, "diff", "v1", "v2", "--exit-code", "--summary", "--format", "table").exit_code
        == 1
    )
    assert cli(s.root, "diff", "v1", "v2", "--exit-code", "--format", "csv").exit_code == 1
    # no differences: v2 against itself, and against the work state (nothing staged)
    assert cli(s.root, "diff", "v2", "v2", "--exit-code").exit_code == 0
    res = cli(s.root, "diff", "v2", "--exit-code", "--format", "json")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["changes"] == []
    # a filter that matches nothing is no difference either
    res = cli(s.root, "diff", "v1", "v2", "--exit-code", "--class", "truck")
    assert res.exit_code == 0


def test_diff_unknown_revision(cli):
    s = scenario()
    res = cli(s.root, "diff", "nope", "v2")
    assert res.exit_code == 2
    assert res.stderr == "Error: unknown revision 'nope'\nHint: see `lineage log`\n"
    assert res.stdout == ""


def test_diff_json_matches_the_api(cli):
    s = scenario()
    res = cli(s.root, "diff", "v1", "v2", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["from"] == {"rev": "v1", "commit": s.repo.git.commit("v1").hexsha}
    assert doc["to"] == {"rev": "v2", "commit": s.repo.git.commit("v2").hexsha}
    with s.repo.diff("v1", "v2") as res_api:
        rows = jsonable(res_api.relation.to_arrow_table().to_pylist())
        summary = res_api.summary()
    for row in rows:  # the API gives JSON values as text; JSON output embeds them
        for side in ("before", "after"):
            if row[side] is not None:
                row[side]["attributes"] = json.loads(row[side]["attributes"])
    assert doc["changes"] == rows
    by_id = {c["label_id"]: c for c in doc["changes"]}  # an object, not a string:
    assert by_id["00000000000000a5"]["after"]["attributes"] == {"occluded": True, "truncated": True}
    assert doc["summary"] == summary
    assert [c["label_id"] for c in doc["changes"]] == sorted(
        EXPECTED, key=lambda lid: (next(r["asset_id"] for r in rows if r["label_id"] == lid), lid)
    )


def test_diff_summary_json_has_no_changes(cli):
    s = scenario()
    doc = json.loads(cli(s.root, "diff", "v1", "v2", "--summary", "--format", "json").stdout)
    assert list(doc) == ["from", "to", "summary"]
    assert doc["summary"]["labels"] == len(EXPECTED)


def test_diff_sql_runs_on_a_pair(cli):
    s = scenario()
    res = cli(s.root, "diff", "v1", "v2", "--sql", "--format", "json")
    assert res.exit_code == 0
    assert res.stdout.startswith("WITH") and "lineage_iou(" in res.stdout
    with s.repo.pair("v1", "v2") as pair:
        printed = pair.con.sql(res.stdout).to_arrow_table().to_pylist()
    with s.repo.diff("v1", "v2") as res_api:
        assert printed == res_api.relation.to_arrow_table().to_pylist()


def test_diff_filters(cli):
    s = scenario()
    doc = json.loads(
        cli(s.root, "diff", "v1", "v2", "--annotator", "ann2", "--annotator", "det-1").stdout
    )
    assert [c["label_id"] for c in doc["changes"]] == ["00000000000000a6", "00000000000000a7"]
    assert doc["summary"]["labels"] == 2
    res = cli(s.root, "diff", "v1", "v2", "--iou-threshold", "2")
    assert res.exit_code == 2
    assert "Invalid value for '--iou-threshold'" in res.stderr


def test_history_outputs(cli):
    s = story()
    res = cli(s.root, "history", H1, "--format", "json")
    assert res.exit_code == 0
    revisions = json.loads(res.stdout)
    assert [r["revision"] for r in revisions] == [1, 2, 3]
    assert [len(r["reviews"]) for r in revisions] == [2, 0, 1]
    with s.repo.history(H1) as rows:
        api = jsonable(rows.to_pylist())
    for rev in api:
        rev["attributes"] = json.loads(rev["attributes"])
    assert revisions == api
    assert revisions[1]["attributes"] == {"occluded": True, "truncated": True}
    res = cli(s.root, "history", "--external-id", "ext-1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["row_type"], r["revision"], r["verdict"]) for r in rows] == [
        ("revision", "1", ""),
        ("review", "1", "accept"),
        ("review", "1", "reject"),
        ("revision", "2", ""),
        ("revision", "3", ""),
        ("review", "3", "accept"),
    ]
    res = cli(s.root, "history", H1, "--rev", "v1", "--format", "table")
    assert res.exit_code == 0
    assert res.stdout.count("└ review") == 2
    assert "pass 2 review: reject" in res.stdout


def test_history_errors(cli):
    s = story()
    res = cli(s.root, "history", "ffffffffffffffff")
    assert res.exit_code == 2
    assert res.stderr == (
        "Error: no label 'ffffffffffffffff' in the work state\n"
        "Hint: list the labels of an image with `lineage blame ASSET_ID`, or look a label "
        "up by the id its tool showed with --external-id\n"
    )
    res = cli(s.root, "history", "--rev", "v9", H1)
    assert res.exit_code == 2
    assert res.stderr.startswith("Error: unknown revision 'v9'")
    res = cli(s.root, "history")
    assert res.exit_code == 2
    assert "give either LABEL_ID or --external-id" in res.stderr


def test_blame(cli):
    s = story()
    res = cli(s.root, "blame", "img.jpg", "--rev", "v1", "--format", "json")
    assert res.exit_code == 0
    with s.repo.blame("img.jpg", "v1") as rows:
        api = jsonable(rows.to_pylist())
    assert json.loads(res.stdout) == api
    assert len(api) == 2
    res = cli(s.root, "blame", "img.jpg", "--format", "table")
    assert "1 pass(es), accept" in res.stdout and "staged" in res.stdout
    res = cli(s.root, "blame", "missing.jpg")
    assert res.exit_code == 2
    assert res.stderr.startswith("Error: no asset 'missing.jpg' in the work state\nHint: ")


def test_every_command_has_help(cli):
    s = story()
    for cmd in ("history", "blame", "diff"):
        res = cli(s.root, cmd, "--help")
        assert res.exit_code == 0
        assert "Example:" in res.stdout and "--format" in res.stdout
