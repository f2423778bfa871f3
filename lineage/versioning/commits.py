"""What a reader asks git (which commit a revision names, the store's manifest at a
commit, the versions along its history), answered without gitpython when it can.

A commit SHA names immutable content: its tree (so the store's manifest md5) and its
ancestry (so the versions before it) never change. Both are remembered in
``.lineage/revisions.json`` (the private work area, refused when git tracks it) the
first time gitpython works them out; refs and tags are read afresh from ``.git``
(``gitdir``) on every open, since they move. A revision the memo cannot answer goes to
gitpython, as before: the memo only skips work, it never decides what a name means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lineage.store.layout import Layout
from lineage.store.memo import JsonMemo
from lineage.versioning import dvcstore, gitrepo
from lineage.versioning.gitdir import _SHA, GitDir

if TYPE_CHECKING:
    import git

MEMO_FILE = "revisions.json"
_FORMAT = 1
_WALKS_KEPT = 32  # histories remembered (one per commit opened: HEAD, tags), newest kept


class Commits:
    """Git's answers for one repository's readers (``git_repo`` opens gitpython, only
    when needed)."""

    def __init__(self, layout: Layout, git_repo: Callable[[], git.Repo]):
        self.layout = layout
        self._git_repo = git_repo
        self.gitdir = GitDir(layout.root)
        self._memo = _Memo(layout)

    # ------------------------------------------------------------------ revisions

    def resolve(self, rev: str | None) -> str | None:
        """The commit SHA ``rev`` names (None or ``HEAD``: HEAD; None back when nothing
        is committed yet). Unknown names raise RevisionError (from gitpython)."""
        guess = self._guess(rev)
        if guess is not None and self._memo.is_commit(guess):
            return guess
        repo = self._git_repo()
        if rev is None:
            if not gitrepo.has_commits(repo):
                return None
            sha = repo.head.commit.hexsha
        else:
            sha = gitrepo.resolve(repo, rev).hexsha
        self.dir_md5(sha)  # remembered: the next open of this commit needs no gitpython
        if guess is not None and guess != sha:  # a tag object (annotated tag): what it peels to
            self._memo.learn_peel(guess, gitrepo.peel(repo, guess))
        return sha

    def _guess(self, rev: str | None) -> str | None:
        """What ``.git``'s files say ``rev`` is, peeled through the memo's tags."""
        if rev is None or rev == "HEAD":
            return self.gitdir.head()
        if _SHA.fullmatch(rev):
            return rev
        found = self.gitdir.lookup(rev)
        if found is None:
            return None
        name, sha = found
        if not name.startswith("refs/tags/"):
            return sha
        peeled = self.gitdir.peeled(name) or self._memo.peeled(sha)  # an annotated tag's commit
        return peeled if isinstance(peeled, str) else sha

    def dir_md5(self, sha: str) -> str | None:
        """The md5 of the store's directory manifest at commit ``sha`` (None: no store)."""
        known, md5 = self._memo.dir_md5(sha)
        if known:
            return md5
        blob = gitrepo.read_blob(self._git_repo().commit(sha), self.layout.dvc_file.name)
        md5 = None if blob is None else dvcstore.dir_md5(blob, sha[:10])
        self._memo.learn_dir(sha, md5)
        return md5

    # ------------------------------------------------------------------ versions

    def versions(self, sha: str) -> list[gitrepo.Version]:
        """Commits reachable from ``sha`` that changed the store, newest first, with
        their tags as they are now."""
        walk = self._memo.walk(sha)
        if walk is None:
            found = gitrepo.versions(self._git_repo(), sha, self.layout.dvc_file.name)
            self._memo.learn_walk(sha, found)
            self._learn_tags()
            return found
        tags = self._tags()
        return [replace(v, tags=tuple(sorted(tags.get(v.commit, [])))) for v in walk]

    def _tags(self) -> dict[str, list[str]]:
        """Commit -> tag names, from ``.git``'s refs, peeled through the memo; gitpython
        when a tag points at an object the memo has not seen."""
        tags = self.gitdir.tags()
        if tags is None:
            return self._learn_tags()
        out: dict[str, list[str]] = {}
        for name, (sha, peeled) in tags.items():
            commit = peeled or self._memo.peeled(sha)
            if commit is _UNKNOWN:
                return self._learn_tags()
            if commit is not None:
                out.setdefault(str(commit), []).append(name)
        return out

    def _learn_tags(self) -> dict[str, list[str]]:
        """Every tag through gitpython, remembering what each tag object peels to."""
        repo = self._git_repo()
        out: dict[str, list[str]] = {}
        for tag in repo.tags:
            try:
                commit = tag.commit.hexsha
            except ValueError:  # a tag of a tree or blob: no version
                self._memo.learn_peel(tag.object.hexsha, None)
                continue
            self._memo.learn_peel(tag.object.hexsha, commit)
            out.setdefault(commit, []).append(tag.name)
        return out

    def save(self) -> None:
        self._memo.save()


_UNKNOWN = object()


class _Memo(JsonMemo):
    """``.lineage/revisions.json``: per store file, commit -> manifest md5 and commit ->
    its versions (without tags); object -> the commit it peels to."""

    def __init__(self, layout: Layout):
        super().__init__(layout.work / MEMO_FILE)
        self.store = layout.dvc_file.name
        if self.data.get("format") != _FORMAT:
            self.data = {"format": _FORMAT}

    def _section(self, name: str) -> dict[str, Any]:
        stores = self.data.setdefault("stores", {})
        section = stores.setdefault(self.store, {}).setdefault(name, {})
        return section if isinstance(section, dict) else {}

    def is_commit(self, sha: str) -> bool:
        return sha in self._section("dirs")

    def dir_md5(self, sha: str) -> tuple[bool, str | None]:
        dirs = self._section("dirs")
        return (sha in dirs, dirs.get(sha))

    def learn_dir(self, sha: str, md5: str | None) -> None:
        self._section("dirs")[sha] = md5
        self.changed = True

    def peeled(self, sha: str) -> object:
        """The commit ``sha`` peels to: a SHA, None (not a commit), or _UNKNOWN."""
        if self.is_commit(sha):
            return sha
        peeled = self.data.get("peeled", {})
        return peeled[sha] if sha in peeled else _UNKNOWN

    def learn_peel(self, sha: str, commit: str | None) -> None:
        peeled = self.data.setdefault("peeled", {})
        if peeled.get(sha, _UNKNOWN) != commit:
            peeled[sha] = commit
            self.changed = True

    def walk(self, sha: str) -> list[gitrepo.Version] | None:
        rows = self._section("walks").get(sha)
        if not isinstance(rows, list):
            return None
        return [
            gitrepo.Version(
                commit=c,
                tags=(),
                committed_at=datetime.fromtimestamp(at, UTC),
                author=author,
                message=message,
                parents=tuple(parents),
            )
            for c, at, author, message, parents in rows
        ]

    def learn_walk(self, sha: str, versions: list[gitrepo.Version]) -> None:
        walks = self._section("walks")
        walks.pop(sha, None)
        walks[sha] = [
            [v.commit, v.committed_at.timestamp(), v.author, v.message, list(v.parents)]
            for v in versions
        ]
        for old in list(walks)[: max(0, len(walks) - _WALKS_KEPT)]:
            del walks[old]
        self.changed = True
