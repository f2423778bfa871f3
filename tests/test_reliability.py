"""Reliability: SIGKILL at random moments of `lineage import` / `lineage commit`,
concurrent writers, corruption seen by readers, strict / lenient bad input.

The crash harness here is shared with the slow suite (tests/slow/test_crash.py), which
runs the same trials many more times.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineage.errors import IntegrityError, LineageError
from lineage.repo import Repo
from lineage.store import staging
from lineage.store.lock import write_lock
from lineage.versioning.revision import resolve
from tests.conftest import make_git, write_jsonl

CLI = [
    sys.executable,
    "-c",
    "from lineage.cli import main; main()",
]


def lineage_popen(root: Path, *args: str, timeout: float = 30) -> subprocess.Popen:
    env = {**os.environ, "LINEAGE_LOCK_TIMEOUT": str(timeout)}
    return subprocess.Popen(
        [*CLI, "-C", str(root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def lineage_run(root: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    p = lineage_popen(root, *args, timeout=timeout)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


# ------------------------------------------------------------------ repository state


@dataclass(frozen=True)
class State:
    head: str | None
    labels: frozenset  # (label_id, revision, txn_id) of HEAD's labels
    staged: tuple[str, ...]  # complete staged transactions
    work: frozenset  # labels of HEAD plus staged


def labels_at(repo: Repo, rev: str | None) -> frozenset:
    with repo.at(rev) as snap:
        return frozenset(snap.sql("select label_id, revision, txn_id from labels").fetchall())


def state(root: Path) -> State:
    repo = Repo.open(root)  # fresh: another process changed the repository
    head = repo.git.head.commit.hexsha if repo.git.head.is_valid() else None
    return State(
        head,
        labels_at(repo, "HEAD") if head else frozenset(),
        tuple(t.txn_id for t in staging.staged(repo.layout.staging)),
        labels_at(repo, None),
    )


def pending_recovery(root: Path) -> bool:
    """Is there anything a killed writer left for the next one to clean up?"""
    layout = Repo.open(root).layout
    return layout.journal.exists() or bool(staging.incomplete(layout.staging))


def new_repo(tmp_path: Path) -> Path:
    """A repository with one committed version (guideline + two labels)."""
    root = tmp_path / "repo"
    make_git(root)
    repo = Repo.init(root)
    repo.add_guideline("v1", classes=["car", "person"])
    batch(tmp_path, 0, 2)
    repo.import_("native", tmp_path / "batch0.jsonl", guideline="v1", mode="patch")
    repo.commit("base", tag="base")
    return root


def batch(tmp_path: Path, n: int, size: int = 3) -> Path:
    """A file of ``size`` new labels on image ``img<n>.jpg``."""
    return write_jsonl(
        tmp_path / f"batch{n}.jsonl",
        [
            {
                "asset_id": f"img{n}.jpg",
                "class_name": "car" if i % 2 else "person",
                "bbox": [i * 20, 5, 15, 15],
                "annotator_id": f"ann{i}",
            }
            for i in range(size)
        ],
    )


def assert_verified(root: Path) -> None:
    result = Repo.open(root).verify()
    assert result.ok, result.problems


# ------------------------------------------------------------------ the kill trials


def kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; True when it was still running."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def follow_up(root: Path, tmp_path: Path, n: int, run) -> tuple[str, str]:
    """A following import + commit, with no manual repair; returns their stderr."""
    imp = run(
        root, "import", "native", str(batch(tmp_path, n, 1)), "--guideline", "v1", "--mode", "patch"
    )
    assert imp.returncode == 0, imp.stderr
    com = run(root, "commit", "-m", f"follow-up {n}")
    assert com.returncode == 0, com.stderr
    return imp.stderr, com.stderr


def commit_trial(root: Path, tmp_path: Path, n: int, delay: float, run) -> bool:
    """Stage an import, kill `lineage commit` after ``delay`` s, then check that HEAD is
    exactly before or exactly after, verify passes, and the next writer recovers."""
    Repo.open(root).import_("native", batch(tmp_path, n), guideline="v1", mode="patch")
    before = state(root)
    killed = kill_after(lineage_popen(root, "commit", "-m", f"trial {n}"), delay)
    assert_verified(root)
    now = state(root)
    if now.head == before.head:
        assert now.labels == before.labels
        assert now.staged == before.staged  # rolled back: still staged
    else:
        assert Repo.open(root).git.commit(now.head).parents[0].hexsha == before.head
        assert now.labels == before.work
    pending = pending_recovery(root)
    imp_err, _ = follow_up(root, tmp_path, 1000 + n, run)
    if pending:
        assert "Note: " in imp_err and ("interrupted commit" in imp_err or "unfinished" in imp_err)
    final = state(root)
    assert final.staged == ()
    assert before.work < final.labels and len(final.labels) == len(before.work) + 1
    assert_verified(root)
    return killed


def import_trial(root: Path, tmp_path: Path, n: int, delay: float, run) -> bool:
    """Kill `lineage import` after ``delay`` s: nothing or the whole file is staged, the
    committed store is untouched, and the next writer cleans up."""
    before = state(root)
    src = batch(tmp_path, n)
    killed = kill_after(
        lineage_popen(root, "import", "native", str(src), "--guideline", "v1", "--mode", "patch"),
        delay,
    )
    now = state(root)
    assert (now.head, now.labels) == (before.head, before.labels)
    if now.staged == before.staged:
        assert now.work == before.work
    else:
        (new,) = set(now.staged) - set(before.staged)
        assert len(now.work - before.work) == 3 and before.work < now.work
    assert_verified(root)
    pending = pending_recovery(root)
    imp_err, _ = follow_up(root, tmp_path, 1000 + n, run)
    if pending:
        assert "Note: removed an unfinished import" in imp_err
    assert_verified(root)
    assert state(root).staged == ()
    return killed


def calibrate(root: Path, *args: str) -> float:
    """Seconds an unkilled CLI run of ``args`` takes (kills are spread over it)."""
    start = time.monotonic()
    assert lineage_run(root, *args).returncode == 0
    return time.monotonic() - start


def run_trials(tmp_path: Path, trials: int, seed: int, run) -> dict[str, int]:
    """Alternate commit and import kills at random moments; returns how many were killed."""
    rng = random.Random(seed)
    root = new_repo(tmp_path)
    Repo.open(root).import_("native", batch(tmp_path, 9999), guideline="v1", mode="patch")
    t_commit = calibrate(root, "commit", "-m", "calibrate")
    t_import = calibrate(
        root, "import", "native", str(batch(tmp_path, 9998)), "--guideline", "v1", "--mode", "patch"
    )
    killed = {"commit": 0, "import": 0}
    for n in range(trials):
        if n % 2 == 0:
            hit = commit_trial(root, tmp_path, n, rng.uniform(0.2, 0.95) * t_commit, run)
            killed["commit"] += hit
            t_commit *= 1 if hit else 0.8  # it finished first: the machine is faster now
        else:
            hit = import_trial(root, tmp_path, n, rng.uniform(0.2, 0.95) * t_import, run)
            killed["import"] += hit
            t_import *= 1 if hit else 0.8
    return killed


def cli_runner_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (fast); same shape as ``lineage_run``."""
    from click.testing import CliRunner

    from lineage.cli import main

    res = CliRunner().invoke(main, ["-C", str(root), *args], catch_exceptions=False)
    return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)


