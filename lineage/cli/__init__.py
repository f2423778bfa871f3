"""The command line: parses options, calls the Python API, renders. No logic lives here.

Exit codes: 0 success; 1 differences found (diff --exit-code) or a failed audit or
verification; 2 bad input or usage; 130 interrupted.
"""

from __future__ import annotations

import sys

import click

from lineage.errors import LineageError
from lineage.version import __version__


class LineageGroup(click.Group):
    """The one error boundary: LineageError -> 'Error: ...' on stderr and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LineageError as exc:
            if ctx.meta.get("traceback"):
                raise
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            self._interrupted(ctx)
        except Exception as exc:
            # DuckDB reports Ctrl-C inside a query as its own InterruptException; any
            # other DuckDB error that escaped the library is still a failed query
            if isinstance(exc, RuntimeError) and str(exc).strip() == "Query interrupted":
                self._interrupted(ctx)  # Ctrl-C while DuckDB built the views (not a query)
            duckdb = sys.modules.get("duckdb")
            if duckdb is None or not isinstance(exc, duckdb.Error) or ctx.meta.get("traceback"):
                raise
            if isinstance(exc, duckdb.InterruptException):
                self._interrupted(ctx)
            click.echo(f"Error: {str(exc).strip()}", err=True)
            ctx.exit(2)

    @staticmethod
    def _interrupted(ctx: click.Context) -> None:
        # no query runs unless the repo module finished importing; never import it
        # here (Ctrl-C may have stopped that very import half-way)
        repo = sys.modules.get("lineage.repo")
        stop = getattr(repo, "interrupt_queries", None)
        if stop is not None:
            stop()
        click.echo("Interrupted.", err=True)
        ctx.exit(130)


@click.group(cls=LineageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lineage")
@click.option("--traceback", is_flag=True, help="Show the full traceback of an error.")
@click.option(
    "-C",
    "repo_path",
    default=".",
    type=click.Path(file_okay=False),
    help="Run as if started in this folder.",
)
@click.pass_context
def main(ctx: click.Context, traceback: bool, repo_path: str) -> None:
    """lineage: versioned computer-vision labels, traced to who made them, under which
    guideline, and every review pass they went through.

    \b
    Example:
      lineage init
      lineage guideline add v1 --classes classes.txt
      lineage import coco instances.json --guideline v1
      lineage commit -m "batch 1" --tag v1
      lineage query "select class_name, count(*) from labels group by 1"
    """
    ctx.meta["traceback"] = traceback
    ctx.obj = {"path": repo_path}


def _register() -> None:
    from lineage.cli import commands  # noqa: F401 - registers the commands on `main`


_register()


def run() -> None:  # pragma: no cover
    sys.exit(main())
