"""The views and audit checks on Apache Spark give the same rows as on DuckDB (the
oracle), on real stores: the demo's tags, a checkpoint with and without a tail, staged
work, and a merge that renumbered revisions. Spark runs in ``local[2]`` bound to
127.0.0.1 (no UI), and once as a standalone master + worker started from the pyspark
package on 127.0.0.1; every JVM is killed by PID in teardown.

Slow (a JVM start is ~10-30 s here): `.ci/run` runs them with the slow suite.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lineage.audit.policy import Policy
from lineage.demo import build_demo
from lineage.engines import spark as engine
from lineage.errors import InputError, QueryError
from lineage.query.views import PUBLIC_VIEWS
from lineage.repo import Repo
from tests.conftest import write_jsonl
from tests.test_merge import base, box, lid, on_branches  # noqa: F401  (base: a fixture)

pytestmark = pytest.mark.slow

ENV = {"DVC_NO_ANALYTICS": "1", "AWS_EC2_METADATA_DISABLED": "true", "SPARK_LOCAL_IP": "127.0.0.1"}


@pytest.fixture(scope="module")
def spark():
    # a few MB of labels: two shuffle partitions, not eight
    session = engine.session("local[2]", {"spark.sql.shuffle.partitions": "2"})
    pid = session.sparkContext._gateway.proc.pid
    try:
        yield session
    finally:
        session.stop()
        _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Repo:
    root = tmp_path_factory.mktemp("spark") / "demo"
    build_demo(root)
    return Repo.open(root)


def normal(value):
    """One form for both engines' Python values: instants in UTC, JSON text parsed."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    return value


def rows(table) -> list[str]:
    out = []
    for row in table.to_pylist():
        row = normal(row)
        if isinstance(row.get("attributes"), str):
            row["attributes"] = json.loads(row["attributes"])
        out.append(json.dumps(row, sort_keys=True))
    return sorted(out)


def same_views(spark, repo: Repo, rev: str | None) -> None:
    columns = engine.register_views(spark, repo, rev)
    with repo.at(rev) as snap:
        for view in PUBLIC_VIEWS:
            expected = snap.con.sql(f"SELECT * FROM {view}").to_arrow_table()
            got = engine.query(spark, f"SELECT * FROM {view}", columns)
            assert got.column_names == expected.column_names, view
            assert rows(got) == rows(expected), (rev, view)


@pytest.mark.parametrize("rev", ["v1", None])
def test_every_view_of_the_demo_matches_duckdb(spark, demo, rev):
    same_views(spark, demo, rev)


PARTS = """[store]
checkpoint_parts = 4
checkpoint_budget = 0.26
checkpoint_ratio = 0.0001
checkpoint_min_events = 1
"""


def test_checkpoint_tail_and_staged_work_match_duckdb(spark, demo, tmp_path):
    root = tmp_path / "cp"
    shutil.copytree(demo.root, root, symlinks=True)
    repo = Repo.open(root)
    repo.compact(tag="cp")
    with repo.at() as snap:
        some = snap.con.sql("SELECT label_id, asset_id FROM labels ORDER BY 1 LIMIT 2").fetchall()
    edits = [
        {"label_id": some[0][0], "asset_id": some[0][1], "op": "delete"},
        {**box(900, 5.0), "asset_id": some[1][1], "guideline_version": "v2"},
    ]
    repo.import_("native", write_jsonl(tmp_path / "edit.jsonl", edits), guideline="v2",
                 mode="patch")  # fmt: skip
    repo.commit("after the checkpoint", tag="tail")
    # a commit that rewrites one of four parts: the checkpoint is read for the others
    config = root / "lineage.toml"
    config.write_text(config.read_text().replace("[store]\n", PARTS))
    edits = [{**box(901, 6.0), "asset_id": some[1][1], "guideline_version": "v2"}]
    repo.import_("native", write_jsonl(tmp_path / "more.jsonl", edits), guideline="v2")
    repo.commit("a part rewritten", tag="part")
    with repo.at("part") as snap:
        pieces = snap.files.checkpoint()
        assert pieces is not None and len(pieces.state) == 2, pieces
    repo.add_review(some[1][0], pass_=3, reviewer="dave", verdict="reject", reason="wrong")
    for rev in ("cp", "tail", "part", None):  # the checkpoint, a tail, parts, staged work
        same_views(spark, repo, rev)


def test_a_merge_that_renumbered_revisions_matches_duckdb(spark, base, tmp_path):  # noqa: F811
    on_branches(base, tmp_path, [box(1, 11.0), box(3, 31.0)], [box(1, 12.0), box(5, 55.0)])
    base.add_review(lid(1), pass_=1, reviewer="rev1", verdict="accept")
    base.commit("review on main")
    assert base.merge("vendor").status == "conflicts"
    base.resolve([lid(1)], take="theirs")
    base.merge_continue()
    with base.at() as snap:
        assert snap.con.sql("SELECT count(*) FROM revision_map_raw").fetchall()[0][0] > 0
    same_views(spark, base, None)


