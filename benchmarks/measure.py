"""How the benchmark measures: dataset sizes, one step in a fresh child process
(wall time and its own peak RSS), bytes on disk, and the machine it ran on."""

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sizes:
    labels: int
    images: int
    versions: int
    classes: int = 80
    edit_fraction: float = 0.01
    crowd: float = 0.01
    review_fraction: float = 0.10
    double_fraction: float = 0.01
    seed: int = 0


DEFAULT = Sizes(labels=1_000_000, images=100_000, versions=20)
QUICK = Sizes(labels=20_000, images=2_000, versions=5)


# --------------------------------------------------------------------------- measuring


# Runs argv[2:] and writes its wall time, peak RSS and exit code to argv[1]. The driver
# starts commands through it because Linux carries the pre-exec memory high-water mark
# into ru_maxrss: a command started straight from the (large) driver would report the
# driver's size; started from this small interpreter it reports its own.
_LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024,
               "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


def measure(cmd: list[str], cwd: Path, log: Path, ok: tuple[int, ...] = (0,)) -> dict:
    """Run ``cmd`` as a child process: wall seconds, its own peak RSS (MiB) and exit
    code. stdout goes to ``log``.out, stderr to ``log``.err."""
    out, err, stats = log.with_suffix(".out"), log.with_suffix(".err"), log.with_suffix(".json")
    with open(out, "wb") as fo, open(err, "wb") as fe:
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(stats), *cmd],
            cwd=cwd,
            stdout=fo,
            stderr=fe,
            env=_child_env(),
            check=False,
        )
    try:
        result = json.loads(stats.read_text())
    except (OSError, ValueError) as exc:
        raise StepFailed(f"{' '.join(cmd[:4])}... did not run: {exc}") from exc
    result["stdout"] = str(out)
    if result["returncode"] not in ok:
        tail = err.read_text(errors="replace").strip().splitlines()[-5:]
        raise StepFailed(
            f"{' '.join(cmd[:4])}... exited {result['returncode']}: " + " | ".join(tail)
        )
    return result


def _child_env() -> dict:
    """The environment of child processes: ``benchmarks`` importable from any folder."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


class StepFailed(Exception):
    """A step that ran and failed (reported, never estimated)."""


def lineage_bin() -> list[str]:
    """The ``lineage`` command as a user runs it (the console script)."""
    found = shutil.which("lineage")
    return [found] if found else [sys.executable, "-c", "from lineage.cli import main; main()"]


def child(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.run", "--child", name, *map(str, args)]


def tree_bytes(path: Path) -> int:
    """Apparent size of the files under ``path``."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.stat(p).st_size
    return total


def not_available(reason: str) -> dict:
    return {"status": "not available", "reason": reason}


def failed(exc: Exception) -> dict:
    return {"status": "failed", "reason": str(exc)[:500]}


# --------------------------------------------------------------------------- the run


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
