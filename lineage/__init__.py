"""lineage: data versioning and annotation lineage for computer-vision labels."""

__version__ = "0.1.0"

from lineage.errors import LineageError  # noqa: E402


def __getattr__(name: str):
    # Repo pulls in duckdb/pyarrow; import it lazily so `import lineage` stays cheap.
    if name == "Repo":
        from lineage.repo import Repo

        return Repo
    raise AttributeError(name)


__all__ = ["Repo", "LineageError", "__version__"]