def test_the_audit_on_spark_is_the_audit_on_duckdb(spark, demo):
    policy = Policy(
        max_rejection_rate=0.2,
        min_labels_per_class=10,
        class_passes={"person": 2},
        required_passes=1,
    )
    expected = demo.audit("v2", policy=policy)
    got = engine.audit(spark, demo, "v2", policy=policy)
    assert expected.counts["error"] > 0  # the comparison covers failing checks too
    expected_dict, got_dict = expected.as_dict(), got.as_dict()
    for result in (expected_dict, got_dict):
        result.pop("generated_at")
    assert got_dict == expected_dict


def test_user_sql_is_one_query_on_the_views(spark, demo):
    columns = engine.register_views(spark, demo, "v1")
    for sql, error in [
        ("SELECT reflect('java.lang.System', 'getenv', 'HOME')", InputError),
        ("SELECT java_method('java.lang.System', 'exit', 1)", InputError),
        ("SELECT * FROM parquet.`/etc/passwd`", InputError),
        ("SELECT * FROM labels_raw", InputError),  # not a public view
        ("DROP VIEW labels", InputError),
        ("SELECT no_such_column FROM labels", InputError),
        ("SELECT 1 / 0", QueryError),  # Spark's own runtime error, in one line
    ]:
        with pytest.raises(error):
            engine.query(spark, sql, columns)
    # DuckDB's dialect works: EXCLUDE, ::casts, list(... ORDER BY), QUALIFY
    got = engine.query(
        spark,
        "SELECT * EXCLUDE (polygon, keypoints), revision::BIGINT AS r FROM labels "
        "QUALIFY row_number() OVER (PARTITION BY asset_id ORDER BY label_id) = 1",
        columns,
    )
    with demo.at("v1") as snap:
        assert (
            got.num_rows
            == snap.con.sql("SELECT count(DISTINCT asset_id) FROM labels").fetchall()[0][0]
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def standalone(tmp_path):
    """A Spark standalone master and one worker from the pyspark package, on 127.0.0.1."""
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {**os.environ, **ENV, "SPARK_LOCAL_DIRS": str(tmp_path / "local"),
           "SPARK_WORKER_DIR": str(tmp_path / "work"), "SPARK_LOG_DIR": str(tmp_path)}  # fmt: skip
    master_url = f"spark://127.0.0.1:{port}"
    procs = []
    try:
        for args, log in [
            (["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
              str(port), "--webui-port", str(ui)], "master.log"),
            (["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--webui-port",
              str(worker_ui), "--cores", "2", "--memory", "1g", master_url], "worker.log"),
        ]:  # fmt: skip
            with open(tmp_path / log, "w") as out:
                procs.append(subprocess.Popen([str(spark_class), *args], env=env, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
            marker = "Starting Spark master" if log == "master.log" else "Successfully registered"
            deadline = time.monotonic() + 120
            while marker not in (tmp_path / log).read_text():
                assert time.monotonic() < deadline, (tmp_path / log).read_text()[-2000:]
                assert procs[-1].poll() is None, (tmp_path / log).read_text()[-2000:]
                time.sleep(0.5)
        yield master_url
    finally:
        for proc in procs:  # the worker's executors are in its process group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def lineage(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **ENV, "PYSPARK_PYTHON": sys.executable}
    return subprocess.run([sys.executable, "-m", "lineage", "-C", str(root), *args],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


def test_the_cli_on_a_standalone_cluster_prints_what_duckdb_prints(demo, standalone):
    sql = (
        "SELECT class_name, count(*) AS n, min(label_id) AS first FROM labels GROUP BY 1 ORDER BY 1"
    )
    duck = lineage(demo.root, "query", "--rev", "v2", sql, "--format", "json")
    assert duck.returncode == 0, duck.stderr
    on_spark = lineage(demo.root, "query", "--rev", "v2", sql, "--format", "json",
                       "--engine", "spark", "--master", standalone)  # fmt: skip
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stdout == duck.stdout
    assert on_spark.stderr == ""  # the JVM's start-up notices stay out of the terminal
    # JSON values print as JSON with either engine (Spark has no JSON type)
    sql = "SELECT label_id, attributes FROM labels ORDER BY label_id LIMIT 3"
    duck = lineage(demo.root, "query", "--rev", "v2", sql, "--format", "json")
    on_spark = lineage(demo.root, "query", "--rev", "v2", sql, "--format", "json",
                       "--engine", "spark", "--master", standalone)  # fmt: skip
    assert on_spark.returncode == duck.returncode == 0, on_spark.stderr + duck.stderr
    assert json.loads(on_spark.stdout) == json.loads(duck.stdout)
    assert all(isinstance(r["attributes"], dict) for r in json.loads(duck.stdout))