def test_sigkill_during_import_and_commit(tmp_path):
    killed = run_trials(tmp_path, trials=4, seed=8, run=cli_runner_run)
    assert killed["commit"] + killed["import"] >= 2  # the trials did kill mid-run


# ------------------------------------------------------------------ concurrent writers


def test_second_writer_waits_then_fails_clearly(tmp_path):
    root = new_repo(tmp_path)
    layout = Repo.open(root).layout
    with write_lock(layout.lock):
        res = lineage_run(
            root, "import", "native", str(batch(tmp_path, 1)), "--guideline", "v1", timeout=1
        )
    assert res.returncode == 2
    assert f"another lineage process (pid {os.getpid()}) is writing" in res.stderr
    assert "gave up after 1 s" in res.stderr and "Traceback" not in res.stderr
    assert state(root).staged == () and not staging.incomplete(layout.staging)


def test_lock_of_a_killed_writer_is_released_at_once(tmp_path):
    """The write lock is an OS lock: SIGKILL releases it, no stale lock to repair."""
    root = new_repo(tmp_path)
    lock = Repo.open(root).layout.lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom lineage.store.lock import "
            "write_lock\nwith write_lock(Path(sys.argv[1]), 5):\n    print('held', flush=True)"
            "\n    time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LineageError, match="another lineage process"):
        with write_lock(lock, timeout=0.2):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    start = time.monotonic()
    with write_lock(lock, timeout=5):
        assert time.monotonic() - start < 1


