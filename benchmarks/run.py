"""The benchmark: ``python -m benchmarks.run [--quick] [--labels N] [--images N]
[--versions V] [--out results.json]``.

It generates a COCO-like dataset and an edit history (``benchmarks.generate``), builds
a lineage repository from them through the CLI, measures every step (wall time, and
peak RSS of the child process that ran it, from ``os.wait4``, so steps do not pollute
each other), runs the baselines on the same data (``benchmarks.baselines``), prints
one table with ratios and targets, and writes everything as JSON.

Steps a piece of lineage does not provide yet are reported as "not available", never
estimated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks import baselines, generate

# Every measurement the JSON holds (the smoke test checks them all).
MEASUREMENTS = (
    "generate",
    "import_coco",
    "pycocotools_load",
    "commit_v1",
    "import_edits",
    "commit_edits",
    "store_growth",
    "snapshot_growth",
    "history_cli",
    "history_inproc",
    "diff_adjacent_inproc",
    "diff_adjacent_cli",
    "diff_first_last_inproc",
    "diff_first_last_cli",
    "pandas_diff_adjacent",
    "pandas_diff_first_last",
    "datum_compare",
    "audit_cli",
    "agreement_cli",
    "export_coco_cli",
    "labels_read",
    "compact",
    "no_checkpoint",
)


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


class Bench:
    def __init__(self, sizes: Sizes, work: Path, checkpoint_ratio: float | None = None):
        self.sizes = sizes
        self.work = work
        self.repo = work / "repo"
        self.logs = work / "logs"
        self.data = work / "data"
        self.snapshots = work / "snapshots"
        for d in (self.repo, self.logs, self.data, self.snapshots):
            d.mkdir(parents=True, exist_ok=True)
        self.checkpoint_ratio = checkpoint_ratio
        self.results: dict = {}
        self.versions: list[dict] = []
        self.edit_files: list[generate.Version] = []
        self.label: str | None = None
        self._n = 0

    # -- helpers

    def lineage(self, *args: str, repo: Path | None = None, ok=(0,)) -> dict:
        self._n += 1
        log = self.logs / f"{self._n:03d}-{args[0]}"
        return measure([*lineage_bin(), "-C", str(repo or self.repo), *args], self.work, log, ok)

    def inproc(self, name: str, *args) -> dict:
        self._n += 1
        r = measure(child(name, *args), self.work, self.logs / f"{self._n:03d}-{name}")
        return {**json.loads(Path(r["stdout"]).read_text()), "child_peak_rss_mb": r["peak_rss_mb"]}

    def step(self, key: str, fn) -> None:
        """Record ``fn()`` under ``key``; a failure is recorded, not raised."""
        t0 = time.perf_counter()
        try:
            self.results[key] = fn()
        except StepFailed as exc:
            self.results[key] = failed(exc)
        except Exception as exc:  # a missing piece or an API change: report, go on
            self.results[key] = failed(RuntimeError(f"{type(exc).__name__}: {exc}"))
        print(f"  {key}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    def repo_sizes(self, repo: Path) -> dict:
        from lineage.versioning import dvcstore

        store = repo / "annotations"
        return {
            "cache_bytes": tree_bytes(dvcstore.cache_dir(repo)),
            "store_bytes": tree_bytes(store),
            "label_events_bytes": tree_bytes(store / "label_events"),
            "checkpoint_files": len(list((store / "checkpoints").glob("*.parquet"))),
        }

    # -- steps

    def setup(self, repo: Path) -> None:
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        for k, v in (("user.email", "bench@lineage.invalid"), ("user.name", "lineage bench")):
            subprocess.run(["git", "-C", str(repo), "config", k, v], check=True)
        self.lineage("init", repo=repo)
        if self.checkpoint_ratio is not None:
            set_checkpoint_ratio(repo, self.checkpoint_ratio)
        classes = self.data / "classes.txt"
        classes.write_text("\n".join(generate.class_names(self.sizes.classes)) + "\n")
        self.lineage("guideline", "add", "v1", "--classes", str(classes), repo=repo)

    def run(self, variant: bool) -> dict:
        s = self.sizes
        coco = self.data / "instances.json"
        print(f"generating {s.labels:,} labels on {s.images:,} images", file=sys.stderr)
        self.step(
            "generate",
            lambda: generate.coco_dataset(coco, s.labels, s.images, s.classes, s.crowd, s.seed),
        )
        self.setup(self.repo)
        self.step("import_coco", lambda: self.import_coco(coco))
        self.step("pycocotools_load", lambda: self.pycocotools(coco))
        if "seconds" not in self.results["import_coco"]:
            return self.results  # nothing to build on
        self.step("commit_v1", self.version_one)
        copy = None
        if variant:
            copy = self.work / "repo-no-checkpoint"
            shutil.copytree(self.repo, copy, symlinks=True)
            set_checkpoint_ratio(copy, 0.0)
        self.step("import_edits", self.history)
        self.results["commit_edits"] = self.summary(
            [v["commit_seconds"] for v in self.versions[1:]]
        )
        self.results["store_growth"] = self.growth("cache_bytes")
        self.results["snapshot_growth"] = self.growth("snapshots_total_bytes")
        last = f"v{len(self.versions)}"
        prev = f"v{len(self.versions) - 1}"
        self.step("history_cli", self.history_cli)
        self.step("history_inproc", lambda: self.inproc("history", self.repo, self.label, last))
        self.step("diff_adjacent_inproc", self.diff_inproc)
        self.step("diff_adjacent_cli", lambda: self.diff_cli(prev, last))
        self.step("diff_first_last_inproc", lambda: self.inproc("diff", self.repo, "v1", last))
        self.step("diff_first_last_cli", lambda: self.diff_cli("v1", last))
        self.step(
            "pandas_diff_adjacent", lambda: self.pandas(len(self.versions) - 1, len(self.versions))
        )
        self.step("pandas_diff_first_last", lambda: self.pandas(1, len(self.versions)))
        self.step("datum_compare", self.datum)
        self.step(
            "audit_cli", lambda: self.lineage("audit", "--rev", last, "--format", "json", ok=(0, 1))
        )
        self.step(
            "agreement_cli", lambda: self.lineage("agreement", "--rev", last, "--format", "json")
        )
        self.step("export_coco_cli", lambda: self.export(last))
        self.step("labels_read", lambda: self.reads(self.repo, last))
        self.step("compact", lambda: self.compact(last))
        if copy is not None:
            self.step("no_checkpoint", lambda: self.no_checkpoint(copy))
        else:
            self.results["no_checkpoint"] = not_available("skipped (--no-variant)")
        return self.results

    def import_coco(self, coco: Path) -> dict:
        r = self.lineage(
            "import", "coco", str(coco), "--guideline", "v1", "--annotator", "annotator-a"
        )
        return {**r, "labels_per_s": self.sizes.labels / r["seconds"]}

    def pycocotools(self, coco: Path) -> dict:
        self._n += 1
        r = measure(child("pycocotools", coco), self.work, self.logs / f"{self._n:03d}-pycocotools")
        inner = json.loads(Path(r["stdout"]).read_text())
        return {**r, "load_seconds": inner["seconds"], "annotations": inner["annotations"]}

    def state(self, rev: str | None):
        from lineage import Repo

        with Repo.open(self.repo).at(rev) as snap:
            return snap.con.sql(generate.STATE_SQL).to_arrow_table()

    def version_one(self) -> dict:
        s = self.sizes
        rng = np.random.default_rng(s.seed + 7)
        state = self.state(None)
        double = generate.second_annotator(
            state, s.double_fraction, rng, generate.class_names(s.classes)
        )
        dfile = generate.write_edits(double, self.data / "second-annotator.parquet")
        self.lineage("import", "native", str(dfile), "--mode", "patch", "--match", "ids")
        reviewed = state.column("label_id").take(
            np.flatnonzero(rng.random(state.num_rows) < s.review_fraction)
        )
        rfile = generate.write_reviews(reviewed, self.data / "reviews-v1.csv", rng)
        self.lineage("review", "import", str(rfile))
        r = self.lineage("commit", "-m", "v1", "--tag", "v1")
        state = self.state("v1")
        snap = self.snapshots / "v1.parquet"
        self.versions.append(
            {
                "version": "v1",
                "live": state.num_rows,
                "commit_seconds": r["seconds"],
                "commit_peak_rss_mb": r["peak_rss_mb"],
                **self.repo_sizes(self.repo),
                "snapshot_bytes": baselines.write_snapshot(state, snap),
            }
        )
        self.versions[-1]["snapshots_total_bytes"] = self.versions[-1]["snapshot_bytes"]
        self.hist = generate.EditHistory(
            state, generate.class_names(s.classes), s.edit_fraction, seed=s.seed + 11
        )
        return {**r, "second_annotator_labels": double.num_rows, "reviews": len(reviewed)}

    def history(self) -> dict:
        times, rss = [], []
        for v in range(2, self.sizes.versions + 1):
            step = self.hist.step(v, self.data)
            self.edit_files.append(step)
            r = self.lineage(
                "import", "native", str(step.edits), "--mode", "patch", "--match", "ids"
            )
            times.append(r["seconds"])
            rss.append(r["peak_rss_mb"])
            self.lineage("review", "import", str(step.reviews))
            c = self.lineage("commit", "-m", f"v{v}", "--tag", f"v{v}")
            self.versions.append(
                {
                    "version": f"v{v}",
                    **step.counts,
                    "import_seconds": r["seconds"],
                    "commit_seconds": c["seconds"],
                    "commit_peak_rss_mb": c["peak_rss_mb"],
                    **self.repo_sizes(self.repo),
                    "snapshot_bytes": baselines.write_snapshot(
                        self.hist.state, self.snapshots / f"v{v}.parquet"
                    ),
                }
            )
            self.versions[-1]["snapshots_total_bytes"] = (
                self.versions[-2]["snapshots_total_bytes"] + self.versions[-1]["snapshot_bytes"]
            )
            print(f"    v{v}: {step.counts}", file=sys.stderr, flush=True)
        self.label = self.hist.most_edited()
        return {**self.summary(times), "peak_rss_mb": max(rss, default=None)}

    @staticmethod
    def summary(values: list[float]) -> dict:
        if not values:
            return not_available("no edit versions")
        return {
            "median_seconds": statistics.median(values),
            "max_seconds": max(values),
            "seconds": values,
        }

    def growth(self, key: str) -> dict:
        sizes = [v[key] for v in self.versions]
        if len(sizes) < 2:
            return not_available("one version only")
        first = sizes[0]
        steps = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
        pct = [100 * d / first for d in steps]
        ck = [v["checkpoint_files"] for v in self.versions] if key == "cache_bytes" else None
        no_ck = [
            p for i, p in enumerate(pct) if ck is None or ck[i + 1] == ck[i]
        ]  # versions that wrote no checkpoint
        return {
            "v1_bytes": first,
            "last_bytes": sizes[-1],
            "per_version_pct": pct,
            "median_pct": statistics.median(pct),
            "max_pct": max(pct),
            "mean_pct": statistics.fmean(pct),
            "median_pct_without_checkpoints": statistics.median(no_ck) if no_ck else None,
            "checkpoint_versions": [
                self.versions[i + 1]["version"]
                for i in range(len(steps))
                if ck is not None and ck[i + 1] > ck[i]
            ],
        }

    def history_cli(self) -> dict:
        if self.label is None:
            return not_available("no edited label")
        r = self.lineage(
            "history", self.label, "--rev", f"v{len(self.versions)}", "--format", "json"
        )
        rows = json.loads(Path(r["stdout"]).read_text())
        return {**r, "label_id": self.label, "revisions": len(rows)}

    def diff_inproc(self) -> dict:
        n = len(self.versions)
        pairs = [f"v{i}:v{i + 1}" for i in range(1, n)]
        r = self.inproc("diff-many", self.repo, *pairs)
        secs = [p["seconds"] for p in r["pairs"]]
        return {
            **self.summary(secs),
            "pairs": r["pairs"],
            "child_peak_rss_mb": r["child_peak_rss_mb"],
        }

    def diff_cli(self, a: str, b: str) -> dict:
        r = self.lineage("diff", a, b, "--format", "json", ok=(0, 1))
        doc = json.loads(Path(r["stdout"]).read_text())
        changes = doc.get("changes", doc) if isinstance(doc, dict) else doc
        return {**r, "changes": len(changes)}

    def pandas(self, a: int, b: int) -> dict:
        """The pandas diff of snapshots ``a`` and ``b``: as a script (best of 2, so the
        first import of pandas from a cold disk is not counted; wall time and peak RSS,
        against the CLI), and best of 3 in one process (against in-process)."""
        files = (self.snapshots / f"v{a}.parquet", self.snapshots / f"v{b}.parquet")
        scripts = []
        for _ in range(2):
            self._n += 1
            log = self.logs / f"{self._n:03d}-pandas"
            scripts.append(measure(child("pandas-diff", *files, 1), self.work, log))
        script = min(scripts, key=lambda m: m["seconds"])
        self._n += 1
        best = measure(
            child("pandas-diff", *files, 3), self.work, self.logs / f"{self._n:03d}-pandas"
        )
        inner = json.loads(Path(best["stdout"]).read_text())
        c = inner["counts"]
        return {
            **inner,
            "wall_seconds": script["seconds"],
            "peak_rss_mb": script["peak_rss_mb"],
            "changed_labels": c["added"] + c["removed"] + c["changed"],
        }

    def datum(self) -> dict:
        if baselines.datumaro() is None:
            return not_available("not installed (Datumaro's `datum` command is not on PATH)")
        return not_available("datum is installed but its comparison is not wired in yet")

    def export(self, rev: str) -> dict:
        out = self.work / "export"
        r = self.lineage("export", "coco", str(out), "--rev", rev)
        return {**r, "bytes": tree_bytes(out) if out.is_dir() else out.stat().st_size}

    def reads(self, repo: Path, last: str) -> dict:
        first = self.inproc("labels", repo, "v1")
        final = self.inproc("labels", repo, last)
        return {
            "v1": first,
            last: final,
            "ratio_count": final["count_best"] / first["count_best"],
            "ratio_group_by": final["group_by_best"] / first["group_by_best"],
            "ratio_open_and_count": final["open_and_count"] / first["open_and_count"],
        }

    def compact(self, last: str) -> dict:
        """``lineage compact`` after the last version (a fresh checkpoint), then the reads
        at the compacted head against v1: what a read costs right after compaction."""
        before = self.repo_sizes(self.repo)["cache_bytes"]
        r = self.lineage("compact", "--tag", "compacted")
        after = self.repo_sizes(self.repo)["cache_bytes"]
        first = self.inproc("labels", self.repo, "v1")
        head = self.inproc("labels", self.repo, "compacted")
        return {
            **r,
            "growth_pct": 100 * (after - before) / self.versions[0]["cache_bytes"],
            "labels_read": {
                "v1": first,
                "compacted": head,
                "ratio_count": head["count_best"] / first["count_best"],
                "ratio_group_by": head["group_by_best"] / first["group_by_best"],
            },
        }

    def no_checkpoint(self, copy: Path) -> dict:
        """Replay the same edits on a copy of v1 with checkpoints off."""
        sizes, commits = [self.repo_sizes(copy)], []
        for v, step in enumerate(self.edit_files, start=2):
            self.lineage(
                "import", "native", str(step.edits), "--mode", "patch", "--match", "ids", repo=copy
            )
            self.lineage("review", "import", str(step.reviews), repo=copy)
            commits.append(
                self.lineage("commit", "-m", f"v{v}", "--tag", f"v{v}", repo=copy)["seconds"]
            )
            sizes.append(self.repo_sizes(copy))
        first = sizes[0]["cache_bytes"]
        pct = [
            100 * (b["cache_bytes"] - a["cache_bytes"]) / first
            for a, b in zip(sizes, sizes[1:], strict=False)
        ]
        last = f"v{len(sizes)}"
        reads = self.reads(copy, last)
        adj = self.inproc("diff", copy, f"v{len(sizes) - 1}", last)
        hist = self.inproc("history", copy, self.label, last) if self.label else None
        return {
            "commit_edits": self.summary(commits),
            "growth_median_pct": statistics.median(pct) if pct else None,
            "growth_max_pct": max(pct) if pct else None,
            "per_version_pct": pct,
            "labels_read": reads,
            "diff_adjacent_inproc": adj,
            "history_inproc": hist,
        }


def set_checkpoint_ratio(repo: Path, ratio: float) -> None:
    """Set ``[store] checkpoint_ratio`` in the repository's lineage.toml."""
    config = repo / "lineage.toml"
    lines = config.read_text().splitlines()
    lines = [ln for ln in lines if not ln.strip().startswith("checkpoint_ratio")]
    at = lines.index("[store]") + 1 if "[store]" in lines else None
    if at is None:
        lines += ["[store]", f"checkpoint_ratio = {ratio}"]
    else:
        lines.insert(at, f"checkpoint_ratio = {ratio}")
    config.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- in-process children


