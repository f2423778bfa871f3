"""One writer at a time: an exclusive lock on ``.lineage/lock``.

The OS releases the lock when its process dies, so a killed writer never leaves a
lock behind that needs manual repair.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from lineage.errors import LockError

TIMEOUT_ENV = "LINEAGE_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 30.0


def default_timeout() -> float:
    """``$LINEAGE_LOCK_TIMEOUT`` seconds (a non-negative finite number), else 30."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 <= value < float("inf")):
        raise LockError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds", hint="e.g. LINEAGE_LOCK_TIMEOUT=30"
        )
    return value


@contextmanager
def write_lock(path: Path, timeout: float | None = None):
    """Hold the repository's write lock; wait up to ``timeout`` seconds for it."""
    timeout = default_timeout() if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(fd)
                    raise LockError(
                        f"another lineage process{holder} is writing to this repository; "
                        f"gave up after {timeout:g} s",
                        hint="wait for it to finish, or raise LINEAGE_LOCK_TIMEOUT",
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
        return f" (pid {pid})" if pid else ""
    except OSError:
        return ""
