"""The DVC remote's objects as DuckDB reads them in place: an fsspec filesystem over the
remote's own (s3fs), registered on a connection as ``lineageremote://``.

Every block it fetches is checked against the segment's committed block digests
(``store.blocks``) before DuckDB sees it: the remote is not trusted.

It counts what it fetches (the benchmark reports bytes read against the store's size),
asks each object's metadata once (objects are immutable: they are named by their md5)
and keeps what it fetched in aligned blocks (footers are read again by each view and
query, and DuckDB's reads of a column chunk overlap).
"""

from __future__ import annotations

import datetime
import hashlib
import threading
from collections import OrderedDict
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from lineage.errors import IntegrityError, LineageError
from lineage.store.blocks import BLOCK, DIGEST, count
from lineage.versioning.remote_errors import translate

PROTOCOL = "lineageremote"  # DuckDB finds the registered filesystem by this prefix
CACHE_BYTES = 256 << 20  # blocks kept per remote (least recently used go first)


# Remote errors raised inside a DuckDB query, newest last: DuckDB reports a failed read
# as text, and the query layer turns it back into its typed error (its exit code).
_failures: list[LineageError] = []


def take_failure() -> LineageError | None:
    """The remote error behind the query that just failed, if one was."""
    failure = _failures[-1] if _failures else None
    _failures.clear()
    return failure


class RemoteObjects(AbstractFileSystem):
    """Read-only, counted access to ``bucket/prefix/files/md5/xx/yyyy`` on one remote."""

    protocol = PROTOCOL
    cachable = False

    def __init__(self, inner: Any, base: str, name: str, url: str):
        super().__init__()
        self.inner = inner  # the remote's own fsspec filesystem (s3fs)
        self.base = base.strip("/")  # bucket/prefix
        self.name, self.remote_url = name, url
        self.infos: dict[str, dict] = {}
        self.digests: dict[str, bytes] = {}  # key -> its blocks' SHA-256 (``store.blocks``)
        self.bytes_fetched = 0  # everything fetched: ranges read in place and downloads
        self.bytes_downloaded = 0  # of which whole objects put in the cache
        self.requests = 0
        self._blocks: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()

    def key(self, md5: str) -> str:
        """The object's path on the remote, ``bucket/prefix/files/md5/xx/yyyy``: from a
        manifest (untrusted), so it must be an md5 and nothing else."""
        digest = md5.removesuffix(".dir")
        if len(digest) != 32 or any(c not in "0123456789abcdef" for c in digest):
            raise IntegrityError(f"the store manifest names an object {md5!r}: not an md5")
        return f"{self.base}/files/md5/{md5[:2]}/{md5[2:]}"

    def url(self, md5: str) -> str:
        return f"{PROTOCOL}://{self.key(md5)}"

    def expect(self, key: str, digests: bytes) -> None:
        """Check every block of ``key`` fetched from now on against ``digests``; the
        object's size must give exactly that many blocks."""
        size = self.info(key)["size"]
        if len(digests) != count(size) * DIGEST:
            raise IntegrityError(
                f"object {key} on remote '{self.name}' has {size} bytes, not the "
                f"{len(digests) // DIGEST} blocks its digests name",
                hint="the remote copy is not the committed one: push it again from a "
                "clone that has it, or `lineage pull` from another remote",
            )
        self.digests[key] = digests

    def _key_of(self, path: str) -> str:
        return self._strip_protocol(path).lstrip("/")

    def info(self, path: str, **kwargs: Any) -> dict:
        key = self._key_of(path)
        if key not in self.infos:
            info = dict(self.inner.info(key))
            with self._lock:
                self.requests += 1
                self.infos[key] = {**info, "name": key, "type": "file"}
        return self.infos[key]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        info = self.info(path)
        return [info] if detail else [info["name"]]

    def modified(self, path: str) -> datetime.datetime:
        return datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)  # immutable objects

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, **kwargs: Any) -> Any:
        if mode != "rb":
            raise PermissionError(f"{path}: the remote is read-only here")
        key = self._key_of(path)
        return _RangeFile(self, key, mode, block_size=BLOCK, cache_type="none",
                          size=self.info(key)["size"])  # fmt: skip

    def fetch(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of an object (all of it by default). Ranges are read in
        aligned blocks kept in a bounded LRU: DuckDB's reads overlap (a footer, a column
        chunk read again in pieces), and one GET serves each run of missing blocks."""
        if start is None or end is None:
            return self._get(key, None, None)
        end = min(end, self.info(key)["size"])
        if end <= start:
            return b""
        first, last = start // BLOCK, (end - 1) // BLOCK
        with self._lock:
            have = {
                b: self._blocks[(key, b)]
                for b in range(first, last + 1)
                if (key, b) in self._blocks
            }
            for b in have:
                self._blocks.move_to_end((key, b))
        b = first
        while b <= last:  # one GET per run of missing blocks
            if b in have:
                b += 1
                continue
            run_end = b
            while run_end + 1 <= last and run_end + 1 not in have:
                run_end += 1
            data = self._get(key, b * BLOCK, min((run_end + 1) * BLOCK, self.info(key)["size"]))
            for i in range(b, run_end + 1):
                have[i] = self._checked(key, i, data[(i - b) * BLOCK : (i - b + 1) * BLOCK])
            self._keep(key, {i: have[i] for i in range(b, run_end + 1)})
            b = run_end + 1
        joined = b"".join(have[i] for i in range(first, last + 1))
        return joined[start - first * BLOCK : end - first * BLOCK]

    def _checked(self, key: str, index: int, data: bytes) -> bytes:
        expected = self.digests.get(key)
        if (
            expected is None
            or hashlib.sha256(data).digest() != expected[index * DIGEST : (index + 1) * DIGEST]
        ):
            what = "has no block digests" if expected is None else f"block {index} is corrupt"
            err = IntegrityError(
                f"object {key} on remote '{self.name}': {what}",
                hint="the remote copy is not the committed one: push it again from a "
                "clone that has it; `lineage verify` reports more",
            )
            _failures.append(err)
            raise OSError(str(err))
        return data

    def forget(self) -> None:
        """Drop the blocks kept (the next reads fetch again)."""
        with self._lock:
            self._blocks.clear()
            self._cached = 0

    def _get(self, key: str, start: int | None, end: int | None) -> bytes:
        try:
            data = self.inner.cat_file(key, start=start, end=end)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - s3fs and botocore raise anything
            # DuckDB passes on only the text: keep the typed error for ``take_failure``
            err = translate(exc, self.name, self.remote_url, "read")
            _failures.append(err)
            raise OSError(str(err)) from exc
        with self._lock:
            self.bytes_fetched += len(data)
            self.requests += 1
        return data

    def _keep(self, key: str, blocks: dict[int, bytes]) -> None:
        with self._lock:
            for b, data in blocks.items():
                if (key, b) not in self._blocks:
                    self._blocks[(key, b)] = data
                    self._cached += len(data)
            while self._cached > CACHE_BYTES:
                _, old = self._blocks.popitem(last=False)
                self._cached -= len(old)


class _RangeFile(AbstractBufferedFile):
    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.fetch(self.path, start, end)
