"""Where a query may spill, and how much memory it may take.

DuckDB lets a sandboxed query read its own temp folder, so each opened revision gets a
fresh, empty folder of its own under ``.lineage/tmp/`` (never the process's working
directory), removed when the revision is closed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from lineage.errors import RepoError
from lineage.store.layout import CONFIG_FILE, Layout

MEMORY_ENV = "LINEAGE_MEMORY_LIMIT"
DEFAULT_MEMORY = "50%"  # of the machine's memory: a runaway query cannot take the machine
_SIZE = re.compile(r"^\s*(\d+(\.\d+)?)\s*(%|[KMGT]i?B|B)\s*$", re.IGNORECASE)


def scratch_dir(layout: Layout) -> Path | None:
    """A new, empty temp folder for one connection; None (no spilling) when the
    repository is read-only."""
    base = layout.work / "tmp"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"q{os.getpid()}-", dir=base))
    except OSError:
        return None


def drop_scratch(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def drop_stale(layout: Layout) -> int:
    """Remove the temp folders of processes that are gone (killed mid-query or mid-import:
    a large import's events wait there before they are staged); returns how many."""
    base = layout.work / "tmp"
    if not base.is_dir():
        return 0
    dropped = 0
    for path in base.iterdir():
        m = _OWNER.match(path.name)
        if m is None or _alive(int(m.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        dropped += 1
    return dropped


_OWNER = re.compile(r"^q(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


STREAM_MEMORY = 1 << 30  # bytes: what a command that streams a whole store (export) sorts in


def memory_limit(config: dict, cap: int | None = None) -> str:
    """DuckDB's memory limit: ``$LINEAGE_MEMORY_LIMIT``, else ``[query] memory_limit`` in
    lineage.toml, else half the machine's memory. Sizes like ``4GB``, ``512MiB``, ``50%``.
    ``cap`` (bytes): at most this, for work that streams and spills past it."""
    limit = _memory_limit(config)
    if cap is not None and _bytes(limit) > cap:
        return f"{cap >> 20}MiB"
    return limit


def _bytes(size: str) -> float:
    m = _SIZE.match(size)
    assert m is not None  # checked by _memory_limit
    unit = m.group(3).upper()
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}.get(unit)
    if scale is None:  # KiB, MiB, GiB, TiB
        scale = 1024 ** ("KMGT".index(unit[0]) + 1)
    return float(m.group(1)) * scale


def _memory_limit(config: dict) -> str:
    raw = os.environ.get(MEMORY_ENV)
    where = MEMORY_ENV
    if raw is None:
        query = config.get("query", {})
        raw = query.get("memory_limit") if isinstance(query, dict) else None
        where = f"{CONFIG_FILE}, field 'query.memory_limit'"
    raw = DEFAULT_MEMORY if raw is None else str(raw)
    m = _SIZE.match(raw)
    if not m or float(m.group(1)) <= 0 or (m.group(3) == "%" and float(m.group(1)) > 100):
        raise RepoError(f"{where}: {raw!r} is not a memory size", hint="e.g. 4GB, 512MiB or 50%")
    if m.group(3) == "%":
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return f"{int(total * float(m.group(1)) / 100 / 2**20)}MiB"
    return raw.strip()
