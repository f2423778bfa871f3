"""The contract test every format subclasses: detect, read, write, round trip.

A subclass sets ``format`` (the module name in lineage/formats) and ``fixture``
(a file or folder in tests/fixtures/<format>/), and may widen ``roundtrip_columns``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa

from lineage import formats
from lineage.formats.base import ExportInput, ExportOptions, ImportBatch, ImportOptions
from lineage.store import schema as schemas

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def batch_to_export(batch: ImportBatch) -> ExportInput:
    """Give an import batch the columns the store would assign, as a writer sees them."""
    labels = batch.labels
    n = labels.num_rows
    labels = labels.set_column(
        labels.schema.get_field_index("label_id"),
        "label_id",
        pa.array([f"{i:016x}" for i in range(n)], pa.string()),
    )
    labels = labels.append_column("revision", pa.array([1] * n, pa.int32()))
    labels = labels.append_column("txn_id", pa.array(["t0"] * n, pa.string()))
    if "op" in labels.column_names:
        labels = labels.set_column(
            labels.schema.get_field_index("op"), "op", pa.array(["create"] * n, pa.string())
        )
    if "shape" in labels.column_names and labels.column("shape").null_count:
        raise AssertionError("readers must set shape")

    def full(table: str, t: pa.Table | None) -> pa.Table:
        if t is None:
            return schemas.empty(table)
        if "txn_id" not in t.column_names:
            t = t.append_column("txn_id", pa.array(["t0"] * t.num_rows, pa.string()))
        return t.select([c for c in schemas.schema(table).names if c in t.column_names])

    reviews = schemas.empty("reviews")
    return ExportInput(
        labels=schemas.conform("label_events", labels),
        assets=schemas.conform("assets", full("assets", batch.assets)),
        categories=schemas.conform("categories", full("categories", batch.categories)),
        annotators=schemas.conform("annotators", full("annotators", batch.annotators)),
        reviews=reviews,
        guidelines=schemas.empty("guidelines"),
    )


def _norm(value):
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else value
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def label_rows(table: pa.Table, columns: list[str]) -> list[tuple]:
    """Rows as comparable, sorted tuples (floats rounded to 1e-4 px)."""
    cols = [c for c in columns if c in table.column_names]
    rows = [tuple(repr(_norm(r[c])) for c in cols) for r in table.select(cols).to_pylist()]
    return sorted(rows)


class FormatContract:
    format: str = ""
    fixture: str = ""
    roundtrip_columns = [
        "asset_id",
        "class_name",
        "shape",
        "bbox",
        "polygon",
        "keypoints",
        "mask_rle",
        "rotation",
    ]

    def options(self) -> ImportOptions:
        return ImportOptions()

    def fixture_path(self) -> Path:
        return FIXTURES / self.format / self.fixture

    def read(self, path: Path) -> ImportBatch:
        return formats.get(self.format).read(path, self.options())

    def test_detect(self):
        assert formats.get(self.format).detect(self.fixture_path()) >= 0.5

    def test_read_gives_labels(self):
        batch = self.read(self.fixture_path())
        assert batch.labels.num_rows > 0
        assert batch.labels.schema.equals(
            __import__("lineage.formats.base", fromlist=["x"]).incoming_schema("label_events")
        )

    def test_round_trip(self, tmp_path):
        first = self.read(self.fixture_path())
        out = tmp_path / "export"
        formats.get(self.format).write(batch_to_export(first), out, ExportOptions())
        again = self.read(self.exported_path(out))
        assert label_rows(again.labels, self.roundtrip_columns) == label_rows(
            first.labels, self.roundtrip_columns
        )

    def exported_path(self, out: Path) -> Path:
        """Where the writer's output is read back from (override when it is a file inside)."""
        return out
