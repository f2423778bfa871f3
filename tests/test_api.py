"""The front door: every command's Repo method, used as a Python caller would.

The CLI tests check what people see; these check that the API returns what it says
(Rows that close their snapshot, a Diff with its forms, typed results) and that the
CLI prints exactly what the API returns.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from lineage.demo import build_demo
from lineage.errors import InputError, QueryError
from lineage.formats.base import ImportOptions
from lineage.repo import Repo
from tests.conftest import write_jsonl


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("api") / "demo"
    build_demo(root)
    return root


@pytest.fixture
def demo(demo_root: Path, tmp_path: Path) -> Repo:
    """A private copy of the demo (tests that write must not see each other)."""
    shutil.copytree(demo_root, tmp_path / "demo", symlinks=True)
    return Repo.open(tmp_path / "demo")


def _label(repo: Repo, rev: str = "v2") -> str:
    with repo.query("select label_id from labels order by label_id limit 1", rev) as rows:
        return rows.to_pylist()[0]["label_id"]


def test_rows_close_their_snapshot(demo_root):
    repo = Repo.open(demo_root)
    rows = repo.query("select count(*) as n from labels", "v1")
    assert rows.columns == ["n"] and rows.to_pylist()[0]["n"] > 0
    assert rows.sql == "select count(*) as n from labels"
    temp = rows.snapshot._temp_dir
    assert temp is not None and temp.is_dir()
    rows.close()
    assert not temp.exists()  # the snapshot's scratch folder went with it
    rows.close()  # closing twice is harmless


def test_query_is_sandboxed_and_checked(demo_root):
    repo = Repo.open(demo_root)
    with pytest.raises(QueryError):
        repo.query("create table x as select 1")
    with pytest.raises(QueryError):
        repo.query("select * from read_csv('/etc/passwd')").to_pylist()


def test_history_forms_agree(demo_root):
    repo = Repo.open(demo_root)
    label = _label(repo)
    with repo.history(label, "v2") as nested:
        revisions = nested.to_pylist()
    with repo.history(label, "v2", form="rows") as flat:
        rows = flat.to_pylist()
    assert [r["revision"] for r in revisions] == [
        r["revision"] for r in rows if r["row_type"] == "revision"
    ]
    assert sum(len(r["reviews"]) for r in revisions) == sum(
        1 for r in rows if r["row_type"] == "review"
    )
    with pytest.raises(InputError, match="form must be"):
        repo.history(label, form="wide")
    with pytest.raises(InputError, match="no label"):
        repo.history("ffffffffffffffff")


def test_blame_forms(demo_root):
    repo = Repo.open(demo_root)
    with repo.query("select asset_id from labels limit 1", "v2") as rows:
        asset = rows.to_pylist()[0]["asset_id"]
    with repo.blame(asset, "v2") as full, repo.blame(asset, "v2", compact=True) as short:
        assert [r["label_id"] for r in full.to_pylist()] == [
            r["label_id"] for r in short.to_pylist()
        ]
        assert "annotator_kind" in full.columns and "annotator_kind" not in short.columns


def test_diff_forms_count_the_same_changes(demo_root):
    repo = Repo.open(demo_root)
    with repo.diff("v1", "v2") as diff:
        changes = diff.rows("changes").arrow()
        flat = diff.rows("flat").arrow()
        summary = {
            (r["dimension"], r["key"]): r["labels"] for r in diff.rows("summary").to_pylist()
        }
        assert changes.num_rows == flat.num_rows == summary[("total", None)] > 0
        assert diff.summary()["labels"] == changes.num_rows
        assert diff.source["rev"] == "v1" and diff.target["rev"] == "v2"
        assert diff.fast  # v1 is an ancestor of v2
        with pytest.raises(ValueError):
            diff.form_sql("wide")
    # the pair built B's views once, in schema b; unqualified names resolve there
    pair = repo.pair("v1", "v2")
    with pair:
        names = pair.con.sql(
            "select schema_name, count(*) from duckdb_views() where not internal "
            "and view_name = 'labels' group by all order by 1"
        ).fetchall()
        assert names == [("a", 1), ("b", 1)]
        n = pair.con.sql("select count(*) from labels").fetchall()
        assert n == pair.con.sql("select count(*) from b.labels").fetchall()
        assert pair.base.rev == "v1" and pair.files.rev == "v2"


def test_query_with_a_diff_view(demo_root):
    repo = Repo.open(demo_root)
    with repo.query("select count(*) as n from diff", diff=("v1", "v2")) as rows:
        n = rows.to_pylist()[0]["n"]
    with repo.diff("v1", "v2") as diff:
        assert n == diff.relation.count("*").fetchall()[0][0]


def test_cli_prints_what_the_api_returns(demo_root, cli):
    repo = Repo.open(demo_root)
    res = cli(demo_root, "diff", "v1", "v2", "--format", "csv")
    assert res.exit_code == 0, res.stderr
    printed = list(csv.DictReader(io.StringIO(res.stdout)))
    with repo.diff("v1", "v2") as diff:
        api = diff.rows("flat").to_pylist()
    assert [r["label_id"] for r in printed] == [r["label_id"] for r in api]
    res = cli(demo_root, "guideline", "list", "--format", "json")
    with repo.guidelines() as rows:
        assert [g["version"] for g in json.loads(res.stdout)] == [
            g["version"] for g in rows.to_pylist()
        ]
    res = cli(demo_root, "stats", "--sql")
    assert all(sql in res.stdout for sql in repo.stats_sql().values())


def test_audit_takes_a_policy_file_or_object(demo_root, tmp_path):
    from lineage.audit.policy import Policy

    repo = Repo.open(demo_root)
    strict = tmp_path / "policy.toml"
    strict.write_text("[policy]\nrequired_passes = 3\n")
    loose = repo.audit("v2", policy=Policy(required_passes=0))
    tight = repo.audit("v2", policy=strict)
    assert tight.policy.required_passes == 3 and loose.policy.required_passes == 0
    status = {c.id: c.status for c in tight.checks}
    assert status["coverage.passes"] == "fail" and status["integrity"] == "pass"
    # the work state has no commit to verify: integrity passes without a verify run
    assert {c.id: c.status for c in repo.audit(None).checks}["integrity"] == "pass"


def test_sample_and_record_stage_transactions(demo, tmp_path):
    drawn = demo.sample("v2", aql=10, seed=3)
    assert drawn.labels.num_rows == drawn.plan.n
    staged = demo.status().staged
    assert [t["kind"] for t in staged] == ["sample"]
    results = tmp_path / "results.csv"
    ids = drawn.labels.column("label_id").to_pylist()
    results.write_text("label_id,outcome,reviewer_id\n" + "".join(f"{i},ok,auditor\n" for i in ids))
    decision = demo.record_sample(drawn.sample_id, results)
    assert decision.decision == "accept" and decision.defects == 0
    assert [t["kind"] for t in demo.status().staged] == ["sample", "review"]


def test_import_takes_options_or_keywords(demo, tmp_path):
    path = write_jsonl(
        tmp_path / "more.jsonl",
        [{"asset_id": "new.jpg", "class_name": "car", "bbox": [1, 2, 3, 4]}],
    )
    options = ImportOptions(guideline="v2", annotator="erin", mode="patch")
    by_object = demo.import_("native", path, options, dry_run=True)
    by_keywords = demo.import_(
        "native", path, guideline="v2", annotator="erin", mode="patch", dry_run=True
    )
    assert by_object.created == by_keywords.created == 1
    assert by_object.mode == by_keywords.mode == "patch"
    events = by_object.events
    assert isinstance(events, pa.Table)
    assert events.column("annotator_id").to_pylist() == ["erin"]
    with pytest.raises(TypeError, match="unknown import option"):
        demo.import_("native", path, guidline="v2")
    with pytest.raises(TypeError, match="not both"):
        demo.import_("native", path, options, guideline="v2")
    with pytest.raises(InputError, match="match must be"):
        demo.import_("native", path, match="closest")
    with pytest.raises(InputError, match="mode must be"):
        demo.import_("native", path, ImportOptions(mode="replace"))
    assert demo.status().staged == []  # nothing staged by any of it


def test_proofs_through_the_api(demo_root):
    repo = Repo.open(demo_root)
    proof = repo.inclusion_proof(_label(repo))
    assert proof.verified and proof.root == repo.verify().root
    consistency = repo.consistency_proof("v1", "v2")
    assert consistency.verified
    assert consistency.first_root == repo.verify("v1").root
    with pytest.raises(InputError, match="no label"):
        repo.inclusion_proof("ffffffffffffffff")


def test_opening_a_revision_does_not_import_pandas(demo_root):
    """Start-up: pyarrow imports pandas (a third of a second) on the first conversion of
    Python objects; the read path builds its tables in DuckDB instead. Run in a fresh
    interpreter, so nothing else imported it first."""
    import subprocess
    import sys

    code = (
        "import sys; from lineage.repo import Repo; "
        f"rows = Repo.open({str(demo_root)!r}).query('select count(*) from versions', 'v2'); "
        "print(rows.relation.fetchall()[0][0], 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "False"], out.stdout + out.stderr


def test_the_typed_empty_tables_match_the_arrow_schemas():
    """The DuckDB DDL written from schemas/*.json is the type DuckDB gives the Arrow
    schema of the same table (the oracle: DuckDB's own Arrow conversion)."""
    import duckdb

    from lineage.store import schema as schemas

    con = duckdb.connect()
    for table in schemas.STORED_TABLES:
        con.register("t", schemas.empty(table))
        want = con.sql("DESCRIBE SELECT * FROM t").fetchall()
        con.execute(f"CREATE TABLE x ({schemas.duckdb_columns(table)})")
        got = con.sql("DESCRIBE SELECT * FROM x").fetchall()
        con.execute("DROP TABLE x")
        assert [r[:2] for r in got] == [r[:2] for r in want], table
