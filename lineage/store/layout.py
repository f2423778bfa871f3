"""Where things live in a user's repository.

```
<repo>/lineage.toml            settings (store directory, audit policy), committed
<repo>/annotations/            the label store, one folder per table, tracked by DVC
<repo>/annotations.dvc         DVC's pointer to the store's directory manifest, committed
<repo>/.lineage/               private work area, git-ignored
    staging/<txn_id>/          staged transactions: <table>.parquet + txn.json
    journal.json               an unfinished commit, for recovery after a crash
    intact.json                files already hashed (readers' memo, ``store.integrity``)
    revisions.json             what each commit SHA fixes: manifest md5, versions
                               (readers' memo, ``versioning.commits``)
    lock                       the write lock
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lineage.errors import RepoError
from lineage.store.files import within

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
        store = config.get("store", {})
        name = store.get("path", DEFAULT_STORE) if isinstance(store, dict) else DEFAULT_STORE
        return cls(root=root, store_name=store_path(root, name))

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


def store_path(root: Path, name: object) -> str:
    """``[store] path`` checked: lineage.toml is repository content (a clone is untrusted),
    so the store must be a plain relative folder that stays inside the repository."""
    where = f"{CONFIG_FILE}, field 'store.path'"
    hint = 'use a folder inside the repository, e.g. path = "annotations"'
    if not isinstance(name, str) or not name.strip():
        raise RepoError(f"{where}: must be a folder name", hint=hint)
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if (
        PurePosixPath(name).is_absolute()
        or not parts
        or any(p in ("..", ".") or p.startswith(".") for p in parts)
        or ":" in name
    ):
        raise RepoError(f"{where}: {name!r} is not a folder inside the repository", hint=hint)
    if not within(root / name, root):  # a symlink that leads out
        raise RepoError(f"{where}: {name!r} leads outside the repository", hint=hint)
    return "/".join(parts)


def read_config(root: Path) -> dict:
    path = root / CONFIG_FILE
    if not path.exists():
        return {}
    if not within(path, root):  # a symlink a clone made to a file elsewhere
        raise RepoError(f"{CONFIG_FILE} leads outside the repository ({path.resolve()})")
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RepoError(f"{CONFIG_FILE} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RepoError(f"cannot read {CONFIG_FILE}: {exc}") from None
