"""A readers' memo: a JSON object in the private work area (``.lineage/``) that readers
keep to skip work they did before (``intact.json``, ``revisions.json``).

A missing or corrupt file reads as empty, and a write that fails (a read-only folder)
costs only time: a memo never decides an answer, it only saves recomputing one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lineage.store.files import atomic_write_bytes


class JsonMemo:
    def __init__(self, path: Path):
        self.path = path
        self.writable = path.parent.is_dir()
        data: Any
        try:
            data = json.loads(path.read_bytes()) if path.exists() else {}
        except (OSError, ValueError):
            data = {}
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.changed = False

    def save(self) -> None:
        if self.changed and self.writable:
            try:
                atomic_write_bytes(self.path, json.dumps(self.data).encode())
            except OSError:
                return
            self.changed = False
