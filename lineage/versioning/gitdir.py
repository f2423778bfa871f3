"""Read the few things a reader needs from ``.git`` itself: the work tree's root, HEAD
and the refs, without importing gitpython (~100 ms a start) or running git.

Each function answers only the plain cases (a ``.git`` folder, loose or packed refs,
a ref name of the safe characters) and returns None for anything else (a ``.git``
file of a worktree, reftable, ``GIT_DIR`` in the environment, ``HEAD~2``, a short
SHA): the caller then asks gitpython, which knows every case. A ref name is checked
before it becomes a path, so nothing outside ``.git`` is ever opened.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}")
# a ref name of the safe characters: no "..", no component starting with "." or "-",
# nothing git itself refuses (``git check-ref-format``) that could become a path trick
_NAME = re.compile(r"(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9_][A-Za-z0-9_./-]*")
# the environment variables that make git look elsewhere than ``<root>/.git``
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES")


def find_root(start: Path) -> Path | None:
    """The work tree holding ``start`` when its ``.git`` is a plain folder; None when
    git must decide (a worktree's ``.git`` file, ``GIT_DIR`` set, none found)."""
    if any(os.environ.get(name) for name in _GIT_ENV):
        return None
    here = Path(os.path.abspath(start))
    if ".git" in here.parts:
        return None
    for folder in (here, *here.parents):
        dot = folder / ".git"
        if dot.is_dir() and (dot / "HEAD").is_file():
            return folder
        if dot.exists():
            return None  # a .git file (worktree, submodule) or something odd
    return None


class GitDir:
    """The refs of one repository's ``.git`` folder, read from its files."""

    def __init__(self, root: Path):
        self.path = Path(root) / ".git"
        # reftable, or .git not a folder: only git reads those
        self.plain = self.path.is_dir() and not (self.path / "reftable").exists()
        self._packed: tuple[tuple[int, ...], dict[str, tuple[str, str | None]]] | None = None

    def head(self) -> str | None:
        """The commit SHA HEAD points at (None: unborn branch, or not a plain case)."""
        if not self.plain:
            return None
        text = _read(self.path / "HEAD")
        if text is None:
            return None
        if text.startswith("ref: "):
            return self.ref(text[5:].strip())
        return text if _SHA.fullmatch(text) else None

    def ref(self, name: str) -> str | None:
        """The SHA a full ref name (``refs/tags/v1``) points at, loose or packed."""
        if not self.plain or not name.startswith("refs/") or not _NAME.fullmatch(name):
            return None
        if any(p.startswith(".") or p.endswith(".lock") for p in name.split("/")):
            return None
        loose = _read(self.path / name)
        if loose is not None:
            return loose if _SHA.fullmatch(loose) else None
        packed = self.packed().get(name)
        return packed[0] if packed else None

    def peeled(self, name: str) -> str | None:
        """The commit an annotated tag in packed-refs peels to (``^`` line), if recorded."""
        packed = self.packed().get(name)
        return packed[1] if packed else None

    def lookup(self, rev: str) -> tuple[str, str] | None:
        """(ref name, SHA) of a short revision name, in git's order (``refs/<rev>``,
        tags, branches, remote branches); None when git must decide (a file of that
        name in ``.git`` such as ORIG_HEAD, or no such ref)."""
        if not self.plain or not _NAME.fullmatch(rev) or (self.path / rev).exists():
            return None
        for name in (
            f"refs/{rev}",
            f"refs/tags/{rev}",
            f"refs/heads/{rev}",
            f"refs/remotes/{rev}",
            f"refs/remotes/{rev}/HEAD",
        ):
            sha = self.ref(name)
            if sha is not None:
                return name, sha
            if (self.path / name).exists():
                return None  # a ref file that is not a plain SHA (symbolic): git decides
        return None

    def tags(self) -> dict[str, tuple[str, str | None]] | None:
        """Every tag: name -> (SHA, the commit it peels to when packed-refs says so)."""
        if not self.plain:
            return None
        out = {
            name[len("refs/tags/") :]: value
            for name, value in self.packed().items()
            if name.startswith("refs/tags/")
        }
        base = self.path / "refs" / "tags"
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for file in files:
                if file.startswith(".") or file.endswith(".lock"):
                    continue
                path = Path(folder) / file
                sha = _read(path)
                if sha is None or not _SHA.fullmatch(sha):
                    return None  # a symbolic tag ref: git decides
                out[path.relative_to(base).as_posix()] = (sha, None)  # loose wins
        return out

    def packed(self) -> dict[str, tuple[str, str | None]]:
        """``packed-refs``: name -> (SHA, peeled SHA or None); parsed again when the
        file changes (``git pack-refs``, a ref deleted)."""
        path = self.path / "packed-refs"
        try:
            st = path.stat()
            stamp: tuple[int, ...] = (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            stamp = ()
        if self._packed is not None and self._packed[0] == stamp:
            return self._packed[1]
        refs: dict[str, tuple[str, str | None]] = {}
        last = None
        for line in (_read(path) or "").splitlines():
            if line.startswith("#") or not line:
                continue
            if line.startswith("^") and last is not None:
                refs[last] = (refs[last][0], line[1:41] if _SHA.fullmatch(line[1:41]) else None)
                continue
            sha, _, name = line.partition(" ")
            if _SHA.fullmatch(sha) and name:
                refs[name] = (sha, None)
                last = name
        self._packed = (stamp, refs)
        return refs


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="strict").strip()
    except (OSError, UnicodeDecodeError):
        return None
