"""Bounded memory at any size: a large file imported in parts stages what a whole import
stages, a commit writes its segments in bounded batches (sorted by label, nothing lost),
and a COCO export streams the labels a batch at a time."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lineage import Repo
from lineage.errors import InputError
from lineage.formats.coco import chunks
from lineage.store import ingest
from tests.conftest import make_git
from tests.formats.contract import FIXTURES

INSTANCES = FIXTURES / "coco" / "instances.json"
PART = 9  # labels per part: the file below is read in several parts
SAME = "* EXCLUDE (label_id, txn_id, created_at)"  # a new label's id and time are its own


@pytest.fixture
def sliced(monkeypatch):
    """Every COCO file takes the sliced parse, in slices of ~300 bytes."""
    monkeypatch.setattr(chunks, "MIN_FILE_BYTES", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 300)


@pytest.fixture
def parts(monkeypatch):
    """Counts the parts each import resolves."""
    seen: list[int] = []
    real = ingest.label_events

    def counting(con, batch, **kw):
        seen.append(batch.labels.num_rows)
        return real(con, batch, **kw)

    monkeypatch.setattr(ingest, "label_events", counting)
    return seen


def new_repo(path: Path) -> Repo:
    make_git(path)
    repo = Repo.init(path)
    repo.add_guideline("v1", classes=["car", "person", "bike"])
    return repo


def many(tmp_path: Path, times: int = 10, change=None) -> Path:
    """The fixture's annotations ``times`` over, with new ids."""
    doc = json.loads(INSTANCES.read_text())
    anns = []
    for k in range(times):
        for a in copy.deepcopy(doc["annotations"]):
            a["id"] = 1000 * (k + 1) + a["id"]
            anns.append(a)
    doc["annotations"] = anns
    if change is not None:
        change(doc)
    path = tmp_path / "many.json"
    path.write_text(json.dumps(doc))
    return path


def labels(repo: Repo) -> list[tuple]:
    with repo.at(None) as snap:
        return snap.con.sql(f"SELECT {SAME} FROM labels ORDER BY external_id").fetchall()


def staged(repo: Repo) -> list[str]:
    return [p.name for p in repo.layout.staging.iterdir()] if repo.layout.staging.exists() else []


def leftovers(repo: Repo) -> list[Path]:
    tmp = repo.layout.work / "tmp"
    return [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []


def test_parts_stage_what_a_whole_import_stages(tmp_path, sliced, parts):
    path = many(tmp_path)
    in_parts = new_repo(tmp_path / "a")
    r = in_parts.import_("coco", path, guideline="v1", part_rows=PART)
    assert len(parts) > 3 and max(parts) < 2 * PART + 10  # really in parts, each bounded
    parts.clear()
    whole = new_repo(tmp_path / "b")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chunks, "MIN_FILE_BYTES", 1 << 40)  # the one-piece read
        w = whole.import_("coco", path, guideline="v1")
    assert len(parts) == 1
    assert (r.created, r.updated, r.deleted, r.unchanged) == (w.created, 0, 0, 0)
    assert r.rows == w.rows and r.matched_by == w.matched_by
    assert labels(in_parts) == labels(whole)
    assert leftovers(in_parts) == []
    # and committed: one segment, sorted by label, every label once
    in_parts.commit("v1")
    with in_parts.at("HEAD") as snap:
        n, distinct = snap.con.sql(
            "SELECT count(*), count(DISTINCT label_id) FROM labels"
        ).fetchall()[0]
    assert n == distinct == w.created


def test_parts_onto_labelled_images_match_in_buckets_as_a_whole_import_does(
    tmp_path, sliced, parts
):
    # a re-import matches each record against its own image's labels: resolved in
    # buckets of whole images, it stages what a whole import stages (updates, deletes of
    # what the file left out, images emptied, new labels)
    path = many(tmp_path)
    doc = json.loads(path.read_text())
    a, b = new_repo(tmp_path / "a"), new_repo(tmp_path / "b")
    for repo in (a, b):
        repo.import_("coco", path, guideline="v1")
        repo.commit("v1")
    anns = doc["annotations"]
    cats = [c["id"] for c in doc["categories"]]
    plain = [x for x in anns if "keypoints" not in x and x["category_id"] in cats[:2]]
    for ann in plain[::2]:  # relabel between two classes without keypoints
        ann["category_id"] = cats[1] if ann["category_id"] == cats[0] else cats[0]
    gone_image = anns[4]["image_id"]
    doc["annotations"] = [
        x for i, x in enumerate(anns) if i % 7 != 3 and x["image_id"] != gone_image
    ]
    extra = copy.deepcopy(anns[2])
    extra["id"] = 999_999
    doc["annotations"].append(extra)  # a new label
    path.write_text(json.dumps(doc))
    parts.clear()
    in_parts = a.import_("coco", path, guideline="v1", part_rows=PART)
    assert len(parts) > 2  # resolved bucket by bucket
    parts.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chunks, "MIN_FILE_BYTES", 1 << 40)  # the one-piece read
        whole = b.import_("coco", path, guideline="v1")
    assert len(parts) == 1
    counts = ("created", "updated", "deleted", "unchanged", "deleted_assets")
    assert [getattr(in_parts, c) for c in counts] == [getattr(whole, c) for c in counts]
    assert in_parts.created == 1 and in_parts.updated > 3 and in_parts.deleted > 3
    assert in_parts.matched_by == whole.matched_by
    assert labels(a) == labels(b)
    assert leftovers(a) == []
    # and the same file once more changes nothing
    again = a.import_("coco", path, guideline="v1", part_rows=PART)
    assert again.txn_id is None and again.unchanged == len(doc["annotations"])


