"""Every export re-imports as a no-op, in every format and across formats (issue 12).

Source repositories: the demo, and one built from each importer's fixtures. For every
format F: ``export F`` -> ``import F`` into the same repository stages nothing;
``export F`` -> ``import F`` into a fresh repository -> ``export F`` again reads back the
same labels (ids renumbered as documented). Across formats (from the demo): ``export
A`` -> ``import A`` into a fresh repository -> ``export B`` -> ``import B`` into the
first one stages nothing. The README's field-survival table is checked against
``SURVIVES`` below, which these tests exercise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lineage.demo import build_demo
from lineage.repo import Repo
from tests.conftest import make_git
from tests.formats.contract import FIXTURES

FORMATS = ["native", "coco", "yolo", "voc", "labelstudio", "cvat"]

# (name, format, path under tests/fixtures, import keyword arguments)
SOURCES = {
    "coco": ("coco", "coco/instances.json", {}),
    "cvat": ("cvat", "cvat/task/annotations.xml", {}),
    "labelstudio": ("labelstudio", "labelstudio/export.json", {}),
    "voc": ("voc", "voc/voc2012", {}),
    "yolo-detect": ("yolo", "yolo/detect/data.yaml", {}),
    "yolo-segment": ("yolo", "yolo/segment/data.yaml", {}),
    "yolo-pose": ("yolo", "yolo/pose", {}),
}

# What each format's export carries back into the store, per field (README table).
SURVIVES = {
    "native": "everything",
    "coco": "label ids, class, geometry (box, polygon, mask, keypoints), score, annotator, "
    "source, model version, guideline, attributes; area/iscrowd as COCO fields; image ids "
    "(kept, not renumbered)",
    "yolo": "class, geometry (box, polygon, keypoints) to 6 decimals of the image side, score",
    "voc": "label ids, class, box, annotator, guideline, attributes (difficult, truncated, "
    "occluded, pose and others)",
    "labelstudio": "label ids (as region ids), class, geometry, score, annotator, model version",
    "cvat": "label ids, class, geometry, annotator and guideline (as attributes), source, "
    "attributes, occluded, z_order",
}


def _main_file(fmt: str, out: Path) -> Path:
    return {
        "native": out / "labels.jsonl",
        "coco": out / "annotations.json",
        "yolo": out / "data.yaml",
        "voc": out,
        "labelstudio": out / "tasks.json",
        "cvat": out / "annotations.xml",
    }[fmt]


def export(repo: Repo, fmt: str, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    repo.export(fmt, out)
    return _main_file(fmt, out)


def fresh(path: Path, like: Repo | None = None) -> Repo:
    """A new repository; with ``like``, its guideline versions recorded too (as a user
    would before importing labels that name them)."""
    make_git(path)
    repo = Repo.init(path)
    if like is not None:
        with like.at(None) as snap:
            rows = snap.arrow("SELECT version, classes, released_at FROM guidelines").to_pylist()
        for g in rows:
            repo.add_guideline(g["version"], classes=g["classes"], released_at=g["released_at"])
    return repo


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Each source repository, built once and committed."""
    base = tmp_path_factory.mktemp("sources")
    out = {}
    demo = base / "demo"
    build_demo(demo)
    out["demo"] = demo
    for name, (fmt, rel, kwargs) in SOURCES.items():
        repo = fresh(base / name)
        repo.import_(fmt, FIXTURES / rel, **kwargs)
        repo.commit(f"import {name}")
        out[name] = base / name
    return out


@pytest.fixture
def source(sources, tmp_path, request) -> Repo:
    """A private copy of one source repository."""
    copy = tmp_path / "src"
    shutil.copytree(sources[request.param], copy, symlinks=True)
    return Repo.open(copy)


def staged(repo: Repo) -> list:
    return repo.status().staged


ALL_SOURCES = ["demo", *SOURCES]


