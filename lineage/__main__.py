"""The command line's entry point: ``lineage`` and ``python -m lineage``.

Ctrl-C during start-up (importing the command line takes a moment) ends like Ctrl-C
anywhere else: ``Interrupted.`` and exit 130, not a traceback.
"""

import importlib.abc
import importlib.machinery
import signal
import sys

# native modules whose initialisation prints its own traceback ("Critical nanobind
# error") when Ctrl-C lands inside it; SIGINT is held until they are loaded
NATIVE = frozenset({"_duckdb"})


class _HoldInterrupts(importlib.abc.Loader):
    """Load a native module with SIGINT blocked; a Ctrl-C meanwhile arrives right after."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        with _sigint_blocked():
            return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with _sigint_blocked():
            self.loader.exec_module(module)


class _NativeFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in NATIVE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _HoldInterrupts(spec.loader)
        return spec


class _sigint_blocked:
    def __enter__(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc) -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def run() -> None:
    sys.meta_path.insert(0, _NativeFinder())
    try:
        from lineage.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    try:
        main(prog_name="lineage")
    finally:
        # the command is over: a Ctrl-C while the interpreter tears down (gitpython's
        # finalisers run then) ends the process quietly instead of printing a traceback
        signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    run()