def _best(fn, times: int = 5) -> tuple[float, float, object]:
    """(first call, best of ``times`` calls, last result) in seconds."""
    out, secs = None, []
    for _ in range(times):
        t0 = time.perf_counter()
        out = fn()
        secs.append(time.perf_counter() - t0)
    return secs[0], min(secs), out


def child_history(repo: str, label: str, rev: str) -> dict:
    """In-process history of one label: open the revision, run the query, fetch; best of
    5, with the opening (revision resolved, views built) and the query timed apart."""
    from lineage import Repo

    r = Repo.open(repo)
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        found = r.history(label, rev)
        t1 = time.perf_counter()
        with found:
            rows = len(found.relation.fetchall())
        runs.append((time.perf_counter() - t0, t1 - t0))
    best = min(runs)
    return {
        "first_seconds": runs[0][0],
        "best_seconds": best[0],
        "best_open_seconds": best[1],
        "best_query_seconds": best[0] - best[1],
        "revisions": rows,
    }


def _diff_once(r, a: str, b: str) -> dict:
    t0 = time.perf_counter()
    with r.diff(a, b) as d:
        t1 = time.perf_counter()
        table = d.relation.to_arrow_table()
        fast = d.fast
    return {
        "pair": f"{a}:{b}",
        "seconds": time.perf_counter() - t0,
        "open_seconds": t1 - t0,
        "changes": table.num_rows,
        "fast_path": fast,
    }


