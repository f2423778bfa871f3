"""The one exception hierarchy of lineage: every error a user can act on.

The CLI's entry point turns these into ``Error: ...`` on stderr and the exit
code named by ``exit_code``; nothing else in the library prints.
"""

from __future__ import annotations

from pathlib import Path


class LineageError(Exception):
    """Base of every error lineage raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class InputError(LineageError):
    """Bad input: names the file, the record (line, id or index) and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        record: str | int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ):
        self.file = str(file) if file is not None else None
        self.record = record
        self.field = field
        self.reason = message
        where = []
        if self.file is not None:
            where.append(self.file)
        if record is not None:
            where.append(f"record {record}" if not isinstance(record, str) else record)
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ": ".join([", ".join(where)]) + ": " if where else ""
        super().__init__(prefix + message, hint)


class RepoError(LineageError):
    """The repository is not in a state the command can work on (not initialised, locked...)."""


class RevisionError(LineageError):
    """A revision does not exist or does not hold a label store."""


class QueryError(LineageError):
    """User SQL was refused by the sandbox or failed."""


class GeometryError(LineageError, ValueError):
    """A shape that cannot be: an RLE whose runs do not add up, a polygon without an
    image size. A ValueError too, for callers that catch those."""


class IntegrityError(LineageError):
    """Stored data does not match its recorded hashes (corruption or tampering)."""

    exit_code = 1


class LockError(LineageError):
    """Another lineage process holds the repository's write lock."""


class RemoteError(LineageError):
    """The DVC remote could not be used (exit 3); the subclasses say why, each with an
    exit code of its own so a CI job can tell a network blip from a setup mistake."""

    exit_code = 3


class RemoteUnreachable(RemoteError):
    """No answer from the remote's endpoint within the timeouts and retries."""

    exit_code = 4


class RemoteCredentials(RemoteError):
    """No credentials, or ones the remote refuses as invalid."""

    exit_code = 5


class RemoteBucketMissing(RemoteError):
    """The bucket (or container) the remote's URL names does not exist."""

    exit_code = 6


class RemoteAccessDenied(RemoteError):
    """The credentials are valid but may not read or write there."""

    exit_code = 7


class RemotePluginMissing(RemoteError):
    """The remote's storage needs a DVC plugin that is not installed (e.g. dvc-gs)."""

    exit_code = 8


class EngineMissing(LineageError):
    """Another engine (``--engine spark``) is not installed or cannot start (exit 2)."""
