"""``python -m lineage``: the command line, as the ``lineage`` script runs it."""

from lineage.cli import main

if __name__ == "__main__":
    main(prog_name="lineage")
