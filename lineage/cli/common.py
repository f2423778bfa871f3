"""What every command shares: opening the repository, showing recovery notes."""

from __future__ import annotations

import click

from lineage.cli.output import message


def open_repo(ctx: click.Context):
    from lineage.repo import Repo

    return Repo.open(ctx.obj["path"])


def show_notes(repo) -> None:
    for note in repo.notes:
        message(f"Note: {note}")
    repo.notes.clear()


rev_option = click.option(
    "--rev", default=None, help="Revision: tag, branch, SHA or HEAD~N (default: work state)."
)


def engine_options(f):
    """``--engine duckdb|spark`` and ``--master URL``: where the SQL runs."""
    f = click.option(
        "--master",
        default=None,
        metavar="URL",
        help="Spark master for --engine spark (default local[2]; e.g. spark://host:7077).",
    )(f)
    return click.option(
        "--engine",
        type=click.Choice(["duckdb", "spark"]),
        default="duckdb",
        show_default=True,
        help="Run the SQL in-process on DuckDB, or on Apache Spark (pip install 'lineage[spark]').",
    )(f)


def spark_engine(engine: str, master: str | None, **unsupported):
    """The Spark engine's module for ``--engine spark`` (None for DuckDB); options it
    does not take are usage errors."""
    if engine != "spark":
        if master:
            raise click.UsageError("--master needs --engine spark")
        return None
    given = [name for name, value in unsupported.items() if value]
    if given:
        raise click.UsageError(f"--engine spark does not take --{given[0].replace('_', '-')}")
    from lineage import engines

    return engines.load_spark()
