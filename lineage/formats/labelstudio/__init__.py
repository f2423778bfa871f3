"""Label Studio's full JSON export (tasks with annotations, predictions, reviews): read and write.

See ``reader`` for how provenance maps, ``regions`` for geometry, ``brush`` for the
brush RLE, ``assets`` for how image URLs become asset ids, ``writer`` for the export.
"""

from __future__ import annotations

from lineage.formats.labelstudio.reader import detect, read
from lineage.formats.labelstudio.writer import write

__all__ = ["detect", "read", "write"]
