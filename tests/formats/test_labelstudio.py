"""Label Studio JSON export: contract, geometry, brush RLE, provenance, bad input, export.

Fixtures: tests/fixtures/labelstudio/export.json holds tasks from the Label Studio docs
("Label Studio JSON format of annotated tasks") and label-studio-converter's test data
(tests/data/test_export_yolo/data_obb.json, the image_polygons / image_keypoints examples),
with brush, review, cancelled and per-region cases added; completions/0.json is a
Label Studio 0.x one-task-per-file export.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from lineage.errors import InputError
from lineage.formats import labelstudio
from lineage.formats.base import ExportOptions, ImportOptions
from lineage.formats.labelstudio import brush
from lineage.formats.labelstudio.assets import asset_id, clean_uri
from tests.formats.contract import FIXTURES, FormatContract, batch_to_export

EXPORT = FIXTURES / "labelstudio" / "export.json"


class TestLabelStudio(FormatContract):
    format = "labelstudio"
    fixture = "export.json"
    roundtrip_columns = FormatContract.roundtrip_columns + ["score", "source", "annotator_id"]


class TestLabelStudioCompletions(FormatContract):
    """Label Studio 0.x: a folder of one-task files with ``completions``."""

    format = "labelstudio"
    fixture = "completions"


# --------------------------------------------------------------------------- helpers


def read(path: Path = EXPORT, **kw) -> object:
    return labelstudio.read(path, ImportOptions(**kw))


def rows(batch, **where) -> list[dict]:
    out = batch.labels.to_pylist()
    return [r for r in out if all(r[k] == v for k, v in where.items())]


def one(batch, **where) -> dict:
    found = rows(batch, **where)
    assert len(found) == 1, found
    return found[0]


def task(results: list[dict], **annotation) -> dict:
    return {
        "id": 7,
        "data": {"image": "/data/upload/1/0123abcd-img.jpg"},
        "annotations": [{"id": 70, "completed_by": 1, "result": results, **annotation}],
    }


def box(rid: str = "r1", **value) -> dict:
    v = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["Car"]}
    v.update(value)
    return {
        "id": rid,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 200,
        "original_height": 100,
        "value": v,
    }


def write_tasks(tmp_path: Path, tasks: list[dict] | str) -> Path:
    path = tmp_path / "export.json"
    path.write_text(tasks if isinstance(tasks, str) else json.dumps(tasks))
    return path


# --------------------------------------------------------------------------- geometry


def test_rectangle_percent_to_pixels_with_rotation():
    label = one(read(), external_id="rot90aaaaa")
    # x 50 % of 597, y 25 % of 768, width 20 % of 597, height 10 % of 768
    assert label["bbox"] == pytest.approx({"x": 298.5, "y": 192.0, "w": 119.4, "h": 76.8})
    assert label["rotation"] == 90.0
    # clockwise about the top-left corner, y down: the far corner lands at (x - h, y + w)
    t = math.radians(label["rotation"])
    b = label["bbox"]
    far = (
        b["x"] + b["w"] * math.cos(t) - b["h"] * math.sin(t),
        b["y"] + b["w"] * math.sin(t) + b["h"] * math.cos(t),
    )
    assert far == pytest.approx((298.5 - 76.8, 192.0 + 119.4))


def test_rotation_from_converter_data_kept_and_unrotated_box_has_null_rotation():
    batch = read()
    obb = one(batch, external_id="veUGPaahTw")
    assert obb["rotation"] == pytest.approx(328.33240366032836)
    assert obb["bbox"]["x"] == pytest.approx(10.537066764905694 * 5.97)
    assert obb["bbox"]["h"] == pytest.approx(8.132522043893883 * 7.68)
    assert one(batch, external_id="Dx_aB91ISN")["rotation"] is None


def test_polygon_points_to_pixels_and_envelope():
    label = one(read(), external_id="XSMXwwsaTa")
    assert label["shape"] == "polygon"
    expected = [
        27.2 * 5.97,
        41.2 * 7.68,
        25.7 * 5.97,
        70.6 * 7.68,
        48.1 * 5.97,
        62.6 * 7.68,
        48.1 * 5.97,
        32.9 * 7.68,
    ]
    assert label["polygon"] == [pytest.approx(expected)]
    assert label["bbox"] == pytest.approx(
        {"x": 25.7 * 5.97, "y": 32.9 * 7.68, "w": (48.1 - 25.7) * 5.97, "h": (70.6 - 32.9) * 7.68}
    )


def test_open_polygon_is_a_polyline(tmp_path):
    poly = {
        "id": "p1",
        "type": "polygonlabels",
        "original_width": 100,
        "original_height": 100,
        "value": {
            "points": [[0, 0], [50, 0], [50, 50]],
            "closed": False,
            "polygonlabels": ["Road"],
        },
    }
    label = read(write_tasks(tmp_path, [task([poly])])).labels.to_pylist()[0]
    assert label["shape"] == "polyline"


def test_keypoints_become_single_point_labels():
    batch = read()
    head = one(batch, external_id="hqudA4A3U4")
    assert head["shape"] == "points" and head["class_name"] == "Head"
    assert head["polygon"] == [pytest.approx([49.6 * 5.97, 52.340425531914896 * 7.68])]
    assert head["bbox"]["w"] == 0 and head["keypoints"] is None


def test_several_choices_give_one_classification_each():
    found = rows(read(), shape="classification")
    assert {(r["class_name"], r["external_id"]) for r in found} == {
        ("outdoor", "cls0000001#outdoor"),
        ("daylight", "cls0000001#daylight"),
    }
    assert all(r["bbox"] is None for r in found)


def test_per_region_answers_merge_into_the_labels_attributes():
    batch = read()
    attrs = json.loads(one(batch, external_id="rot90aaaaa")["attributes"])
    assert attrs["note"] == ["left wing torn"]
    assert attrs["occlusion"] == ["partial"]
    assert attrs["ls_types"] == {"note": "textarea", "occlusion": "choices"}
    assert attrs["from_name"] == "label" and attrs["to_name"] == "image"
    assert len(rows(batch, asset_id="butterfly.jpg", shape="box")) == 2  # not extra labels


# --------------------------------------------------------------------------- brush RLE


def test_brush_encoder_matches_label_studio_converter_vector():
    # label-studio-converter tests/test_brush.py::test_rle_encoding
    values = [1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 4, 4, 4, 4, 4, 4, 4, 4]
    expected = [0, 0, 0, 18, 57, 27, 252, 96, 32, 1, 0, 6, 0, 40, 0, 192, 3, 128, 17, 56, 32]
    assert brush.encode(values) == expected
    assert brush.decode(expected).tolist() == values


def test_brush_region_decodes_to_the_known_mask_as_coco_rle():
    mask = np.zeros((16, 24), bool)
    mask[3:12, 5:20] = True
    mask[6:9, 10:14] = False
    label = one(read(), external_id="brush00001")
    rle = label["mask_rle"]
    assert (rle["height"], rle["width"]) == (16, 24)
    coco = {"size": [16, 24], "counts": rle["counts"].encode()}
    np.testing.assert_array_equal(mask_utils.decode(coco).astype(bool), mask)
    assert (
        rle["counts"]
        == mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode()
    )
    assert label["bbox"] == {"x": 5.0, "y": 3.0, "w": 15.0, "h": 9.0}


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0, 1),
)
def test_brush_round_trip_random_masks(h, w, seed, density):
    mask = np.random.default_rng(seed).random((h, w)) < density
    np.testing.assert_array_equal(brush.to_mask(brush.from_mask(mask), h, w), mask)


def test_brush_long_runs_over_65536_values():
    mask = np.zeros((300, 300), bool)  # 360000 equal values: several 2**16 chunks
    mask[299, 299] = True
    np.testing.assert_array_equal(brush.to_mask(brush.from_mask(mask), 300, 300), mask)


def test_brush_of_wrong_length_is_reported(tmp_path):
    rle = brush.from_mask(np.ones((10, 10), bool))
    region = {
        "id": "b1",
        "type": "brushlabels",
        "original_width": 20,
        "original_height": 10,
        "value": {"format": "rle", "rle": rle, "brushlabels": ["Cell"]},
    }
    path = write_tasks(tmp_path, [task([region])])
    with pytest.raises(InputError) as err:
        read(path)
    assert err.value.field == "value.rle" and "region b1" in err.value.record
    assert "expected 800" in err.value.reason


def test_truncated_brush_stream_is_an_input_error(tmp_path):
    rle = brush.from_mask(np.eye(10, dtype=bool))[:-5]
    region = {
        "id": "b2",
        "type": "brushlabels",
        "original_width": 10,
        "original_height": 10,
        "value": {"format": "rle", "rle": rle, "brushlabels": ["Cell"]},
    }
    with pytest.raises(InputError, match="ends early"):
        read(write_tasks(tmp_path, [task([region])]))


# --------------------------------------------------------------------------- provenance


def test_annotators_per_annotation_and_annotator_map():
    batch = read(annotator_map={"10": "alice", "bob@example.com": "bob"})
    human = rows(batch, asset_id="1.jpg", model_version=None)
    assert {r["annotator_id"] for r in human} == {"alice"}
    assisted = one(batch, asset_id="1.jpg", source="assisted")
    assert assisted["annotator_id"] == "bob"
    kinds = {a["annotator_id"]: a["kind"] for a in batch.annotators.to_pylist()}
    assert kinds["alice"] == "human" and kinds["bob"] == "human"
    assert kinds["model 1"] == "model" and kinds["model 2"] == "model"


def test_times_and_lead_time_and_ground_truth():
    batch = read()
    label = one(batch, external_id="Dx_aB91ISN")
    assert (
        label["created_at"].isoformat() == "2021-03-09T22:16:08.728378+00:00"
    )  # updated_at, later
    assert json.loads(label["attributes"])["lead_time"] == 4.288
    assert "gold" not in json.loads(label["attributes"])
    gold = rows(batch, asset_id="butterfly.jpg")
    assert gold and all(json.loads(r["attributes"])["gold"] is True for r in gold)


def test_cancelled_annotation_is_skipped_and_reported():
    batch = read()
    assert all(r["annotator_id"] != "1" for r in rows(batch, asset_id="img_004.jpg"))
    skipped = {s.record: s.reason for s in batch.skipped}
    assert "cancelled" in skipped["task 4, annotation 4001"]
    assert "textarea" in skipped["task 4, annotation 4002, region txt0000001"]
    assert any("draft" in n for n in batch.notes)


def test_predictions_are_model_labels_with_version_and_score():
    batch = read()
    m1 = one(batch, source="model", model_version="model 1")
    m2 = one(batch, source="model", model_version="model 2")
    assert m1["annotator_id"] == "model 1" and m1["score"] == 0.87  # the result's score
    assert m2["score"] == 0.5  # else the prediction's
    assert m1["external_id"] == "t5sp3TyXPo@model:model 1"
    assert m2["external_id"] == "t5sp3TyXPo@model:model 2"


def test_annotation_from_parent_prediction_is_assisted():
    label = one(read(), source="assisted")
    assert label["model_version"] == "model 1"
    assert label["external_id"] == "t5sp3TyXPo"
    assert label["score"] == 0.87
    assert label["bbox"]["x"] == pytest.approx(112.0)  # the human's edit, not the proposal


def test_annotation_with_a_predictions_region_ids_is_assisted(tmp_path):
    t = task([box("same1")])
    t["predictions"] = [{"id": 5, "model_version": "yolo-v8", "result": [box("same1", x=11)]}]
    batch = read(write_tasks(tmp_path, [t]))
    human = one(batch, annotator_id="1")
    assert (human["source"], human["model_version"]) == ("assisted", "yolo-v8")
    assert one(batch, source="model")["annotator_id"] == "yolo-v8"


def test_plain_annotation_is_human_without_model():
    label = one(read(), external_id="Dx_aB91ISN")
    assert (label["source"], label["model_version"], label["score"]) == ("human", None, None)


def test_reviews_land_in_review_rows():
    reviews = read().reviews.to_pylist()
    by = {(r["label_external_id"], r["pass"]): r for r in reviews}
    first = by[("Dx_aB91ISN", 1)]
    assert (first["verdict"], first["reviewer_id"], first["kind"]) == ("accept", "3", "review")
    assert first["reviewed_at"].isoformat() == "2021-03-10T09:00:00+00:00"
    rejected = by[("t5sp3TyXPo", 1)]
    assert (rejected["verdict"], rejected["reason"]) == ("reject", "box too wide")
    assert by[("t5sp3TyXPo", 2)]["verdict"] == "accept"
    assert len(reviews) == 3


def test_shared_region_ids_across_annotations_are_scoped(tmp_path):
    t = task([box("dup")])
    t["annotations"].append({"id": 71, "completed_by": 2, "result": [box("dup", x=12)]})
    ids = {r["external_id"] for r in read(write_tasks(tmp_path, [t])).labels.to_pylist()}
    assert ids == {"dup@annotation:70", "dup@annotation:71"}


# --------------------------------------------------------------------------- assets


@pytest.mark.parametrize(
    ("value", "basename", "path"),
    [
        ("/data/upload/7/8d2e1f3a-butterfly.jpg", "butterfly.jpg", "butterfly.jpg"),
        (
            "/data/local-files/?d=dataset/night/img%20004.jpg",
            "img 004.jpg",
            "dataset/night/img 004.jpg",
        ),
        ("https://example.com/a/1.jpg?X-Amz-Signature=abc", "1.jpg", "a/1.jpg"),
        ("s3://bucket/masks/cell.png", "cell.png", "masks/cell.png"),
        ("images/train/x.jpg", "images/train/x.jpg", "images/train/x.jpg"),
    ],
)
def test_asset_ids(value, basename, path):
    assert asset_id(value) == basename
    assert asset_id(value, "path") == path


def test_uri_drops_presigned_query_but_keeps_local_files_path():
    assert clean_uri("https://h/a.jpg?X-Amz-Signature=s#f") == "https://h/a.jpg"
    assert clean_uri("/data/local-files/?d=a/b.jpg") == "/data/local-files/?d=a/b.jpg"
    uris = {a["asset_id"]: a for a in read().assets.to_pylist()}
    assert uris["1.jpg"]["uri"] == "https://example.com/opensource/label-studio/1.jpg"
    assert (uris["butterfly.jpg"]["width"], uris["butterfly.jpg"]["height"]) == (597, 768)


def test_two_images_with_one_file_name_are_refused(tmp_path):
    a, b = task([box()]), task([box()])
    b["data"] = {"image": "s3://other/sub/img.jpg"}
    path = write_tasks(tmp_path, [a, b])
    with pytest.raises(InputError, match="asset_id=path") as err:
        read(path)
    assert err.value.field == "data.image"
    ids = {r["asset_id"] for r in read(path, extra={"asset_id": "path"}).labels.to_pylist()}
    assert ids == {"img.jpg", "sub/img.jpg"}


# --------------------------------------------------------------------------- bad input


def test_not_json(tmp_path):
    path = write_tasks(tmp_path, "[{not json")
    with pytest.raises(InputError, match="not a JSON file") as err:
        read(path)
    assert err.value.file == str(path)
    assert read(path, strict=False).skipped[0].reason.startswith("not a JSON file")


@pytest.mark.parametrize(
    ("region", "field", "message"),
    [
        ({k: v for k, v in box().items() if k != "original_width"}, "original_width", "missing"),
        (box(x=float("nan")), "value.x", "finite"),
        (box(y=500), "value.y", "far outside"),
        (box(width=-3), "value.width", "far outside"),
        (
            {
                **box(),
                "type": "polygonlabels",
                "value": {"points": [[1, 1], [2, 2]], "polygonlabels": ["A"]},
            },
            "value.points",
            "needs 3",
        ),
    ],
)
def test_bad_regions_name_task_annotation_region_and_field(tmp_path, region, field, message):
    path = write_tasks(tmp_path, [task([region, box("good")])])
    with pytest.raises(InputError, match=message) as err:
        read(path)
    assert err.value.file == str(path)
    assert err.value.record == "task 7, annotation 70, region r1"
    assert err.value.field == field
    lenient = read(path, strict=False)
    assert [r["external_id"] for r in lenient.labels.to_pylist()] == ["good"]
    assert lenient.skipped[0].field == field


def test_unknown_region_type_is_skipped_not_failed(tmp_path):
    ellipse = {
        "id": "e1",
        "type": "ellipselabels",
        "value": {"x": 1, "y": 1, "radiusX": 2, "radiusY": 2},
    }
    batch = read(write_tasks(tmp_path, [task([ellipse, box("good")])]))
    assert [r["external_id"] for r in batch.labels.to_pylist()] == ["good"]
    assert "ellipselabels" in batch.skipped[0].reason


def test_task_without_image_is_an_input_error(tmp_path):
    path = write_tasks(tmp_path, [{"id": 3, "data": {"text": "hello"}, "annotations": []}])
    with pytest.raises(InputError) as err:
        read(path)
    assert (err.value.record, err.value.field) == ("task 3", "data.image")


def test_detect_refuses_other_json(tmp_path):
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    assert labelstudio.detect(coco) == 0.0
    assert labelstudio.detect(tmp_path / "missing.json") == 0.0
    assert labelstudio.detect(EXPORT) >= 0.5


# --------------------------------------------------------------------------- export


def exported(tmp_path, options: ExportOptions | None = None) -> list[dict]:
    data = batch_to_export(read())
    result = labelstudio.write(data, tmp_path / "out.json", options or ExportOptions())
    assert result.files == [tmp_path / "out.json"]
    assert result.labels == data.labels.num_rows
    return json.loads(result.files[0].read_text())


def test_export_writes_percent_regions_with_sizes_and_ids(tmp_path):
    tasks = {t["data"]["image"]: t for t in exported(tmp_path)}
    t = tasks["https://example.com/opensource/label-studio/1.jpg"]
    ann = next(a for a in t["annotations"] if a["completed_by"] == 10)
    (region,) = ann["result"]
    assert region["id"] == "Dx_aB91ISN" and region["type"] == "rectanglelabels"
    assert (region["original_width"], region["original_height"]) == (800, 501)
    assert region["value"]["x"] == pytest.approx(50.8) and region["value"][
        "height"
    ] == pytest.approx(10.458911419423693)
    assert ann["lead_time"] == 4.288 and ann["ground_truth"] is False
    assert sorted(a["completed_by"] for a in t["annotations"]) == [10, 11]


def test_export_predictions_with_model_version_and_score(tmp_path):
    t = next(t for t in exported(tmp_path) if t["predictions"])
    preds = {p["model_version"]: p for p in t["predictions"]}
    assert set(preds) == {"model 1", "model 2"}
    assert preds["model 1"]["result"][0]["score"] == 0.87
    assert preds["model 1"]["result"][0]["id"] == "t5sp3TyXPo"


def test_export_ground_truth_choices_and_per_region_answers(tmp_path):
    t = next(t for t in exported(tmp_path) if t["data"]["image"].endswith("butterfly.jpg"))
    (ann,) = t["annotations"]
    assert ann["ground_truth"] is True and ann["completed_by"] == 1
    choices = [r for r in ann["result"] if r["type"] == "choices" and r["from_name"] == "scene"]
    assert len(choices) == 1 and sorted(choices[0]["value"]["choices"]) == ["daylight", "outdoor"]
    note = next(r for r in ann["result"] if r["from_name"] == "note")
    assert note["id"] == "rot90aaaaa" and note["value"] == {"text": ["left wing torn"]}


def test_export_brush_is_label_studio_rle_of_the_mask(tmp_path):
    t = next(t for t in exported(tmp_path) if t["data"]["image"].endswith("cell.png"))
    region = t["annotations"][0]["result"][0]
    assert region["type"] == "brushlabels" and region["value"]["format"] == "rle"
    original = json.loads(EXPORT.read_text())[2]["annotations"][0]["result"][0]["value"]["rle"]
    assert region["value"]["rle"] == original  # the same encoder as brush.py's mask2rle


def test_export_pseudonymizes_annotators(tmp_path):
    tasks = exported(tmp_path, ExportOptions(pseudonymize_key=b"k"))
    people = [a["completed_by"] for t in tasks for a in t["annotations"]]
    assert all(isinstance(p, dict) and p["email"].startswith("anon-") for p in people)


def test_export_round_trips_provenance(tmp_path):
    first = read()
    labelstudio.write(batch_to_export(first), tmp_path / "out.json", ExportOptions())
    again = read(tmp_path / "out.json")

    def key(batch):
        return sorted(
            (
                r["external_id"],
                r["annotator_id"],
                r["source"],
                json.loads(r["attributes"]).get("gold"),
            )
            for r in batch.labels.to_pylist()
        )

    assert key(again) == key(first)
    # the prediction it came from is exported beside it with the same region id
    assert one(again, source="assisted")["model_version"] == "model 1"


def export_input(labels: list[dict], width: int | None = 200, height: int | None = 100):
    from lineage.formats.base import ImportBatch, table_from_records

    assets = [{"asset_id": "a.jpg", "uri": None, "width": width, "height": height}]
    for label in labels:
        label.setdefault("asset_id", "a.jpg")
        label.setdefault("annotator_id", "ann")
        label.setdefault("source", "human")
    return batch_to_export(
        ImportBatch(
            labels=table_from_records("label_events", labels),
            assets=table_from_records("assets", assets),
        )
    )


def test_export_needs_image_sizes(tmp_path):
    data = export_input([{"shape": "box", "class_name": "Car", "bbox": [1, 2, 3, 4]}], None, None)
    with pytest.raises(InputError, match="width/height") as err:
        labelstudio.write(data, tmp_path / "o.json", ExportOptions())
    assert err.value.field == "assets.width"


def test_export_of_labels_from_other_formats(tmp_path):
    data = export_input(
        [
            {"shape": "box", "class_name": "Car", "bbox": [20, 10, 40, 30], "external_id": "r7"},
            {"shape": "box", "class_name": "Car", "bbox": [0, 0, 2, 2], "external_id": "r7"},
            {
                "shape": "polyline",
                "class_name": "Lane",
                "bbox": [0, 0, 1, 1],
                "polygon": [[0, 0, 100, 50]],
            },
            {
                "shape": "polygon",
                "class_name": "Blob",
                "bbox": [0, 0, 1, 1],
                "polygon": [[0, 0, 10, 0, 10, 10], [50, 50, 60, 50, 60, 60]],
            },
            {
                "shape": "keypoints",
                "class_name": "Person",
                "bbox": [0, 0, 1, 1],
                "keypoints": [20, 10, 2, 0, 0, 0, 40, 20, 1],
            },
        ]
    )
    result = labelstudio.write(data, tmp_path / "dir", ExportOptions())
    assert result.files == [tmp_path / "dir" / "tasks.json"]
    assert any("polygon parts" in n for n in result.notes)
    (t,) = json.loads(result.files[0].read_text())
    assert t["data"]["image"] == "a.jpg" and t["annotations"][0]["completed_by"] == {"email": "ann"}
    regions = t["annotations"][0]["result"]
    boxes = [r for r in regions if r["type"] == "rectanglelabels"]
    assert [b["id"] for b in boxes] == [
        "r7",
        "0000000000000001",
    ]  # a clash falls back to the label id
    assert boxes[0]["value"] == {
        "x": 10.0,
        "y": 10.0,
        "width": 20.0,
        "height": 30.0,
        "rotation": 0.0,
        "rectanglelabels": ["Car"],
    }
    lane = next(r for r in regions if r["value"].get("polygonlabels") == ["Lane"])
    assert lane["value"]["closed"] is False and lane["value"]["points"] == [
        [0.0, 0.0],
        [50.0, 50.0],
    ]
    assert len([r for r in regions if r["value"].get("polygonlabels") == ["Blob"]]) == 2
    # Label Studio has no keypoint-set label: split into single points, a re-import would
    # make new labels of them, so keypoint sets are left out, and the notes say so
    assert not [r for r in regions if r["type"] == "keypointlabels"]
    assert any("keypoint sets" in n for n in result.notes)


def _paths(obj, path=()):
    yield path
    items = (
        obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    )
    for k, v in items:
        yield from _paths(v, (*path, k))


@pytest.mark.parametrize("seed", range(4))
def test_malformed_exports_raise_input_errors_only(tmp_path, seed):
    """Junk in any field of the fixture: an InputError (strict) or a report (lenient), never
    a traceback."""
    import copy
    import random

    base = json.loads(EXPORT.read_text())
    junk = [None, -1, 1e308, float("nan"), "x", [], {}, [1], {"a": 1}, True, [[1, 2]], "2021-13-99"]
    paths = [p for p in _paths(base) if p]
    rng = random.Random(seed)
    for _ in range(100):
        tasks = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            *parent, last = rng.choice(paths)
            node = tasks
            try:
                for k in parent:
                    node = node[k]
                node[last] = rng.choice(junk)
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change removed this path
        path = write_tasks(tmp_path, tasks)
        try:
            read(path)
        except InputError:
            pass
        read(path, strict=False)


def _prediction_without_size(doc: list) -> list:
    """The fixture with its predictions' original_width/height removed (as uploaded
    predictions often are), annotations keeping theirs."""
    for task in doc:
        for pred in task.get("predictions") or []:
            for r in pred.get("result") or []:
                r.pop("original_width", None)
                r.pop("original_height", None)
    return doc


def test_prediction_sizes_come_from_the_same_image_elsewhere_in_the_file(tmp_path):
    doc = json.loads((FIXTURES / "labelstudio" / "export.json").read_text())
    whole = labelstudio.read(FIXTURES / "labelstudio" / "export.json", ImportOptions())
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_prediction_without_size(doc)))
    batch = labelstudio.read(path, ImportOptions())
    assert batch.labels.num_rows == whole.labels.num_rows
    assert batch.labels.column("bbox").to_pylist() == whole.labels.column("bbox").to_pylist()


def test_prediction_sizes_from_a_sizes_file_or_refused(tmp_path):
    doc = _prediction_without_size(
        json.loads((FIXTURES / "labelstudio" / "export.json").read_text())
    )
    for task in doc:  # no annotation says the size either
        for ann in task.get("annotations") or []:
            ann["result"] = []
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    assert any(t.get("predictions") for t in doc)
    with pytest.raises(InputError, match="original_width is missing"):
        labelstudio.read(path, ImportOptions())
    images = {asset_id(t["data"]["image"]) for t in doc}
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("image,width,height\n" + "".join(f"{i},800,600\n" for i in images))
    batch = labelstudio.read(path, ImportOptions(sizes=sizes))
    assert batch.labels.num_rows > 0
