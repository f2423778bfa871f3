"""Other engines over the same store: the views and audit checks on Apache Spark."""

from __future__ import annotations

from types import ModuleType

from lineage.errors import EngineMissing


def load_spark() -> ModuleType:
    """``lineage.engines.spark``, or a clear error when its extra is not installed."""
    try:
        from lineage.engines import spark as module
    except ImportError as exc:
        raise EngineMissing(
            f"the Spark engine needs {exc.name or 'pyspark'}, which is not installed",
            hint="pip install 'lineage[spark]' (Java 17 or newer must be on the PATH)",
        ) from None
    return module