def child_diff(repo: str, a: str, b: str) -> dict:
    from lineage import Repo

    r = Repo.open(repo)
    first = _diff_once(r, a, b)
    second = _diff_once(r, a, b)
    return {**second, "first_seconds": first["seconds"]}


def child_diff_many(repo: str, *pairs: str) -> dict:
    from lineage import Repo

    r = Repo.open(repo)
    out = [_diff_once(r, *p.split(":")) for p in pairs]
    return {"pairs": out}


def child_labels(repo: str, rev: str) -> dict:
    """Reads of the current labels at ``rev``: count and a group-by, best of 5 on an open
    revision, and opening plus counting."""
    from lineage import Repo

    r = Repo.open(repo)
    t0 = time.perf_counter()
    snap = r.at(rev)
    count = snap.con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    open_and_count = time.perf_counter() - t0
    with snap:
        _, best, _ = _best(lambda: snap.con.sql("SELECT count(*) FROM labels").fetchall())
        _, gbest, _ = _best(
            lambda: snap.con.sql("SELECT class_name, count(*) FROM labels GROUP BY 1").fetchall()
        )
    return {
        "labels": count,
        "open_and_count": open_and_count,
        "count_best": best,
        "group_by_best": gbest,
    }


CHILDREN = {
    "history": child_history,
    "diff": child_diff,
    "diff-many": child_diff_many,
    "labels": child_labels,
}


