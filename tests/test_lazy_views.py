"""Views are created when a statement first names them (issue 14: start-up).

Creating a view over Parquet reads every segment's footer; a statement reads two or
three of the dozen views. What is created must never change what a query returns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.demo import build_demo
from lineage.errors import QueryError
from lineage.query.views import PUBLIC_VIEWS
from lineage.repo import Repo


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Repo:
    root = tmp_path_factory.mktemp("lazy") / "demo"
    build_demo(root)
    return Repo.open(root)


def made(snap) -> set[str]:
    return {f"{schema}.{name}" for schema, name in snap.views._made}


def test_a_statement_that_names_no_view_creates_none(demo):
    with demo.at("v2") as snap:
        assert snap.sql("select 42 as answer").fetchall() == [(42,)]
        assert made(snap) == set()


def test_a_statement_creates_what_it_reads_and_nothing_else(demo):
    with demo.at("v2") as snap:
        snap.sql("select count(*) from labels").fetchall()
        names = {n.split(".")[1] for n in made(snap)}
        assert "labels" in names and "label_events_files" in names
        assert not names & {"reviews", "assets", "label_lineage", "versions", "_versions"}


@pytest.mark.parametrize("view", PUBLIC_VIEWS)
def test_every_view_reads_the_same_rows_lazily_as_when_all_exist(demo, view):
    sql = f"select * from {view} order by all"
    with demo.at("v2") as lazy:
        got = lazy.sql(sql).fetchall()
    with demo.at("v2") as eager:
        assert eager.views.ensure_all()  # every view created up front, as before
        assert eager.sql(sql).fetchall() == got


def test_a_view_named_by_no_word_is_found_on_a_second_try(demo):
    with demo.at("v2") as snap:
        ((n,),) = snap.sql("select count(*) from query_table(concat('lab', 'els'))").fetchall()
    with demo.at("v2") as snap:
        assert snap.sql("select count(*) from labels").fetchall() == [(n,)]


def test_a_pair_creates_each_side_by_name(demo):
    with demo.pair("v1", "v2") as pair:
        ((a, b),) = pair.sql(
            "select (select count(*) from a.labels), (select count(*) from labels)"
        ).fetchall()
        assert "a.labels" in made(pair) and "b.labels" in made(pair)
    with demo.at("v1") as one:
        assert one.sql("select count(*) from labels").fetchall() == [(a,)]
    with demo.at("v2") as two:
        assert two.sql("select count(*) from labels").fetchall() == [(b,)]


def test_an_unknown_table_is_still_a_clear_error(demo):
    with demo.at("v2") as snap, pytest.raises(QueryError, match="labelz"):
        snap.sql("select * from labelz").fetchall()


def test_views_created_late_are_still_sandboxed(demo, tmp_path: Path):
    outside = tmp_path / "x.parquet"
    with demo.at("v2") as snap:
        snap.sql("select count(*) from labels").fetchall()  # views made after the lock
        with pytest.raises(QueryError):
            snap.sql(f"copy (select 1) to '{outside}'")
        with pytest.raises(QueryError):
            snap.sql(f"select * from read_parquet('{outside}')").fetchall()
    assert not outside.exists()
