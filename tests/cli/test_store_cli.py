"""The issue's user flow through the CLI, on real git + DVC repositories."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl


@pytest.fixture
def root(tmp_path, cli):
    root = tmp_path / "work"
    make_git(root)
    assert cli(root, "init").exit_code == 0
    assert cli(root, "init").exit_code == 0  # safe to run twice
    (root / "classes.txt").write_text("car\nperson\n")
    (root / "guideline-v1.pdf").write_bytes(b"%PDF guideline v1")
    res = cli(
        root,
        "guideline",
        "add",
        "v1",
        "--classes",
        str(root / "classes.txt"),
        "--doc",
        str(root / "guideline-v1.pdf"),
    )
    assert res.exit_code == 0, res.output
    return root


def test_flow(root, cli, tmp_path):
    write_jsonl(
        tmp_path / "labels.jsonl",
        [
            {"asset_id": "a.jpg", "class_name": "car", "bbox": [0, 0, 10, 10]},
            {"asset_id": "a.jpg", "class_name": "person", "bbox": [20, 0, 10, 30]},
            {"asset_id": "b.jpg", "class_name": "car", "bbox": [5, 5, 10, 10]},
        ],
    )
    res = cli(
        root,
        "import",
        "native",
        str(tmp_path / "labels.jsonl"),
        "--guideline",
        "v1",
        "--annotator",
        "alice",
    )
    assert res.exit_code == 0, res.output
    assert "3 created" in res.output
    status = json.loads(cli(root, "status", "--format", "json").output)
    assert status["counts"]["labels"] == 3 and len(status["staged"]) == 2
    assert cli(root, "commit", "-m", "batch 1", "--tag", "v1").exit_code == 0

    ids = json.loads(
        cli(
            root, "query", "select label_id, class_name, asset_id from labels", "--format", "json"
        ).output
    )
    car_a = next(
        r["label_id"] for r in ids if r["class_name"] == "car" and r["asset_id"] == "a.jpg"
    )
    (tmp_path / "reviews.csv").write_text(
        f"label_id,pass,reviewer_id,verdict,reason\n{car_a},1,bob,accept,\n"
    )
    assert cli(root, "review", "import", str(tmp_path / "reviews.csv")).exit_code == 0
    write_jsonl(
        tmp_path / "v2.jsonl",
        [
            {"label_id": car_a, "asset_id": "a.jpg", "class_name": "car", "bbox": [1, 0, 10, 10]},
        ],
    )
    assert (
        cli(
            root,
            "import",
            "native",
            str(tmp_path / "v2.jsonl"),
            "--mode",
            "patch",
            "--guideline",
            "v1",
            "--annotator",
            "carol",
        ).exit_code
        == 0
    )
    assert cli(root, "commit", "-m", "batch 2", "--tag", "v2").exit_code == 0

    out = cli(
        root,
        "query",
        "--rev",
        "v1",
        "select class_name, count(*) n from labels group by 1 order by 1",
        "--format",
        "json",
    )
    assert json.loads(out.output) == [
        {"class_name": "car", "n": 2},
        {"class_name": "person", "n": 1},
    ]
    csv = cli(
        root,
        "query",
        "--rev",
        "v2",
        f"select label_id, revision from label_events where label_id = '{car_a}' order by revision",
        "--format",
        "csv",
    ).output
    assert csv.splitlines() == ["label_id,revision", f"{car_a},1", f"{car_a},2"]
    log = json.loads(cli(root, "log", "--format", "json").output)
    assert [v["tags"] for v in log] == [["v2"], ["v1"]]
    assert [t["kind"] for t in log[0]["transactions"]] == ["review", "import"]

    remote = tmp_path / "remote"
    assert cli(root, "remote", "add", "local", str(remote)).exit_code == 0
    git.Repo(root).index.commit("configure remote")
    assert cli(root, "push").exit_code == 0
    clone = tmp_path / "clone"
    git.Repo.clone_from(root, clone)
    assert cli(clone, "pull").exit_code == 0
    out = cli(clone, "query", "--rev", "v1", "select count(*) n from labels", "--format", "json")
    assert json.loads(out.output) == [{"n": 3}]


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("COPY labels TO 'out.csv'", "COPY writes or reads files"),
        ("ATTACH 'other.duckdb' AS o", "ATTACH opens other databases"),
        ("INSTALL httpfs", "INSTALL/LOAD add extensions"),
        ("LOAD httpfs", "INSTALL/LOAD add extensions"),
        ("SET enable_external_access = true", "SET changes settings"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements change the database"),
        ("select 1; select 2", None),
    ],
)
def test_sandbox_refuses_statements(root, cli, sql, reason):
    res = cli(root, "query", sql)
    assert res.exit_code == 2
    if reason:
        assert res.output.startswith(f"Error: refused: lineage queries are read-only ({reason})")


@pytest.mark.parametrize(
    "sql",
    [
        "select * from read_csv('/etc/passwd')",
        "select * from read_parquet('/etc/hostname')",
        "select * from '/etc/passwd'",
        "select * from read_text('/etc/hostname')",
    ],
)
def test_sandbox_refuses_files_outside_the_store(root, cli, sql):
    res = cli(root, "query", sql)
    assert res.exit_code == 2
    # refused by the sandbox, or (a bare path) not even looked up as a file
    assert res.output.startswith(("Error: refused:", "Error: Catalog Error: Table with name /etc/"))
    assert "root:" not in res.output


def test_sandbox_settings_are_locked(root):
    repo = Repo.open(root)
    with repo.at(None) as snap:
        with pytest.raises(Exception, match="locked|refused"):
            snap.con.execute("SET enable_external_access = true")


JSON_VALUES = """
SELECT '{"occluded": true, "n": 1.5}'::JSON AS j, NULL::JSON AS nothing,
       {'a': '[1, 2]'::JSON, 'b': 'text'} AS s, ['{}'::JSON, NULL] AS l,
       MAP {'k': '"v"'::JSON} AS m, '"just text"' AS not_json
