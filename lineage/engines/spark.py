"""The store's views on Apache Spark: the same rows as DuckDB, for stores and audits
larger than one machine.

``register_views(spark, repo, rev)`` reads the revision's segment files (the ones
``Repo.revision`` checked against their hashes) with each table's schema and creates
the public views as temp views, from the one definition in ``lineage.query.views``
transpiled by ``spark_sql``. ``query`` runs user SQL (written as for DuckDB) the same
way; ``audit`` runs the audit's SQL checks on Spark.

Spark is no sandbox: the session reads no files named in SQL
(``spark.sql.runSQLOnFiles=false``), user SQL must be one query, and functions that call
into the JVM are refused, but run it only on data and SQL you would run Spark on.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow as pa
import pyspark  # noqa: F401  (missing: lineage.engines.spark() says how to install it)
import sqlglot
from sqlglot import exp

from lineage.engines.spark_sql import Columns, to_spark
from lineage.errors import EngineMissing, InputError, LineageError, QueryError
from lineage.query import views
from lineage.query.connection import VERSIONS_COLUMNS
from lineage.repo import Repo
from lineage.store import schema as schemas
from lineage.store.checkpoint import EVERYTHING, Ranges

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lineage.audit.policy import Policy
    from lineage.audit.run import AuditResult

DEFAULT_MASTER = "local[2]"
# Nothing leaves the machine on a local master: driver bound to loopback, no web UI.
LOOPBACK = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
}
LOG4J = Path(__file__).with_name("log4j2.properties")
SESSION = {
    "spark.ui.showConsoleProgress": "false",  # lineage draws its own progress
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J.as_uri()}",
    "spark.sql.session.timeZone": "UTC",  # timestamps print as DuckDB prints them
    "spark.sql.runSQLOnFiles": "false",  # no parquet.`/any/path` in user SQL
    "spark.sql.shuffle.partitions": "8",  # label stores, not 200-way shuffles of a few MB
}
# Functions that call any static Java method: never in user SQL.
JVM_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})


def session(
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    *,
    app: str = "lineage",
) -> SparkSession:
    """A SparkSession for the views: ``master`` (default ``local[2]``; a ``spark://``
    URL for a standalone cluster). A local master, or one on this machine, binds the
    driver to 127.0.0.1. The JVM's start-up output goes nowhere (its errors reach Python
    as exceptions)."""
    from pyspark.sql import SparkSession

    master = master or DEFAULT_MASTER
    settings = dict(SESSION)
    if _is_local(master):
        settings |= LOOPBACK
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings |= dict(conf or {})
    builder = SparkSession.builder.master(master).appName(app)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with _jvm_stderr_quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark's pandas notice
            spark = builder.getOrCreate()
    except Exception as exc:  # no Java, or the master refused us
        raise EngineMissing(
            f"cannot start Spark on {master}: {_message(exc)}",
            hint="Spark needs Java 17 or newer (JAVA_HOME or java on the PATH)",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def _jvm_stderr_quiet() -> Iterator[None]:
    """The JVM that Spark starts inherits our stderr and prints start-up notices on it:
    point file descriptor 2 at /dev/null while it starts."""
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _is_local(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = urlparse(master).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


@dataclass
class Plan:
    """What the views of one revision are on Spark, worked out before Spark starts:
    the source files of each table, each derived view in Spark SQL, every columns list."""

    # name: table, pieces (files, the label_id ranges read from them)
    sources: dict[str, tuple[str, list[tuple[list[Path | str], Ranges]]]] = field(
        default_factory=dict
    )
    statements: list[tuple[str, str]] = field(default_factory=list)  # (view, Spark SELECT)
    versions: dict[str, tuple[str, list[tuple]]] = field(default_factory=dict)  # name: DDL, rows
    columns: Columns = field(default_factory=dict)


def plan(repo: Repo | str | Path, rev: str | None = None) -> Plan:
    """The views of ``rev`` (None: HEAD plus staged work), translated for Spark."""
    repo = repo if isinstance(repo, Repo) else Repo.open(repo)
    files, versions = repo.revision(rev)
    out = Plan()

    def source(name: str, table: str, pieces: list[tuple[list[Path | str], Ranges]]) -> None:
        out.sources[name] = (table, pieces)
        out.columns[name] = {f.name: "" for f in schemas.schema(table)}

    for table in schemas.TABLES:
        paths = files.files(table)
        source(f"{table}_files" if table in views.RENUMBERED else f"{table}_raw", table,
               [(paths, EVERYTHING)] if paths else [])  # fmt: skip
    checkpoint = files.checkpoint()
    if checkpoint is not None:
        source("label_state_raw", "label_events", [([p], r) for p, r in checkpoint.state])
        source("label_events_tail_files", "label_events", checkpoint.tail)
    derived = views.derived(renumber=bool(files.files("revision_map")), checkpoint=checkpoint)
    for name, sql in derived:
        spark_sql, names = to_spark(sql, out.columns)
        out.statements.append((name, spark_sql))
        out.columns[name] = dict.fromkeys(names, "")
    for name, data in (("versions", versions.versions), ("version_segments", versions.segments)):
        types = VERSIONS_COLUMNS[f"_{name}"]
        ddl = ", ".join(f"`{c}` {_SPARK_VERSION_TYPES[t]}" for c, t in types.items())
        out.versions[name] = (ddl, list(zip(*(data[c] for c in types), strict=True)))
        out.columns[name] = dict.fromkeys(types, "")
    return out


def register(spark: SparkSession, views_plan: Plan) -> None:
    """Create a plan's views as temp views of ``spark``."""
    for name, (table, pieces) in views_plan.sources.items():
        ddl = schemas.spark_columns(table)
        frames = []  # read with the table's schema: columns an older segment lacks are null
        for paths, ranges in pieces:
            frame = spark.read.schema(ddl).parquet(*(str(p) for p in paths))
            frames.append(frame if ranges == EVERYTHING else frame.where(_in_ranges(ranges)))
        df = frames[0] if frames else spark.createDataFrame([], ddl)
        for frame in frames[1:]:
            df = df.unionByName(frame)
        df.createOrReplaceTempView(name)
    for name, sql in views_plan.statements:
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
    for name, (ddl, rows) in views_plan.versions.items():
        spark.createDataFrame(rows, ddl).createOrReplaceTempView(name)


