"""Read a revision's segments in place on its object-storage remote.

A fresh clone, or a revision nobody pulled, has segments that are not in the local DVC
cache. Instead of downloading them whole, DuckDB reads them where they are, through
``remote_fs.RemoteObjects`` registered on the connection (DuckDB's httpfs has no build
for 2.x that installs without its own download host): a query fetches the footers, then
only the column chunks of the row groups its filters keep. Segments are sorted by
``label_id`` in row groups with statistics, so ``history LABEL`` reads a few row groups.

Integrity: a read in place cannot hash a whole object, so each segment committed since
reads in place exist has the SHA-256 of each of its 128 KiB blocks beside it
(``store.blocks``), listed in the version's manifest: the remote's filesystem checks
every block it fetches before DuckDB sees it. The remote is not trusted: a server that
serves other bytes is an IntegrityError, never wrong rows. A segment without digests
(committed before), the manifest and ``transactions`` (every open reads them whole)
are fetched into the cache and hashed, as before. ``lineage verify`` downloads and
hashes everything. ``LINEAGE_READ_IN_PLACE=0`` turns reads in place off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.errors import IntegrityError, LineageError
from lineage.store.files import atomic_write_bytes
from lineage.versioning import dvcstore

if TYPE_CHECKING:
    from lineage.versioning.remote_fs import RemoteObjects

ENV = "LINEAGE_READ_IN_PLACE"
SCHEMES = ("s3",)  # object storage read in place (others are fetched whole)


def url_forms(url: str) -> list[str]:
    """The forms DuckDB checks a registered filesystem's path in (each at its own step):
    the sandbox must allow both."""
    protocol, rest = url.split("://", 1)
    return [url, f"{protocol}:///{rest}"]


def for_repo(root: Path) -> RemoteObjects | None:
    """The default DVC remote of ``root``, or None when reads in place are off or the
    remote is not object storage."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    default = next((r for r in dvcstore.remotes(root) if r[2]), None)
    if default is None or default[1].split("://", 1)[0] not in SCHEMES:
        return None
    return _open(root, default[0], default[1], dvcstore.config_stamps(root))


@functools.lru_cache(maxsize=8)
def _open(root: Path, name: str, url: str, _stamps: tuple) -> RemoteObjects:
    """The remote's filesystem as DVC builds it from its config (endpoint, region,
    profile, credentials in config.local), with lineage's bounded timeouts and attempts."""
    from lineage.versioning.remote_errors import MAX_ATTEMPTS
    from lineage.versioning.remote_fs import RemoteObjects

    dvcstore.check_config(root)
    with talking(name, url, "read"):
        from dvc.config import Config
        from dvc.fs import get_cloud_fs
        from s3fs import S3FileSystem

        cls, conf, base = get_cloud_fs(Config(dvc_dir=str(root / ".dvc")), name=name)
        fs_args = dict(cls(**conf).fs_args)
        config_kwargs = dict(fs_args.get("config_kwargs") or {})
        if "AWS_MAX_ATTEMPTS" not in os.environ:
            config_kwargs["retries"] = {"max_attempts": MAX_ATTEMPTS, "mode": "standard"}
        fs_args["config_kwargs"] = config_kwargs
        inner = S3FileSystem(**{**fs_args, "skip_instance_cache": True})
    return RemoteObjects(inner, base, name, url)


@contextlib.contextmanager
def talking(name: str, url: str, action: str) -> Iterator[None]:
    """The remote's failures as lineage's one-line remote errors."""
    from lineage.versioning.remote_errors import translate

    try:
        yield
    except LineageError:
        raise
    except Exception as exc:  # noqa: BLE001 - DVC, s3fs and botocore raise anything
        raise translate(exc, name, url, action) from exc


def expect(remote: RemoteObjects, digested: dict[str, str], root: Path) -> set[str]:
    """Fetch the block digests of segments (``segment md5 -> digests md5``; a small
    file each, hashed into the cache) and hand them to ``remote``, which checks every
    block it fetches against them. Returns the segments now readable in place."""
    download(remote, sorted(set(digested.values())), root)
    out = set()
    for md5, digests_md5 in digested.items():
        path = dvcstore.cache_path(root, digests_md5)
        if path.exists():
            with talking(remote.name, remote.remote_url, "read"):
                remote.expect(remote.key(md5), path.read_bytes())
            out.add(md5)
    return out


def fetch_whole(root: Path, md5s: list[str]) -> None:
    """Bring objects (manifests, small files) into the cache, hashed: through the
    remote's own client where reads in place are on (no DVC import), the rest through
    DVC's fetch. What neither has stays missing: callers say what that means."""
    remote = for_repo(root)
    if remote is not None:
        download(remote, md5s, root)
    missing = [m for m in md5s if not dvcstore.cache_path(root, m).exists()]
    if missing:
        dvcstore.fetch_objects(root, missing)


def download(remote: RemoteObjects, md5s: list[str], root: Path) -> None:
    """Fetch whole objects into the DVC cache, refusing bytes that do not hash to their
    name. A missing object is left to DVC's fetch, which names what is missing."""
    with talking(remote.name, remote.remote_url, "read"):
        for md5 in md5s:
            key = remote.key(md5)
            try:
                data = remote.fetch(key)
            except FileNotFoundError:
                continue
            remote.bytes_downloaded += len(data)
            if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5.removesuffix(".dir"):
                raise IntegrityError(
                    f"object {key} on remote '{remote.name}' does not match its md5",
                    hint="the remote copy is corrupt: push it again from a clone that has it",
                )
            atomic_write_bytes(dvcstore.cache_path(root, md5), data)