"""


def test_json_output_embeds_json_values_as_json(root, cli):
    """DuckDB's JSON values (``attributes``) are JSON in JSON output, also inside
    structs, lists and maps, not strings of JSON text (Arrow drops the JSON type)."""
    out = cli(root, "query", JSON_VALUES, "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [
        {
            "j": {"occluded": True, "n": 1.5},
            "nothing": None,
            "s": {"a": [1, 2], "b": "text"},
            "l": [{}, None],
            "m": [["k", "v"]],
            "not_json": '"just text"',
        }
    ]
    csv_out = cli(root, "query", "SELECT '{\"a\": 1}'::JSON AS j", "--format", "csv").output
    assert csv_out.splitlines() == ["j", '"{""a"": 1}"']  # CSV keeps the text


def test_query_timeout(root, cli):
    res = cli(
        root, "query", "select count(*) from range(1000000000) a, range(1000) b", "--timeout", "0.5"
    )
    assert res.exit_code == 2
    assert "timeout" in res.output


def test_bad_input_exit_code_and_message(root, cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"asset_id": "a", "class_name": "car", "bbox": [1, 2, -3, 4]}\n')
    res = cli(root, "import", "native", str(bad))
    assert res.exit_code == 2
    assert (
        res.output
        == f"Error: {bad}, line 1, field 'bbox': box width and height must not be negative\n"
    )
    assert json.loads(cli(root, "status", "--format", "json").output)["counts"]["labels"] == 0


def test_unknown_revision(root, cli):
    res = cli(root, "query", "--rev", "nope", "select 1")
    assert res.exit_code == 2
    assert res.output.startswith("Error: unknown revision 'nope'")


def test_every_command_has_help_with_an_example(cli, tmp_path):
    from lineage.cli import main

    def walk(group, prefix=()):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from walk(cmd, (*prefix, name))
            else:
                yield (*prefix, name), cmd

    missing = [" ".join(p) for p, cmd in walk(main) if "Example:" not in (cmd.help or "")]
    assert missing == []
    reference = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    undocumented = [
        " ".join(p) for p, _ in walk(main) if f"`lineage {' '.join(p)}`" not in reference
    ]
    assert undocumented == []
