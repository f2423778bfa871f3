"""Opening a revision without gitpython: refs read from ``.git``, commit facts remembered.

The memo (``.lineage/revisions.json``) may only skip work: every answer must be the one
gitpython gives, after tags move, after ``git pack-refs``, for names it cannot read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lineage.demo import build_demo
from lineage.errors import RevisionError
from lineage.repo import Repo
from lineage.versioning import gitdir
from lineage.versioning.commits import MEMO_FILE, Commits


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("commits") / "demo"
    build_demo(root)
    return root


@pytest.fixture
def demo(demo_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(demo_root, tmp_path / "demo", symlinks=True)
    return tmp_path / "demo"


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def no_gitpython():
    raise AssertionError("gitpython was asked")


def answers(root: Path, rev: str | None) -> tuple[str | None, list]:
    """(commit, versions with tags) as a fresh reader sees them."""
    repo = Repo.open(root)
    sha = repo.commits.resolve(rev)
    versions = repo.commits.versions(sha) if sha else []
    repo.commits.save()
    return sha, [(v.commit, v.tags) for v in versions]


@pytest.mark.parametrize("rev", [None, "HEAD", "v1", "v2", "HEAD~1", "branch"])
def test_the_second_open_asks_git_nothing_and_gets_the_same_answer(demo, rev):
    if rev == "branch":
        rev = git(demo, "branch", "--show-current")
    expected = git(demo, "rev-parse", f"{rev or 'HEAD'}^{{commit}}")
    first = answers(demo, rev)
    assert first[0] == expected
    layout = Repo.open(demo).layout
    commits = Commits(layout, no_gitpython)
    if rev == "HEAD~1":  # git's revision syntax: always gitpython's to parse
        with pytest.raises(AssertionError, match="gitpython was asked"):
            commits.resolve(rev)
        return
    sha = commits.resolve(rev)
    assert sha == expected
    assert [(v.commit, v.tags) for v in commits.versions(sha)] == first[1]
    assert commits.dir_md5(sha) == Repo.open(demo).commits.dir_md5(sha)


def test_a_moved_tag_resolves_to_where_it_points_now(demo):
    v1 = git(demo, "rev-parse", "v1^{commit}")
    v2 = git(demo, "rev-parse", "v2^{commit}")
    assert answers(demo, "v1")[0] == v1
    git(demo, "tag", "-f", "-a", "-m", "moved", "v1", v2)
    sha, versions = answers(demo, "v1")
    assert sha == v2
    assert "v1" in dict(versions)[v2]
    assert "v1" not in dict(versions)[v1]


def test_packed_refs_and_a_new_tag_are_seen(demo):
    answers(demo, "v2")
    git(demo, "pack-refs", "--all")
    assert not (demo / ".git" / "refs" / "tags" / "v1").exists()
    v1 = git(demo, "rev-parse", "v1^{commit}")
    commits = Commits(Repo.open(demo).layout, no_gitpython)
    assert commits.resolve("v1") == v1  # packed, peeled (^ line): no gitpython
    git(demo, "tag", "later", v1)  # a new lightweight tag on a version commit
    head = commits.resolve(None)
    tags = {c: t for c, t in ((v.commit, v.tags) for v in commits.versions(head))}
    assert "later" in tags[v1] and "v1" in tags[v1]


def test_an_unknown_name_is_gitpythons_error(demo):
    answers(demo, None)
    with pytest.raises(RevisionError, match="unknown revision 'nope'"):
        Repo.open(demo).commits.resolve("nope")


@pytest.mark.parametrize(
    "name", ["../../../etc/passwd", "refs/../config", "-v1", ".hidden", "a..b", "x@{1}"]
)
def test_a_ref_name_never_becomes_a_path_outside_git(demo, name):
    found = gitdir.GitDir(demo).lookup(name)
    assert found is None
    with pytest.raises(RevisionError):
        Repo.open(demo).commits.resolve(name)


def test_a_memo_that_lies_is_not_believed_about_names(demo):
    """The memo maps commits to their facts; a name is always read from .git."""
    answers(demo, None)
    v1 = git(demo, "rev-parse", "v1^{commit}")
    memo = demo / ".lineage" / MEMO_FILE
    data = json.loads(memo.read_text())
    head = git(demo, "rev-parse", "HEAD")
    data["peeled"] = {k: v1 for k in [*data.get("peeled", {}), head]}  # everything -> v1
    memo.write_text(json.dumps(data))
    assert Repo.open(demo).commits.resolve(None) == head


def test_a_corrupt_memo_is_ignored_and_rewritten(demo):
    answers(demo, "v1")
    memo = demo / ".lineage" / MEMO_FILE
    memo.write_text("{not json")
    assert answers(demo, "v1")[0] == git(demo, "rev-parse", "v1^{commit}")
    assert json.loads(memo.read_text())["format"] == 1


def test_find_root_reads_a_plain_git_folder_and_defers_the_rest(demo, tmp_path, monkeypatch):
    assert gitdir.find_root(demo / "annotations") == demo
    worktree = tmp_path / "wt"
    git(demo, "worktree", "add", "--detach", str(worktree), "v1")
    assert (worktree / ".git").is_file()
    assert gitdir.find_root(worktree) is None  # a .git file: gitpython decides
    repo = Repo.open(worktree)  # and it does
    assert repo.root == worktree.resolve()
    monkeypatch.setenv("GIT_DIR", os.fspath(demo / ".git"))
    assert gitdir.find_root(demo) is None