def test_an_id_in_two_parts_is_an_error_naming_it(tmp_path, sliced):
    def repeat(doc):
        doc["annotations"][-1]["id"] = doc["annotations"][0]["id"]

    path = many(tmp_path, change=repeat)
    repo = new_repo(tmp_path / "r")
    before = staged(repo)
    with pytest.raises(InputError) as err:
        repo.import_("coco", path, guideline="v1", part_rows=PART)
    first_id = json.loads(path.read_text())["annotations"][0]["id"]
    assert (err.value.record, err.value.field) == (f"annotation {first_id}", "id")
    assert "used twice" in str(err.value)
    assert staged(repo) == before and leftovers(repo) == []
    # lenient: the file is read whole, which drops the second use, as a whole read does
    lenient = repo.import_("coco", path, guideline="v1", part_rows=PART, strict=False)
    assert [(s.record, s.field) for s in lenient.skipped] == [(f"annotation {first_id}", "id")]
    assert lenient.created == len(json.loads(path.read_text())["annotations"]) - 1


def test_a_bad_record_in_a_later_part_stages_nothing(tmp_path, sliced, parts):
    def bad(doc):
        doc["annotations"][-3]["bbox"] = [1.0, 2.0, -3.0, 4.0]

    path = many(tmp_path, change=bad)
    bad_id = json.loads(path.read_text())["annotations"][-3]["id"]
    repo = new_repo(tmp_path / "r")
    before = staged(repo)
    with pytest.raises(InputError) as err:
        repo.import_("coco", path, guideline="v1", part_rows=PART)
    assert (err.value.record, err.value.field) == (f"annotation {bad_id}", "bbox")
    assert len(parts) > 2  # earlier parts were resolved: none of them is staged
    assert staged(repo) == before and leftovers(repo) == []
    lenient = repo.import_("coco", path, guideline="v1", part_rows=PART, strict=False)
    assert [(s.record, s.field) for s in lenient.skipped] == [(f"annotation {bad_id}", "bbox")]
    whole = new_repo(tmp_path / "w").import_("coco", path, guideline="v1", strict=False)
    assert lenient.created == whole.created


def test_commit_writes_sorted_row_groups_of_several_transactions(tmp_path, monkeypatch):
    from lineage.store import files

    monkeypatch.setattr(files, "ROW_GROUP", 4)
    monkeypatch.setattr(files, "MIN_ROW_GROUP", 2)
    repo = new_repo(tmp_path / "r")
    a = repo.import_("coco", many(tmp_path, times=2), guideline="v1")
    repo.import_("native", _native(tmp_path, repo), mode="patch")
    result = repo.commit("v1")
    seg = repo.layout.store / f"label_events/{result.segment_id}.parquet"
    meta = pq.ParquetFile(seg).metadata
    assert meta.num_row_groups > 3 and all(
        meta.row_group(i).num_rows <= 4 for i in range(meta.num_row_groups)
    )
    rows = pq.read_table(seg, columns=["label_id", "revision"]).to_pylist()
    keys = [(r["label_id"], r["revision"]) for r in rows]
    assert keys == sorted(keys) and len(keys) == a.created + 1
    assert result.rows["label_events"] == len(keys)


def test_row_groups_are_sized_so_a_lookup_reads_part_of_any_segment():
    from lineage.store.files import MIN_ROW_GROUP, ROW_GROUP, row_group_rows

    assert row_group_rows(1_000_000) == ROW_GROUP  # a large segment: the full size
    assert row_group_rows(10_000) < 10_000 / 2  # a 1 % edit: several groups, not one
    assert row_group_rows(10) == MIN_ROW_GROUP  # tiny: one group, no smaller


