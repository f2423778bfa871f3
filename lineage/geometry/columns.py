"""Arrow columns as NumPy arrays, read from their buffers.

pyarrow's own ``to_numpy`` and ``pa.array(ndarray)`` go through its pandas bridge, which
imports pandas (~300 ms) the first time: every ``history`` and ``diff`` paid it for the
IoU of one label. These read the buffers directly (NumPy views, then one copy).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_DTYPES = {
    pa.float64(): np.float64,
    pa.float32(): np.float32,
    pa.int64(): np.int64,
    pa.int32(): np.int32,
    pa.int16(): np.int16,
    pa.int8(): np.int8,
    pa.uint64(): np.uint64,
    pa.uint32(): np.uint32,
    pa.uint16(): np.uint16,
    pa.uint8(): np.uint8,
}


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def valid(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where a value is not null."""
    arr = _array(column)
    n = len(arr)
    if arr.null_count == 0:
        return np.ones(n, dtype=bool)
    if arr.null_count == n or arr.buffers()[0] is None:
        return np.zeros(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[arr.offset : arr.offset + n].astype(bool)


def numbers(
    column: pa.Array | pa.ChunkedArray, fill: float = np.nan, dtype: type = np.float64
) -> np.ndarray:
    """A numeric column as a new ``dtype`` array, nulls as ``fill``."""
    arr = _array(column)
    n = len(arr)
    if arr.type not in _DTYPES:
        arr = arr.cast(pa.float64())
    source = _DTYPES[arr.type]
    data = arr.buffers()[1]
    if n == 0 or data is None or arr.null_count == n:
        return np.full(n, fill, dtype=dtype)
    size = np.dtype(source).itemsize
    values = np.frombuffer(data, dtype=source, count=n, offset=arr.offset * size)
    out: np.ndarray = values.astype(dtype)
    if arr.null_count:
        out[~valid(arr)] = fill
    return out


def to_arrow(values: np.ndarray) -> pa.Array:
    """A float64 Arrow array of ``values`` (no nulls)."""
    data = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(data), [None, pa.py_buffer(data)])
