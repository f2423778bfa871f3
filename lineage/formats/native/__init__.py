"""The native format: JSON Lines (one label revision per line) and Parquet.

It is lossless: every column of ``label_events`` has a field, and exports carry
``label_id`` so a re-import updates the same labels. See the README for the fields.
"""

from __future__ import annotations

from lineage.formats.native.reader import detect, read
from lineage.formats.native.writer import write

__all__ = ["detect", "read", "write"]
