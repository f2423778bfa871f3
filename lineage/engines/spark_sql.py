"""DuckDB SQL to Spark SQL: the views and audit checks are written once, in DuckDB's
dialect, and transpiled with sqlglot.

sqlglot translates the functions (``arg_max`` → ``max_by``, ``struct_pack`` →
``struct``, ``QUALIFY`` → a filtered subquery); what it leaves to us, given the
columns of every table:

- ``* EXCLUDE`` / ``* REPLACE`` and every star: expanded into columns (Spark has neither);
- ``::JSON``: Spark keeps JSON in strings, so the cast goes;
- ``UNION ALL BY NAME``: the right side's columns put in the left side's order;
- ``list(x ORDER BY k)``: ``collect_list`` has no order, so the list is sorted on the
  keys (``array_sort`` of structs compares field by field) and the value taken out.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from lineage.errors import InputError

Columns = dict[str, dict[str, str]]  # table or view -> column -> type (names suffice)


def to_spark(sql: str, columns: Columns) -> tuple[str, list[str]]:
    """``sql`` (one SELECT in DuckDB's dialect over the tables in ``columns``) in Spark's
    dialect, and the names of its output columns."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise InputError(f"cannot parse the SQL for Spark: {_first_line(exc)}") from None
    if not isinstance(tree, exp.Query):
        raise InputError("only a query (SELECT or WITH ... SELECT) runs on Spark")
    try:
        tree = qualify(tree, schema=dict(columns), dialect="duckdb", quote_identifiers=False)
    except sqlglot.errors.OptimizeError as exc:
        raise InputError(f"cannot translate the SQL for Spark: {_first_line(exc)}") from None
    names = list(tree.named_selects)
    tree = tree.transform(_spark_forms)
    return tree.sql("spark"), names


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _spark_forms(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.JSON:
        return node.this
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return _union_by_position(node)
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        return _sorted_list(node.this)
    return node


def _union_by_position(node: exp.Union) -> exp.Union:
    left, right = node.this, node.expression
    if not (isinstance(left, exp.Select) and isinstance(right, exp.Select)):
        raise InputError("UNION ALL BY NAME runs on Spark only between two SELECTs")
    by_name = {e.alias_or_name: e for e in right.expressions}
    order = left.named_selects
    if sorted(by_name) != sorted(order):
        raise InputError("UNION ALL BY NAME on Spark needs the same columns on both sides")
    # reordered in place: sqlglot's transform then still visits both sides
    right.set("expressions", [by_name[name] for name in order])
    node.set("by_name", None)
    return node


def _sorted_list(order: exp.Order) -> exp.Expression:
    keys = []
    for i, key in enumerate(order.expressions):
        if key.args.get("desc"):
            raise InputError("list(... ORDER BY ... DESC) has no Spark translation yet")
        keys.append(exp.alias_(key.this.copy(), f"_k{i}"))
    this, collect = order.this, "COLLECT_LIST"
    if isinstance(this, exp.Distinct):  # list(DISTINCT x ORDER BY ...): a set, sorted
        this, collect = this.expressions[0], "COLLECT_SET"
    value = exp.alias_(this.copy(), "_v")
    packed = exp.Struct(expressions=[*keys, value])
    collected = exp.Anonymous(this=collect, expressions=[packed])
    sort = exp.Anonymous(this="ARRAY_SORT", expressions=[collected])
    return sqlglot.parse_one("TRANSFORM(s, _e -> _e._v)", read="spark").transform(
        lambda n: sort if isinstance(n, exp.Column) and n.name == "s" else n
    )
