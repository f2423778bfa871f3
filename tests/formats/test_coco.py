"""COCO: the format contract, the awkward real-world cases, bad input, and
pycocotools as the oracle for what an exported file means."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from lineage.errors import InputError
from lineage.formats import coco
from lineage.formats.base import ExportOptions, ImportOptions, canonical_json, incoming_schema
from lineage.formats.coco import chunks
from lineage.formats.coco.attributes import float_reprs
from lineage.formats.pseudonym import pseudonym
from tests.formats.contract import FIXTURES, FormatContract, batch_to_export

INSTANCES = FIXTURES / "coco" / "instances.json"
RESULTS = FIXTURES / "coco" / "results.json"


class TestCocoContract(FormatContract):
    format = "coco"
    fixture = "instances.json"
    roundtrip_columns = [*FormatContract.roundtrip_columns, "external_id", "attributes"]


# --------------------------------------------------------------------------- helpers


def fixture_doc() -> dict:
    return json.loads(INSTANCES.read_text())


def write_doc(tmp_path: Path, doc, name: str = "coco.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))  # json (not orjson) so NaN / Infinity can be written
    return path


def by_id(batch) -> dict[str, dict]:
    return {r["external_id"]: r for r in batch.labels.to_pylist()}


def quiet_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def export(batch, out: Path, options: ExportOptions | None = None):
    return coco.write(batch_to_export(batch), out, options or ExportOptions())


# --------------------------------------------------------------------------- reading


def test_shapes_follow_the_geometry_present():
    rows = by_id(coco.read(INSTANCES, ImportOptions()))
    assert rows["101"]["shape"] == "keypoints"  # visible keypoints win ...
    assert rows["101"]["polygon"] == [
        [12.5, 5.0, 28.0, 5.5, 29.0, 40.25, 13.0, 41.0]
    ]  # ... polygon stays
    assert len(rows["102"]["polygon"]) == 2 and rows["102"]["shape"] == "polygon"
    assert rows["900100000011"]["shape"] == "mask"  # iscrowd RLE, uncompressed counts
    assert rows["104"]["shape"] == "mask"  # compressed counts
    assert rows["105"]["shape"] == "box" and rows["105"]["polygon"] is None
    # keypoints all v=0: still kept on the row, but the shape is the polygon
    assert rows["106"]["shape"] == "polygon" and rows["106"]["keypoints"] == [0.0] * 51


def test_keypoints_keep_visibility_and_count():
    row = by_id(coco.read(INSTANCES, ImportOptions()))["101"]
    assert row["keypoints"][:12] == [20, 8, 2, 21, 7, 2, 19, 7, 1, 0, 0, 0]
    assert json.loads(row["attributes"]) == {"area": 557.25, "iscrowd": 0, "num_keypoints": 6}


def test_masks_decode_to_what_pycocotools_decodes():
    src = {a["id"]: a for a in fixture_doc()["annotations"]}
    rows = by_id(coco.read(INSTANCES, ImportOptions()))
    for ann_id in (900100000011, 104):
        seg = src[ann_id]["segmentation"]
        h, w = seg["size"]
        rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
        expected = mask_utils.decode(rle)
        rle = rows[str(ann_id)]["mask_rle"]
        assert (rle["height"], rle["width"]) == (h, w)
        got = mask_utils.decode({"size": [h, w], "counts": rle["counts"]})
        assert np.array_equal(got, expected)


def test_area_iscrowd_and_tool_attributes_kept():
    rows = by_id(coco.read(INSTANCES, ImportOptions()))
    assert json.loads(rows["900100000011"]["attributes"]) == {"area": 500, "iscrowd": 1}
    # CVAT writes an "attributes" object per annotation: merged into attributes
    assert json.loads(rows["107"]["attributes"]) == {
        "area": 80.0,
        "breed": "beagle",
        "iscrowd": 0,
        "occluded": True,
        "rotation": 0.0,
    }


def test_attributes_are_canonical_json():
    for row in coco.read(INSTANCES, ImportOptions()).labels.to_pylist():
        assert row["attributes"] == canonical_json(json.loads(row["attributes"]))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_bulk_float_format_is_python_repr(value):
    assert float_reprs(np.array([value, 702.0, 1e-5, 1e16]))[0].as_py() == repr(value)


def test_assets_and_categories():
    batch = coco.read(INSTANCES, ImportOptions(extra={"split": "val"}))
    assets = {r["asset_id"]: r for r in batch.assets.to_pylist()}
    assert set(assets) == {
        "street/000010.jpg",
        "street/000011.jpg",
        "park/000012.jpg",
        "park/000013.jpg",  # no annotations, still an asset
    }
    assert assets["street/000010.jpg"]["uri"] == "http://images.example/000010.jpg"
    assert {(a["width"], a["height"], a["split"]) for a in assets.values()} == {(64, 48, "val")}
    cats = {r["class_name"]: r for r in batch.categories.to_pylist()}
    assert {n: c["ordinal"] for n, c in cats.items()} == {
        "person": 1,
        "dog": 18,
        "bottle": 44,
        "toothbrush": 90,
    }
    assert len(cats["person"]["keypoint_names"]) == 17
    assert cats["person"]["skeleton"][0] == [16, 14]
    assert cats["dog"]["supercategory"] == "animal"
    assert batch.stable_ids


def test_a_box_a_few_pixels_outside_is_kept():
    row = by_id(coco.read(INSTANCES, ImportOptions()))["105"]
    assert row["bbox"] == {"x": -2.0, "y": 30.0, "w": 12.0, "h": 10.0}


def test_options_fill_provenance():
    batch = coco.read(INSTANCES, ImportOptions(annotator="alice", guideline="v3", source="human"))
    labels = batch.labels
    assert set(labels.column("annotator_id").to_pylist()) == {"alice"}
    assert set(labels.column("guideline_version").to_pylist()) == {"v3"}
    assert set(labels.column("source").to_pylist()) == {"human"}


def test_provenance_fields_in_the_file_win(tmp_path):
    doc = fixture_doc()
    doc["annotations"][0].update(
        annotator_id="u17",
        source="assisted",
        model_version="det-2.1",
        guideline_version="v2",
        created_at="2024-03-01T12:00:00Z",
        label_id="00000000000000aa",
        revision=4,
    )
    batch = coco.read(
        write_doc(tmp_path, doc), ImportOptions(annotator="alice", annotator_map={"u17": "bob"})
    )
    row = by_id(batch)["101"]
    assert row["annotator_id"] == "bob"
    assert (row["source"], row["model_version"], row["guideline_version"]) == (
        "assisted",
        "det-2.1",
        "v2",
    )
    assert row["created_at"] == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert row["label_id"] == "00000000000000aa"
    assert "revision" not in json.loads(row["attributes"])  # the store numbers revisions
    assert by_id(batch)["102"]["annotator_id"] == "alice"


def test_images_without_any_annotation(tmp_path):
    doc = fixture_doc()
    doc["annotations"] = []
    batch = coco.read(write_doc(tmp_path, doc), ImportOptions())
    assert batch.labels.num_rows == 0 and batch.assets.num_rows == 4
    assert batch.labels.schema.equals(incoming_schema("label_events"))
    out = export(batch, tmp_path / "out").files[0]
    assert len(quiet_coco(out).imgs) == 4


def test_folder_is_read_through_its_json(tmp_path):
    (tmp_path / "annotations").mkdir()
    write_doc(tmp_path / "annotations", fixture_doc(), "instances_val.json")
    assert coco.read(tmp_path, ImportOptions()).labels.num_rows == 7


# --------------------------------------------------------------------------- results


def test_results_file_is_model_output():
    batch = coco.read(RESULTS, ImportOptions(extra={"annotations": str(INSTANCES)}))
    labels = batch.labels.to_pylist()
    assert [r["score"] for r in labels] == [0.97, 0.42, 0.88]
    assert {r["source"] for r in labels} == {"model"}
    assert [r["shape"] for r in labels] == ["box", "box", "mask"]
    assert not batch.stable_ids  # no ids: matched by IoU
    assert len(batch.source_files) == 2


def test_results_source_option_wins():
    options = ImportOptions(source="assisted", extra={"annotations": str(INSTANCES)})
    assert set(coco.read(RESULTS, options).labels.column("source").to_pylist()) == {"assisted"}


def test_results_without_bbox_get_the_mask_envelope(tmp_path):
    results = json.loads(RESULTS.read_text())
    del results[2]["bbox"]
    path = write_doc(tmp_path, results, "res.json")
    row = coco.read(path, ImportOptions(extra={"annotations": str(INSTANCES)})).labels.to_pylist()[
        2
    ]
    x, y, w, h = mask_utils.toBbox(results[2]["segmentation"])
    assert row["bbox"] == {"x": x, "y": y, "w": w, "h": h}


def test_results_without_bbox_get_the_polygon_or_keypoint_envelope(tmp_path):
    results = [
        {"image_id": 12, "category_id": 18, "score": 0.5, "segmentation": [[1, 2, 9, 2, 5, 7]]},
        {"image_id": 12, "category_id": 18, "score": 0.6, "segmentation": [[3, 3, 4, 3, 4, 4]]},
        {"image_id": 10, "category_id": 1, "score": 0.7, "keypoints": [0] * 3 + [4, 5, 2] * 16},
    ]
    path = write_doc(tmp_path, results, "res.json")
    rows = coco.read(path, ImportOptions(extra={"annotations": str(INSTANCES)})).labels.to_pylist()
    assert [tuple(r["bbox"].values()) for r in rows] == [
        (1.0, 2.0, 8.0, 5.0),
        (3.0, 3.0, 1.0, 1.0),
        (4.0, 5.0, 0.0, 0.0),
    ]
    assert [r["shape"] for r in rows] == ["polygon", "polygon", "keypoints"]


def test_a_record_without_any_geometry_is_bad(tmp_path):
    results = [{"image_id": 12, "category_id": 18, "score": 0.5}]
    path = write_doc(tmp_path, results, "res.json")
    with pytest.raises(InputError) as err:
        coco.read(path, ImportOptions(extra={"annotations": str(INSTANCES)}))
    assert (err.value.record, err.value.field) == ("annotations[0]", "bbox")


def test_results_need_the_ground_truth():
    with pytest.raises(InputError) as err:
        coco.read(RESULTS, ImportOptions())
    assert err.value.file == str(RESULTS)
    assert "ground-truth" in err.value.reason


# --------------------------------------------------------------------------- detection


def test_detect(tmp_path):
    assert coco.detect(INSTANCES) == 0.9
    assert coco.detect(RESULTS) == 0.6
    assert coco.detect(INSTANCES.parent) == 0.9
    other = write_doc(tmp_path, {"items": [], "categories": {}}, "datumaro.json")
    assert coco.detect(other) == 0.0
    (tmp_path / "labels.txt").write_text('{"images": [], "annotations": []}')
    assert coco.detect(tmp_path / "labels.txt") == 0.0


# --------------------------------------------------------------------------- export


def test_export_loads_in_pycocotools_and_matches_the_source(tmp_path):
    batch = coco.read(INSTANCES, ImportOptions())
    result = export(batch, tmp_path / "out")
    assert result.files == [tmp_path / "out" / "annotations.json"] and result.labels == 7
    src, out = quiet_coco(INSTANCES), quiet_coco(result.files[0])
    assert sorted(out.getCatIds()) == [1, 18, 44, 90]  # source category ids kept
    assert out.loadCats(1)[0]["keypoints"] == src.loadCats(1)[0]["keypoints"]
    assert out.loadCats(1)[0]["skeleton"] == src.loadCats(1)[0]["skeleton"]
    # image ids kept, not renumbered
    assert {i: img["file_name"] for i, img in out.imgs.items()} == {
        i: img["file_name"] for i, img in src.imgs.items()
    }
    for i, img in src.imgs.items():
        assert (out.imgs[i]["width"], out.imgs[i]["height"]) == (img["width"], img["height"])
        if img.get("coco_url"):
            assert out.imgs[i]["coco_url"] == img["coco_url"]
    assert set(out.anns) == set(src.anns)  # COCO ids kept
    for ann_id, a in src.anns.items():
        b = out.anns[ann_id]
        assert b["bbox"] == pytest.approx(a["bbox"])
        assert b["area"] == pytest.approx(a["area"])
        assert b["iscrowd"] == a["iscrowd"]
        assert b.get("keypoints") == a.get("keypoints")
        assert b.get("num_keypoints") == a.get("num_keypoints")
        assert out.imgs[b["image_id"]]["file_name"] == src.imgs[a["image_id"]]["file_name"]
        if a["segmentation"]:
            iou = mask_utils.iou([out.annToRLE(b)], [src.annToRLE(a)], [0])
            assert iou[0][0] == pytest.approx(1.0)


def test_export_writes_provenance_and_reads_it_back(tmp_path):
    batch = coco.read(INSTANCES, ImportOptions(annotator="alice", guideline="v3"))
    path = export(batch, tmp_path / "export.json").files[0]
    assert path == tmp_path / "export.json"
    ann = json.loads(path.read_text())["annotations"][0]
    assert ann["annotator_id"] == "alice" and ann["guideline_version"] == "v3"
    assert ann["revision"] == 1 and len(ann["label_id"]) == 16
    again = by_id(coco.read(path, ImportOptions()))
    first = by_id(batch)
    for key in first:
        assert again[key]["annotator_id"] == "alice"
        assert again[key]["attributes"] == first[key]["attributes"]
        assert again[key]["label_id"] is not None


def test_export_pseudonymizes_annotators(tmp_path):
    batch = coco.read(INSTANCES, ImportOptions(annotator="alice"))
    path = export(batch, tmp_path / "e.json", ExportOptions(pseudonymize_key=b"k")).files[0]
    ids = {a["annotator_id"] for a in json.loads(path.read_text())["annotations"]}
    assert ids == {pseudonym("alice", b"k")}


def test_export_leaves_out_classification_labels(tmp_path):
    data = batch_to_export(coco.read(INSTANCES, ImportOptions()))
    labels = data.labels
    shapes = labels.column("shape").to_pylist()
    shapes[0] = "classification"
    data.labels = labels.set_column(
        labels.schema.get_field_index("shape"), "shape", pa.array(shapes, pa.string())
    )
    result = coco.write(data, tmp_path / "out", ExportOptions())
    assert result.labels == 6
    assert any("1 classification" in note for note in result.notes)
    assert len(quiet_coco(result.files[0]).anns) == 6


def test_export_numbers_categories_without_source_ids(tmp_path):
    data = batch_to_export(coco.read(INSTANCES, ImportOptions()))
    cats = data.categories
    data.categories = cats.set_column(
        cats.schema.get_field_index("ordinal"), "ordinal", pa.nulls(cats.num_rows, pa.int32())
    )
    out = quiet_coco(coco.write(data, tmp_path / "o", ExportOptions()).files[0])
    assert {c["name"]: c["id"] for c in out.dataset["categories"]} == {
        "bottle": 1,
        "dog": 2,
        "person": 3,
        "toothbrush": 4,
    }


# --------------------------------------------------------------------------- bad input


def mutate(change):
    def build():
        doc = fixture_doc()
        change(doc)
        return doc

    return build


def ann(doc, ann_id):
    return next(a for a in doc["annotations"] if a["id"] == ann_id)


BAD = {
    "image_not_listed": (
        mutate(lambda d: ann(d, 102).update(image_id=999)),
        "annotation 102",
        "image_id",
    ),
    "unknown_category": (
        mutate(lambda d: ann(d, 102).update(category_id=2)),
        "annotation 102",
        "category_id",
    ),
    "bbox_negative_width": (
        mutate(lambda d: ann(d, 105).update(bbox=[1.0, 2.0, -3.0, 4.0])),
        "annotation 105",
        "bbox",
    ),
    "bbox_far_outside": (
        mutate(lambda d: ann(d, 105).update(bbox=[200.0, 2.0, 10.0, 4.0])),
        "annotation 105",
        "bbox",
    ),
    "bbox_not_four_numbers": (
        mutate(lambda d: ann(d, 105).update(bbox=[1.0, 2.0, 3.0])),
        "annotation 105",
        "bbox",
    ),
    "bbox_nan": (
        mutate(lambda d: ann(d, 105).update(bbox=[1.0, math.nan, 3.0, 4.0])),
        "annotation 105",
        "bbox",
    ),
    "bbox_string": (
        mutate(lambda d: ann(d, 105).update(bbox=[1.0, "2", 3.0, 4.0])),
        "annotation 105",
        "bbox",
    ),
    "polygon_two_points": (
        mutate(lambda d: ann(d, 102)["segmentation"].append([1.0, 1.0, 5.0, 5.0])),
        "annotation 102",
        "segmentation",
    ),
    "polygon_odd_coordinates": (
        mutate(
            lambda d: ann(d, 107).update(segmentation=[[20.0, 20.0, 30.0, 20.0, 30.0, 28.0, 20.0]])
        ),
        "annotation 107",
        "segmentation",
    ),
    "polygon_flat_list": (
        mutate(lambda d: ann(d, 107).update(segmentation=[20.0, 20.0, 30.0, 20.0, 30.0, 28.0])),
        "annotation 107",
        "segmentation",
    ),
    "polygon_infinity": (
        mutate(lambda d: ann(d, 107)["segmentation"][0].__setitem__(3, math.inf)),
        "annotation 107",
        "segmentation",
    ),
    "rle_size_mismatch": (
        mutate(lambda d: ann(d, 104)["segmentation"].update(size=[64, 48])),
        "annotation 104",
        "segmentation.size",
    ),
    "rle_counts_do_not_cover_the_image": (
        mutate(lambda d: ann(d, 900100000011)["segmentation"]["counts"].append(7)),
        "annotation 900100000011",
        "segmentation.counts",
    ),
    "rle_bad_compressed_counts": (
        mutate(lambda d: ann(d, 104)["segmentation"].update(counts="U]1:V1")),
        "annotation 104",
        "segmentation.counts",
    ),
    "keypoint_count": (
        mutate(lambda d: ann(d, 101).update(keypoints=ann(d, 101)["keypoints"][:-3])),
        "annotation 101",
        "keypoints",
    ),
    "keypoints_on_a_category_without_names": (
        mutate(lambda d: ann(d, 102).update(keypoints=[1, 2, 2])),
        "annotation 102",
        "keypoints",
    ),
    "keypoint_visibility_3": (
        mutate(lambda d: ann(d, 101)["keypoints"].__setitem__(2, 3)),
        "annotation 101",
        "keypoints",
    ),
    "keypoint_nan": (
        mutate(lambda d: ann(d, 101)["keypoints"].__setitem__(0, math.nan)),
        "annotation 101",
        "keypoints",
    ),
    "area_not_a_number": (
        mutate(lambda d: ann(d, 102).update(area="big")),
        "annotation 102",
        "area",
    ),
    "area_nan": (
        mutate(lambda d: ann(d, 102).update(area=math.nan)),
        "annotation 102",
        "area",
    ),
    "iscrowd_not_0_or_1": (
        mutate(lambda d: ann(d, 102).update(iscrowd=2)),
        "annotation 102",
        "iscrowd",
    ),
    "score_infinite": (
        mutate(lambda d: ann(d, 102).update(score=math.inf)),
        "annotation 102",
        "score",
    ),
    "duplicate_annotation_id": (
        mutate(lambda d: ann(d, 107).update(id=102)),
        "annotation 102",
        "id",
    ),
    "bad_source": (
        mutate(lambda d: ann(d, 102).update(source="robot")),
        "annotation 102",
        "source",
    ),
    "bad_created_at": (
        mutate(lambda d: ann(d, 102).update(created_at="yesterday")),
        "annotation 102",
        "created_at",
    ),
    "annotation_not_an_object": (
        mutate(lambda d: d["annotations"].insert(0, [1, 2])),
        "annotations[0]",
        None,
    ),
    "image_without_file_name": (
        mutate(lambda d: d["images"][3].pop("file_name")),
        "image 13",
        "file_name",
    ),
    "image_negative_width": (
        mutate(lambda d: d["images"][3].update(width=-1)),
        "image 13",
        "width",
    ),
    "duplicate_image_id": (
        mutate(lambda d: d["images"][3].update(id=10)),
        "image 10",
        "id",
    ),
    "skeleton_out_of_range": (
        mutate(lambda d: d["categories"][0]["skeleton"].append([1, 18])),
        "category 1",
        "skeleton",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD), ids=sorted(BAD))
def test_bad_record_names_file_record_and_field(tmp_path, case):
    build, record, field = BAD[case]
    path = write_doc(tmp_path, build())
    with pytest.raises(InputError) as err:
        coco.read(path, ImportOptions())
    assert (err.value.file, err.value.record, err.value.field) == (str(path), record, field)


@pytest.mark.parametrize(
    ("doc", "field"),
    [({"annotations": [], "categories": []}, "images"), ({"images": []}, "annotations")],
    ids=["no_images", "no_annotations"],
)
def test_missing_sections(tmp_path, doc, field):
    path = write_doc(tmp_path, doc)
    with pytest.raises(InputError) as err:
        coco.read(path, ImportOptions())
    assert (err.value.file, err.value.record, err.value.field) == (str(path), None, field)


def test_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"images": [,], "annotations": []}')
    with pytest.raises(InputError) as err:
        coco.read(path, ImportOptions())
    assert (err.value.file, err.value.record, err.value.field) == (str(path), None, None)
    assert "line 1, column 13" in err.value.reason


def test_truncated_json(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(INSTANCES.read_text()[:2000])
    with pytest.raises(InputError) as err:
        coco.read(path, ImportOptions())
    assert err.value.file == str(path) and "not valid JSON" in err.value.reason
    assert "line" in err.value.reason


def test_lenient_keeps_good_records_and_reports_bad_ones(tmp_path):
    doc = fixture_doc()
    ann(doc, 102).update(category_id=2)
    ann(doc, 105).update(bbox=[1.0, 2.0, -3.0, 4.0])
    ann(doc, 107)["segmentation"][0] = [1.0, 2.0, 3.0]
    ann(doc, 101)["keypoints"][2] = 5
    batch = coco.read(write_doc(tmp_path, doc), ImportOptions(strict=False))
    assert sorted(batch.labels.column("external_id").to_pylist()) == ["104", "106", "900100000011"]
    assert sorted((s.record, s.field) for s in batch.skipped) == [
        ("annotation 101", "keypoints"),
        ("annotation 102", "category_id"),
        ("annotation 105", "bbox"),
        ("annotation 107", "segmentation"),
    ]
    # the kept rows are intact (columns stay aligned after dropping rows)
    rows = by_id(batch)
    assert rows["106"]["polygon"] == [[2.0, 2.0, 10.0, 2.0, 10.0, 12.0, 2.0, 12.0]]
    assert rows["104"]["class_name"] == "bottle"


def test_lenient_rolls_back_a_half_read_record(tmp_path):
    doc = fixture_doc()
    # polygon read, then the keypoints fail: the polygon must not shift the next rows
    ann(doc, 102)["keypoints"] = [1, "x", 2]
    batch = coco.read(write_doc(tmp_path, doc), ImportOptions(strict=False))
    assert [(s.record, s.field) for s in batch.skipped] == [("annotation 102", "keypoints")]
    source = {str(a["id"]): a for a in fixture_doc()["annotations"]}
    for key, row in by_id(batch).items():
        assert (row["polygon"] or []) == (
            source[key]["segmentation"] if isinstance(source[key]["segmentation"], list) else []
        )


def test_many_records_keep_columns_aligned(tmp_path):
    doc = fixture_doc()
    base = copy.deepcopy(doc["annotations"])
    doc["annotations"] = []
    for k in range(300):
        for a in base:
            doc["annotations"].append({**a, "id": k * 10**13 + a["id"]})
    batch = coco.read(write_doc(tmp_path, doc), ImportOptions())
    assert batch.labels.num_rows == 300 * len(base)
    counts = batch.labels.group_by("shape").aggregate([("shape", "count")]).to_pylist()
    assert {c["shape"]: c["shape_count"] for c in counts} == {
        "keypoints": 300,
        "polygon": 900,
        "mask": 600,
        "box": 300,
    }


# --------------------------------------------------------------------------- large files


@pytest.fixture
def slices(monkeypatch):
    """Make every file take the sliced (bounded-memory) parse, in slices of ~300 bytes."""
    monkeypatch.setattr(chunks, "MIN_FILE_BYTES", 0)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 300)


def test_sliced_parse_gives_the_same_batch(slices):
    sliced = coco.read(INSTANCES, ImportOptions())
    sliced_file = chunks.Chunked(INSTANCES, 300)
    assert len(sliced_file.bounds) > 3  # really cut in several slices
    sliced_file.close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chunks, "MIN_FILE_BYTES", 1 << 40)
        whole = coco.read(INSTANCES, ImportOptions())
    assert sliced.labels.equals(whole.labels)
    assert sliced.assets.equals(whole.assets) and sliced.categories.equals(whole.categories)


def test_cuts_found_in_small_windows_are_the_same(slices, monkeypatch):
    # the scan for cuts goes through the file a window at a time (releasing each): with
    # windows far smaller than a slice, the cuts and the batch are the same
    whole_scan = chunks.Chunked(INSTANCES, 300)
    monkeypatch.setattr(chunks, "_WINDOW", 97)
    monkeypatch.setattr(chunks, "_OVERLAP", 16)
    windowed = chunks.Chunked(INSTANCES, 300)
    assert windowed.bounds == whole_scan.bounds and len(windowed.bounds) > 3
    assert list(windowed.annotations()) == list(whole_scan.annotations())
    whole_scan.close()
    windowed.close()


@pytest.mark.parametrize(
    "change",
    [
        # a cut lands inside a string holding "},{": the slice does not parse
        lambda d: ann(d, 102).update(note="x" * 200 + "},{" + "y" * 400),
        # a list of objects inside an annotation: "}]" is not the array end
        lambda d: ann(d, 104).update(parts=[{"a": 1}, {"b": 2}]),
        # an "annotations" key nested before the top-level one
        lambda d: d["images"][0].update(annotations=[{"id": 1}]),
    ],
    ids=["cut_in_string", "nested_object_list", "nested_annotations_key"],
)
def test_sliced_parse_falls_back_when_a_cut_is_wrong(tmp_path, slices, change):
    doc = fixture_doc()
    change(doc)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(chunks.SplitFailed):  # the sliced parse notices ...
        sliced = chunks.Chunked(path, 300)
        try:
            list(sliced.annotations())
        finally:
            sliced.close()
    batch = coco.read(path, ImportOptions())  # ... and the reader falls back to a whole parse
    assert batch.labels.num_rows == 7
    assert by_id(batch)["104"]["mask_rle"] is not None


def test_sliced_parse_reports_bad_records_by_global_index(tmp_path, slices):
    doc = fixture_doc()
    doc["annotations"][5]["id"] = None
    doc["annotations"][5]["bbox"] = [1.0, 2.0, -3.0, 4.0]
    path = write_doc(tmp_path, doc)
    with pytest.raises(InputError) as err:
        coco.read(path, ImportOptions())
    assert (err.value.record, err.value.field) == ("annotations[5]", "bbox")


def _many_with_bad_records() -> dict:
    """The fixture's annotations ten times over (new ids), with bad records spread over
    the slices: named by id, and by position (no id)."""
    doc = fixture_doc()
    anns = []
    for k in range(10):
        for a in copy.deepcopy(doc["annotations"]):
            a["id"] = 1000 * (k + 1) + a["id"]
            anns.append(a)
    anns[3]["image_id"] = 999  # unknown image, named by id
    anns[31]["id"], anns[31]["category_id"] = None, 999  # by position
    anns[-2]["id"], anns[-2]["bbox"] = None, [1, 2]  # the last slice, by position
    anns[47]["segmentation"] = "nope"
    doc["annotations"] = anns
    return doc


def test_slices_read_in_workers_equal_one_process(tmp_path, slices, monkeypatch):
    # lenient: the same labels and the same skipped records, in file order, with
    # positional names counted over the whole file; strict: the first in file order
    from lineage.formats.coco import workers

    path = write_doc(tmp_path, _many_with_bad_records())
    sliced = chunks.Chunked(path, 300)
    assert len(sliced.bounds) > 10 and workers.workers(len(sliced.bounds)) >= 2
    sliced.close()
    lenient = ImportOptions(strict=False)
    parallel = coco.read(path, lenient)
    with pytest.raises(InputError) as first:
        coco.read(path, ImportOptions())
    monkeypatch.setattr(workers, "workers", lambda slices: 1)
    alone = coco.read(path, lenient)
    assert parallel.labels.equals(alone.labels)
    assert parallel.skipped == alone.skipped
    anns = _many_with_bad_records()["annotations"]
    n = len(anns)
    assert [(s.record, s.field) for s in parallel.skipped] == [
        (f"annotation {anns[3]['id']}", "image_id"),
        ("annotations[31]", "category_id"),
        (f"annotation {anns[47]['id']}", "segmentation"),
        (f"annotations[{n - 2}]", "bbox"),
    ]
    assert (first.value.record, first.value.field) == (
        parallel.skipped[0].record,
        parallel.skipped[0].field,
    )
