"""Write the current labels of a revision as native JSON Lines or Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from lineage.formats.base import ExportInput, ExportOptions, ExportResult
from lineage.formats.pseudonym import pseudonymize_labels


def write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """``out`` ending in .parquet: one Parquet file of the labels; otherwise JSON Lines
    (asset records first, then one label per line)."""
    out = Path(out)
    labels = pseudonymize_labels(data.labels, options.pseudonymize_key)
    if out.suffix == ".parquet":
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(labels, out)
        return ExportResult([out], labels.num_rows)
    if out.suffix not in (".jsonl", ".ndjson"):
        out.mkdir(parents=True, exist_ok=True)
        out = out / "labels.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for asset in data.assets.drop_columns(["txn_id"]).to_pylist():
            fh.write(json.dumps({"record": "asset", **_clean(asset)}, default=str) + "\n")
        for row in labels.drop_columns(["txn_id"]).to_pylist():
            row = _clean(row)
            row["attributes"] = json.loads(row.get("attributes") or "{}")
            if row.get("bbox"):
                b = row["bbox"]
                row["bbox"] = [b["x"], b["y"], b["w"], b["h"]]
            if row.get("mask_rle"):
                m = row.pop("mask_rle")
                row["mask_rle"] = {"size": [m["height"], m["width"]], "counts": m["counts"]}
            row.pop("op", None)
            fh.write(json.dumps(row, default=str) + "\n")
    return ExportResult([out], labels.num_rows)


def _clean(row: dict) -> dict:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in row.items()
        if v is not None
    }