def run_child(name: str, args: list[str]) -> int:
    if name in ("pycocotools", "pandas-diff"):
        return baselines.main([name, *args])
    sys.stdout.write(json.dumps(CHILDREN[name](*args)))
    return 0


# --------------------------------------------------------------------------- report


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


def _get(d: dict, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _fmt_s(x) -> str:
    if x is None:
        return "n/a"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def _fmt_mb(x) -> str:
    return "n/a" if x is None else (f"{x / 1024:.2f} GiB" if x >= 1024 else f"{x:.0f} MiB")


def _ratio(a, b) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}x"


def _why(res) -> str:
    """A short cell for a measurement without figures: its status and reason."""
    if not isinstance(res, dict):
        return "missing"
    text = f"{res.get('status', 'missing')}: {res.get('reason', '')}".strip(": ")
    return text if len(text) <= 60 else text[:57] + "..."


def targets(results: dict) -> list[dict]:
    """Each target of issue 7 with its figure and whether it is met (None: no figure)."""
    r = results

    def t(name, value, met):
        return {"target": name, "value": value, "met": met}

    imp, coco = _get(r, "import_coco", "seconds"), _get(r, "pycocotools_load", "seconds")
    imp_m, coco_m = (
        _get(r, "import_coco", "peak_rss_mb"),
        _get(r, "pycocotools_load", "peak_rss_mb"),
    )
    g = r.get("store_growth", {})
    hist_cli, hist_in = _get(r, "history_cli", "seconds"), _get(r, "history_inproc", "best_seconds")
    adj = _get(r, "diff_adjacent_inproc", "max_seconds")
    adj_cli = _get(r, "diff_adjacent_cli", "seconds")
    fl = _get(r, "diff_first_last_inproc", "seconds")
    fl_cli = _get(r, "diff_first_last_cli", "seconds")
    pd_adj = _get(r, "pandas_diff_adjacent", "seconds")
    pd_fl = _get(r, "pandas_diff_first_last", "seconds")
    pd_adj_wall = _get(r, "pandas_diff_adjacent", "wall_seconds")
    pd_fl_wall = _get(r, "pandas_diff_first_last", "wall_seconds")
    pairs = _get(r, "diff_adjacent_inproc", "pairs") or []
    adj_last = pairs[-1]["seconds"] if pairs else None
    audit = _get(r, "audit_cli", "seconds")
    reads = _get(r, "labels_read", "ratio_count")

    def ok(cond, *vals):
        return None if any(v is None for v in vals) else bool(cond())

    return [
        t(
            "import >= 2x faster than pycocotools load",
            _ratio(coco, imp),
            ok(lambda: coco / imp >= 2, imp, coco),
        ),
        t(
            "import peak RSS < pycocotools",
            _ratio(imp_m, coco_m),
            ok(lambda: imp_m < coco_m, imp_m, coco_m),
        ),
        t(
            "growth per 1 % version <= 3 % of v1 (max, checkpoints included)",
            "n/a" if g.get("max_pct") is None else f"{g['max_pct']:.2f} %",
            ok(lambda: g["max_pct"] <= 3, g.get("max_pct")),
        ),
        t(
            "growth per 1 % version <= 3 % of v1 (median)",
            "n/a" if g.get("median_pct") is None else f"{g['median_pct']:.2f} %",
            ok(lambda: g["median_pct"] <= 3, g.get("median_pct")),
        ),
        t("history CLI < 1 s", _fmt_s(hist_cli), ok(lambda: hist_cli < 1, hist_cli)),
        t("history in-process < 50 ms", _fmt_s(hist_in), ok(lambda: hist_in < 0.05, hist_in)),
        t("adjacent diff < 1 s (in-process, slowest pair)", _fmt_s(adj), ok(lambda: adj < 1, adj)),
        t("adjacent diff < 1 s (CLI)", _fmt_s(adj_cli), ok(lambda: adj_cli < 1, adj_cli)),
        t("first-to-last diff < 3 s (in-process)", _fmt_s(fl), ok(lambda: fl < 3, fl)),
        t("first-to-last diff < 3 s (CLI)", _fmt_s(fl_cli), ok(lambda: fl_cli < 3, fl_cli)),
        t(
            "adjacent diff >= 5x faster than pandas (in-process, same pair)",
            _ratio(pd_adj, adj_last),
            ok(lambda: pd_adj / adj_last >= 5, pd_adj, adj_last),
        ),
        t(
            "adjacent diff >= 5x faster than pandas (CLI vs pandas script)",
            _ratio(pd_adj_wall, adj_cli),
            ok(lambda: pd_adj_wall / adj_cli >= 5, pd_adj_wall, adj_cli),
        ),
        t(
            "first-to-last diff >= 5x faster than pandas (in-process)",
            _ratio(pd_fl, fl),
            ok(lambda: pd_fl / fl >= 5, pd_fl, fl),
        ),
        t(
            "first-to-last diff >= 5x faster than pandas (CLI vs pandas script)",
            _ratio(pd_fl_wall, fl_cli),
            ok(lambda: pd_fl_wall / fl_cli >= 5, pd_fl_wall, fl_cli),
        ),
        t("audit < 10 s", _fmt_s(audit), ok(lambda: audit < 10, audit)),
        t(
            "reads at last version <= 1.5x version 1",
            "n/a" if reads is None else f"{reads:.2f}x",
            ok(lambda: reads <= 1.5, reads),
        ),
    ]