def _in_ranges(ranges: Ranges) -> Any:
    """A Spark condition: ``label_id`` in one of ``ranges`` (values as literals, never SQL text)."""
    from functools import reduce

    from pyspark.sql import functions as F

    label = F.col("label_id")
    terms = []
    for lo, hi in ranges:
        term = F.lit(True)
        if lo is not None:
            term = term & (label >= F.lit(lo))
        if hi is not None:
            term = term & (label < F.lit(hi))
        terms.append(term)
    return reduce(lambda a, b: a | b, terms, F.lit(False))


def register_views(spark: SparkSession, repo: Repo | str | Path, rev: str | None = None) -> Columns:
    """Create the public views of ``rev`` (None: HEAD plus staged work) as temp views of
    ``spark``; returns every view's columns (what ``query`` expands stars with)."""
    views_plan = plan(repo, rev)
    register(spark, views_plan)
    return views_plan.columns


_SPARK_VERSION_TYPES = {
    "VARCHAR": "STRING",
    "VARCHAR[]": "ARRAY<STRING>",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "INTEGER": "INT",
}


def user_sql(sql: str, columns: Columns) -> str:
    """User SQL (DuckDB's dialect, as for ``lineage query``) in Spark's, over the public
    views only; refuses functions that reach into the JVM."""
    public = {name: cols for name, cols in columns.items() if name in views.PUBLIC_VIEWS}
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        tree = None
    if tree is not None:
        for fn in tree.find_all(exp.Anonymous, exp.Func):
            name = fn.name if isinstance(fn, exp.Anonymous) else fn.sql_name()
            if name.lower() in JVM_FUNCTIONS:
                raise InputError(f"{name}() is not allowed in SQL run on Spark")
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier) or table.args.get("db"):
                raise InputError(f"SQL on Spark reads only the views, not {table.sql('duckdb')}")
            if table.name and table.name not in public and not _is_cte(table):
                raise InputError(
                    f"no view {table.name!r} on Spark",
                    hint="the views: " + ", ".join(sorted(public)),
                )
    return to_spark(sql, public)[0]


def _is_cte(table: exp.Table) -> bool:
    query = table.find_ancestor(exp.Query)
    while query is not None:
        with_ = query.args.get("with") or query.args.get("with_")
        if with_ is not None and any(cte.alias == table.name for cte in with_.expressions):
            return True
        query = query.find_ancestor(exp.Query)
    return False


