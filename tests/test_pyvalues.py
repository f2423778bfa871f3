"""lineage.pyvalues: Arrow to Python without pyarrow's pandas bridge, same values."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.pyvalues import pylist

TS = pa.timestamp("us", tz="UTC")
times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.tuples(times, st.text(max_size=3)), max_size=3) | st.none()))
def test_nested_utc_timestamps_read_as_pyarrow_reads_them(rows):
    kind = pa.list_(pa.struct([("at", TS), ("who", pa.string())]))
    values = [None if r is None else [{"at": t, "who": w} for t, w in r] for r in rows]
    column = pa.array(values, kind)
    got = pylist(column)
    assert got == column.to_pylist()
    flat = [d["at"] for r in got if r for d in r if d["at"] is not None]
    assert all(t.utcoffset() == timedelta(0) for t in flat)


@pytest.mark.parametrize(
    "kind",
    [TS, pa.timestamp("ns", tz="UTC"), pa.timestamp("us", tz="Europe/Paris"), pa.timestamp("ms")],
)
def test_every_timestamp_kind_gives_pyarrows_values(kind):
    column = pa.chunked_array([pa.array([datetime(2026, 12, 2, 10, tzinfo=UTC), None], TS)])
    column = column.cast(kind)
    assert pylist(column) == column.to_pylist()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(times, st.integers(-5, 5)), min_size=1, max_size=8),
    st.integers(0, 8),
    st.integers(0, 8),
)
def test_slices_and_chunks_of_a_struct_read_as_pyarrow_reads_them(rows, start, length):
    kind = pa.struct([("at", TS), ("n", pa.int64())])
    column = pa.array([{"at": t, "n": n} for t, n in rows], kind).slice(start, length)
    chunked = pa.chunked_array([column, column.slice(1)], kind)
    assert pylist(column) == column.to_pylist()
    assert pylist(chunked) == chunked.to_pylist()


def test_a_utc_timestamp_column_imports_neither_pandas_nor_compute():
    # pandas: pyarrow's as_py of a zoned timestamp; pyarrow.compute: a cast (~150 ms)
    code = (
        "import sys, pyarrow as pa, numpy as np\n"
        "from lineage.pyvalues import pylist\n"
        "a = pa.Array.from_buffers(pa.timestamp('us', tz='UTC'), 1,"
        " [None, pa.py_buffer(np.array([1_700_000_000_000_000], dtype=np.int64))])\n"
        "print(pylist(a)[0].isoformat(), 'pandas' in sys.modules,"
        " 'pyarrow.compute' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2023-11-14T22:13:20+00:00", "False", "False"]