def table(results: dict, sizes: Sizes) -> str:
    """The printed report: measurements with baselines and ratios, per-version storage,
    targets."""
    r = results
    last = f"v{sizes.versions}"
    rows: list[tuple[str, str, str, str]] = []

    def row(name, ours, base="", ratio=""):
        rows.append((name, ours, base, ratio))

    def cmd(key, label):
        res = r.get(key, {})
        if "seconds" in res:
            row(label, f"{_fmt_s(res['seconds'])}, {_fmt_mb(res.get('peak_rss_mb'))}")
        else:
            row(label, _why(res))

    gen = r.get("generate", {})
    if "file_bytes" in gen:
        row("generate COCO file", f"{_fmt_s(gen['seconds'])}, {gen['file_bytes'] / 2**20:.0f} MiB")
    imp, coco = r.get("import_coco", {}), r.get("pycocotools_load", {})
    if "seconds" in imp:
        row(
            "import coco (wall, peak RSS)",
            f"{_fmt_s(imp['seconds'])}, {_fmt_mb(imp['peak_rss_mb'])}, {imp['labels_per_s']:,.0f} labels/s",
            f"pycocotools {_fmt_s(coco.get('seconds'))}, {_fmt_mb(coco.get('peak_rss_mb'))}",
            f"{_ratio(imp['seconds'], coco.get('seconds'))} time, "
            f"{_ratio(imp['peak_rss_mb'], coco.get('peak_rss_mb'))} mem",
        )
    else:
        cmd("import_coco", "import coco")
    cmd("commit_v1", "commit v1")
    ce, ie = r.get("commit_edits", {}), r.get("import_edits", {})
    if "median_seconds" in ie:
        row(
            "import 1 % edits (median / max)",
            f"{_fmt_s(ie['median_seconds'])} / {_fmt_s(ie['max_seconds'])}",
        )
    if "median_seconds" in ce:
        row(
            "commit 1 % edits (median / max)",
            f"{_fmt_s(ce['median_seconds'])} / {_fmt_s(ce['max_seconds'])}",
        )
    g, sg = r.get("store_growth", {}), r.get("snapshot_growth", {})
    if "median_pct" in g:
        row(
            "store growth / version, % of v1 (median / mean / max)",
            f"{g['median_pct']:.2f} % / {g['mean_pct']:.2f} % / {g['max_pct']:.2f} % "
            f"(checkpoint at {', '.join(g['checkpoint_versions']) or 'none'})",
            f"snapshots {sg.get('median_pct', 0):.1f} %",
            _ratio(g["median_pct"], sg.get("median_pct")),
        )
        row(
            "store after last version (DVC cache)",
            f"{g['last_bytes'] / 2**20:.1f} MiB (v1 {g['v1_bytes'] / 2**20:.1f} MiB)",
            f"snapshots {sg.get('last_bytes', 0) / 2**20:.1f} MiB",
            _ratio(g["last_bytes"], sg.get("last_bytes")),
        )
    cmd("history_cli", f"history CLI (label at {last})")
    h = r.get("history_inproc", {})
    row(
        "history in-process (first / best of 5 = open + query)",
        f"{_fmt_s(h.get('first_seconds'))} / {_fmt_s(h.get('best_seconds'))} = "
        f"{_fmt_s(h.get('best_open_seconds'))} + {_fmt_s(h.get('best_query_seconds'))}"
        if "best_seconds" in h
        else _why(h),
    )
    da = r.get("diff_adjacent_inproc", {})
    pa_, pf = r.get("pandas_diff_adjacent", {}), r.get("pandas_diff_first_last", {})
    if "median_seconds" in da:
        last_pair = da["pairs"][-1]
        row(
            "diff adjacent in-process (median / max)",
            f"{_fmt_s(da['median_seconds'])} / {_fmt_s(da['max_seconds'])}",
        )
        row(
            f"diff {last_pair['pair'].replace(':', '..')} in-process",
            f"{_fmt_s(last_pair['seconds'])}, {last_pair['changes']:,} changes",
            f"pandas {_fmt_s(pa_.get('seconds'))}",
            _ratio(last_pair["seconds"], pa_.get("seconds")),
        )
    else:
        row("diff adjacent in-process", _why(da))
    dc = r.get("diff_adjacent_cli", {})
    row(
        "diff adjacent CLI (json) / pandas script",
        f"{_fmt_s(dc.get('seconds'))}, {_fmt_mb(dc.get('peak_rss_mb'))}, {dc.get('changes')} changes"
        if "seconds" in dc
        else _why(dc),
        f"pandas {_fmt_s(pa_.get('wall_seconds'))}, {_fmt_mb(pa_.get('peak_rss_mb'))}",
        _ratio(dc.get("seconds"), pa_.get("wall_seconds")),
    )
    fi, fc = r.get("diff_first_last_inproc", {}), r.get("diff_first_last_cli", {})
    row(
        f"diff v1..{last} in-process",
        f"{_fmt_s(fi.get('seconds'))}, {fi.get('changes')} changes"
        if "seconds" in fi
        else _why(fi),
        f"pandas {_fmt_s(pf.get('seconds'))}",
        _ratio(fi.get("seconds"), pf.get("seconds")),
    )
    row(
        f"diff v1..{last} CLI (json) / pandas script",
        f"{_fmt_s(fc.get('seconds'))}, {_fmt_mb(fc.get('peak_rss_mb'))}, {fc.get('changes')} changes"
        if "seconds" in fc
        else _why(fc),
        f"pandas {_fmt_s(pf.get('wall_seconds'))}, {_fmt_mb(pf.get('peak_rss_mb'))}",
        _ratio(fc.get("seconds"), pf.get("wall_seconds")),
    )
    for key, ours in (("pandas_diff_adjacent", dc), ("pandas_diff_first_last", fc)):
        base = r.get(key, {})
        if "changed_labels" in base and "changes" in ours:
            same = "agree" if base["changed_labels"] == ours["changes"] else "DIFFER"
            row(
                f"changed labels, lineage vs pandas ({key.split('_', 2)[2]})",
                f"{ours['changes']:,}",
                f"{base['changed_labels']:,}",
                same,
            )
    dm = r.get("datum_compare", {})
    row("datum compare", dm.get("reason", "") if "status" in dm else _fmt_s(dm.get("seconds")))
    cmd("audit_cli", f"audit --rev {last}")
    cmd("agreement_cli", f"agreement --rev {last}")
    cmd("export_coco_cli", f"export coco --rev {last}")
    lr = r.get("labels_read", {})
    if "ratio_count" in lr:
        a, b = lr["v1"], lr[last]
        row("labels count, v1 (best of 5)", _fmt_s(a["count_best"]))
        row(
            f"labels count, {last} (best of 5)",
            _fmt_s(b["count_best"]),
            "",
            f"{lr['ratio_count']:.2f}x v1",
        )
        row(
            f"labels group by class, v1 / {last}",
            f"{_fmt_s(a['group_by_best'])} / {_fmt_s(b['group_by_best'])}",
            "",
            f"{lr['ratio_group_by']:.2f}x v1",
        )
        row(
            f"open + count, v1 / {last}",
            f"{_fmt_s(a['open_and_count'])} / {_fmt_s(b['open_and_count'])}",
            "",
            f"{lr['ratio_open_and_count']:.2f}x v1",
        )
    cp = r.get("compact", {})
    if "labels_read" in cp:
        cr = cp["labels_read"]
        row(
            "lineage compact after the last version",
            f"{_fmt_s(cp['seconds'])}, {_fmt_mb(cp['peak_rss_mb'])}, +{cp['growth_pct']:.1f} % of v1",
        )
        row(
            "after compact: count / group by vs v1",
            f"{_fmt_s(cr['compacted']['count_best'])} / {_fmt_s(cr['compacted']['group_by_best'])}",
            "",
            f"{cr['ratio_count']:.2f}x / {cr['ratio_group_by']:.2f}x v1",
        )
    else:
        row("lineage compact", _why(cp))
    nc = r.get("no_checkpoint", {})
    if "growth_median_pct" in nc and nc["growth_median_pct"] is not None:
        nr = nc["labels_read"]
        row(
            "checkpoint_ratio = 0: growth (median / max)",
            f"{nc['growth_median_pct']:.2f} % / {nc['growth_max_pct']:.2f} %",
        )
        row(
            "checkpoint_ratio = 0: commit of 1 % edits (median / max)",
            f"{_fmt_s(nc['commit_edits'].get('median_seconds'))} / "
            f"{_fmt_s(nc['commit_edits'].get('max_seconds'))}",
        )
        nd, nh = nc.get("diff_adjacent_inproc") or {}, nc.get("history_inproc") or {}
        row(
            "checkpoint_ratio = 0: last adjacent diff / history in-process",
            f"{_fmt_s(nd.get('seconds'))} / {_fmt_s(nh.get('best_seconds'))}",
        )
        row(
            f"checkpoint_ratio = 0: count at {last} vs v1",
            f"{_fmt_s(nr[last]['count_best'])} vs {_fmt_s(nr['v1']['count_best'])}",
            "",
            f"{nr['ratio_count']:.2f}x v1",
        )
        row(
            f"checkpoint_ratio = 0: group by at {last} vs v1",
            f"{_fmt_s(nr[last]['group_by_best'])} vs {_fmt_s(nr['v1']['group_by_best'])}",
            "",
            f"{nr['ratio_group_by']:.2f}x v1",
        )
    else:
        row("checkpoint_ratio = 0 variant", _why(nc))

    widths = [
        max(len(x[i]) for x in rows + [("measurement", "lineage", "baseline", "ours/base")])
        for i in range(4)
    ]
    head = ("measurement", "lineage", "baseline", "ours/base")
    lines = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in rows]

    lines += [
        "",
        "per version: live labels, DVC cache size, growth vs v1, checkpoint files, snapshot size",
    ]
    v1 = r.get("_versions", [{}])[0].get("cache_bytes")
    prev = None
    for v in r.get("_versions", []):
        grow = "" if prev is None else f"{100 * (v['cache_bytes'] - prev) / v1:+.2f} %"
        lines.append(
            f"  {v['version']:>4}  {v['live']:>10,}  {v['cache_bytes'] / 2**20:9.1f} MiB  {grow:>9}  "
            f"ck={v['checkpoint_files']}  snap {v['snapshot_bytes'] / 2**20:7.1f} MiB  "
            f"commit {_fmt_s(v['commit_seconds'])}"
        )
        prev = v["cache_bytes"]

    lines += ["", "targets (2 cores, 24 GiB):"]
    for tg in r.get("_targets", []):
        mark = {True: "met", False: "MISSED", None: "no figure"}[tg["met"]]
        lines.append(f"  [{mark:>9}] {tg['target']}: {tg['value']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"small size: {QUICK.labels:,} labels, {QUICK.versions} versions",
    )
    p.add_argument("--labels", type=int, help=f"labels (default {DEFAULT.labels:,})")
    p.add_argument("--images", type=int, help=f"images (default {DEFAULT.images:,})")
    p.add_argument("--versions", type=int, help=f"versions (default {DEFAULT.versions})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=Path("benchmark-results.json"), help="JSON results file"
    )
    p.add_argument(
        "--workdir", type=Path, help="where to build (default: a temporary folder, removed)"
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--no-variant", action="store_true", help="skip the checkpoint_ratio = 0 replay")
    p.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.child:
        return run_child(args.child[0], args.child[1:])
    base = QUICK if args.quick else DEFAULT
    sizes = Sizes(
        labels=args.labels or base.labels,
        images=args.images or base.images,
        versions=max(2, args.versions or base.versions),
        seed=args.seed,
    )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lineage-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    bench = Bench(sizes, work)
    try:
        results = bench.run(variant=not args.no_variant)
    except Exception as exc:  # set-up failed: report what was measured
        results = {**bench.results, "setup": failed(exc)}
    results["_versions"] = bench.versions
    try:
        pass
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    for key in MEASUREMENTS:
        results.setdefault(key, not_available("not reached"))
    results["_targets"] = targets(results)
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "total_seconds": time.perf_counter() - t0,
        "machine": machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "sizes": asdict(sizes),
    }
    report = table(results, sizes)
    head = (
        f"lineage benchmark {meta['date']} on {meta['machine']['nproc']} cores, "
        f"{meta['machine']['memory_gib']} GiB, {meta['machine']['cpu']}; "
        f"{sizes.labels:,} labels, {sizes.images:,} images, {sizes.versions} versions; "
        f"total {meta['total_seconds']:.0f} s; load average before / after "
        f"{load_before[0]:.1f} / {meta['load_average_after'][0]:.1f}"
    )
    print(head + "\n\n" + report)
    doc = {"meta": meta, "measurements": {k: results[k] for k in MEASUREMENTS}}
    doc["versions"] = results["_versions"]
    doc["targets"] = results["_targets"]
    doc["table"] = head + "\n\n" + report
    args.out.write_text(json.dumps(doc, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
