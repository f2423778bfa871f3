"""The DuckDB → Spark SQL translation of the views and of user SQL, without starting
Spark (the slow suite's tests/slow/test_spark.py runs it on Spark against DuckDB)."""

from __future__ import annotations

import itertools
import sys

import pytest
from click.testing import CliRunner

from lineage import engines
from lineage.cli import main
from lineage.engines import spark as engine
from lineage.engines.spark_sql import to_spark
from lineage.errors import InputError
from lineage.query import views
from lineage.store import schema as schemas
from lineage.store.checkpoint import EVERYTHING, Pieces


def source_columns() -> dict[str, dict[str, str]]:
    cols = {f"{t}_raw": {f.name: "" for f in schemas.schema(t)} for t in schemas.TABLES}
    for table in views.RENUMBERED:
        cols[f"{table}_files"] = cols.pop(f"{table}_raw")
    events = {f.name: "" for f in schemas.schema("label_events")}
    return cols | {"label_state_raw": events, "label_events_tail_files": events}


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=3)))
def test_every_view_translates_to_spark_without_duckdb_only_syntax(flags):
    renumber, checkpoint, tail = flags
    columns = source_columns()
    pieces = Pieces(tail=[(["t.parquet"], EVERYTHING)] if tail else []) if checkpoint else None
    for name, sql in views.derived(renumber=renumber, checkpoint=pieces):
        spark_sql, names = to_spark(sql, columns)
        columns[name] = dict.fromkeys(names, "")
        for duckdb_only in ("EXCLUDE", "REPLACE", "BY NAME", "JSON", "QUALIFY", "ARG_MAX"):
            assert duckdb_only not in spark_sql.upper(), (name, duckdb_only, spark_sql)
    # the public views keep DuckDB's columns, in DuckDB's order
    assert list(columns["labels"]) == [f.name for f in schemas.schema("label_events")]
    assert list(columns["label_lineage"])[-3:] == ["review_passes", "latest_verdict", "review_list"]


def test_ordered_lists_and_sets_are_sorted_on_their_keys():
    columns = {"r": {"a": "", "b": "", "x": ""}}
    sql, _ = to_spark("SELECT list(x ORDER BY a, b) AS l FROM r", columns)
    assert "ARRAY_SORT(COLLECT_LIST(STRUCT(r.a AS _k0, r.b AS _k1, r.x AS _v)))" in sql
    assert sql.endswith("_e -> _e._v) AS l FROM r AS r")
    sql, _ = to_spark("SELECT list(DISTINCT x ORDER BY x) AS l FROM r", columns)
    assert "COLLECT_SET(STRUCT(r.x AS _k0, r.x AS _v))" in sql
    with pytest.raises(InputError, match="DESC"):
        to_spark("SELECT list(x ORDER BY a DESC) FROM r", columns)


def test_union_by_name_puts_the_right_side_in_the_left_sides_order():
    columns = {"p": {"a": "", "b": ""}, "q": {"b": "", "a": ""}}
    sql, names = to_spark("SELECT * FROM p UNION ALL BY NAME SELECT * FROM q", columns)
    assert names == ["a", "b"]
    assert sql.endswith("UNION ALL SELECT q.a AS a, q.b AS b FROM q AS q")


def public_columns():
    columns = source_columns()
    for name, sql in views.derived(renumber=False, checkpoint=None):
        columns[name] = dict.fromkeys(to_spark(sql, columns)[1], "")
    return columns | {"versions": {"commit": ""}, "version_segments": {"commit": ""}}


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT reflect('java.lang.System', 'getenv', 'HOME')", "not allowed"),
        ("SELECT java_method('java.lang.Runtime', 'getRuntime')", "not allowed"),
        ("SELECT * FROM labels_raw", "no view 'labels_raw'"),
        ("SELECT * FROM read_parquet('/etc/passwd')", "reads only the views"),
        ('SELECT * FROM parquet."/etc/passwd"', "reads only the views"),
        ("DELETE FROM labels", "only a query"),
        ("SELECT nope FROM labels", "could not be resolved"),
        ("SELEC 1", "cannot parse"),
    ],
)
def test_user_sql_on_spark_is_one_query_over_the_public_views(sql, message):
    with pytest.raises(InputError, match=message):
        engine.user_sql(sql, public_columns())


def test_user_sql_may_name_its_own_ctes():
    sql = engine.user_sql(
        "WITH c AS (SELECT class_name FROM labels) SELECT count(*) FROM c", public_columns()
    )
    assert "FROM labels AS labels" in sql


def test_engine_options_are_checked_before_anything_runs(tmp_path, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(main, ["-C", str(tmp_path), "query", "--master", "local[2]", "select 1"])
    assert result.exit_code == 2 and "--master needs --engine spark" in result.output
    result = runner.invoke(
        main, ["-C", str(tmp_path), "query", "--engine", "spark", "--diff", "v1..v2", "select 1"]
    )
    assert result.exit_code == 2 and "does not take --diff" in result.output
    # without pyspark installed: one line saying what to install, exit 2
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.delitem(sys.modules, "lineage.engines.spark", raising=False)
    monkeypatch.delattr(engines, "spark", raising=False)
    result = runner.invoke(main, ["-C", str(tmp_path), "query", "--engine", "spark", "select 1"])
    assert result.exit_code == 2, result.output
    assert "needs pyspark" in result.output and "lineage[spark]" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
