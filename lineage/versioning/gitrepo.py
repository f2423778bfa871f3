"""The user's git repository, through gitpython (imported lazily: it is slow to import)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.errors import RepoError, RevisionError

if TYPE_CHECKING:
    import git


def open_git(root: Path):
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RepoError(
            f"{root} is not a git repository", hint="run `git init` first, then `lineage init`"
        ) from None


def find_root(start: Path) -> Path:
    """The top of the git work tree that contains ``start``."""
    if not Path(start).exists():
        raise RepoError(f"the folder {start} does not exist")
    if not Path(start).is_dir():
        raise RepoError(f"{start} is not a folder")
    from lineage.versioning.gitdir import find_root as plain_root

    root = plain_root(start)  # a plain .git folder: no gitpython import
    if root is not None:
        return root
    import git

    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RepoError(
            f"{Path(start).resolve()} is not inside a git repository",
            hint="run `git init`, then `lineage init`",
        ) from None
    if repo.working_tree_dir is None:
        raise RepoError(f"{Path(start).resolve()} is in a bare git repository")
    return Path(repo.working_tree_dir)


def has_commits(repo: git.Repo) -> bool:
    try:
        return repo.head.commit is not None
    except ValueError:
        return False


def resolve(repo: git.Repo, rev: str):
    """The commit a revision names (tag, branch, SHA, HEAD~2, ...)."""
    import git

    try:
        return repo.commit(rev)
    except (git.BadName, ValueError, git.BadObject, IndexError) as exc:
        raise RevisionError(f"unknown revision '{rev}'", hint="see `lineage log`") from exc


def peel(repo: git.Repo, sha: str) -> str | None:
    """The commit an object (a commit, or a tag of one) peels to; None for anything else."""
    import git

    try:
        return repo.commit(sha).hexsha
    except (git.BadName, ValueError, git.BadObject):
        return None


def read_blob(commit: git.Commit, path: str) -> bytes | None:
    """A file's content at ``commit``, or None when it does not exist there."""
    try:
        return (commit.tree / path).data_stream.read()
    except KeyError:
        return None


@dataclass(frozen=True)
class Version:
    commit: str
    tags: tuple[str, ...]
    committed_at: datetime
    author: str
    message: str
    parents: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.commit[:10]


def tags_by_commit(repo: git.Repo) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tag in repo.tags:
        try:
            out.setdefault(tag.commit.hexsha, []).append(tag.name)
        except ValueError:
            continue
    return out


def versions(repo: git.Repo, rev: str, path: str) -> list[Version]:
    """Commits reachable from ``rev`` that changed ``path``, newest first."""
    if not has_commits(repo):
        return []
    tags = tags_by_commit(repo)
    out = []
    for c in repo.iter_commits(rev, paths=path):
        out.append(
            Version(
                commit=c.hexsha,
                tags=tuple(sorted(tags.get(c.hexsha, []))),
                committed_at=datetime.fromtimestamp(c.committed_date, UTC),
                author=str(c.author.email or c.author.name),
                message=str(c.message).strip(),
                parents=tuple(p.hexsha for p in c.parents),
            )
        )
    return out


def has_identity(repo: git.Repo) -> bool:
    """Whether git knows who commits (config user.name and user.email, or the GIT_AUTHOR
    environment); without it git records something like root@host."""
    import os

    if os.environ.get("GIT_AUTHOR_NAME") and os.environ.get("GIT_AUTHOR_EMAIL"):
        return True
    try:
        reader = repo.config_reader()
        return bool(reader.get_value("user", "name", "")) and bool(
            reader.get_value("user", "email", "")
        )
    except Exception:  # noqa: BLE001 - an unreadable config: no identity
        return False


def author(repo: git.Repo) -> str:
    try:
        reader = repo.config_reader()
        return str(reader.get_value("user", "email", "") or reader.get_value("user", "name", ""))
    except Exception:  # noqa: BLE001 - a missing git identity is not an error here
        import getpass

        return getpass.getuser()


def commit_paths(
    repo: git.Repo, paths: list[str], message: str, tag: str | None = None, merge: bool = False
) -> str:
    """Stage ``paths`` (only those) and commit; returns the new commit's SHA. ``merge``:
    conclude the git merge in progress instead (a commit with both parents, holding
    whatever else the merge staged)."""
    import git

    if tag is not None and tag_exists(repo, tag):
        raise RepoError(f"tag '{tag}' already exists", hint="choose another tag name")
    existing = [p for p in paths if (Path(repo.working_dir) / p).exists()]
    try:
        if merge:
            repo.git.add("--", *existing)
            repo.git.commit("--no-verify", "--no-edit", "-m", message)
            commit = repo.head.commit
        else:
            repo.index.add(existing)
            commit = repo.index.commit(message)
    except git.GitError as exc:  # pragma: no cover - depends on the user's git setup
        raise RepoError(f"git commit failed: {exc}") from exc
    if tag is not None:
        repo.create_tag(tag, ref=commit, message=message)
    return commit.hexsha


def branch(repo: git.Repo) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    try:
        return repo.active_branch.name
    except (TypeError, ValueError):
        return None


def merging(repo: git.Repo) -> str | None:
    """The commit a git merge in progress is merging in (MERGE_HEAD), or None."""
    path = Path(repo.git_dir) / "MERGE_HEAD"
    try:
        return path.read_text().split()[0]
    except (OSError, IndexError):
        return None


def tag_exists(repo: git.Repo, tag: str) -> bool:
    return tag in [t.name for t in repo.tags]


def tracked(root: Path, relpath: str) -> bool:
    """Whether git tracks ``relpath`` (a file, or anything under a folder) in ``root``."""
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--", relpath],
        capture_output=True,
        check=False,
    )
    return bool(done.stdout.strip(b"\0"))
