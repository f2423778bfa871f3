"""The baselines lineage is measured against, on the same data in the same run.

* ``pycocotools.coco.COCO(path)``: load time and peak memory of the reference COCO API
  (it parses the JSON and builds its indexes), against ``lineage import coco``.
* Snapshot per version: what a team without a lineage tool does, one full Parquet file
  per version (flat columns, geometry as JSON text), and a diff by a pandas merge on
  ``label_id`` comparing every column; against lineage's storage growth and diff.
* ``datum compare`` (Datumaro), only when the ``datum`` command is installed.

Each baseline that is timed runs in a child process (``python -m benchmarks.baselines
NAME ARGS``, printing JSON), so its peak memory is its own.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

# The flat snapshot columns, from the history generator's state.
SNAPSHOT_SQL = """
SELECT label_id, asset_id, class_name, shape,
       bbox.x AS bbox_x, bbox.y AS bbox_y, bbox.w AS bbox_w, bbox.h AS bbox_h,
       to_json(polygon)::VARCHAR AS polygon, mask_rle.counts AS mask_counts,
       attributes, annotator_id, source, guideline_version, external_id
FROM state ORDER BY label_id
"""


def write_snapshot(state: pa.Table, path: Path) -> int:
    """Write one version's full snapshot; returns its size in bytes."""
    con = duckdb.connect()
    con.register("state", state)
    table = con.sql(SNAPSHOT_SQL).to_arrow_table()
    con.close()
    pq.write_table(table, path, compression="zstd")
    return Path(path).stat().st_size


def pandas_diff(a: Path, b: Path, runs: int = 2) -> dict:
    """Diff two snapshots with pandas, ``runs`` times: the best and first run's seconds
    (reads included) and the counts."""
    times, counts = [], {}
    for _ in range(runs):
        t0 = time.perf_counter()
        counts = _pandas_diff(a, b)
        times.append(time.perf_counter() - t0)
    return {"seconds": min(times), "first_seconds": times[0], "counts": counts}


def _pandas_diff(a: Path, b: Path) -> dict:
    """Outer merge on label_id, then every column compared (NaN equal to NaN)."""
    import pandas as pd

    left, right = pd.read_parquet(a), pd.read_parquet(b)
    merged = left.merge(right, on="label_id", how="outer", suffixes=("_a", "_b"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    changed = pd.Series(False, index=both.index)
    per_column = {}
    for col in left.columns:
        if col == "label_id":
            continue
        x, y = both[f"{col}_a"], both[f"{col}_b"]
        diff = (x != y) & ~(x.isna() & y.isna())
        per_column[col] = int(diff.sum())
        changed |= diff
    return {
        "added": int((merged["_merge"] == "right_only").sum()),
        "removed": int((merged["_merge"] == "left_only").sum()),
        "changed": int(changed.sum()),
        "per_column": per_column,
    }


def pycocotools_load(path: Path) -> dict:
    """Time ``pycocotools.coco.COCO(path)`` (its own prints silenced)."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    return {"seconds": time.perf_counter() - t0, "annotations": len(coco.anns)}


def datumaro() -> str | None:
    """The ``datum`` command (``$DATUM``, else ``datum`` on PATH), or None when Datumaro
    is not installed. Datumaro 1.13 pins pyarrow 24 and pandas 2, so it lives in a venv
    of its own: ``python -m venv .datum && .datum/bin/pip install "datumaro[cli]==1.13.*"``,
    then ``DATUM=.datum/bin/datum python -m benchmarks.run``."""
    given = os.environ.get("DATUM")
    if given:
        return given if Path(given).is_file() else None
    return shutil.which("datum")


def main(argv: list[str]) -> int:
    """Child entry point: ``pycocotools PATH`` or ``pandas-diff A B [RUNS]``; prints JSON."""
    name, args = argv[0], argv[1:]
    if name == "pycocotools":
        out = pycocotools_load(Path(args[0]))
    elif name == "pandas-diff":
        runs = int(args[2]) if len(args) > 2 else 2
        out = pandas_diff(Path(args[0]), Path(args[1]), runs)
    else:
        raise SystemExit(f"unknown baseline {name!r}")
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
