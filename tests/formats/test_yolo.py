"""YOLO / Ultralytics: contract tests on the fixtures, pixel conversion checked against values
computed by hand from the label files, bad input, and the export layout checked against the
Ultralytics conventions (``img2label_paths``, ``check_det_dataset``, ``verify_image_label``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils

from lineage.errors import InputError
from lineage.formats import yolo
from lineage.formats.base import ExportInput, ExportOptions, ImportOptions, table_from_records
from lineage.formats.yolo.shapes import merge_parts
from lineage.store import schema as schemas
from tests.formats.contract import FIXTURES, FormatContract, batch_to_export

HERE = FIXTURES / "yolo"


def _copy_images(src: Path, out: Path) -> Path:
    """What the export note asks the user to do: put the images under OUT/images/."""
    shutil.copytree(src / "images", out / "images", dirs_exist_ok=True)
    return out


def _rows(batch, asset_id=None):
    rows = batch.labels.to_pylist()
    return [r for r in rows if asset_id is None or r["asset_id"] == asset_id]


def _approx(d: dict) -> dict:
    return {k: pytest.approx(v) for k, v in d.items()}


# --------------------------------------------------------------------------- contract


class TestDetectContract(FormatContract):
    format = "yolo"
    fixture = "detect"

    def exported_path(self, out: Path) -> Path:
        return _copy_images(HERE / "detect", out)


class TestSegmentContract(FormatContract):
    format = "yolo"
    fixture = "segment/data.yaml"

    def exported_path(self, out: Path) -> Path:
        return _copy_images(HERE / "segment", out)


class TestPoseContract(FormatContract):
    format = "yolo"
    fixture = "pose"

    def exported_path(self, out: Path) -> Path:
        return _copy_images(HERE / "pose", out)


class TestSizesContract(FormatContract):
    """No images at all: sizes from a CSV, for the fixture and for the exported copy."""

    format = "yolo"
    fixture = "sizes"

    def options(self) -> ImportOptions:
        return ImportOptions(sizes=HERE / "sizes" / "sizes.csv")


class TestDarknetContract(FormatContract):
    format = "yolo"
    fixture = "darknet"

    def exported_path(self, out: Path) -> Path:
        (out / "images" / "train").mkdir(parents=True)
        shutil.copy(HERE / "darknet" / "img1.png", out / "images" / "train" / "img1.png")
        return out


# --------------------------------------------------------------------------- reading


def test_detection_pixels_by_hand():
    batch = yolo.read(HERE / "detect", ImportOptions())
    rows = sorted(_rows(batch, "000001.png"), key=lambda r: r["bbox"]["x"])
    # "2 0.25 0.75 0.1 0.1" on 640x480: x=(0.25-0.05)*640, y=(0.75-0.05)*480, w=64, h=48
    assert rows[0]["class_name"] == "bird"
    assert rows[0]["bbox"] == _approx({"x": 128.0, "y": 336.0, "w": 64.0, "h": 48.0})
    # "0 0.5 0.5 0.2 0.4": class id 0 is a real class
    assert rows[1]["class_name"] == "cat"
    assert rows[1]["bbox"] == _approx({"x": 256.0, "y": 144.0, "w": 128.0, "h": 192.0})
    # "1 1.005 0.5 0.01 0.01": within Ultralytics' 1% overshoot, kept as is
    assert rows[2]["class_name"] == "dog"
    assert rows[2]["bbox"] == _approx({"x": 640.0, "y": 237.6, "w": 6.4, "h": 4.8})
    assert {r["shape"] for r in rows} == {"box"}
    assert all(r["external_id"] is None for r in rows)
    assert batch.stable_ids is False


def test_assets_empty_label_file_and_background_image():
    batch = yolo.read(HERE / "detect" / "data.yaml", ImportOptions())
    assets = {a["asset_id"]: a for a in batch.assets.to_pylist()}
    assert set(assets) == {"000001.png", "000002.png", "000003.png"}
    assert (assets["000001.png"]["width"], assets["000001.png"]["height"]) == (640, 480)
    assert assets["000002.png"]["split"] == "train"  # empty label file: still an asset
    assert assets["000003.png"]["split"] == "val"  # no label file: a background image
    assert assets["000001.png"]["uri"].endswith("images/train/000001.png")
    assert len(assets["000001.png"]["sha256"]) == 64
    assert {r["asset_id"] for r in _rows(batch)} == {"000001.png"}


def test_categories_keep_class_index():
    batch = yolo.read(HERE / "detect", ImportOptions())
    cats = {c["class_name"]: c["ordinal"] for c in batch.categories.to_pylist()}
    assert cats == {"cat": 0, "dog": 1, "bird": 2}


def test_segmentation_names_as_dict():
    batch = yolo.read(HERE / "segment", ImportOptions())
    car = next(r for r in _rows(batch) if r["class_name"] == "car")
    # "1 0.1 0.2 0.5 0.2 0.5 0.8 0.1 0.8" on 200x100
    assert car["shape"] == "polygon"
    assert car["polygon"] == [pytest.approx([20, 20, 100, 20, 100, 80, 20, 80])]
    assert car["bbox"] == _approx({"x": 20, "y": 20, "w": 80, "h": 60})
    # the same image listed under train and val is read once, and said so
    assert batch.assets.num_rows == 1
    assert any("kept in train" in n for n in batch.notes)


def test_pose_kpt_shape_17_3():
    batch = yolo.read(HERE / "pose", ImportOptions())
    (row,) = _rows(batch)
    assert row["shape"] == "keypoints"
    kp = np.array(row["keypoints"]).reshape(-1, 3)
    assert kp.shape == (17, 3)
    # keypoint 1: 0.40 0.30 2 on 320x240
    assert kp[0].tolist() == pytest.approx([128.0, 72.0, 2.0])
    assert kp[3].tolist() == [0.0, 0.0, 0.0]  # not labelled
    assert kp[5, 2] == 1.0  # labelled, not visible
    assert row["bbox"] == _approx({"x": 96.0, "y": 24.0, "w": 128.0, "h": 192.0})
    (cat,) = batch.categories.to_pylist()
    assert cat["keypoint_names"][:3] == ["nose", "left_eye", "right_eye"]


def test_darknet_classes_txt():
    batch = yolo.read(HERE / "darknet", ImportOptions())
    rows = {r["class_name"]: r for r in _rows(batch)}
    assert rows["bus"]["bbox"] == _approx({"x": 0, "y": 0, "w": 100, "h": 200})
    assert rows["car"]["bbox"] == _approx({"x": 0, "y": 0, "w": 50, "h": 100})
    (asset,) = batch.assets.to_pylist()
    assert asset["asset_id"] == "img1.png" and asset["split"] is None


def test_labels_folder_as_path_finds_yaml_and_images():
    batch = yolo.read(HERE / "detect" / "labels" / "train", ImportOptions())
    assert {a["asset_id"] for a in batch.assets.to_pylist()} == {"000001.png", "000002.png"}
    assert {a["split"] for a in batch.assets.to_pylist()} == {"train"}
    assert batch.assets.column("width").to_pylist() == [640, 64]


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_sizes_file_without_images(tmp_path, kind):
    shutil.copytree(HERE / "sizes" / "labels", tmp_path / "labels")
    shutil.copy(HERE / "sizes" / "data.yaml", tmp_path / "data.yaml")
    sizes = tmp_path / f"sizes.{kind}"
    if kind == "csv":
        shutil.copy(HERE / "sizes" / "sizes.csv", sizes)
    else:
        sizes.write_text(json.dumps({"s1.jpg": [1000, 500], "s2.jpg": {"width": 10, "height": 10}}))
    batch = yolo.read(tmp_path, ImportOptions(sizes=sizes))
    (row,) = _rows(batch)
    assert row["asset_id"] == "s1.jpg"
    assert row["bbox"] == _approx({"x": 250, "y": 125, "w": 500, "h": 250})
    assets = {a["asset_id"]: (a["width"], a["height"], a["uri"]) for a in batch.assets.to_pylist()}
    assert assets == {"s1.jpg": (1000, 500, None), "s2.jpg": (10, 10, None)}


def test_missing_size_names_label_file_and_hints_sizes(tmp_path):
    shutil.copytree(HERE / "sizes" / "labels", tmp_path / "labels")
    shutil.copy(HERE / "sizes" / "data.yaml", tmp_path / "data.yaml")
    with pytest.raises(InputError) as err:
        yolo.read(tmp_path, ImportOptions())
    assert err.value.file.endswith("s1.txt")
    assert "--sizes" in err.value.hint


def test_exif_orientation_swaps_size_like_ultralytics(tmp_path):
    """Ultralytics' exif_size swaps w/h for JPEG orientation 6 and 8; labels follow."""
    d = tmp_path / "ds"
    (d / "images").mkdir(parents=True)
    (d / "labels").mkdir()
    exif = Image.Exif()
    exif[274] = 6
    Image.new("RGB", (40, 20)).save(d / "images" / "r.jpg", exif=exif)
    (d / "labels" / "r.txt").write_text("0 0.5 0.5 1 1\n")
    (d / "classes.txt").write_text("a\n")
    batch = yolo.read(d, ImportOptions())
    (asset,) = batch.assets.to_pylist()
    assert (asset["width"], asset["height"]) == (20, 40)
    assert _rows(batch)[0]["bbox"] == _approx({"x": 0, "y": 0, "w": 20, "h": 40})


