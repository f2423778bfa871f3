"""Reads in place on a remote (``remote_fs``, ``remote_reads``) without a server: the
remote's own filesystem is fsspec's in-memory one. The S3 round trips (ETags, a fresh
clone, the sandbox) are in tests/slow/test_s3_remote.py against a real server."""

from __future__ import annotations

import io

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.errors import IntegrityError
from lineage.query import stream
from lineage.query.connection import sandbox
from lineage.store import blocks
from lineage.store.blocks import BLOCK
from lineage.versioning import remote_fs, remote_reads
from lineage.versioning.remote_fs import RemoteObjects

MD5 = "ab" + "0" * 30
DATA = np.random.default_rng(0).integers(0, 256, 5 * BLOCK + 123, dtype=np.uint8).tobytes()


def _digests(data: bytes) -> bytes:
    import hashlib

    return b"".join(
        hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)
    )


def _remote(objects: dict[str, bytes], served: dict[str, bytes] | None = None) -> RemoteObjects:
    """A remote holding ``objects`` (what was committed: their block digests are
    expected), serving ``served`` in their place where given (a corrupt server)."""
    mem = MemoryFileSystem()
    mem.store.clear()
    for md5, data in {**objects, **(served or {})}.items():
        mem.pipe(f"/bucket/prefix/files/md5/{md5[:2]}/{md5[2:]}", data)
    remote = RemoteObjects(mem, "bucket/prefix", "store", "s3://bucket/prefix")
    for md5, data in objects.items():
        if len(md5) == 32:
            remote.expect(remote.key(md5), _digests(data))
    return remote


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(DATA)), st.integers(0, 3 * BLOCK)), max_size=8))
def test_ranged_reads_return_the_objects_bytes_and_fetch_each_block_once(reads):
    remote = _remote({MD5: DATA})
    key = remote.key(MD5)
    for start, length in reads:
        assert remote.fetch(key, start, start + length) == DATA[start : start + length]
    touched = {b for s, n in reads if n and s < len(DATA)
               for b in range(s // BLOCK, (min(s + n, len(DATA)) - 1) // BLOCK + 1)}  # fmt: skip
    # every block read is fetched once (the cache holds them all here), no more
    expected = sum(min(BLOCK, len(DATA) - b * BLOCK) for b in touched)
    assert remote.bytes_fetched == expected


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(remote_fs, "CACHE_BYTES", 2 * BLOCK)
    remote = _remote({MD5: DATA})
    key = remote.key(MD5)
    for b in range(5):
        remote.fetch(key, b * BLOCK, b * BLOCK + 10)
    assert remote._cached <= 2 * BLOCK
    before = remote.bytes_fetched
    remote.fetch(key, 0, 10)  # evicted: fetched again
    assert remote.bytes_fetched == before + BLOCK


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ab" * 16 + "/x", "AB" + "0" * 30, "a" * 31])
def test_object_names_from_a_manifest_must_be_md5s(bad):
    with pytest.raises(IntegrityError, match="not an md5"):
        _remote({}).key(bad)


def test_a_download_refuses_bytes_that_do_not_hash_to_their_name(tmp_path):
    import hashlib

    good = hashlib.md5(b"right").hexdigest()
    remote = _remote({good: b"right", MD5: b"wrong"})
    (tmp_path / ".dvc").mkdir()
    remote_reads.download(remote, [good], tmp_path)
    assert (tmp_path / ".dvc/cache/files/md5" / good[:2] / good[2:]).read_bytes() == b"right"
    with pytest.raises(IntegrityError, match="does not match its md5"):
        remote_reads.download(remote, [MD5], tmp_path)
    assert not (tmp_path / ".dvc/cache/files/md5" / MD5[:2] / MD5[2:]).exists()


def test_the_block_digests_are_the_store_files(tmp_path):
    (tmp_path / "label_events").mkdir()
    (tmp_path / "label_events/s1.parquet").write_bytes(DATA)
    rel = blocks.write(tmp_path, "label_events/s1.parquet")
    assert rel == "blocks/label_events/s1.sha256"
    assert (tmp_path / rel).read_bytes() == _digests(DATA)
    assert blocks.wanted("label_events/s1.parquet") and not blocks.wanted("transactions/s.parquet")


def test_a_block_the_server_changed_is_an_integrity_error_not_wrong_bytes():
    bad = bytearray(DATA)
    bad[3 * BLOCK + 7] ^= 1  # one bit, in block 3
    remote = _remote({MD5: DATA}, served={MD5: bytes(bad)})
    key = remote.key(MD5)
    assert remote.fetch(key, 0, 3 * BLOCK) == DATA[: 3 * BLOCK]  # blocks 0-2 are intact
    with pytest.raises(OSError, match="block 3 is corrupt"):
        remote.fetch(key, 3 * BLOCK, 3 * BLOCK + 10)
    failure = remote_fs.take_failure()
    assert isinstance(failure, IntegrityError) and failure.exit_code == 1
    assert remote_fs.take_failure() is None  # taken once


def test_a_remote_object_of_another_size_than_its_digests_is_refused():
    remote = _remote({MD5: DATA})
    with pytest.raises(IntegrityError, match="blocks its digests name"):
        remote.expect(remote.key(MD5), _digests(DATA)[:-32])


def test_an_object_without_digests_is_never_read():
    other = "cd" + "0" * 30
    remote = _remote({MD5: DATA})
    remote.inner.pipe(f"/{remote.key(other)}", b"x" * 10)
    with pytest.raises(OSError, match="has no block digests"):
        remote.fetch(remote.key(other), 0, 5)
    remote_fs.take_failure()


def test_duckdb_reads_a_registered_remote_in_place_and_the_sandbox_holds():
    n = 200_000
    table = pa.table({"label_id": [f"l{i:07d}" for i in range(n)], "v": np.arange(n)})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=16_384)
    other = "cd" + "0" * 30
    remote = _remote({MD5: buf.getvalue(), other: buf.getvalue()})
    con = duckdb.connect()
    con.register_filesystem(remote)
    url = remote.url(MD5)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{url}')")
    sandbox(con, remote_reads.url_forms(url))
    assert con.sql("SELECT v FROM t WHERE label_id = 'l0150000'").fetchall() == [(150_000,)]
    # one row group of thirteen, its footer and a block on each side
    assert remote.bytes_fetched < 0.25 * len(buf.getvalue())
    for refused in (remote.url(other), url.rsplit("/", 1)[0] + "/*"):
        with pytest.raises(duckdb.PermissionException):
            con.sql(f"SELECT count(*) FROM read_parquet('{refused}')").fetchall()


def test_a_corrupt_block_under_a_query_is_the_integrity_error_with_its_exit_code():
    n = 100_000
    table = pa.table({"label_id": [f"l{i:07d}" for i in range(n)], "v": np.arange(n)})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=16_384)
    good = buf.getvalue()
    bad = bytearray(good)
    bad[len(good) // 2] ^= 0xFF  # inside the data, not the footer
    remote = _remote({MD5: good}, served={MD5: bytes(bad)})
    con = duckdb.connect()
    con.register_filesystem(remote)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{remote.url(MD5)}')")
    with pytest.raises(duckdb.Error) as raised:
        con.sql("SELECT sum(v) FROM t").fetchall()
    err = stream.translate(raised.value)
    assert isinstance(err, IntegrityError) and "is corrupt" in str(err)
