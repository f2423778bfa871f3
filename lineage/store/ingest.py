"""Turn what a reader found into the rows of one transaction, against the work state.

Everything here is set-based (DuckDB over Arrow): a million incoming labels are
joined with the current state, not looped over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lineage.errors import InputError
from lineage.store import duck, identity, ids
from lineage.store import schema as schemas
from lineage.store.identity import MatchReport
from lineage.store.incoming import ImportBatch, ImportOptions, PartsFailed

# Provenance a record may leave out: a value it does not give (a format that cannot
# carry it, or a file that omits it) is unknown, never a change to an existing label.
GIVEN = ("annotator_id", "guideline_version", "source", "model_version", "score")


def fill_defaults(labels: pa.Table, options: ImportOptions) -> pa.Table:
    """Apply --annotator/--guideline/--source/--model-version where a record has none,
    and --map-annotators to every annotator id. Records which of ``GIVEN`` the file
    itself gave, as ``_given_<column>`` (the identity step compares only those)."""
    for col in GIVEN:
        if col in labels.column_names and f"_given_{col}" not in labels.column_names:
            labels = labels.append_column(f"_given_{col}", pa.compute.is_valid(labels[col]))
    fills = {
        "annotator_id": options.annotator,
        "guideline_version": options.guideline,
        "source": options.source,
        "model_version": options.model_version,
    }
    for col, value in fills.items():
        if value is None:
            continue
        i = labels.schema.get_field_index(col)
        labels = labels.set_column(
            i, col, pa.compute.fill_null(labels.column(col), pa.scalar(value, pa.string()))
        )
    if "source" in labels.column_names:
        i = labels.schema.get_field_index("source")
        labels = labels.set_column(
            i, "source", pa.compute.fill_null(labels.column("source"), pa.scalar("human"))
        )
    if options.annotator_map:
        labels = map_annotators(labels, "annotator_id", options.annotator_map)
    return labels


def map_annotators(table: pa.Table, column: str, mapping: dict[str, str]) -> pa.Table:
    if column not in table.column_names or not mapping:
        return table
    values = [
        mapping.get(v, v) if v is not None else None for v in table.column(column).to_pylist()
    ]
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, pa.string())
    )


def check_guidelines(
    con: duckdb.DuckDBPyConnection, labels: pa.Table, file: str, records=None
) -> None:
    """Every guideline version a label names must be recorded (``lineage guideline add``)."""
    known = {r[0] for r in con.execute("SELECT version FROM guidelines").fetchall()}
    col = labels.column("guideline_version")
    named = set(pa.compute.unique(col.drop_null()).to_pylist())
    unknown = named - known
    if not unknown:
        return
    bad = pa.compute.is_in(col, value_set=pa.array(sorted(unknown), pa.string()))
    i = int(pa.compute.indices_nonzero(pa.compute.fill_null(bad, False)).to_numpy()[0])
    v = col[i].as_py()
    raise InputError(
        f"unknown guideline version '{v}'",
        file=file,
        record=records[i] if records else i + 1,
        field="guideline_version",
        hint=f"record it first: lineage guideline add {v} --classes FILE",
    )


def current_events(
    con: duckdb.DuckDBPyConnection, labels: pa.Table, assets: list[str] | None = None
) -> pa.Table:
    """The latest revision (deleted ones too) of every label the incoming rows may touch:
    those on the same assets or on ``assets`` (a snapshot's images, also those the file
    lists with no labels at all), and those named by id."""
    con.register("_inc_keys", labels.select(["asset_id", "label_id"]))
    con.register("_inc_assets", pa.table({"asset_id": pa.array(assets or [], pa.string())}))
    return con.sql(
        """
        SELECT * FROM label_events_raw
        WHERE asset_id IN (SELECT asset_id FROM _inc_keys)
           OR asset_id IN (SELECT asset_id FROM _inc_assets)
           OR label_id IN (SELECT label_id FROM _inc_keys WHERE label_id IS NOT NULL)
        QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY revision DESC) = 1
        """
    ).to_arrow_table()


def changed_rows(
    con: duckdb.DuckDBPyConnection, table: str, incoming: pa.Table, key: str
) -> pa.Table:
    """Rows of ``incoming`` that are new or say something new about the current row with
    the same key (assets, categories, annotators). A field a file leaves empty is not
    given, never a change: the staged row keeps the current value. So a re-import of an
    export adds none, whatever the format could carry. A category's ordinal is the one
    its class first came with (each format numbers classes its own way)."""
    if incoming is None or incoming.num_rows == 0:
        return schemas.empty(table)
    txn = pa.array([""] * incoming.num_rows, pa.string())
    incoming = schemas.conform(
        table,
        incoming.append_column("txn_id", txn)
        if "txn_id" not in incoming.column_names
        else incoming,
    )
    cols = [c for c in schemas.schema(table).names if c not in ("txn_id", key)]
    # each format numbers classes its own way: the ordinal is the first one a class came
    # with, and a later file's numbering alone is no change
    # (and an annotator's kind that a file only infers from its labels' source)
    # (and an asset's first external id: COCO numbers images, each export anew)
    fixed = {"categories": {"ordinal"}, "annotators": {"kind"}, "assets": {"external_id"}}.get(
        table, set()
    )
    differs = " OR ".join(
        f"(i.{c} IS NOT NULL AND i.{c} IS DISTINCT FROM c.{c})" for c in cols if c not in fixed
    )
    merged = ", ".join(
        f"coalesce(c.{c}, i.{c}) AS {c}" if c in fixed else f"coalesce(i.{c}, c.{c}) AS {c}"
        for c in cols
    )
    known_class = ""
    if table == "categories":
        others = " OR ".join(f"i.{c} IS NOT NULL" for c in cols if c not in fixed)
        known_class = (
            f"AND NOT (c.{key} IS NULL AND NOT ({others}) "
            f"AND i.{key} IN (SELECT class_name FROM label_events_raw))"
        )
    con.register("_incoming", incoming)
    return con.sql(
        f"""
        SELECT i.{key}, {merged}, i.txn_id FROM (
            SELECT * FROM _incoming
            QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY 1) = 1
        ) i
        LEFT JOIN {table} c ON c.{key} = i.{key}
        WHERE (c.{key} IS NULL OR {differs}) {known_class}
        """
    ).to_arrow_table()


def resolve_reviews(
    con: duckdb.DuckDBPyConnection,
    reviews: pa.Table,
    events: pa.Table | None,
    *,
    txn_id: str,
    file: str,
    records: list[str] | None = None,
) -> pa.Table:
    """Give each review its label id (from an external id if needed) and the revision
    current when it is recorded; refuse reviews of unknown labels."""
    n = reviews.num_rows
    con.register("_rev_in", reviews.append_column("_row", pa.array(np.arange(n), pa.int64())))
    con.register("_new_events", events if events is not None else schemas.empty("label_events"))
    resolved = con.sql(
        """
        WITH state AS (
            SELECT label_id, asset_id, external_id, revision, op FROM label_events_raw
            UNION ALL
            SELECT label_id, asset_id, external_id, revision, op FROM _new_events
        ),
        latest AS (
            SELECT * FROM state
            QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY revision DESC) = 1
        )
        SELECT r.* REPLACE (
                   coalesce(r.label_id, x.label_id) AS label_id,
                   coalesce(r.revision, l.revision, x.revision) AS revision),
               coalesce(l.op, x.op) AS _op
        FROM _rev_in r
        LEFT JOIN latest l ON l.label_id = r.label_id
        LEFT JOIN latest x ON r.label_id IS NULL AND x.external_id = r.label_external_id
        ORDER BY r._row
        """
    ).to_arrow_table()
    label_ids = resolved.column("label_id").to_pylist()
    ops = resolved.column("_op").to_pylist()
    for i, (lid, op) in enumerate(zip(label_ids, ops, strict=True)):
        name = records[i] if records else i + 1
        if op is None:
            raise InputError(
                f"review of an unknown label '{lid or reviews.column('label_external_id')[i].as_py()}'",
                file=file,
                record=name,
                field="label_id",
            )
        if op == "delete":
            raise InputError(
                f"review of a deleted label '{lid}'", file=file, record=name, field="label_id"
            )
    resolved = resolved.drop_columns(["_op", "_row", "label_external_id"])
    review_ids = resolved.column("review_id").to_pylist()
    resolved = resolved.set_column(
        resolved.schema.get_field_index("review_id"),
        "review_id",
        pa.array([r or ids.label_id() for r in review_ids], pa.string()),
    )
    kinds = pa.compute.fill_null(resolved.column("kind"), "review")
    resolved = resolved.set_column(resolved.schema.get_field_index("kind"), "kind", kinds)
    resolved = resolved.append_column("txn_id", pa.array([txn_id] * n, pa.string()))
    return schemas.conform("reviews", resolved, file=file)


def has_labels(con: duckdb.DuckDBPyConnection, assets: pa.Table | None) -> bool:
    """Whether any label (live or deleted) was ever recorded on one of ``assets``."""
    if assets is None or assets.num_rows == 0:
        return False
    con.register("_assets_in", assets.select(["asset_id"]))
    found = con.sql(
        "SELECT 1 FROM label_events_raw WHERE asset_id IN (SELECT asset_id FROM _assets_in) LIMIT 1"
    ).fetchall()
    return bool(found)


def events_in_parts(
    con: duckdb.DuckDBPyConnection,
    parts: Iterable[ImportBatch],
    first: ImportBatch,
    *,
    prepare: Callable[[ImportBatch], None],
    report: MatchReport,
    spill: Path,
    bucket_rows: int,
    **resolve: Any,
) -> Iterator[pa.Table]:
    """The label events of a file read in parts (``first`` holds its assets), in bounded
    memory. ``prepare`` fills and checks a part; ``resolve`` as for ``label_events``.

    Onto assets that hold no labels, each record is a new label: each part is resolved
    as it comes. Otherwise a record is matched against the labels of its own asset only
    (by external id, then IoU) and a snapshot deletes per asset, so the checked parts
    are spilled to ``spill`` and resolved again in buckets of whole assets (a hash of
    the asset id), about ``bucket_rows`` records each. Raises PartsFailed when the file
    must be read whole after all: its records name label ids (a label may move between
    assets, and two parts may name the same one)."""
    fresh = not has_labels(con, first.assets)
    files: list[Path] = []
    rows = 0
    stable = True
    for part in parts:
        prepare(part)
        labels = part.labels
        if labels.column("label_id").null_count < labels.num_rows:
            raise PartsFailed
        if fresh:
            current = current_events(con, labels)
            if current.num_rows:
                raise PartsFailed
            events, got = label_events(con, part, current=current, **resolve)
            report.add(got)
            yield events
            continue
        stable = stable and labels.column("external_id").null_count == 0
        order = pa.array(np.arange(rows, rows + labels.num_rows, dtype=np.int64))
        files.append(spill / f"incoming-{len(files):05d}.parquet")
        pq.write_table(labels.append_column("_row", order), files[-1])
        rows += labels.num_rows
    if fresh:
        return
    buckets = max(1, -(-rows // bucket_rows))
    local = duck.connect()  # the snapshot's connection may not read the spilled files
    has_assets = first.assets is not None and first.assets.num_rows > 0
    if has_assets:
        local.register("_assets", first.assets)
    for b in range(buckets):
        labels = local.sql(
            "SELECT * EXCLUDE (_row) FROM read_parquet($files) "
            "WHERE hash(asset_id) % $n = $b ORDER BY _row",
            params={"files": [str(f) for f in files], "n": buckets, "b": b},
        ).to_arrow_table()
        assets = (
            local.sql(
                "SELECT * FROM _assets WHERE hash(asset_id) % $n = $b",
                params={"n": buckets, "b": b},
            ).to_arrow_table()
            if has_assets
            else None
        )
        bucket = ImportBatch(
            labels=labels,
            assets=assets,
            stable_ids=rows > 0 and stable,
            comparison=first.comparison,
        )
        events, got = label_events(con, bucket, **resolve)
        report.add(got)
        yield events


def deleted_assets(events: Path) -> int:
    """How many assets the label events in file ``events`` delete labels of."""
    return (
        duck.connect()
        .sql(
            "SELECT count(DISTINCT asset_id) FROM read_parquet($f) WHERE op = 'delete'",
            params={"f": str(events)},
        )
        .fetchall()[0][0]
    )


def label_events(
    con: duckdb.DuckDBPyConnection,
    batch: ImportBatch,
    *,
    txn_id: str,
    mode: str,
    match: str,
    iou_threshold: float,
    file: str,
    current: pa.Table | None = None,
) -> tuple[pa.Table, MatchReport]:
    """Label events for a batch: identity resolved, unchanged records dropped.
    ``current``: ``current_events`` of the batch, when the caller has it."""
    labels = batch.labels
    # auto: a format with stable ids matches by id, and its id-less records (CVAT plain
    # shapes) by IoU among id-less labels; other formats match everything by IoU, since
    # their ids (COCO annotation ids) may be re-numbered between exports.
    use_ids = match == "ids" or (match == "auto" and batch.stable_ids)
    use_iou = match == "iou" or match == "auto"
    iou_scope = "unidentified" if (match == "auto" and batch.stable_ids) else "all"
    snapshot_assets = None
    if mode == "snapshot":
        assets = set(labels.column("asset_id").to_pylist())
        if batch.assets is not None:
            assets |= set(batch.assets.column("asset_id").to_pylist())
        snapshot_assets = sorted(assets)
    if current is None:
        current = current_events(con, labels, snapshot_assets)
    sizes = {}
    if batch.assets is not None and batch.assets.num_rows:
        a = batch.assets.select(["asset_id", "height", "width"]).to_pylist()
        sizes = {r["asset_id"]: (r["height"], r["width"]) for r in a if r["height"] and r["width"]}
    return identity.resolve(
        labels,
        current,
        txn_id=txn_id,
        use_ids=use_ids,
        use_iou=use_iou,
        iou_scope=iou_scope,
        snapshot_assets=snapshot_assets,
        iou_threshold=iou_threshold,
        sizes=sizes,
        file=file,
        records=batch.record_names,
        comparison=batch.comparison,
    )