def test_prediction_confidence(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2 0.87\n")
    (row,) = _rows(yolo.read(d, ImportOptions(model_version="yolo11n")))
    assert row["score"] == pytest.approx(0.87)
    assert row["source"] == "model" and row["model_version"] == "yolo11n"
    with pytest.raises(InputError, match="wrong column count"):
        yolo.read(d, ImportOptions(extra={"conf": False}))


def test_segment_prediction_confidence_by_column_count(tmp_path):
    d = _one_file(tmp_path, "0 0.1 0.1 0.9 0.1 0.5 0.9 0.42\n")
    (row,) = _rows(yolo.read(d, ImportOptions()))
    assert row["shape"] == "polygon" and row["score"] == pytest.approx(0.42)
    assert len(row["polygon"][0]) == 6


def test_duplicate_lines_dropped_and_reported(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
    batch = yolo.read(d, ImportOptions())
    assert batch.labels.num_rows == 1
    assert batch.skipped[0].record == "line 2"


# --------------------------------------------------------------------------- bad input


def _one_file(tmp_path: Path, text: str, yaml_extra: str = "", size=(100, 100)) -> Path:
    d = tmp_path / "ds"
    (d / "images" / "train").mkdir(parents=True, exist_ok=True)
    (d / "labels" / "train").mkdir(parents=True, exist_ok=True)
    Image.new("L", size).save(d / "images" / "train" / "x.png")
    (d / "labels" / "train" / "x.txt").write_text(text)
    (d / "data.yaml").write_text(f"train: images/train\nnames: [a, b]\n{yaml_extra}")
    return d


@pytest.mark.parametrize(
    "text, line, field, message",
    [
        ("0 0.5 0.5 0.2\n", 1, "columns", "wrong column count"),
        ("0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n", 2, "class", "not in names"),
        ("-1 0.5 0.5 0.2 0.2\n", 1, "class", "not in names"),
        ("0.5 0.5 0.5 0.2 0.2\n", 1, "class", "not in names"),
        ("0 0.5 abc 0.2 0.2\n", 1, "column 3", "not a number"),
        ("0 0.5 nan 0.2 0.2\n", 1, "column 3", "not a finite number"),
        ("0 0.5 0.5 inf 0.2\n", 1, "column 4", "not a finite number"),
        ("\n\n0 0.5 1.2 0.2 0.2\n", 3, "cy", "outside [0, 1]"),
        ("0 -0.02 0.5 0.2 0.2\n", 1, "cx", "outside [0, 1]"),
        ("0 0.1 0.1 0.2 0.2 0.3 0.3 0.4 2.0\n", 1, "point 4 y", "outside [0, 1]"),
        ("0 0.5 0.5 0.2 0.2 1.7\n", 1, "confidence", "not in [0, 1]"),
        ("0 0.5 0.5 0.2 0.2\r\n0 0.5 0.5 -0.3 0.2\r\n", 2, "w", None),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path, text, line, field, message):
    d = _one_file(tmp_path, text)
    with pytest.raises(InputError) as err:
        yolo.read(d, ImportOptions())
    assert err.value.file.endswith("x.txt")
    assert err.value.record == f"line {line}"
    assert err.value.field == field
    if message:
        assert message in err.value.reason


def test_polygon_with_two_points(tmp_path):
    d = _one_file(tmp_path, "0 0.1 0.1 0.5 0.5\n")
    with pytest.raises(InputError, match="needs at least 3"):
        yolo.read(d, ImportOptions(extra={"task": "segment"}))


def test_keypoint_count_must_match_kpt_shape(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.2 0.2\n", "kpt_shape: [2, 3]\n")
    with pytest.raises(InputError) as err:
        yolo.read(d, ImportOptions())
    assert "kpt_shape [2, 3] needs 11" in err.value.reason and err.value.field == "columns"


def test_keypoints_with_two_dims(tmp_path):
    d = _one_file(tmp_path, "1 0.5 0.5 0.2 0.2 0.1 0.2 0 0\n", "kpt_shape: [2, 2]\n")
    (row,) = _rows(yolo.read(d, ImportOptions()))
    assert row["class_name"] == "b"
    assert row["keypoints"] == pytest.approx([10, 20, 2, 0, 0, 0])


def test_lenient_skips_bad_lines_and_keeps_the_rest(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n1 0.5 0.5 x 0.2\n")
    batch = yolo.read(d, ImportOptions(strict=False))
    assert batch.labels.num_rows == 1
    assert [(s.record, s.field) for s in batch.skipped] == [
        ("line 2", "class"),
        ("line 3", "column 4"),
    ]


@pytest.mark.parametrize(
    "doc, field",
    [("train: [unclosed\n", None), ("train: images/train\n", "names"), ("- a\n- b\n", None)],
)
def test_bad_data_yaml(tmp_path, doc, field):
    d = _one_file(tmp_path, "")
    (d / "data.yaml").write_text(doc)
    with pytest.raises(InputError) as err:
        yolo.read(d / "data.yaml", ImportOptions())
    assert err.value.file.endswith("data.yaml") and err.value.field == field


def test_not_utf8_label_file(tmp_path):
    d = _one_file(tmp_path, "")
    (d / "labels" / "train" / "x.txt").write_bytes(b"0 0.5 0.5 \xff 0.2\n")
    with pytest.raises(InputError, match="not UTF-8"):
        yolo.read(d, ImportOptions())


# --------------------------------------------------------------------------- layouts


def test_roboflow_style_paths_and_txt_lists(tmp_path):
    d = _one_file(tmp_path, "1 0.5 0.5 0.2 0.2\n")
    (d / "train.txt").write_text("./images/train/x.png\n")
    (d / "data.yaml").write_text("train: ../train.txt\nval: ../images/train\nnames: {0: a, 1: b}\n")
    batch = yolo.read(d, ImportOptions())
    assert [a["asset_id"] for a in batch.assets.to_pylist()] == ["x.png"]
    assert _rows(batch)[0]["class_name"] == "b"


def test_detect_scores(tmp_path):
    assert yolo.detect(HERE / "detect" / "data.yaml") >= 0.9
    assert yolo.detect(HERE / "detect") >= 0.9
    assert yolo.detect(HERE / "darknet") >= 0.5
    assert yolo.detect(HERE / "detect" / "labels" / "train") >= 0.5
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("hello world\n")
    assert yolo.detect(tmp_path) < 0.5
    assert yolo.detect(tmp_path / "a.json") == 0.0


# --------------------------------------------------------------------------- export


def _img2label(path: str) -> str:
    """Ultralytics' img2label_paths, as written in ultralytics/data/utils.py."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return sb.join(path.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt"


def test_export_layout_follows_ultralytics(tmp_path):
    batch = yolo.read(HERE / "detect", ImportOptions())
    out = tmp_path / "out"
    result = yolo.write(batch_to_export(batch), out, ExportOptions())
    doc = yaml.safe_load((out / "data.yaml").read_text())
    assert doc == {
        "path": "",
        "train": "images/train",
        "val": "images/val",
        "names": {0: "cat", 1: "dog", 2: "bird"},
    }
    # check_det_dataset resolves splits against the YAML's folder when path is empty
    root = Path(doc["path"] or out)
    for asset in batch.assets.to_pylist():
        image = root / "images" / asset["split"] / asset["asset_id"]
        assert Path(_img2label(str(image))).is_file()
    assert (out / "labels" / "train" / "000002.txt").read_text() == ""
    assert (out / "labels" / "val" / "000003.txt").read_text() == ""
    lines = (out / "labels" / "train" / "000001.txt").read_text().splitlines()
    assert "0 0.500000 0.500000 0.200000 0.400000" in lines
    assert result.labels == 3
    assert any("not copied" in n for n in result.notes)
    assert not (out / "images").exists()


def test_export_copies_images_when_asked(tmp_path):
    batch = yolo.read(HERE / "detect", ImportOptions())
    out = tmp_path / "out"
    yolo.write(batch_to_export(batch), out, ExportOptions(extra={"images": "copy"}))
    assert (out / "images" / "train" / "000001.png").is_file()
    again = yolo.read(out, ImportOptions())
    assert again.labels.num_rows == 3


def test_export_pose_has_kpt_shape_and_flip_idx(tmp_path):
    batch = yolo.read(HERE / "pose", ImportOptions())
    yolo.write(batch_to_export(batch), tmp_path, ExportOptions())
    doc = yaml.safe_load((tmp_path / "data.yaml").read_text())
    fixture = yaml.safe_load((HERE / "pose" / "data.yaml").read_text())
    assert doc["kpt_shape"] == [17, 3]
    assert doc["flip_idx"] == fixture["flip_idx"]
    assert doc["kpt_names"][0] == fixture["kpt_names"][0]
    (line,) = (tmp_path / "labels" / "train" / "p.txt").read_text().splitlines()
    assert len(line.split()) == 1 + 4 + 17 * 3


def _export_input(labels: list[dict], assets: list[dict], cats: list[dict]) -> ExportInput:
    for i, r in enumerate(labels):
        r.setdefault("label_id", f"{i:016x}")
        r.update(revision=1, op="create", txn_id="t0")
    table = table_from_records("label_events", labels)
    table = table.append_column("revision", pa.array([1] * len(labels), pa.int32()))
    table = table.append_column("txn_id", pa.array(["t0"] * len(labels)))

    def add_txn(name, rows):
        t = table_from_records(name, rows)
        return schemas.conform(name, t.append_column("txn_id", pa.array(["t0"] * t.num_rows)))

    return ExportInput(
        labels=schemas.conform("label_events", table),
        assets=add_txn("assets", assets),
        categories=add_txn("categories", cats),
        annotators=schemas.empty("annotators"),
        reviews=schemas.empty("reviews"),
        guidelines=schemas.empty("guidelines"),
    )


def _poly(x, y, w, h):
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def test_export_multipart_polygon_mask_and_leftovers(tmp_path):
    m = np.zeros((20, 40), dtype=np.uint8, order="F")
    m[3:8, 2:12] = 1  # a 10x5 rectangle at (2, 3)
    rle = mask_utils.encode(m)
    labels = [
        {
            "asset_id": "a.jpg",
            "class_name": "car",
            "shape": "polygon",
            "polygon": [_poly(1, 1, 4, 4), _poly(20, 10, 6, 6)],
            "bbox": [1, 1, 25, 15],
        },
        {
            "asset_id": "a.jpg",
            "class_name": "car",
            "shape": "mask",
            "bbox": [2, 3, 10, 5],
            "mask_rle": {"height": 20, "width": 40, "counts": rle["counts"].decode()},
        },
        {"asset_id": "a.jpg", "class_name": "car", "shape": "classification"},
        {
            "asset_id": "a.jpg",
            "class_name": "car",
            "shape": "polyline",
            "polygon": [[0, 0, 5, 5]],
            "bbox": [0, 0, 5, 5],
        },
    ]
    data = _export_input(
        labels,
        [{"asset_id": "a.jpg", "width": 40, "height": 20, "split": "val"}],
        [{"class_name": "car", "ordinal": 3}],
    )
    result = yolo.write(data, tmp_path, ExportOptions())
    lines = (tmp_path / "labels" / "val" / "a.txt").read_text().splitlines()
    assert len(lines) == 2 and result.labels == 2
    # ordinal 3 alone is not 0..n-1: Ultralytics would refuse it, so renumbered to 0
    assert yaml.safe_load((tmp_path / "data.yaml").read_text())["names"] == {0: "car"}
    merged = np.array(lines[0].split()[1:], dtype=float).reshape(-1, 2) * [40, 20]
    # zero-width bridges: the merged outline encloses exactly the two parts
    assert shapely.Polygon(merged).buffer(0).area == pytest.approx(16 + 36)
    traced = np.array(lines[1].split()[1:], dtype=float).reshape(-1, 2) * [40, 20]
    assert {tuple(p) for p in np.round(traced, 6)} == {(2, 3), (12, 3), (12, 8), (2, 8)}
    joined = " ".join(result.notes)
    assert "classification" in joined and "polyline" in joined and "renumbered" in joined


def test_merge_parts_visits_every_point():
    parts = [
        np.array(_poly(0, 0, 1, 1), float).reshape(-1, 2),
        np.array(_poly(3, 0, 1, 1), float).reshape(-1, 2),
        np.array(_poly(6, 0, 1, 1), float).reshape(-1, 2),
    ]
    merged = merge_parts(parts)
    assert {tuple(p) for p in merged} == {tuple(p) for part in parts for p in part}
    assert shapely.Polygon(merged).buffer(0).area == pytest.approx(3.0)


def test_export_refuses_paths_outside_out(tmp_path):
    data = _export_input(
        [{"asset_id": "../evil.jpg", "class_name": "a", "shape": "box", "bbox": [0, 0, 1, 1]}],
        [{"asset_id": "../evil.jpg", "width": 10, "height": 10, "split": "train"}],
        [{"class_name": "a", "ordinal": 0}],
    )
    with pytest.raises(InputError, match="refusing"):
        yolo.write(data, tmp_path / "out", ExportOptions())


def test_export_boxes_in_pose_dataset_round_trip(tmp_path):
    kp = [5.0, 5.0, 2.0, 0.0, 0.0, 0.0]
    data = _export_input(
        [
            {
                "asset_id": "p.png",
                "class_name": "person",
                "shape": "keypoints",
                "bbox": [0, 0, 10, 10],
                "keypoints": kp,
            },
            {"asset_id": "p.png", "class_name": "ball", "shape": "box", "bbox": [2, 2, 4, 4]},
        ],
        [{"asset_id": "p.png", "width": 20, "height": 10, "split": "train"}],
        [{"class_name": "person", "ordinal": 0}, {"class_name": "ball", "ordinal": 1}],
    )
    yolo.write(data, tmp_path, ExportOptions())
    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps({"p.png": [20, 10]}))
    again = {r["class_name"]: r for r in _rows(yolo.read(tmp_path, ImportOptions(sizes=sizes)))}
    assert again["person"]["keypoints"] == pytest.approx(kp)
    assert again["ball"]["shape"] == "box" and again["ball"]["keypoints"] is None


def test_cvat_yolo_1_1_obj_data(tmp_path):
    """CVAT "YOLO 1.1" / darknet: obj.data, obj.names, obj_train_data/, train.txt (data/...)."""
    d = tmp_path / "cvat"
    (d / "obj_train_data").mkdir(parents=True)
    (d / "obj.data").write_text(
        "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n"
    )
    (d / "obj.names").write_text("cat\ndog\n")
    (d / "train.txt").write_text("data/obj_train_data/f0.png\ndata/obj_train_data/f1.png\n")
    Image.new("L", (50, 40)).save(d / "obj_train_data" / "f0.png")
    Image.new("L", (50, 40)).save(d / "obj_train_data" / "f1.png")
    (d / "obj_train_data" / "f0.txt").write_text("1 0.5 0.5 0.2 0.5\n")
    assert yolo.detect(d) >= 0.5
    batch = yolo.read(d, ImportOptions())
    assert {a["asset_id"]: a["split"] for a in batch.assets.to_pylist()} == {
        "f0.png": "train",
        "f1.png": "train",
    }
    (row,) = _rows(batch)
    assert row["class_name"] == "dog"
    assert row["bbox"] == _approx({"x": 20, "y": 10, "w": 10, "h": 20})
    # the same export without its images, sizes from a file
    for f in (d / "obj_train_data").glob("*.png"):
        f.unlink()
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("f0.png,50,40\nf1.png,50,40\n")
    again = yolo.read(d, ImportOptions(sizes=sizes))
    assert again.labels.column("bbox").to_pylist() == batch.labels.column("bbox").to_pylist()
    assert again.assets.column("uri").to_pylist() == [None, None]


def test_image_list_with_tool_prefix_and_no_images(tmp_path):
    """Datumaro writes train.txt entries as data/images/train/1.jpg; the images may be absent."""
    d = tmp_path / "ds"
    (d / "labels" / "train").mkdir(parents=True)
    (d / "labels" / "train" / "1.txt").write_text("0 0.5 0.5 1 1\n")
    (d / "train.txt").write_text("data/images/train/1.jpg\n")
    (d / "data.yaml").write_text("path: .\ntrain: train.txt\nnames:\n  0: label_0\n")
    sizes = tmp_path / "sizes.json"
    sizes.write_text('{"1.jpg": [30, 20]}')
    batch = yolo.read(d, ImportOptions(sizes=sizes))
    (row,) = _rows(batch)
    assert row["asset_id"] == "1.jpg"
    assert row["bbox"] == _approx({"x": 0, "y": 0, "w": 30, "h": 20})


def test_labels_folder_with_splits_as_path():
    batch = yolo.read(HERE / "detect" / "labels", ImportOptions())
    assert batch.assets.num_rows == 3 and batch.labels.num_rows == 3


def test_corrupt_image_is_an_input_error_and_lenient_skips_it(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    (d / "images" / "train" / "x.png").write_bytes(b"not a png")
    with pytest.raises(InputError) as err:
        yolo.read(d, ImportOptions())
    assert err.value.file.endswith("x.png") and err.value.field == "image"
    batch = yolo.read(d, ImportOptions(strict=False))
    assert batch.labels.num_rows == 0 and len(batch.skipped) == 1


def test_export_with_conf_column(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2 0.9\n1 0.1 0.1 0.2 0.2\n")
    batch = yolo.read(d, ImportOptions(strict=False, extra={}))
    out = tmp_path / "out"
    yolo.write(batch_to_export(batch), out, ExportOptions(extra={"conf": True}))
    lines = sorted((out / "labels" / "train" / "x.txt").read_text().splitlines())
    assert lines == [
        "0 0.500000 0.500000 0.200000 0.200000 0.900000",
        "1 0.100000 0.100000 0.200000 0.200000 1.000000",
    ]


def test_same_file_name_in_two_splits(tmp_path):
    d = _one_file(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    (d / "images" / "val").mkdir()
    (d / "labels" / "val").mkdir()
    Image.new("L", (10, 10)).save(d / "images" / "val" / "x.png")
    (d / "labels" / "val" / "x.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (d / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [a, b]\n")
    with pytest.raises(InputError) as err:
        yolo.read(d, ImportOptions())
    assert err.value.field == "asset_id" and "split_prefix" in err.value.hint
    batch = yolo.read(d, ImportOptions(extra={"split_prefix": True}))
    assert sorted(batch.assets.column("asset_id").to_pylist()) == ["train/x.png", "val/x.png"]
    out = tmp_path / "out"
    yolo.write(batch_to_export(batch), out, ExportOptions())
    assert (out / "labels" / "val" / "x.txt").read_text().startswith("1 ")
    assert (out / "labels" / "train" / "x.txt").read_text().startswith("0 ")


def test_roboflow_export_layout(tmp_path):
    """Roboflow: data.yaml at the root with train: ../train/images, and a Colab ``path``."""
    d = tmp_path / "rf"
    for split in ("train", "valid"):
        (d / split / "images").mkdir(parents=True)
        (d / split / "labels").mkdir()
        Image.new("L", (100, 100)).save(d / split / "images" / f"{split}_a.jpg")
        (d / split / "labels" / f"{split}_a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (d / "data.yaml").write_text(
        "path: /content/datasets/rf\ntrain: ../train/images\nval: ../valid/images\n"
        "nc: 1\nnames: ['thing']\n"
    )
    batch = yolo.read(d / "data.yaml", ImportOptions())
    splits = {a["asset_id"]: a["split"] for a in batch.assets.to_pylist()}
    assert splits == {"train_a.jpg": "train", "valid_a.jpg": "val"}
    assert batch.labels.num_rows == 2


def test_names_with_nc_mismatch(tmp_path):
    d = _one_file(tmp_path, "")
    (d / "data.yaml").write_text("train: images/train\nnc: 3\nnames: [a, b]\n")
    with pytest.raises(InputError) as err:
        yolo.read(d, ImportOptions())
    assert err.value.field == "nc"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.tuples(st.integers(10, 5000), st.integers(10, 5000)),
    boxes=st.lists(
        st.tuples(*[st.integers(0, 5000)] * 4, st.integers(0, 2)), max_size=6, unique=True
    ),
)
def test_box_export_import_keeps_pixels(tmp_path_factory, size, boxes):
    """Pixels -> 6-decimal normalised -> pixels moves a box by at most 1e-6 of the image size.
    (Whole-pixel boxes inside the image, all different: identical lines are dropped on import,
    as Ultralytics does.)"""
    w, h = size
    boxes = {(x % w, y % h, bw % (w - x % w), bh % (h - y % h), c) for x, y, bw, bh, c in boxes}
    labels = [
        {"asset_id": "i.jpg", "class_name": "abc"[c], "shape": "box", "bbox": [x, y, bw, bh]}
        for x, y, bw, bh, c in sorted(boxes)
    ]
    data = _export_input(
        [dict(r) for r in labels],
        [{"asset_id": "i.jpg", "width": w, "height": h, "split": "train"}],
        [{"class_name": n, "ordinal": i} for i, n in enumerate("abc")],
    )
    out = tmp_path_factory.mktemp("rt")
    yolo.write(data, out, ExportOptions())
    sizes = out / "sizes.csv"
    sizes.write_text(f"i.jpg,{w},{h}\n")
    again = yolo.read(out, ImportOptions(sizes=sizes))
    got = sorted((r["class_name"], *np.round(list(r["bbox"].values()), 2)) for r in _rows(again))
    want = sorted((r["class_name"], *map(float, r["bbox"])) for r in labels)
    assert [g[0] for g in got] == [x[0] for x in want]
    if labels:
        tol = 1.5e-6 * max(w, h) + 0.01
        assert np.allclose([g[1:] for g in got], [x[1:] for x in want], atol=tol)


def test_export_clips_to_the_image(tmp_path):
    data = _export_input(
        [
            {"asset_id": "c.png", "class_name": "a", "shape": "box", "bbox": [190, 95, 30, 20]},
            {
                "asset_id": "c.png",
                "class_name": "a",
                "shape": "polygon",
                "polygon": [[-5, 0, 50, 0, 50, 120]],
                "bbox": [-5, 0, 55, 120],
            },
        ],
        [{"asset_id": "c.png", "width": 200, "height": 100, "split": "train"}],
        [{"class_name": "a", "ordinal": 0}],
    )
    result = yolo.write(data, tmp_path, ExportOptions())
    lines = (tmp_path / "labels" / "train" / "c.txt").read_text().splitlines()
    # cx 205/200 is past Ultralytics' 1% slack: x 190..220 -> 190..200, y 95..115 -> 95..100
    assert lines[0] == "0 0.975000 0.975000 0.050000 0.050000"
    assert lines[1] == "0 0.000000 0.000000 0.250000 0.000000 0.250000 1.000000"
    assert any(n.startswith("2 labels clipped") for n in result.notes)
    yolo.read(tmp_path, ImportOptions(sizes=_sizes(tmp_path, {"c.png": [200, 100]})))


def _sizes(folder: Path, table: dict) -> Path:
    path = folder / "sizes.json"
    path.write_text(json.dumps(table))
    return path