def query(spark: SparkSession, sql: str, columns: Columns) -> pa.Table:
    """The rows of user ``sql`` on the registered views, as an Arrow table."""
    return _run(spark, user_sql(sql, columns))


def _run(spark: SparkSession, spark_sql: str) -> pa.Table:
    try:
        return _arrow(spark.sql(spark_sql))
    except Exception as exc:
        raise _spark_error(exc) from None


def _spark_error(exc: Exception) -> Exception:
    """Spark's own errors (analysis, parse, runtime) as a one-line QueryError (exit 2)."""
    from pyspark.errors import PySparkException

    if isinstance(exc, PySparkException):
        return QueryError(f"Spark: {_message(exc)}")
    return exc


def _arrow(df: Any) -> pa.Table:
    with warnings.catch_warnings():  # pyspark's pandas version notice: we use no pandas
        warnings.simplefilter("ignore", FutureWarning)
        return df.toArrow()


def _message(exc: Exception) -> str:
    text = getattr(exc, "getMessage", lambda: str(exc))()
    return str(text).strip().splitlines()[0]


class SparkSQL:
    """The small part of a DuckDB connection the audit's checks use (``sql(q)`` with
    ``columns`` and ``fetchall()``), answered by Spark: the checks run unchanged."""

    def __init__(self, spark: SparkSession, columns: Columns):
        self.spark = spark
        self.columns = columns

    def sql(self, sql: str) -> _Relation:
        spark_sql, names = to_spark(sql, self.columns)
        try:
            return _Relation(self.spark.sql(spark_sql), names)
        except Exception as exc:
            raise _spark_error(exc) from None


class _Relation:
    def __init__(self, df: Any, names: list[str]):
        self.df = df
        self.columns = names

    def fetchall(self) -> list[tuple]:
        # through Arrow: timestamps come back as UTC instants, as DuckDB gives them
        try:
            table = _arrow(self.df)
        except Exception as exc:
            raise _spark_error(exc) from None
        return list(zip(*(c.to_pylist() for c in table.columns), strict=True))


def audit(
    spark: SparkSession,
    repo: Repo | str | Path,
    rev: str | None = None,
    *,
    policy: Policy | str | Path | None = None,
    examples: int = 10,
) -> AuditResult:
    """``Repo.audit`` with its SQL checks and summaries run on Spark (the integrity and
    agreement checks, which are not SQL, run as they do for DuckDB)."""
    repo = repo if isinstance(repo, Repo) else Repo.open(repo)
    columns = register_views(spark, repo, rev)
    return repo.audit(rev, policy=policy, examples=examples, sql=SparkSQL(spark, columns))


@contextmanager
def running(
    master: str | None = None, conf: Mapping[str, str] | None = None
) -> Iterator[SparkSession]:
    """A session for one command: stopped when done."""
    spark = session(master, conf)
    try:
        yield spark
    finally:
        spark.stop()


def run_query(
    repo: Repo | str | Path, sql: str, rev: str | None = None, *, master: str | None = None
) -> pa.Table:
    """``lineage query --engine spark``: one session, the views of ``rev``, the rows."""
    views_plan = plan(repo, rev)
    spark_sql = user_sql(sql, views_plan.columns)  # bad SQL fails before Spark starts
    with running(master) as spark:
        register(spark, views_plan)
        return _run(spark, spark_sql)


def result_types(repo: Repo | str | Path, sql: str, rev: str | None = None) -> list | None:
    """DuckDB's types of ``sql``'s columns on ``rev``, bound but not run (None when
    DuckDB does not bind it): Spark has no JSON type, and the CLI prints JSON values as
    JSON with either engine."""
    repo = repo if isinstance(repo, Repo) else Repo.open(repo)
    try:
        with repo.query(sql, rev) as rows:
            return list(rows.relation.types)
    except LineageError:
        return None


def run_audit(
    repo: Repo | str | Path,
    rev: str | None = None,
    *,
    policy: Policy | str | Path | None = None,
    examples: int = 10,
    master: str | None = None,
) -> AuditResult:
    """``lineage audit --engine spark``: the audit with its SQL on one Spark session."""
    with running(master) as spark:
        return audit(spark, repo, rev, policy=policy, examples=examples)
