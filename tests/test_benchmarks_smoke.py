"""The benchmark runs end to end at a tiny size (CI smoke test, not a timing gate)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from pycocotools.coco import COCO

from benchmarks import generate
from benchmarks.run import MEASUREMENTS

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_reports_every_measurement(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--labels",
            "600",
            "--images",
            "60",
            "--versions",
            "2",
            "--no-variant",
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # Spark starts its JVM three times (engines)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    got = doc["measurements"]
    assert set(MEASUREMENTS) <= set(got)
    # every step that lineage provides ran and was timed (nothing failed)
    failed = {k: v for k, v in got.items() if isinstance(v, dict) and v.get("status") == "failed"}
    assert not failed, failed
    assert got["import_coco"]["seconds"] > 0 and got["import_coco"]["peak_rss_mb"] > 0
    assert got["pycocotools_load"]["annotations"] == 600
    assert got["store_growth"]["v1_bytes"] > 0 and len(got["store_growth"]["per_version_pct"]) == 1
    assert got["history_cli"]["revisions"] >= 2
    assert got["diff_adjacent_inproc"]["pairs"][0]["changes"] > 0
    assert got["datum_compare"]["status"] == "not available"
    assert got["compact"]["labels_read"]["compacted"]["labels"] > 0
    # reads in place from a real S3-compatible server: each read fetched something, and
    # read the label tables where they are (not downloaded into the cache)
    remote = got["remote_reads"]
    assert remote["history"]["rows"] >= 2 and remote["count"]["rows"] > 0
    assert all(remote[k]["bytes_fetched"] > 0 for k in ("history", "blame", "count"))
    assert remote["history"]["segments_in_place"] > 0
    assert got["no_checkpoint"]["status"] == "not available"
    # the same reads on Spark give the same rows as on DuckDB
    assert got["engines"]["count_same_rows"] and got["engines"]["history_same_rows"]
    assert [v["version"] for v in doc["versions"]] == ["v1", "v2"]
    assert doc["meta"]["machine"]["nproc"] >= 1
    assert {t["target"] for t in doc["targets"]} and "audit" in doc["table"]


@pytest.mark.slow
def test_scale_benchmark_reports_issue_15_figures(tmp_path):
    # --scale (the 10 M run): import, commits, history, diff, audit and DuckDB vs Spark;
    # the in-memory baselines are named as left out, not silently missing
    out = tmp_path / "results.json"
    args = ["--quick", "--labels", "600", "--images", "60", "--versions", "3", "--scale"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args, "--workdir", str(tmp_path / "w")]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(out.read_text())["measurements"]
    failed = {k: v for k, v in got.items() if isinstance(v, dict) and v.get("status") == "failed"}
    assert not failed, failed
    for key in ("import_coco", "commit_v1", "history_cli", "diff_adjacent_cli", "audit_cli"):
        assert got[key]["seconds"] > 0 and got[key]["peak_rss_mb"] > 0, key
    assert len(got["commit_edits"]["seconds"]) == 2
    assert got["engines"]["count_same_rows"] and got["engines"]["audit_spark"]["seconds"] > 0
    assert got["pycocotools_load"] == {"status": "not available", "reason": "left out of --scale"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools vs NumPy 2
def test_generated_coco_loads_in_pycocotools(tmp_path):
    """The generator's file is what pycocotools expects: polygons whose envelope is the
    bbox, crowd RLE masks pycocotools decodes to the box area."""
    path = tmp_path / "c.json"
    stats = generate.coco_dataset(path, labels=500, images=40, classes=80, crowd=0.1, seed=3)
    coco = COCO(str(path))
    assert len(coco.anns) == 500 and len(coco.imgs) == 40 and len(coco.cats) == 80
    crowd = [a for a in coco.anns.values() if a["iscrowd"]]
    assert len(crowd) == stats["crowd_masks"] > 0
    for a in crowd[:10]:
        m = coco.annToMask(a)
        assert m.sum() == a["area"]
        x, y, w, h = a["bbox"]
        assert m[int(y) : int(y + h), int(x) : int(x + w)].all()
    polys = [a for a in coco.anns.values() if not a["iscrowd"]][:50]
    for a in polys:
        xy = np.asarray(a["segmentation"][0]).reshape(-1, 2)
        x, y, w, h = a["bbox"]
        assert np.isclose(xy[:, 0].min(), x) and np.isclose(xy[:, 1].min(), y)
        assert np.isclose(xy[:, 0].max(), x + w, atol=0.011)
        assert abs(a["area"] - _shoelace(xy)) < 0.01
    raw = orjson.loads(path.read_bytes())
    assert {c["id"] for c in raw["categories"]}.isdisjoint({12, 26, 29, 30, 45})


def _shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2)


def test_history_step_edits_about_one_percent(tmp_path):
    """Moves shift bbox and polygon together; deletes are tombstones; the state follows."""
    rng = np.random.default_rng(0)
    w = np.full(1000, 640.0)
    h = np.full(1000, 480.0)
    poly = generate.polygons(rng, w, h)
    import pyarrow as pa

    n = 1000
    polygon = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32)),
        pa.ListArray.from_arrays(pa.array(poly.offsets.astype(np.int32)), pa.array(poly.xy)),
    )
    state = pa.table(
        {
            "label_id": [f"l{i:05d}" for i in range(n)],
            "asset_id": [f"img{i % 50}.jpg" for i in range(n)],
            "class_name": ["class001"] * n,
            "shape": ["polygon"] * n,
            "bbox": pa.StructArray.from_arrays(
                [pa.array(poly.bbox[:, i]) for i in range(4)], names=["x", "y", "w", "h"]
            ),
            "polygon": polygon,
            "attributes": ["{}"] * n,
            "annotator_id": ["annotator-a"] * n,
            "guideline_version": ["v1"] * n,
            "_w": pa.array(w.astype(np.int32)),
            "_h": pa.array(h.astype(np.int32)),
        }
    )
    hist = generate.EditHistory(state, generate.class_names(80), fraction=0.02, seed=5)
    v = hist.step(2, tmp_path)
    assert v.counts == {
        "moved": 8,
        "relabelled": 5,
        "deleted": 3,
        "added": 4,
        "reviewed": 17,
        "live": 1001,
    }
    edits = pa.parquet.read_table(v.edits)
    assert "_w" not in edits.column_names
    deletes = edits.filter(pa.compute.equal(edits.column("op"), "delete"))
    assert deletes.num_rows == 3 and deletes.column("class_name").null_count == 3
    before = {r["label_id"]: r for r in state.to_pylist()}
    moved = [r for r in edits.to_pylist() if r["op"] is None and r["label_id"] in before]
    shifted = 0
    for r in moved:
        old = before[r["label_id"]]
        dx, dy = r["bbox"]["x"] - old["bbox"]["x"], r["bbox"]["y"] - old["bbox"]["y"]
        if dx or dy:
            shifted += 1
            xy = np.asarray(r["polygon"][0]).reshape(-1, 2)
            oxy = np.asarray(old["polygon"][0]).reshape(-1, 2)
            assert np.allclose(xy - oxy, [dx, dy], atol=0.011)
        else:
            assert r["class_name"] != old["class_name"]
    assert shifted == 8
    live = set(hist.state.column("label_id").to_pylist())
    assert not live & set(deletes.column("label_id").to_pylist())
    assert len(live) == 1001


def test_generated_edits_import_cleanly(tmp_path, repo):
    """Every edit version the generator writes passes import's checks: moved boxes stay
    inside their image (an edit file with a box far outside its image is refused, which
    once stopped the 1 M benchmark after its first version)."""
    path = tmp_path / "c.json"
    generate.coco_dataset(path, labels=3000, images=60, classes=80, crowd=0.0, seed=5)
    repo.add_guideline("v1", classes=generate.class_names(80))
    repo.import_("coco", path, guideline="v1", annotator="annotator-a")
    repo.commit("v1", tag="v1")
    with repo.at("v1") as snap:
        state = snap.con.sql(generate.STATE_SQL).to_arrow_table()
    history = generate.EditHistory(state, generate.class_names(80), fraction=0.3, seed=7)
    for v in (2, 3):
        step = history.step(v, tmp_path)
        assert step.counts["moved"] > 100
        result = repo.import_("native", step.edits, mode="patch", match="ids")
        assert result.updated >= step.counts["moved"]
        repo.commit(f"v{v}", tag=f"v{v}")


def test_site_benchmark_runs_and_reports_its_figures(tmp_path):
    """The review-site benchmark end to end at a tiny size: its table has every row."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.site_bench",
            "--changed",
            "40",
            "--images",
            "10",
            "--per-image",
            "4",
            "--keep",
            str(tmp_path / "work"),
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "40 changed labels" in proc.stdout
    for row in ("diff --format json (baseline)", "show diff (whole site)", "index load"):
        assert row in proc.stdout
