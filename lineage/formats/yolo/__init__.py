"""YOLO / Ultralytics: data.yaml datasets (detect, segment, pose), labelImg/darknet folders with
``classes.txt`` or ``obj.names``, and prediction files with a trailing confidence.

See ``layout`` (where things are), ``lines`` (one label file), ``reader`` and ``writer``.
"""

from __future__ import annotations

from lineage.formats.yolo.detect import detect
from lineage.formats.yolo.reader import read
from lineage.formats.yolo.writer import write

__all__ = ["detect", "read", "write"]
