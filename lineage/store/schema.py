"""Load the table schemas in ``schemas/*.json`` and enforce them on writes.

The JSON files are the single source of truth: docs, code and checks all read them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pyarrow as pa

from lineage.errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
TABLES = (
    "label_events",
    "reviews",
    "guidelines",
    "categories",
    "annotators",
    "assets",
    "transactions",
    "samples",
    "revision_map",
)
# Checkpoints: materialised current state (label_events rows), written by `lineage compact`.
CHECKPOINTS = "checkpoints"
STORED_TABLES = (*TABLES, CHECKPOINTS)
_SCALARS = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def _arrow_type(spec) -> pa.DataType:
    if isinstance(spec, str):
        return _SCALARS[spec]
    if "list" in spec:
        return pa.list_(_arrow_type(spec["list"]))
    if "struct" in spec:
        return pa.struct([pa.field(f["name"], _arrow_type(f["type"])) for f in spec["struct"]])
    raise ValueError(f"unknown schema type {spec!r}")


@cache
def spec(table: str) -> dict:
    """The parsed JSON spec of one table (a checkpoint has the label_events schema)."""
    name = "label_events" if table == CHECKPOINTS else table
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


@cache
def schema(table: str) -> pa.Schema:
    """The Arrow schema of one table, as every segment of it is written."""
    return pa.schema(
        [
            pa.field(f["name"], _arrow_type(f["type"]), nullable=f["nullable"])
            for f in spec(table)["fields"]
        ]
    )


_SQL_SCALARS = {
    "duckdb": {
        "string": "VARCHAR",
        "int32": "INTEGER",
        "int64": "BIGINT",
        "float64": "DOUBLE",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
    },
    "spark": {
        "string": "STRING",
        "int32": "INT",
        "int64": "BIGINT",
        "float64": "DOUBLE",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",  # Spark's timestamps are instants (session time zone)
    },
}


def _sql_type(spec, dialect: str) -> str:
    if isinstance(spec, str):
        return _SQL_SCALARS[dialect][spec]
    if "list" in spec:
        inner = _sql_type(spec["list"], dialect)
        return f"{inner}[]" if dialect == "duckdb" else f"ARRAY<{inner}>"
    if dialect == "duckdb":
        return (
            "STRUCT("
            + ", ".join(f'"{f["name"]}" {_sql_type(f["type"], dialect)}' for f in spec["struct"])
            + ")"
        )
    return (
        "STRUCT<"
        + ", ".join(f"`{f['name']}`: {_sql_type(f['type'], dialect)}" for f in spec["struct"])
        + ">"
    )


@cache
def duckdb_columns(table: str) -> str:
    """``"name" TYPE, ...`` of a table in DuckDB's types, for typed empty tables: read
    from the JSON spec (no DuckDB connection or Arrow conversion at start-up)."""
    return ", ".join(
        f'"{f["name"]}" {_sql_type(f["type"], "duckdb")}' for f in spec(table)["fields"]
    )


@cache
def spark_columns(table: str) -> str:
    """``name TYPE, ...`` of a table in Spark SQL's types: the schema Spark reads its
    segments with (columns an older segment lacks read as null)."""
    return ", ".join(
        f"`{f['name']}` {_sql_type(f['type'], 'spark')}" for f in spec(table)["fields"]
    )


def enums(table: str) -> dict[str, list[str]]:
    """Allowed values of the enumerated columns of a table."""
    return {f["name"]: f["enum"] for f in spec(table)["fields"] if "enum" in f}


def empty(table: str) -> pa.Table:
    return schema(table).empty_table()


def conform(table: str, data: pa.Table, *, file: str | None = None) -> pa.Table:
    """Cast ``data`` to the table's schema (columns in order, missing nullable ones null)
    and check non-null and enum constraints; raises InputError naming the first bad row."""
    target = schema(table)
    n = data.num_rows
    cols = []
    for field in target:
        if field.name in data.column_names:
            col = data.column(field.name)
            if col.type != field.type:
                try:
                    col = col.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise InputError(
                        f"cannot store as {field.type}: {exc}", file=file, field=field.name
                    ) from exc
        else:
            col = pa.nulls(n, field.type)
        if not field.nullable and col.null_count:
            row = _first_true(col.is_null())
            raise InputError(
                f"{table}.{field.name} is required", file=file, record=row + 1, field=field.name
            )
        cols.append(col)
    out = pa.Table.from_arrays(cols, schema=target)
    for name, allowed in enums(table).items():
        col = out.column(name)
        bad = pa.compute.and_(
            pa.compute.invert(pa.compute.is_in(col, value_set=pa.array(allowed))),
            pa.compute.is_valid(col),
        )
        if pa.compute.any(bad).as_py():
            row = _first_true(bad)
            raise InputError(
                f"'{col[row].as_py()}' is not one of {', '.join(allowed)}",
                file=file,
                record=row + 1,
                field=name,
            )
    return out


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    import pyarrow.compute as pc

    idx = pc.indices_nonzero(mask.combine_chunks() if hasattr(mask, "combine_chunks") else mask)
    return int(idx[0].as_py())
