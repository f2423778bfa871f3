"""Shared fixtures: real git + DVC repositories in temporary folders."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from lineage.repo import Repo

os.environ.setdefault("GIT_AUTHOR_NAME", "lineage tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "tests@lineage.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "lineage tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "tests@lineage.invalid")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")  # nothing leaves the machine
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("LINEAGE_LOCK_TIMEOUT", "5")
# A shell starts a background job (`cmd &`) with SIGINT ignored, and children inherit it:
# the Ctrl-C tests would then see no interrupt at all. Give them the default back (a
# handled signal resets to the default in a child).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def make_git(path: Path) -> git.Repo:
    path.mkdir(parents=True, exist_ok=True)
    g = git.Repo.init(path)
    with g.config_writer() as cw:
        cw.set_value("user", "name", "lineage tests")
        cw.set_value("user", "email", "tests@lineage.invalid")
    return g


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """An initialised lineage repository with guideline v1 (classes car, person, bike) staged."""
    make_git(tmp_path / "repo")
    r = Repo.init(tmp_path / "repo")
    r.add_guideline("v1", classes=["car", "person", "bike"])
    return r


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def cli(tmp_path):
    """Invoke the CLI in a repository folder: ``cli(repo_root, "status", "--format", "json")``."""
    from lineage.cli import main

    runner = CliRunner()

    def invoke(root: Path, *args: str):
        return runner.invoke(main, ["-C", str(root), *args], catch_exceptions=False)

    return invoke
