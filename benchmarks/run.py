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
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measure import DEFAULT, QUICK, Sizes, failed, machine, not_available
from benchmarks.report import table, targets
from benchmarks.steps import Bench, run_child

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
    "engines",
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
    p.add_argument(
        "--scale",
        action="store_true",
        help="only what scales past the baselines' memory: import, commits, history, diff, "
        "audit, DuckDB vs Spark (e.g. --labels 10000000 --images 1000000 --versions 5)",
    )
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
        results = bench.run_scale() if args.scale else bench.run(variant=not args.no_variant)
    except Exception as exc:  # set-up failed: report what was measured
        results = {**bench.results, "setup": failed(exc)}
    results["_versions"] = bench.versions
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
