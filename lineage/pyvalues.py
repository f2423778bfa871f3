"""Arrow values as Python values, without pyarrow's pandas bridge.

pyarrow's ``as_py`` of a zoned timestamp asks whether pandas is installed, which
imports it (~300 ms): every command printing a time, and every read of the
transactions' hash chain, paid it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pyarrow as pa

_UTC = ("UTC", "+00:00", "Etc/UTC")


def pylist(column: pa.Array | pa.ChunkedArray) -> list:
    """``column.to_pylist()``, with UTC timestamps (also inside lists and structs) read
    as naive ones and given their zone back in Python. Other zones, nanoseconds and
    maps: pyarrow's own way."""
    naive = _naive(column.type)
    if naive is None or naive == column.type:
        return column.to_pylist()
    return [_zoned(column.type, v) for v in _view(column, naive).to_pylist()]


def _view(column: pa.Array | pa.ChunkedArray, naive: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """``column`` read as ``naive``: the same buffers (a zone is only type metadata), so
    no cast, which would import pyarrow.compute (~100-200 ms on a cold start)."""
    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([c.view(naive) for c in column.chunks], naive)
    return column.view(naive)


def _naive(kind: pa.DataType) -> pa.DataType | None:
    """``kind`` with each UTC timestamp made naive; None where that is not done here."""
    if pa.types.is_timestamp(kind):
        if kind.tz is None:
            return kind
        return pa.timestamp(kind.unit) if kind.tz in _UTC and kind.unit != "ns" else None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _naive(kind.value_type)
        if inner is None:
            return None
        return pa.list_(inner) if pa.types.is_list(kind) else pa.large_list(inner)
    if pa.types.is_struct(kind):
        fields = []
        for f in kind:
            inner = _naive(f.type)
            if inner is None:
                return None
            fields.append(pa.field(f.name, inner, f.nullable))
        return pa.struct(fields)
    if pa.types.is_map(kind) or pa.types.is_union(kind) or pa.types.is_dictionary(kind):
        return None
    return kind


def _zoned(kind: pa.DataType, value: Any) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(kind):
        return value.replace(tzinfo=UTC) if kind.tz is not None else value
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [_zoned(kind.value_type, v) for v in value]
    if pa.types.is_struct(kind):
        return {f.name: _zoned(f.type, value[f.name]) for f in kind}
    return value