def test_concurrent_commits_never_both_succeed(tmp_path):
    root = new_repo(tmp_path)
    Repo.open(root).import_("native", batch(tmp_path, 1), guideline="v1", mode="patch")
    before = state(root)
    procs = [lineage_popen(root, "commit", "-m", f"racer {i}") for i in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "nothing staged to commit" in loser
    now = state(root)
    repo = Repo.open(root)
    assert repo.git.commit(now.head).parents[0].hexsha == before.head  # exactly one commit
    assert now.labels == before.work and now.staged == ()
    assert_verified(root)


def test_concurrent_imports_both_stage_whole(tmp_path):
    root = new_repo(tmp_path)
    before = state(root)
    procs = [
        lineage_popen(
            root,
            "import",
            "native",
            str(batch(tmp_path, i)),
            "--guideline",
            "v1",
            "--mode",
            "patch",
        )
        for i in (1, 2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    now = state(root)
    assert len(now.staged) == 2 and len(now.work - before.work) == 6
    res = lineage_run(root, "commit", "-m", "both")
    assert res.returncode == 0, res.stderr
    assert_verified(root)


# ------------------------------------------------------------------ corruption


def test_verify_cli_names_a_corrupt_file_and_its_transaction(tmp_path):
    root = new_repo(tmp_path)
    repo = Repo.open(root)
    seg = next(
        s for s in resolve(repo.layout, repo.commits, "HEAD").segments if s.table == "label_events"
    )
    txns = [r[0] for r in repo.at("HEAD").sql("select txn_id from transactions").fetchall()]
    os.chmod(seg.path, 0o644)
    seg.path.write_bytes(seg.path.read_bytes()[:-7])  # truncated
    res = lineage_run(root, "verify", "--format", "csv")
    assert res.returncode == 1
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith("files,FAILED")]
    assert seg.relpath in line and all(t in line for t in txns)


def test_queries_refuse_corrupt_segments_instead_of_wrong_results(tmp_path):
    root = new_repo(tmp_path)
    repo = Repo.open(root)
    seg = next(
        s for s in resolve(repo.layout, repo.commits, "HEAD").segments if s.table == "label_events"
    )
    good = seg.path.read_bytes()
    truth = sorted(repo.at("HEAD").sql("select * from label_events").fetchall(), key=str)
    os.chmod(seg.path, 0o644)
    outcomes = set()
    for offset in range(4, len(good) - 8, max(1, len(good) // 60)):
        data = bytearray(good)
        data[offset] ^= 0xFF
        seg.path.write_bytes(bytes(data))
        try:
            with Repo.open(root).at("HEAD") as snap:
                rows = sorted(snap.sql("select * from label_events").fetchall(), key=str)
            outcomes.add("same" if rows == truth else "WRONG RESULTS")
        except IntegrityError:
            outcomes.add("IntegrityError")
        except LineageError as exc:
            outcomes.add(f"other error: {exc}")
        except Exception as exc:  # noqa: BLE001 - a raw engine error is a failure too
            outcomes.add(f"raw {type(exc).__name__}")
    assert outcomes == {"IntegrityError"}


# ------------------------------------------------------------------ strict / lenient


def test_strict_stages_nothing_and_lenient_skips_and_reports(tmp_path, cli):
    root = new_repo(tmp_path)
    src = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"asset_id": "m.jpg", "class_name": "car", "bbox": [1, 1, 5, 5]},
            {"asset_id": "m.jpg", "class_name": "car", "bbox": [1, "x", 5, 5]},
            {"asset_id": "m.jpg", "class_name": "person", "bbox": [9, 9, 5, 5]},
        ],
    )
    strict = cli(root, "import", "native", str(src), "--guideline", "v1")
    assert strict.exit_code == 2 and "Traceback" not in strict.output
    assert "mixed.jsonl" in strict.stderr and "bbox" in strict.stderr
    layout = Repo.open(root).layout
    assert state(root).staged == () and not staging.incomplete(layout.staging)

    lenient = cli(root, "import", "native", str(src), "--guideline", "v1", "--lenient")
    assert lenient.exit_code == 0, lenient.output
    assert "1 record(s) skipped" in lenient.stderr
    now = state(root)
    assert len(now.staged) == 1 and len(now.work - state(root).labels) == 2


# ------------------------------------------------------------------ git's own lock files


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no cleanup, no except clause."""


def test_git_index_lock_left_by_a_killed_commit_is_cleaned_up(tmp_path, cli, monkeypatch):
    """A kill while gitpython writes the index leaves .git/index.lock (no pid, no
    timeout): the next commit must clear it (it was created after the journal, under the
    lineage lock) instead of failing with a raw OSError."""
    from lineage.versioning import gitrepo

    root = new_repo(tmp_path)
    repo = Repo.open(root)
    repo.import_("native", batch(tmp_path, 1), guideline="v1", mode="patch")
    before = state(root)

    def killed_mid_write(git, *args, **kwargs):
        (Path(git.git_dir) / "index.lock").write_bytes(b"")
        raise Killed

    monkeypatch.setattr(gitrepo, "commit_paths", killed_mid_write)
    with pytest.raises(Killed):
        repo.commit("dies while git writes its index")
    monkeypatch.undo()
    assert (root / ".git" / "index.lock").exists()
    res = cli(root, "commit", "-m", "after the kill")
    assert res.exit_code == 0, res.output
    assert "Note: " in res.stderr and "index.lock" in res.stderr
    assert not (root / ".git" / "index.lock").exists()
    assert state(root).labels == before.work
    assert_verified(root)
