"""``lineage_iou(geometry_a, geometry_b, height, width)``: the IoU of two label
geometries, row-aligned, as a DuckDB function. Every opened revision has it, so the SQL
that ``diff --sql`` and ``history --sql`` print runs as-is in ``lineage query``."""

from __future__ import annotations

import duckdb
import pyarrow as pa

IOU_FUNCTION = "lineage_iou"
_GEOMETRY_TYPE = (
    "STRUCT(shape VARCHAR, bbox STRUCT(x DOUBLE, y DOUBLE, w DOUBLE, h DOUBLE), "
    "rotation DOUBLE, polygon DOUBLE[][], keypoints DOUBLE[], "
    "mask_rle STRUCT(height INTEGER, width INTEGER, counts VARCHAR))"
)


def _iou_udf(ga, gb, heights, widths) -> pa.Array:
    """``lineage_iou(geometry_a, geometry_b, height, width)``: row-aligned IoU."""

    def table(arr) -> pa.Table:
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        return pa.Table.from_struct_array(arr)

    from lineage import geometry
    from lineage.geometry.columns import numbers, to_arrow

    out = geometry.iou_pairs(table(ga), table(gb), numbers(heights), numbers(widths))
    return to_arrow(out)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Add ``lineage_iou`` to a connection (once): the diff and history SQL call it.

    The types are parsed by ``con`` itself: ``duckdb.sqltype`` would open DuckDB's
    default connection, ~35 ms of every command's start."""
    geom = con.sqltype(_GEOMETRY_TYPE)
    num = con.sqltype("DOUBLE")
    try:
        con.create_function(  # type: ignore[call-overload]  # numpy/duckdb stubs
            IOU_FUNCTION,
            _iou_udf,
            [geom, geom, num, num],
            num,
            type="arrow",
            null_handling="special",
        )
    except duckdb.Error as exc:  # already registered on this connection
        if "already" not in str(exc).lower():
            raise
