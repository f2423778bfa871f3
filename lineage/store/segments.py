"""Join a table's staged files into one segment, in bounded memory.

A segment of a table with labels is sorted by ``label_id`` (then ``revision``), so a
label's history touches one small row group per segment (Parquet min/max statistics
let readers skip the rest; ``files.row_group_rows`` sizes the groups). DuckDB does the sort out of core: past ``SORT_MEMORY`` it
spills to a scratch folder, and the sorted rows stream into the Parquet writer a row
group at a time. So committing ten million labels holds a few row groups and DuckDB's
budget, not the table (it held the whole table, twice, before: 13 GiB at 10 M labels).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from lineage.store import duck
from lineage.store import schema as schemas
from lineage.store.files import row_group_rows, write_parquet_batches

SORT_MEMORY = "1GB"  # DuckDB's budget for the sort; it spills beyond it
SORT_KEYS = ("label_id", "revision")


def write(
    path: Path,
    table: str,
    parts: list[Path],
    scratch: Path | None,
    metadata: dict[bytes, bytes] | None = None,
) -> tuple[str, int]:
    """Write the rows of ``parts`` (staged files of ``table``, oldest first) to ``path``
    in the table's schema, sorted by label where the table has labels (else in order);
    returns the segment's SHA-256 and row count."""
    import pyarrow.parquet as pq

    target = schemas.schema(table)
    if metadata:
        target = target.with_metadata(metadata)
    group = row_group_rows(sum(pq.ParquetFile(p).metadata.num_rows for p in parts))
    batches = _batches(table, parts, target, scratch, group)
    return write_parquet_batches(path, target, batches, row_group=group)


def _batches(
    table: str, parts: list[Path], target: pa.Schema, scratch: Path | None, group: int
) -> Iterator[pa.Table]:
    keys = [k for k in SORT_KEYS if k in target.names]
    if "label_id" not in keys:
        keys = []
    con = duck.connect()
    try:
        con.execute(f"SET memory_limit = '{SORT_MEMORY}'")
        if scratch is not None:
            con.execute("SET temp_directory = ?", [str(scratch)])
        order = f"ORDER BY {', '.join(keys)}" if keys else ""
        rel = con.sql(
            f"SELECT * FROM read_parquet($files, union_by_name = true) {order}",
            params={"files": [str(p) for p in parts]},
        )
        reader = rel.to_arrow_reader(group)
        for batch in reader:
            yield schemas.conform(table, pa.Table.from_batches([batch]))
    finally:
        con.close()