@pytest.mark.parametrize("source", ALL_SOURCES, indirect=True)
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_reimports_into_the_same_repository_as_a_no_op(source, fmt, tmp_path):
    before = source.at(None).arrow("SELECT * FROM labels ORDER BY label_id")
    path = export(source, fmt, tmp_path / "out")
    result = source.import_(fmt, path)
    assert result.txn_id is None, (result.rows, result.created, result.updated, result.deleted)
    assert staged(source) == []
    after = source.at(None).arrow("SELECT * FROM labels ORDER BY label_id")
    assert after.equals(before)


def _labels_read_back(fmt: str, path: Path) -> list[tuple]:
    """The labels an export holds, as ``fmt``'s reader sees them, in a canonical order,
    without the ids an export renumbers."""
    from lineage import formats
    from lineage.formats.base import ImportOptions

    batch = formats.get(fmt).read(path, ImportOptions())
    cols = ["asset_id", "class_name", "shape", "bbox", "polygon", "keypoints", "mask_rle"]
    cols += ["score", "annotator_id", "guideline_version", "attributes"]
    rows = batch.labels.select([c for c in cols if c in batch.labels.column_names]).to_pylist()

    def norm(v):
        if isinstance(v, float):
            return round(v, 3)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v

    return sorted(json.dumps(norm(r), sort_keys=True) for r in rows)


@pytest.mark.parametrize("source", ALL_SOURCES, indirect=True)
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_into_a_fresh_repository_exports_the_same(source, fmt, tmp_path):
    first = export(source, fmt, tmp_path / "first")
    other = fresh(tmp_path / "other", like=source)
    other.import_(fmt, first)
    second = export(other, fmt, tmp_path / "second")
    assert _labels_read_back(fmt, second) == _labels_read_back(fmt, first)


# What a trip through a format loses of the demo's labels: a later import of a richer
# format restores those fields with its own values (the defaults the first import gave)
LOST = {"yolo": {"annotator", "source", "guideline", "attributes"}}


@pytest.mark.parametrize("source", ["demo"], indirect=True)
@pytest.mark.parametrize("a", FORMATS)
@pytest.mark.parametrize("b", FORMATS)
def test_across_formats_nothing_changes_that_b_carries(source, a, b, tmp_path):
    """export A -> import A into a fresh repository -> export B -> import B back: every
    label keeps its identity, and nothing changes but what A could not carry."""
    other = fresh(tmp_path / "other", like=source)
    other.import_(a, export(source, a, tmp_path / "a"))
    result = source.import_(b, export(other, b, tmp_path / "b"), mode="patch")
    if a not in LOST:
        assert result.txn_id is None, (result.rows, result.created, result.updated)
        return
    assert result.created == result.deleted == 0  # identity survives the trip
    with source.diff("HEAD") as diff:
        changes = diff.relation.to_arrow_table().to_pylist()
    assert len(changes) == result.updated
    for change in changes:
        assert set(change["kinds"]) <= LOST[a] | {"geometry"}, change["kinds"]
        assert change["iou"] is None or change["iou"] > 0.999  # the format's precision


def test_readme_field_survival_table_matches_the_tests():
    readme = (Path(__file__).parents[1] / "docs" / "formats.md").read_text()
    for fmt, text in SURVIVES.items():
        assert f"| {fmt} | {text} |" in readme, fmt


@pytest.mark.parametrize("source", ["coco"], indirect=True)
def test_coco_image_ids_are_kept_through_the_store(source, tmp_path):
    fixture = json.loads((FIXTURES / "coco" / "instances.json").read_text())
    exported = json.loads(export(source, "coco", tmp_path / "out").read_text())
    ids = {img["file_name"]: img["id"] for img in fixture["images"]}
    assert {img["file_name"]: img["id"] for img in exported["images"]} == ids


@pytest.mark.parametrize("source", ["demo"], indirect=True)
@pytest.mark.parametrize("fmt", ["coco", "voc", "cvat"])
def test_guideline_versions_travel_where_the_format_has_room(source, fmt, tmp_path):
    other = fresh(tmp_path / "other", like=source)
    other.import_(fmt, export(source, fmt, tmp_path / "out"))
    query = "SELECT label_id, guideline_version FROM labels ORDER BY 1"
    with source.at(None) as a, other.at(None) as b:
        assert b.arrow(query).column(1).to_pylist() == a.arrow(query).column(1).to_pylist()
