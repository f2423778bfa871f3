"""The command line's entry point: ``lineage`` and ``python -m lineage``.

Ctrl-C during start-up (importing the command line takes a moment) ends like Ctrl-C
anywhere else: ``Interrupted.`` and exit 130, not a traceback.
"""

import sys


def run() -> None:
    try:
        from lineage.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    main(prog_name="lineage")


if __name__ == "__main__":
    run()
