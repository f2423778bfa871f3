"""Formats through the store: round trips and label identity across re-imports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.formats.contract import FIXTURES

CASES = [
    ("voc", "voc/voc2012", "voc"),
    ("labelstudio", "labelstudio/export.json", "labelstudio/tasks.json"),
    ("cvat", "cvat/task/annotations.xml", "cvat/annotations.xml"),
    ("yolo", "yolo/detect", "yolo"),
    ("coco", "coco/instances.json", "coco/annotations.json"),
]


def events(repo, rev=None):
    with repo.at(rev) as snap:
        return snap.sql("select count(*) from label_events").fetchall()[0][0]


@pytest.mark.parametrize("fmt, fixture, exported", CASES, ids=[c[0] for c in CASES])
def test_export_then_reimport_changes_nothing(repo, tmp_path, fmt, fixture, exported):
    """import -> export -> import gives identical labels: the re-import stages no event."""
    first = repo.import_(fmt, FIXTURES / fixture)
    assert first.created > 0
    repo.commit("import", tag="v1")
    out = tmp_path / "out"
    target = out / exported if "/" in exported else out
    repo.export(fmt, target if target.suffix else out, rev="v1")
    again = repo.import_(fmt, target)
    assert (again.created, again.updated, again.deleted) == (0, 0, 0), again


def test_export_writes_exactly_the_revision(repo, tmp_path):
    repo.import_("voc", FIXTURES / "voc/voc2012")
    repo.commit("one", tag="v1")
    with repo.at("v1") as snap:
        victim = snap.sql(
            "select label_id, asset_id from labels order by label_id limit 1"
        ).fetchall()[0]
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"label_id": victim[0], "asset_id": victim[1], "op": "delete"})
    )
    repo.import_("native", tmp_path / "d.jsonl", mode="patch")
    repo.commit("two", tag="v2")
    n1 = repo.export("native", tmp_path / "v1.jsonl", rev="v1").labels
    n2 = repo.export("native", tmp_path / "v2.jsonl", rev="v2").labels
    assert n1 == n2 + 1
    assert victim[0] not in (tmp_path / "v2.jsonl").read_text()


def _voc_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc/voc2012", dst)
    return dst


def _edit_xml(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def voc_repo(repo, tmp_path):
    src = _voc_copy(tmp_path)
    repo.import_("voc", src)
    repo.commit("v1", tag="v1")
    return repo, src


def _xml_with_boxes(src: Path) -> Path:
    for p in sorted((src / "Annotations").glob("*.xml")):
        if len(re.findall("<object>", p.read_text())) >= 2:
            return p
    raise AssertionError("fixture needs an XML with two objects")


def test_reimport_unchanged_adds_nothing(voc_repo):
    repo, src = voc_repo
    res = repo.import_("voc", src)
    assert (res.created, res.updated, res.deleted, res.txn_id) == (0, 0, 0, None)


def test_moved_box_is_a_new_revision_of_the_same_label(voc_repo):
    repo, src = voc_repo
    xml = _xml_with_boxes(src)
    xmin = re.search(r"<xmin>([\d.]+)</xmin>", xml.read_text()).group(1)
    _edit_xml(xml, f"<xmin>{xmin}</xmin>", f"<xmin>{float(xmin) + 3:g}</xmin>")
    before = events(repo)
    res = repo.import_("voc", src)
    assert (res.created, res.updated, res.deleted) == (0, 1, 0)
    assert res.matched_by.get("iou", 0) >= 1 and len(res.moved_iou) >= 1
    assert 0.5 <= min(res.moved_iou) < 1.0
    assert events(repo) == before + 1
    with repo.at(None) as snap:
        (lid, rev) = snap.sql(
            "select label_id, max(revision) from label_events group by 1 having max(revision) = 2"
        ).fetchall()[0]
        assert (
            snap.sql(f"select count(*) from label_events where label_id = '{lid}'").fetchall()[0][0]
            == 2
        )


def test_relabelled_box_is_a_new_revision(voc_repo):
    repo, src = voc_repo
    xml = _xml_with_boxes(src)
    name = re.search(r"<object>\s*<name>([^<]+)</name>", xml.read_text()).group(1)
    _edit_xml(xml, f"<name>{name}</name>", "<name>relabelled</name>")
    res = repo.import_("voc", src)
    assert (res.created, res.updated, res.deleted) == (0, 1, 0)
    assert res.matched_by.get("iou_relabel") == 1
    with repo.at(None) as snap:
        rows = snap.sql(
            "select revision, class_name from label_events where label_id in "
            "(select label_id from labels where class_name = 'relabelled') order by revision"
        ).fetchall()
    assert rows == [(1, name), (2, "relabelled")]


def test_removed_box_is_a_delete_in_snapshot_mode_only(voc_repo):
    repo, src = voc_repo
    xml = _xml_with_boxes(src)
    text = xml.read_text()
    start = text.rindex("<object>")
    end = text.index("</object>", start) + len("</object>")
    xml.write_text(text[:start] + text[end:])
    patch = repo.import_("voc", src, mode="patch")
    assert (patch.created, patch.updated, patch.deleted) == (0, 0, 0)
    snap_res = repo.import_("voc", src)
    assert (snap_res.created, snap_res.updated, snap_res.deleted) == (0, 0, 1)


def test_label_studio_region_ids_keep_identity(repo, tmp_path):
    src = tmp_path / "ls.json"
    shutil.copy(FIXTURES / "labelstudio/export.json", src)
    repo.import_("labelstudio", src)
    repo.commit("v1", tag="v1")
    tasks = json.loads(src.read_text())
    region = next(
        r
        for t in tasks
        for a in t.get("annotations", [])
        for r in a["result"]
        if r.get("type") == "rectanglelabels" and not a.get("was_cancelled")
    )
    region["value"]["x"] += 30  # far: IoU matching alone would lose it
    src.write_text(json.dumps(tasks))
    res = repo.import_("labelstudio", src)
    assert (res.created, res.updated, res.deleted) == (0, 1, 0)
    assert res.matched_by.get("external_id", 0) >= 1


def test_label_studio_provenance_lands_in_columns(repo):
    repo.import_("labelstudio", FIXTURES / "labelstudio/export.json")
    with repo.at(None) as snap:
        sources = {r[0] for r in snap.sql("select distinct source from labels").fetchall()}
        annotators = {r[0] for r in snap.sql("select distinct annotator_id from labels").fetchall()}
    assert {"human", "model"} <= sources
    assert len(annotators) >= 2


def test_cvat_sources_and_assignees_land_in_columns(repo):
    repo.import_("cvat", FIXTURES / "cvat/task/annotations.xml")
    with repo.at(None) as snap:
        rows = snap.sql("select distinct source, annotator_id from labels").fetchall()
    sources = {r[0] for r in rows}
    assert {"human", "model", "assisted"} <= sources
    assert len({r[1] for r in rows if r[1]}) >= 2


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/etc/evil", "C:/evil", "..\\evil"]
)
def test_export_paths_cannot_leave_the_target(tmp_path, name):
    from lineage.errors import InputError
    from lineage.formats.base import safe_join

    with pytest.raises(InputError, match="refusing"):
        safe_join(tmp_path / "out", name)
    assert (
        safe_join(tmp_path / "out", "sub/ok.txt") == (tmp_path / "out" / "sub" / "ok.txt").resolve()
    )
