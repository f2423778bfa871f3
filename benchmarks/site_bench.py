"""The review site at scale: ``python -m benchmarks.site_bench [--changed 10000]
[--images 5000] [--per-image 8] [--keep DIR]``.

Builds a store whose v1 -> v2 diff has ``--changed`` changed labels (60 % small
moves, 15 % relabels, 10 % removals, 15 % additions) spread over ``--images``
images, then measures, each in its own child process (wall time, peak RSS):

* ``lineage diff v1 v2 --format json``: the baseline, the same changes as JSON;
* ``lineage show diff v1 v2``: the whole site (index, one page per changed image);

and, in Debian's headless Chromium (started here on 127.0.0.1, killed by PID), the
time from navigation until the index has drawn its first page of thumbnails, and the
same for one asset page (median of 5 loads). Targets (issue 16): the site in under
10 s at 10 k changed labels, the index in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.measure import lineage_bin, measure


def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def build(root: Path, changed: int, images: int, per_image: int, seed: int = 7) -> None:
    """A git + DVC repository with tags v1 and v2 whose diff has ``changed`` labels."""
    import git

    from lineage.repo import Repo

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    g = git.Repo.init(root)
    with g.config_writer() as cw:
        cw.set_value("user", "name", "bench")
        cw.set_value("user", "email", "bench@lineage.invalid")
    repo = Repo.init(root)
    classes = [f"class_{i}" for i in range(20)]
    repo.add_guideline("v1", classes=classes)
    n = images * per_image
    xs, ys = rng.uniform(0, 560, n), rng.uniform(0, 400, n)
    ws, hs = rng.uniform(10, 80, n), rng.uniform(10, 80, n)
    cls = rng.integers(0, len(classes), n)
    asset = np.arange(n) // per_image
    v1 = [{"record": "asset", "asset_id": f"img_{i:06d}.jpg", "width": 640, "height": 480}
          for i in range(images)]  # fmt: skip
    v1 += [
        {
            "label_id": f"{i:016x}",
            "asset_id": f"img_{asset[i]:06d}.jpg",
            "class_name": classes[cls[i]],
            "bbox": [xs[i], ys[i], ws[i], hs[i]],
            "annotator_id": f"ann_{i % 7}",
            "source": "human",
        }  # fmt: skip
        for i in range(n)
    ]
    data = root.parent
    (data / "v1.jsonl").write_text(_lines(v1))
    repo.import_("native", data / "v1.jsonl", guideline="v1")
    repo.commit("v1", tag="v1")

    edited = rng.choice(n, size=int(changed * 0.85), replace=False)
    moves, relabels, removals = np.split(edited, [int(changed * 0.6), int(changed * 0.75)])
    v2 = []
    for i in moves:
        v2.append({"label_id": f"{i:016x}", "asset_id": f"img_{asset[i]:06d}.jpg",
                   "class_name": classes[cls[i]], "annotator_id": "fixer", "source": "human",
                   "bbox": [xs[i] + 2, ys[i] + 1, ws[i], hs[i]]})  # fmt: skip
    for i in relabels:
        v2.append({"label_id": f"{i:016x}", "asset_id": f"img_{asset[i]:06d}.jpg",
                   "class_name": classes[(cls[i] + 1) % len(classes)], "annotator_id": "fixer",
                   "source": "human", "bbox": [xs[i], ys[i], ws[i], hs[i]]})  # fmt: skip
    for i in removals:
        v2.append({"label_id": f"{i:016x}", "op": "delete", "asset_id": f"img_{asset[i]:06d}.jpg"})
    for j in range(changed - len(edited)):
        a = int(rng.integers(0, images))
        v2.append({"asset_id": f"img_{a:06d}.jpg", "class_name": classes[j % len(classes)],
                   "annotator_id": "fixer", "source": "human",
                   "bbox": [float(rng.uniform(0, 560)), float(rng.uniform(0, 400)), 30, 30]})  # fmt: skip
    (data / "v2.jsonl").write_text(_lines(v2))
    repo.import_("native", data / "v2.jsonl", guideline="v1", mode="patch")
    repo.commit("v2", tag="v2")


def page_load(url: str, ready: str, profile: Path, runs: int = 5) -> list[float]:
    """Seconds from navigation until ``ready`` (a CSS selector) is in the page."""
    from playwright.sync_api import sync_playwright

    from tests.browser import Chromium

    chromium = Chromium(profile)
    chromium.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.connect_over_cdp(chromium.endpoint)
            times = []
            for _ in range(runs):
                context = browser.new_context()
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector(ready, timeout=60_000)
                times.append(time.perf_counter() - t0)
                context.close()
            browser.close()
            return times
    finally:
        chromium.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changed", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=5_000)
    ap.add_argument("--per-image", type=int, default=8)
    ap.add_argument("--keep", type=Path, default=None, help="Work here and keep it (reused).")
    args = ap.parse_args(argv)
    base = args.keep or Path(tempfile.mkdtemp(prefix="lineage-site-bench-"))
    try:
        root = base / "repo"
        if not root.exists():
            t0 = time.perf_counter()
            build(root, args.changed, args.images, args.per_image)
            print(f"built the store in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        lineage = lineage_bin()
        diff = measure([*lineage, "diff", "v1", "v2", "--format", "json"], root, base / "diff")
        changes = json.loads(Path(diff["stdout"]).read_text())["summary"]["labels"]
        site_dir = base / "site"
        show = measure(
            [*lineage, "show", "diff", "v1", "v2", "--out", str(site_dir), "--format", "json"],
            root,
            base / "show",
        )
        written = json.loads(Path(show["stdout"]).read_text())
        index = page_load((site_dir / "index.html").as_uri(), "#asset-list li", base / "p1")
        first = sorted((site_dir / "assets").iterdir())[0]
        asset = page_load(first.as_uri(), "svg#canvas g.label", base / "p2")
        rows = [
            ("diff --format json (baseline)", diff["seconds"], diff["peak_rss_mb"], "", ""),
            (
                "show diff (whole site)",
                show["seconds"],
                show["peak_rss_mb"],
                f"{show['seconds'] / diff['seconds']:.1f}x baseline",
                "< 10 s",
            ),  # fmt: skip
            ("index load in Chromium (median of 5)", statistics.median(index), None, "", "< 2 s"),
            ("asset page load (median of 5)", statistics.median(asset), None, "", ""),
        ]
        print(f"\n{changes:,} changed labels on {written['assets']:,} images; "
              f"{written['pages']:,} pages, {_mb(site_dir):.0f} MB\n")  # fmt: skip
        print(f"{'step':<38} {'seconds':>8} {'peak MB':>8}  {'ratio':<16} target")
        for name, sec, mb, ratio, target in rows:
            mbs = f"{mb:8.0f}" if mb is not None else f"{'':>8}"
            print(f"{name:<38} {sec:8.2f} {mbs}  {ratio:<16} {target}")
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


if __name__ == "__main__":
    sys.exit(main())
