"""lineage: data versioning and annotation lineage for computer-vision labels."""

from lineage.errors import LineageError
from lineage.version import __version__


def __getattr__(name: str):
    # Repo pulls in duckdb/pyarrow; import it lazily so `import lineage` stays cheap.
    if name == "Repo":
        from lineage.repo import Repo

        return Repo
    raise AttributeError(name)


__all__ = ["Repo", "LineageError", "__version__"]
