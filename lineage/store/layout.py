"""Where things live in a user's repository.

```
<repo>/lineage.toml            settings (store directory, audit policy), committed
<repo>/annotations/            the label store, one folder per table, tracked by DVC
<repo>/annotations.dvc         DVC's pointer to the store's directory manifest, committed
<repo>/.lineage/               private work area, git-ignored
    staging/<txn_id>/          staged transactions: <table>.parquet + txn.json
    journal.json               an unfinished commit, for recovery after a crash
    lock                       the write lock
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "lineage.toml"
WORK_DIR = ".lineage"
DEFAULT_STORE = "annotations"


@dataclass(frozen=True)
class Layout:
    root: Path
    store_name: str = DEFAULT_STORE

    @classmethod
    def of(cls, root: Path) -> Layout:
        config = read_config(root)
        return cls(root=root, store_name=config.get("store", {}).get("path", DEFAULT_STORE))

    @property
    def store(self) -> Path:
        return self.root / self.store_name

    @property
    def dvc_file(self) -> Path:
        return self.root / f"{self.store_name}.dvc"

    @property
    def work(self) -> Path:
        return self.root / WORK_DIR

    @property
    def staging(self) -> Path:
        return self.work / "staging"

    @property
    def journal(self) -> Path:
        return self.work / "journal.json"

    @property
    def lock(self) -> Path:
        return self.work / "lock"

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    def table_dir(self, table: str) -> Path:
        return self.store / table


def read_config(root: Path) -> dict:
    path = root / CONFIG_FILE
    if not path.exists():
        return {}
    with open(path, "rb") as fh:
        return tomllib.load(fh)
