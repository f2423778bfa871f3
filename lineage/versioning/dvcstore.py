"""DVC: track the store directory, find its files in the cache, talk to remotes.

Reading goes straight to the cache (``.dvc/cache/files/md5/xx/yyyy``) with no DVC
import at all, so queries start fast; DVC's Python API is used only to add, fetch,
push and pull.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from lineage.errors import IntegrityError, LineageError, RemoteError, RepoError, RevisionError
from lineage.store.files import within
from lineage.versioning import gitrepo


@contextlib.contextmanager
def inside(root: Path):
    """DVC resolves targets against the working directory, also inside old revisions."""
    before = os.getcwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(before)


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
        _undo_colorama()


def _undo_colorama() -> None:
    """DVC re-initialises colorama while it prints, and colorama then writes a colour
    reset at exit to the stdout of that moment (our progress display's proxy): stray
    escape codes after the command's output. The streams themselves are restored by
    ``quiet``; this drops the exit hook."""
    import atexit
    import sys

    colorama = sys.modules.get("colorama")
    if colorama is not None:
        atexit.unregister(colorama.initialise.reset_all)


def open_dvc(root: Path):
    check_config(root)
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
    with quiet(), inside(root):
        dvc = open_dvc(root)
        try:
            dvc.add(store_name)
        finally:
            dvc.close()


def checkout(root: Path, store_name: str) -> None:
    """Make the work-tree store folder match the committed ``.dvc`` file."""
    with quiet(), inside(root):
        dvc = open_dvc(root)
        try:
            dvc.checkout(targets=[f"{store_name}.dvc"], force=True)
        except Exception:  # noqa: BLE001 - nothing committed yet, or nothing to check out
            pass
        finally:
            dvc.close()


def fetch_objects(root: Path, md5s: list[str], remote: str | None = None) -> int:
    """Bring objects (files or ``.dir`` manifests) from the remote into the cache, by hash.

    Object-level on purpose: DVC's revision-level fetch needs the target to resolve in
    the old revision's tree, and fails quietly when it does not."""
    from dvc_data.hashfile.hash_info import HashInfo

    if not md5s:
        return 0

    def fallback(exc: Exception) -> LineageError:
        return RevisionError(
            f"cannot fetch from the DVC remote: {exc}",
            hint="check `lineage remote list` and that the remote is reachable",
        )

    with _remote(root, remote, "fetch", fallback), quiet(), inside(root):
        dvc = open_dvc(root)
        try:
            result = dvc.cloud.pull([HashInfo("md5", m) for m in md5s], remote=remote)
            return len(result.transferred)
        finally:
            dvc.close()


def push(root: Path, remote: str | None = None, dir_md5s: list[str] | None = None) -> int:
    """Push every version's files, and every version's directory manifest (DVC's own
    push sends only the manifests of some revisions)."""
    from dvc_data.hashfile.hash_info import HashInfo

    with _remote(root, remote, "push", lambda e: RepoError(f"push failed: {e}")):
        with quiet(), inside(root):
            dvc = open_dvc(root)
            try:
                n = int(dvc.push(remote=remote, all_tags=True, all_branches=True) or 0)
                if dir_md5s:
                    n += len(
                        dvc.cloud.push(
                            [HashInfo("md5", m) for m in dir_md5s], remote=remote
                        ).transferred
                    )
                return n
            finally:
                dvc.close()


def pull(root: Path, remote: str | None = None) -> int:
    with _remote(root, remote, "pull", lambda e: RepoError(f"pull failed: {e}")):
        with quiet(), inside(root):
            dvc = open_dvc(root)
            try:
                fetched = dvc.fetch(remote=remote, all_tags=True, all_branches=True) or 0
                dvc.checkout(force=True)
                return int(fetched)
            finally:
                dvc.close()


@contextlib.contextmanager
def _remote(
    root: Path, remote: str | None, action: str, fallback: Callable[[Exception], LineageError]
) -> Iterator[None]:
    """Bounded retries while talking to the remote, and its failures as one-line
    errors (``remote_errors``); a DVC error that is not about the storage keeps
    ``fallback``'s wording."""
    from dvc.exceptions import DvcException

    from lineage.versioning.remote_errors import MAX_ATTEMPTS, translate

    unset = "AWS_MAX_ATTEMPTS" not in os.environ
    if unset:
        os.environ["AWS_MAX_ATTEMPTS"] = str(MAX_ATTEMPTS)
    try:
        yield
    except LineageError:
        raise
    except Exception as exc:  # noqa: BLE001 - storage libraries raise anything
        name, url = _remote_of(root, remote)
        err = translate(exc, name, url, action)
        if type(err) is RemoteError and isinstance(exc, DvcException):
            raise fallback(exc) from exc
        raise err from exc
    finally:
        if unset:
            os.environ.pop("AWS_MAX_ATTEMPTS", None)


def _remote_of(root: Path, remote: str | None) -> tuple[str, str]:
    """(name, url) of ``remote`` or of the default remote."""
    try:
        known = remotes(root)
    except LineageError:
        known = []
    for name, url, default in known:
        if name == remote or (remote is None and default):
            return name, url
    return remote or "(default)", "?"


def remote_add(
    root: Path, name: str, url: str, default: bool = True, options: dict[str, str] | None = None
) -> None:
    """Write remote ``name`` (its URL and ``options``, e.g. endpointurl) to .dvc/config."""
    with quiet():
        dvc = open_dvc(root)
        try:
            with dvc.config.edit() as conf:
                conf["remote"][name] = {"url": url, **(options or {})}
                if default:
                    conf["core"]["remote"] = name
        finally:
            dvc.close()


def remotes(root: Path) -> list[tuple[str, str, bool]]:
    """(name, url, is_default) of the configured DVC remotes."""
    conf = _config(root)
    default = conf.get("core", "remote", fallback=None)
    out = []
    for raw in conf.sections():
        section = raw.strip("'")  # DVC writes ['remote "name"']
        if section.startswith('remote "'):
            name = section[len('remote "') : -1]
            out.append((name, conf.get(raw, "url", fallback=""), name == default))
    return out


def _config(root: Path, names: tuple[str, ...] = ("config", "config.local")):
    conf = configparser.ConfigParser(interpolation=None)
    for name in names:
        path = root / ".dvc" / name
        if path.exists() and not within(path, root):
            raise RepoError(f".dvc/{name} leads outside the repository ({path.resolve()})")
        if path.exists():
            try:
                conf.read(path, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError) as exc:
                raise RepoError(f".dvc/{name} is not readable: {exc}") from None
    return conf


# DVC settings that name folders DVC writes to. From a cloned repository they must stay
# inside it: a committed `.dvc/config` could otherwise make `commit` write anywhere.
_FOLDER_KEYS = (("cache", "dir"), ("core", "site_cache_dir"))


def check_config(root: Path) -> None:
    """Refuse DVC settings from repository content that lead outside the repository.
    An untracked ``.dvc/config.local`` is the user's own (a shared cache is fine)."""
    names = ["config"]
    if (root / ".dvc/config.local").exists() and gitrepo.tracked(root, ".dvc/config.local"):
        names.append("config.local")
    for name in names:
        conf = _config(root, (name,))
        for section, key in _FOLDER_KEYS:
            value = conf.get(section, key, fallback=None)
            if value is None:
                continue
            target = Path(value) if Path(value).is_absolute() else root / ".dvc" / value
            if not within(target, root):
                raise RepoError(
                    f".dvc/{name}: '{section}.{key}' = {value!r} leads outside the repository",
                    hint="a committed DVC config may only name folders inside the repository; "
                    "set a shared cache in the untracked .dvc/config.local instead",
                )


def cache_dir(root: Path) -> Path:
    """The DVC cache's ``files/md5`` folder: parsed once per state of the config files
    (``cache_path`` asks for every segment of every revision opened)."""
    return _cache_dir(root, config_stamps(root))


def config_stamps(root: Path) -> tuple:
    """(mtime, size) of .dvc/config and .dvc/config.local: what a result parsed from them
    is cached under, so an edit shows up at once."""
    return tuple(
        (p.stat().st_mtime_ns, p.stat().st_size) if p.exists() else None
        for p in (root / ".dvc" / "config", root / ".dvc" / "config.local")
    )


@functools.lru_cache(maxsize=32)
def _cache_dir(root: Path, _stamps: tuple) -> Path:
    conf = _config(root)
    configured = conf.get("cache", "dir", fallback=None)
    if configured is None:
        return root / ".dvc" / "cache" / "files" / "md5"
    check_config(root)
    return (root / ".dvc" / configured).resolve() / "files" / "md5"


def cache_path(root: Path, md5: str) -> Path:
    return cache_dir(root) / md5[:2] / md5[2:]


def dir_md5(dvc_file_text: bytes | str, rev: str) -> str:
    """The md5 of the store's directory manifest named in a ``.dvc`` file."""
    import yaml  # ~15 ms: only when the revision memo does not know the commit

    try:
        data = yaml.safe_load(dvc_file_text)
        return data["outs"][0]["md5"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise RevisionError(f"the store's .dvc file at {rev} is not readable: {exc}") from exc


def manifest(root: Path, md5: str) -> list[dict] | None:
    """The directory manifest (``[{"relpath", "md5"}, ...]``), or None when not cached.
    Its bytes must hash to its name: an edited manifest (an entry removed) would
    otherwise read as an older state."""
    import hashlib

    path = cache_path(root, md5)
    if not path.exists():
        return None
    data = path.read_bytes()
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5.removesuffix(".dir"):
        raise IntegrityError(
            f"the store manifest {path} does not match its md5",
            hint="`lineage pull` repairs it from the remote; `lineage verify` reports more",
        )
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"DVC directory manifest {path} is corrupt: {exc}") from exc
