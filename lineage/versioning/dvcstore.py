"""DVC: track the store directory, find its files in the cache, talk to remotes.

Reading goes straight to the cache (``.dvc/cache/files/md5/xx/yyyy``) with no DVC
import at all, so queries start fast; DVC's Python API is used only to add, fetch,
push and pull.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import logging
from pathlib import Path

import yaml

from lineage.errors import RepoError, RevisionError


@contextlib.contextmanager
def quiet():
    """DVC prints hints ('To track the changes with git...') to stdout; the library never prints."""
    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        logger.setLevel(level)


def open_dvc(root: Path):
    from dvc.repo import Repo as DvcRepo

    return DvcRepo(str(root))


def init(root: Path) -> bool:
    """Initialise DVC in ``root`` unless it is there already; True when it was created."""
    if (root / ".dvc").is_dir():
        return False
    from dvc.repo import Repo as DvcRepo

    with quiet():
        DvcRepo.init(str(root))
    return True


def add(root: Path, store_name: str) -> None:
    with quiet():
        dvc = open_dvc(root)
        try:
            dvc.add(str(root / store_name))
        finally:
            dvc.close()


def checkout(root: Path, store_name: str) -> None:
    """Make the work-tree store folder match the committed ``.dvc`` file."""
    with quiet():
        dvc = open_dvc(root)
        try:
            dvc.checkout(targets=[str(root / f"{store_name}.dvc")], force=True)
        except Exception:  # noqa: BLE001 - nothing committed yet, or nothing to check out
            pass
        finally:
            dvc.close()


def fetch(root: Path, store_name: str, rev: str) -> None:
    """Bring the store files of ``rev`` from the default remote into the cache."""
    from dvc.exceptions import DvcException

    with quiet():
        dvc = open_dvc(root)
        try:
            dvc.fetch(targets=[str(root / store_name)], revs=[rev])
        except DvcException as exc:
            raise RevisionError(
                f"cannot fetch the store of {rev[:10]} from the DVC remote: {exc}",
                hint="check `lineage remote list` and that the remote is reachable",
            ) from exc
        finally:
            dvc.close()


def push(root: Path, remote: str | None = None) -> int:
    from dvc.exceptions import DvcException

    with quiet():
        dvc = open_dvc(root)
        try:
            return int(dvc.push(remote=remote, all_tags=True, all_branches=True) or 0)
        except DvcException as exc:
            raise RepoError(f"push failed: {exc}") from exc
        finally:
            dvc.close()


def pull(root: Path, remote: str | None = None) -> int:
    from dvc.exceptions import DvcException

    with quiet():
        dvc = open_dvc(root)
        try:
            fetched = dvc.fetch(remote=remote, all_tags=True, all_branches=True) or 0
            dvc.checkout(force=True)
            return int(fetched)
        except DvcException as exc:
            raise RepoError(f"pull failed: {exc}") from exc
        finally:
            dvc.close()


def remote_add(root: Path, name: str, url: str, default: bool = True) -> None:
    with quiet():
        dvc = open_dvc(root)
        try:
            with dvc.config.edit() as conf:
                conf["remote"][name] = {"url": url}
                if default:
                    conf["core"]["remote"] = name
        finally:
            dvc.close()


def remotes(root: Path) -> list[tuple[str, str, bool]]:
    """(name, url, is_default) of the configured DVC remotes."""
    conf = _config(root)
    default = conf.get("core", "remote", fallback=None)
    out = []
    for section in conf.sections():
        if section.startswith('remote "'):
            name = section[len('remote "') : -1]
            out.append((name, conf.get(section, "url", fallback=""), name == default))
    return out


def _config(root: Path) -> configparser.ConfigParser:
    conf = configparser.ConfigParser()
    for name in ("config", "config.local"):
        path = root / ".dvc" / name
        if path.exists():
            conf.read(path)
    return conf


def cache_dir(root: Path) -> Path:
    conf = _config(root)
    configured = conf.get("cache", "dir", fallback=None)
    base = (root / ".dvc" / configured).resolve() if configured else root / ".dvc" / "cache"
    return base / "files" / "md5"


def cache_path(root: Path, md5: str) -> Path:
    return cache_dir(root) / md5[:2] / md5[2:]


def dir_md5(dvc_file_text: bytes | str, rev: str) -> str:
    """The md5 of the store's directory manifest named in a ``.dvc`` file."""
    try:
        data = yaml.safe_load(dvc_file_text)
        return data["outs"][0]["md5"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise RevisionError(f"the store's .dvc file at {rev} is not readable: {exc}") from exc


def manifest(root: Path, md5: str) -> list[dict] | None:
    """The directory manifest (``[{"relpath", "md5"}, ...]``), or None when not cached."""
    path = cache_path(root, md5)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RepoError(f"DVC directory manifest {path} is corrupt: {exc}") from exc
