"""lineage merge / conflicts / resolve on the command line: output, formats, exit codes."""

from __future__ import annotations

import csv
import io
import json

from tests.test_merge import base, box, lid, on_branches  # noqa: F401 - the fixture

__all__ = ["base"]


def test_merge_stops_on_conflicts_with_exit_1_then_continues(base, tmp_path, cli):  # noqa: F811
    on_branches(base, tmp_path, [box(1, 11.0), box(3, 31.0)], [box(1, 12.0), box(2, 22.0)])
    root = base.root
    res = cli(root, "merge", "vendor", "--format", "table")
    assert res.exit_code == 1
    assert "1 label(s) conflict" in res.output and "lineage resolve" in res.output
    res = cli(root, "conflicts", "--format", "csv")
    assert res.exit_code == 0
    (row,) = list(csv.DictReader(io.StringIO(res.output)))
    assert row["label_id"] == lid(1) and row["conflict"] == "both edited"
    assert (row["ours_revision"], row["theirs_revision"]) == ("2", "3")
    res = cli(root, "query", "SELECT label_id, resolution FROM conflicts", "--format", "json")
    assert json.loads(res.output) == [{"label_id": lid(1), "resolution": None}]
    res = cli(root, "status", "--format", "json")
    assert json.loads(res.output)["merge"] == {
        "branch": "vendor",
        "into": "main",
        "conflicts": 1,
        "resolved": 0,
        "unmerged_files": [],
    }
    assert cli(root, "merge", "--continue").exit_code == 2  # not resolved yet
    assert cli(root, "resolve", lid(1)).exit_code == 2  # no --ours/--theirs/--revision
    res = cli(root, "resolve", lid(1), "--theirs")
    assert res.exit_code == 0, res.output
    res = cli(root, "merge", "--continue", "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["status"] == "merged" and out["resolved"] == 1
    res = cli(root, "history", lid(1), "--format", "json")
    revisions = json.loads(res.output)
    assert [(r["revision"], r["branch"]) for r in revisions] == [
        (1, "main"),
        (2, "main"),
        (3, "vendor"),
        (4, "main"),
    ]
    assert cli(root, "verify").exit_code == 0
    assert cli(root, "conflicts").exit_code == 2  # no merge in progress


def test_merge_abort_and_usage_errors(base, tmp_path, cli):  # noqa: F811
    on_branches(base, tmp_path, [box(1, 11.0)], [box(1, 12.0)])
    root = base.root
    assert cli(root, "merge").exit_code == 2  # neither a branch nor --continue/--abort
    assert cli(root, "merge", "nope").exit_code == 2
    assert cli(root, "merge", "vendor").exit_code == 1
    res = cli(root, "merge", "--abort")
    assert res.exit_code == 0 and "aborted" in res.output, res.output
    assert cli(root, "merge", "--abort").exit_code == 2
    assert cli(root, "merge", "main").exit_code == 0  # already up to date
