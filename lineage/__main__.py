"""The command line's entry point: ``lineage`` and ``python -m lineage``.

Ctrl-C during start-up (importing the command line takes a moment) ends like Ctrl-C
anywhere else: ``Interrupted.`` and exit 130, not a traceback.
"""

import signal
import sys

# native modules whose initialisation prints its own traceback ("Critical nanobind
# error") when Ctrl-C lands inside it; SIGINT is held until they are loaded. The whole
# ``duckdb`` package too: its Python modules call into the native one as they load (a
# Ctrl-C there once ended the process with SIGABRT under load)
NATIVE = frozenset({"_duckdb", "duckdb"})


# (no importlib.abc base classes: importing it takes ~20 ms, and a Ctrl-C inside an
# import at this level would print a traceback; a finder and a loader are duck-typed)
class _HoldInterrupts:
    """Load a native module with SIGINT blocked; a Ctrl-C meanwhile arrives right after."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        with _sigint_blocked():
            return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with _sigint_blocked():
            self.loader.exec_module(module)

    def __getattr__(self, name: str):
        # the rest of the loader's interface (source for tracebacks, resources) is its own
        return getattr(self.loader, name)


class _NativeFinder:
    def find_spec(self, fullname, path, target=None):
        if fullname not in NATIVE:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _HoldInterrupts(spec.loader)
        return spec


class _sigint_blocked:
    """Re-entrant: ``_duckdb`` loads inside ``duckdb``, and only the outermost hold ends."""

    depth = 0

    def __enter__(self) -> None:
        if _sigint_blocked.depth == 0:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        _sigint_blocked.depth += 1

    def __exit__(self, *exc) -> None:
        _sigint_blocked.depth -= 1
        if _sigint_blocked.depth == 0:
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
