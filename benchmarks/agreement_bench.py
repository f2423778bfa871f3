"""Time `agreement` (by pair, annotator, class) and `stats` on a real store of
1,000,000 synthetic labels.

    python -m benchmarks.agreement_bench [--assets 100000] [--keep DIR]

The store: ``--assets`` images (640 x 480, train/val, some tagged night/blur), each
labelled by two annotators (alice, bob) with 4 boxes and 1 image-level class each, so
10 labels per image (1,000,000 for 100,000 images). Bob's boxes are Alice's jittered
by a few pixels; 5 % of his are missed, 20 % of images get an extra box, 5 % swap class, 10 % of
the image-level classes differ. 10,000 of Alice's boxes are reviewed (2,000 rejected,
2,000 fixed by the reviewer in a second import). Labels come in as one native Parquet
file (plus a JSONL file of asset records), and are committed before timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@lineage.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@lineage.invalid")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

CLASSES = np.array(["car", "person", "bike", "truck", "bus"])
SCENES = np.array(["street", "highway", "park"])
BOXES = 4  # per annotator and image, plus one image-level class


def label_table(n_assets: int, rng: np.random.Generator) -> pa.Table:
    """Alice's and Bob's labels, every column the native Parquet import reads."""
    asset = np.repeat(np.arange(n_assets), BOXES)
    n = len(asset)
    x = rng.uniform(0, 560, n).round(1)
    y = rng.uniform(0, 400, n).round(1)
    w = rng.uniform(8, 80, n).round(1)
    h = rng.uniform(8, 80, n).round(1)
    cls = rng.integers(0, len(CLASSES), n)
    # Bob: jitter, misses, class swaps, extras
    jitter = rng.normal(0, 2, (n, 4)).round(1)
    keep = rng.random(n) >= 0.05
    swap = rng.random(n) < 0.05
    bob_cls = np.where(swap, (cls + 1) % len(CLASSES), cls)
    extra = rng.random(n_assets) < 0.2
    ex_asset = np.flatnonzero(extra)
    ex_n = len(ex_asset)

    def boxes(a, bx, by, bw, bh, c, who):
        k = len(a)
        return {
            "asset_id": np.char.add("img_", a.astype(str)),
            "class_name": CLASSES[c],
            "shape": np.full(k, "box"),
            "x": bx,
            "y": by,
            "w": bw,
            "h": bh,
            "annotator_id": np.full(k, who),
        }

    parts = [
        boxes(asset, x, y, w, h, cls, "alice"),
        boxes(
            asset[keep],
            (x + jitter[:, 0])[keep],
            (y + jitter[:, 1])[keep],
            np.maximum(w + jitter[:, 2], 1)[keep],
            np.maximum(h + jitter[:, 3], 1)[keep],
            bob_cls[keep],
            "bob",
        ),
        boxes(
            ex_asset,
            rng.uniform(0, 560, ex_n),
            rng.uniform(0, 400, ex_n),
            np.full(ex_n, 30.0),
            np.full(ex_n, 30.0),
            rng.integers(0, len(CLASSES), ex_n),
            "bob",
        ),
    ]
    scene = rng.integers(0, len(SCENES), n_assets)
    bob_scene = np.where(rng.random(n_assets) < 0.1, (scene + 1) % len(SCENES), scene)
    images = np.arange(n_assets)
    cols: dict[str, list] = {k: [] for k in parts[0]}
    for p in parts:
        for k, v in p.items():
            cols[k].append(v)
    box_rows = {k: np.concatenate(v) for k, v in cols.items()}
    m = len(box_rows["asset_id"])
    ids = np.char.add("b", np.char.zfill(np.arange(m).astype(str), 15))
    cls_ids = np.char.add("c", np.char.zfill(np.arange(2 * n_assets).astype(str), 15))
    nan = np.full(2 * n_assets, np.nan)
    bbox_x = np.concatenate([box_rows["x"], nan])
    bbox_valid = np.r_[np.ones(m, bool), np.zeros(2 * n_assets, bool)]
    bbox = pa.StructArray.from_arrays(
        [
            pa.array(bbox_x),
            pa.array(np.concatenate([box_rows["y"], nan])),
            pa.array(np.concatenate([box_rows["w"], nan])),
            pa.array(np.concatenate([box_rows["h"], nan])),
        ],
        names=["x", "y", "w", "h"],
        mask=pa.array(~bbox_valid),
    )
    img_asset = np.char.add("img_", np.r_[images, images].astype(str))
    occluded = rng.random(m) < 0.2
    attributes = np.r_[np.where(occluded, '{"occluded":true}', "{}"), np.full(2 * n_assets, "{}")]
    return pa.table(
        {
            "label_id": np.r_[ids, cls_ids],
            "asset_id": np.r_[box_rows["asset_id"], img_asset],
            "class_name": np.r_[box_rows["class_name"], SCENES[scene], SCENES[bob_scene]],
            "shape": np.r_[box_rows["shape"], np.full(2 * n_assets, "classification")],
            "bbox": bbox,
            "annotator_id": np.r_[
                box_rows["annotator_id"], np.full(n_assets, "alice"), np.full(n_assets, "bob")
            ],
            "source": np.full(m + 2 * n_assets, "human"),
            "attributes": attributes,
        }
    )


def asset_lines(n_assets: int, rng: np.random.Generator) -> str:
    split = np.where(rng.random(n_assets) < 0.8, "train", "val")
    tag = rng.random(n_assets)
    tags = np.where(tag < 0.1, '["night"]', np.where(tag < 0.15, '["blur"]', "[]"))
    return "".join(
        f'{{"record": "asset", "asset_id": "img_{i}", "width": 640, "height": 480, '
        f'"split": "{s}", "tags": {t}}}\n'
        for i, s, t in zip(range(n_assets), split, tags, strict=True)
    )


def build(root: Path, n_assets: int) -> tuple[object, int]:
    import git

    from lineage.repo import Repo

    rng = np.random.default_rng(7)
    root.mkdir(parents=True)
    git.Repo.init(root)
    repo = Repo.init(root)
    repo.add_guideline("v1", classes=[*CLASSES, *SCENES])
    table = label_table(n_assets, rng)
    pq.write_table(table, root.parent / "labels.parquet")
    (root.parent / "assets.jsonl").write_text(asset_lines(n_assets, rng))
    t = time.perf_counter()
    repo.import_("native", root.parent / "assets.jsonl")
    repo.import_("native", root.parent / "labels.parquet")
    repo.commit("labels", tag="v1")
    print(f"import + commit of {table.num_rows:,} labels: {time.perf_counter() - t:.1f} s")
    # reviews of 10,000 of Alice's boxes: 2,000 rejected, 2,000 fixed; carol redraws those 4,000
    k = min(10_000, n_assets)  # every 4th of Alice's boxes
    reviewed = np.char.add("b", np.char.zfill(np.arange(0, 4 * k, 4).astype(str), 15))
    verdict = np.where(np.arange(k) < k // 5, "reject", "accept")
    verdict[k // 5 : 2 * (k // 5)] = "fix"
    (root.parent / "reviews.csv").write_text(
        "label_id,pass,reviewer_id,verdict\n"
        + "".join(f"{i},1,carol,{v}\n" for i, v in zip(reviewed, verdict, strict=True))
    )
    repo.import_reviews(root.parent / "reviews.csv")
    fixed = table.filter(
        pa.compute.is_in(table.column("label_id"), pa.array(reviewed[: 2 * (k // 5)]))
    )
    bbox = fixed.column("bbox").combine_chunks()
    moved = pa.StructArray.from_arrays(
        [pa.compute.add(bbox.field("x"), 5.0), bbox.field("y"), bbox.field("w"), bbox.field("h")],
        names=["x", "y", "w", "h"],
    )
    fixed = fixed.set_column(fixed.schema.get_field_index("bbox"), "bbox", moved)
    fixed = fixed.set_column(
        fixed.schema.get_field_index("annotator_id"),
        "annotator_id",
        pa.array(["carol"] * fixed.num_rows),
    )
    pq.write_table(fixed, root.parent / "fixes.parquet")
    repo.import_("native", root.parent / "fixes.parquet", mode="patch")
    repo.commit("reviews and fixes", tag="v2")
    return repo, table.num_rows


def timed(label: str, fn):
    """Run ``fn``; print wall time and this process's CPU time (all threads): on a
    shared machine the CPU time is the steadier figure."""
    t, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(f"{label}: {time.perf_counter() - t:.2f} s wall, {time.process_time() - cpu:.2f} s CPU")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Build the store here and keep it (reused if there).",
    )
    args = ap.parse_args()

    from lineage.audit.agreement import annotator_figures

    def figures(repo, rev):
        with repo.at(rev) as snap:
            return annotator_figures(snap)

    base = args.keep or Path(tempfile.mkdtemp(prefix="lineage-bench-"))
    try:
        if (base / "repo").exists():  # --keep DIR from an earlier run: time it again
            from lineage.repo import Repo

            repo = Repo.open(base / "repo")
            with repo.at("v2") as snap:
                [(n,)] = snap.con.execute("SELECT count(*) FROM labels").fetchall()
        else:
            repo, n = build(base / "repo", args.assets)
        print(f"{n:,} labels; timing on v2 (one run each)")
        for by in ("pair", "annotator", "class"):
            table = timed(f"agreement --by {by}", lambda by=by: repo.agreement("v2", by=by))
            for row in table.to_pylist():
                keys = [
                    str(v)
                    for k, v in row.items()
                    if k not in ("figure", "value", "n_items", "note")
                ]
                print(
                    f"    {'/'.join(keys):<14} {row['figure']:<28} {row['value']:.4f}  n={row['n_items']:,}"
                )
        timed("annotator_figures", lambda: figures(repo, "v2"))
        sections = timed("stats", lambda: repo.stats("v2"))
        for name, table in sections.items():
            print(f"    {name}: {table.num_rows} rows; first: {table.slice(0, 1).to_pylist()}")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