def _native(tmp_path: Path, repo: Repo) -> Path:
    """A native file relabelling one label (its second revision)."""
    with repo.at(None) as snap:
        lid = snap.con.sql("SELECT min(label_id) FROM labels").fetchall()[0][0]
    path = tmp_path / "edit.jsonl"
    path.write_text(json.dumps({"label_id": lid, "asset_id": "x", "class_name": "car"}) + "\n")
    return path


def test_temp_files_of_a_killed_process_are_removed_by_the_next_write(tmp_path):
    # an import killed while its events wait in .lineage/tmp leaves them there: the
    # next write removes them (not those of a process still running)
    import os

    repo = new_repo(tmp_path / "r")
    dead = repo.layout.work / "tmp" / "q999999999-abc"  # above any pid the kernel gives
    live = repo.layout.work / "tmp" / f"q{os.getpid()}-abc"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "t1-label_events.parquet").write_bytes(b"x" * 100)
    repo.import_("coco", INSTANCES, guideline="v1")
    assert not dead.exists() and live.exists()
    assert "removed temp files left by a killed process" in repo.notes


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools vs NumPy 2
def test_coco_export_in_small_batches_is_the_same_file(tmp_path, monkeypatch):
    from pycocotools.coco import COCO

    from lineage.formats.base import LabelSource
    from lineage.formats.coco import writer

    repo = new_repo(tmp_path / "r")
    repo.import_("coco", many(tmp_path, times=3), guideline="v1", annotator="ann-1")
    repo.commit("v1")

    def whole_table(labels):
        raise AssertionError("Repo.export must stream COCO, not hand over the whole table")

    monkeypatch.setattr(LabelSource, "of", whole_table)
    whole = repo.export("coco", tmp_path / "whole.json", pseudonymize_key=b"k")
    monkeypatch.setattr(writer, "BATCH", 4)  # many batches, each read and written in turn
    batched = repo.export("coco", tmp_path / "batched.json", pseudonymize_key=b"k")
    assert batched.labels == whole.labels > 4 * 4
    assert (tmp_path / "batched.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    coco = COCO(str(tmp_path / "batched.json"))  # the oracle loads it
    doc = json.loads(many(tmp_path, times=3).read_text())
    assert sorted(coco.anns) == sorted(a["id"] for a in doc["annotations"])  # ids kept
    assert {a["annotator_id"] for a in coco.anns.values()} != {"ann-1"}  # pseudonymised


def test_coco_export_numbers_annotations_across_batches(tmp_path, monkeypatch):
    # labels without a COCO id among them: 1..N in label order, running on from one
    # batch to the next
    from lineage.formats.coco import writer

    def no_ids(doc):
        for a in doc["annotations"][::2]:
            del a["id"]

    repo = new_repo(tmp_path / "r")
    r = repo.import_("coco", many(tmp_path, times=2, change=no_ids), guideline="v1")
    repo.commit("v1")
    monkeypatch.setattr(writer, "BATCH", 3)
    repo.export("coco", tmp_path / "out.json")
    ids = [a["id"] for a in json.loads((tmp_path / "out.json").read_text())["annotations"]]
    assert ids == list(range(1, r.created + 1))


IMPORT_IN_PARTS = """
import sys
from lineage import Repo
from lineage.formats.coco import chunks
chunks.MIN_FILE_BYTES, chunks.CHUNK_BYTES = 0, 300
Repo.open(sys.argv[1]).import_("coco", sys.argv[2], guideline="v1", part_rows=9)
"""


def test_sigkill_during_an_import_in_parts_stages_nothing_or_all(tmp_path):
    # killed at random moments: the staged state is before or after, never a part of
    # the file; the next write removes the temp files and works without repair
    import random
    import signal
    import subprocess
    import sys
    import time

    path = many(tmp_path, times=20)
    n_labels = len(json.loads(path.read_text())["annotations"])
    root = tmp_path / "r"
    new_repo(root).commit("guideline")
    cmd = [sys.executable, "-c", IMPORT_IN_PARTS, str(root), str(path)]
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    took = time.monotonic() - start
    repo = Repo.open(root)
    assert repo.discard() == 1
    rng = random.Random(5)
    killed = mid_parts = 0
    for _ in range(6):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(0.3, 0.9) * took)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
        repo = Repo.open(root)
        with repo.at(None) as snap:
            live = snap.con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
        assert live in (0, n_labels)  # nothing of the file, or all of it
        mid_parts += bool(leftovers(repo))  # killed while parts were written
        repo.discard()
        repo.import_("coco", INSTANCES, guideline="v1", mode="patch", dry_run=True)
        repo.add_guideline("v2", classes=["car"])  # a write: cleans up after the killed one
        assert leftovers(repo) == []
        repo.discard()
    assert killed >= 2 and mid_parts >= 1  # the kills did land inside the parts
    assert Repo.open(root).verify().ok
