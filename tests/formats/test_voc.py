"""Pascal VOC: the format contract on three real-world layouts, plus VOC's own quirks.

Fixtures copy the structure of real files: VOC2007 ``000005.xml`` (difficult/truncated
chairs), VOC2012 ``2007_000027.xml`` (person layout with head/hand/foot parts and
actions), a VOC2012 detection file with ``occluded`` and ``segmented``, an image with no
objects, labelImg saves (``verified``, ``path``, float coordinates) and a CVAT/Datumaro
export (``labelmap.txt``, ``default`` subset, float boxes, ``<attributes>``).
"""

from __future__ import annotations

import hashlib
import json
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lineage import formats
from lineage.errors import InputError
from lineage.formats import voc
from lineage.formats.base import ExportOptions, ImportOptions
from lineage.store import schema as schemas
from tests.formats.contract import FIXTURES, FormatContract, batch_to_export, label_rows

VOC = FIXTURES / "voc"
WIDE = [
    *FormatContract.roundtrip_columns,
    "attributes",
    "annotator_id",
    "source",
    "guideline_version",
    "model_version",
    "score",
    "created_at",
]


class TestVocDataset(FormatContract):
    format = "voc"
    fixture = "voc2012"
    roundtrip_columns = WIDE

    def options(self) -> ImportOptions:
        return ImportOptions(annotator="ana", guideline="v2", source="human")


class TestVocLabelImgFolder(FormatContract):
    format = "voc"
    fixture = "labelimg"
    roundtrip_columns = WIDE


class TestVocCvatExport(FormatContract):
    format = "voc"
    fixture = "cvat"
    roundtrip_columns = WIDE

    def options(self) -> ImportOptions:
        return ImportOptions(extra={"voc_coords": "continuous"})

    def test_round_trip(self, tmp_path):
        first = self.read(self.fixture_path())
        out = tmp_path / "export"
        voc.write(batch_to_export(first), out, ExportOptions(extra={"voc_coords": "continuous"}))
        again = self.read(out)
        assert label_rows(again.labels, WIDE) == label_rows(first.labels, WIDE)


# --------------------------------------------------------------------------- helpers


def rows(batch, asset_id=None) -> list[dict]:
    out = batch.labels.to_pylist()
    for r in out:
        r["attributes"] = json.loads(r["attributes"])
    return [r for r in out if asset_id is None or r["asset_id"] == asset_id]


def xml(
    tmp_path: Path,
    body: str,
    name: str = "a.xml",
    size: str | None = "<width>100</width><height>80</height>",
) -> Path:
    size_elem = f"<size>{size}<depth>3</depth></size>" if size is not None else ""
    path = tmp_path / name
    path.write_text(f"<annotation><filename>a.jpg</filename>{size_elem}{body}</annotation>")
    return path


def obj(name="cat", xmin="10", ymin="10", xmax="20", ymax="30", extra="") -> str:
    name_elem = f"<name>{name}</name>" if name is not None else ""
    coords = "".join(
        f"<{t}>{v}</{t}>"
        for t, v in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax))
        if v is not None
    )
    return f"<object>{name_elem}<bndbox>{coords}</bndbox>{extra}</object>"


# --------------------------------------------------------------------------- reading


def test_devkit_convention_matches_devkit_area_and_full_image_box(tmp_path):
    """xmin=1..xmax=W is the whole image; area is the devkit's (xmax-xmin+1)*(ymax-ymin+1)."""
    path = xml(
        tmp_path,
        obj(xmin="1", ymin="1", xmax="100", ymax="80")
        + obj(xmin="48", ymin="40", xmax="95", ymax="71"),
    )
    boxes = [r["bbox"] for r in rows(voc.read(path, ImportOptions()))]
    assert boxes[0] == {"x": 0.0, "y": 0.0, "w": 100.0, "h": 80.0}
    assert boxes[1]["w"] * boxes[1]["h"] == (95 - 48 + 1) * (71 - 40 + 1)
    assert (boxes[1]["x"], boxes[1]["y"]) == (47.0, 39.0)


def test_continuous_convention_reads_numbers_as_cvat_writes_them():
    batch = voc.read(VOC / "cvat", ImportOptions(extra={"voc_coords": "continuous"}))
    car = rows(batch, "frame_000001.jpg")[0]
    assert car["bbox"]["x"] == 412.58 and car["bbox"]["y"] == 301.2
    assert car["bbox"]["w"] == pytest.approx(640.07 - 412.58)
    assert car["rotation"] == 0.0


def test_unknown_convention_is_an_input_error():
    with pytest.raises(InputError, match="convention"):
        voc.read(VOC / "cvat", ImportOptions(extra={"voc_coords": "zero-based"}))


def test_flags_and_pose_become_attributes():
    batch = voc.read(VOC / "voc2012", ImportOptions())
    chairs = rows(batch, "000005.jpg")
    assert [c["attributes"]["difficult"] for c in chairs] == [False, False, True, False, True]
    assert chairs[2]["attributes"]["truncated"] is True
    assert chairs[0]["attributes"]["pose"] == "Rear"
    assert chairs[1]["attributes"]["pose"] == "Unspecified"  # kept, not dropped
    assert "occluded" not in chairs[0]["attributes"]  # only where the file has it
    horse, person = rows(batch, "2008_000008.jpg")
    assert horse["attributes"]["occluded"] is True and person["attributes"]["occluded"] is False


def test_parts_are_box_labels_grouped_with_their_person():
    batch = voc.read(VOC / "voc2012", ImportOptions())
    labels = rows(batch, "2007_000027.jpg")
    person = labels[0]
    parts = labels[1:]
    assert person["class_name"] == "person"
    assert sorted(p["class_name"] for p in parts) == ["foot", "foot", "hand", "head"]
    assert all(p["attributes"] == {"group_id": 1, "voc_part": True} for p in parts)
    assert person["attributes"]["group_id"] == 1
    head = next(p for p in parts if p["class_name"] == "head")
    assert head["bbox"] == {"x": 168.0, "y": 103.0, "w": 41.0, "h": 43.0}


def test_actions_and_point_become_attributes():
    person = rows(voc.read(VOC / "voc2012", ImportOptions()), "2007_000027.jpg")[0]
    assert person["attributes"]["actions"]["walking"] is True
    assert person["attributes"]["actions"]["jumping"] is False
    assert person["attributes"]["point"] == [271.0, 142.0]


def test_cvat_attributes_are_typed():
    batch = voc.read(VOC / "cvat", ImportOptions(extra={"voc_coords": "continuous"}))
    car1 = rows(batch, "frame_000001.jpg")[0]["attributes"]
    car2 = rows(batch, "frame_000002.jpg")[0]["attributes"]
    assert car1["color"] == "red" and car1["parked"] is True and car1["doors"] == 4
    assert car2["parked"] is False


def test_image_with_no_objects_is_an_asset_without_labels():
    batch = voc.read(VOC / "voc2012", ImportOptions())
    assets = {a["asset_id"]: a for a in batch.assets.to_pylist()}
    assert assets["2008_000011.jpg"]["width"] == 333
    assert "2008_000011.jpg" not in set(batch.labels.column("asset_id").to_pylist())


def test_splits_from_imagesets_trainval_only_fills_gaps():
    batch = voc.read(VOC / "voc2012", ImportOptions())
    splits = {a["asset_id"]: a["split"] for a in batch.assets.to_pylist()}
    assert splits == {
        "000005.jpg": "train",
        "2007_000027.jpg": "train",
        "2008_000008.jpg": "val",
        "2008_000011.jpg": "trainval",
    }
    cvat = voc.read(VOC / "cvat", ImportOptions(extra={"voc_coords": "continuous"}))
    assert set(cvat.assets.column("split").to_pylist()) == {"default"}


def test_categories_sorted_by_name_or_labelmap_order():
    batch = voc.read(VOC / "voc2012", ImportOptions())
    cats = batch.categories.select(["class_name", "ordinal"]).to_pylist()
    names = [c["class_name"] for c in cats]
    assert names == sorted(names) and [c["ordinal"] for c in cats] == list(range(len(names)))
    cvat = voc.read(VOC / "cvat", ImportOptions(extra={"voc_coords": "continuous"}))
    assert cvat.categories.select(["class_name", "ordinal"]).to_pylist() == [
        {"class_name": "car", "ordinal": 1},  # labelmap line 1; background is line 0
        {"class_name": "person", "ordinal": 2},
    ]


def test_labelimg_quirks_verified_path_and_png():
    batch = voc.read(VOC / "labelimg", ImportOptions())
    assets = {a["asset_id"]: a for a in batch.assets.to_pylist()}
    assert assets["dog_park.png"]["tags"] == ["verified"]
    assert assets["dog_park.png"]["uri"] == "/home/ana/datasets/park/images/dog_park.png"
    cat = rows(batch, "cat_sofa.jpg")[0]
    assert cat["bbox"] == {"x": 239.5, "y": 129.25, "w": 272.25, "h": 290.75}
    assert any("fractional" in n for n in batch.notes)


def test_provenance_defaults_and_annotator_map():
    batch = voc.read(
        VOC / "labelimg",
        ImportOptions(
            annotator="ana@example.org",
            annotator_map={"ana@example.org": "ana"},
            guideline="v3",
            source="human",
        ),
    )
    assert set(batch.labels.column("annotator_id").to_pylist()) == {"ana"}
    assert set(batch.labels.column("guideline_version").to_pylist()) == {"v3"}
    assert batch.annotators.to_pylist()[0]["annotator_id"] == "ana"
    assert batch.stable_ids is False


def test_owner_is_the_image_owner_unless_asked():
    batch = voc.read(VOC / "voc2012", ImportOptions())
    assert batch.labels.column("annotator_id").null_count == batch.labels.num_rows
    assert any("Flickr owner" in n for n in batch.notes)
    as_annotator = voc.read(VOC / "voc2012", ImportOptions(extra={"owner_is_annotator": True}))
    chairs = rows(as_annotator, "000005.jpg")
    assert {c["annotator_id"] for c in chairs} == {"?"}


def test_missing_filename_falls_back_to_the_image_beside_it(tmp_path):
    (tmp_path / "street.xml").write_text("<annotation>" + obj() + "</annotation>")
    batch = voc.read(tmp_path, ImportOptions())
    assert batch.labels.column("asset_id").to_pylist() == ["street.jpg"]
    assert any("no <filename>" in n for n in batch.notes)
    from PIL import Image

    Image.new("RGB", (64, 48)).save(tmp_path / "street.png")
    again = voc.read(tmp_path, ImportOptions())
    assert again.labels.column("asset_id").to_pylist() == ["street.png"]


def test_images_are_hashed_and_measured_when_present(tmp_path):
    from PIL import Image

    root = tmp_path / "ds"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    Image.new("RGB", (64, 48), "red").save(root / "JPEGImages" / "a.jpg")
    (root / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename>" + obj() + "</annotation>"
    )
    asset = voc.read(root, ImportOptions()).assets.to_pylist()[0]
    data = (root / "JPEGImages" / "a.jpg").read_bytes()
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert asset["size_bytes"] == len(data)
    assert (asset["width"], asset["height"]) == (64, 48)


def test_filename_leaving_the_image_folder_is_never_read(tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"top secret")
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "a.xml").write_text(
        "<annotation><filename>../secret.jpg</filename>" + obj() + "</annotation>"
    )
    asset = voc.read(folder, ImportOptions()).assets.to_pylist()[0]
    assert asset["sha256"] is None and asset["size_bytes"] is None


def test_single_file_and_subfolder_item_ids(tmp_path):
    root = tmp_path / "ds"
    (root / "Annotations" / "cam1").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations" / "cam1" / "f1.xml").write_text(
        "<annotation><filename>cam1/f1.jpg</filename>" + obj() + "</annotation>"
    )
    (root / "ImageSets" / "Main" / "test.txt").write_text("cam1/f1\n")
    batch = voc.read(root, ImportOptions())
    assert batch.assets.to_pylist()[0]["split"] == "test"
    one = voc.read(root / "Annotations" / "cam1" / "f1.xml", ImportOptions())
    assert one.labels.num_rows == 1


def test_detect():
    assert voc.detect(VOC / "voc2012") >= 0.9
    assert voc.detect(VOC / "voc2012" / "Annotations" / "000005.xml") >= 0.5
    assert voc.detect(VOC / "labelimg") >= 0.5
    assert formats.detect(VOC / "voc2012") == "voc"


def test_detect_refuses_other_xml_and_non_xml(tmp_path):
    cvat = tmp_path / "annotations.xml"
    cvat.write_text('<annotations><version>1.1</version><image id="0" name="a.jpg"/></annotations>')
    assert voc.detect(cvat) == 0.0
    assert voc.detect(tmp_path) == 0.0
    junk = tmp_path / "j.xml"
    junk.write_text("not xml at all")
    assert voc.detect(junk) == 0.0
    assert voc.detect(tmp_path / "missing") == 0.0


# --------------------------------------------------------------------------- bad input


BAD = [
    ("missing bndbox coordinate", obj(ymax=None), "object 1", "bndbox/ymax", "missing ymax"),
    ("non-numeric coordinate", obj(xmin="ten"), "object 1", "bndbox/xmin", "not a number"),
    ("NaN coordinate", obj(xmax="NaN"), "object 1", "bndbox/xmax", "not a finite number"),
    ("infinite coordinate", obj(ymin="inf"), "object 1", "bndbox/ymin", "not a finite number"),
    ("xmax < xmin", obj(xmin="50", xmax="20"), "object 1", "bndbox/xmax", "less than xmin"),
    ("ymax < ymin", obj(ymin="50", ymax="20"), "object 1", "bndbox/ymax", "less than ymin"),
    (
        "far outside",
        obj() + obj() + obj(xmin="90", xmax="400"),
        "object 3",
        "bndbox",
        "far outside",
    ),
    ("negative far outside", obj(ymin="-60"), "object 1", "bndbox", "far outside"),
    ("missing name", obj() + obj(name=None), "object 2", "name", "no name"),
    ("empty name", obj(name="  "), "object 1", "name", "no name"),
    ("no bndbox", "<object><name>cat</name></object>", "object 1", "bndbox", "no bndbox"),
    (
        "attribute without name",
        obj(extra="<attributes><attribute><value>1</value></attribute></attributes>"),
        "object 1",
        "attributes/attribute[1]/name",
        "no name",
    ),
    (
        "bad part",
        obj(extra="<part><name>head</name><bndbox><xmin>1</xmin></bndbox></part>"),
        "object 1 part 1",
        "bndbox/ymin",
        "missing ymin",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "record", "field", "message"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_objects_name_file_object_and_field(tmp_path, case, body, record, field, message):
    path = xml(tmp_path, body)
    with pytest.raises(InputError) as info:
        voc.read(path, ImportOptions())
    err = info.value
    assert err.file == str(path) and err.record == record and err.field == field
    assert message in err.reason
    assert str(path) in str(err) and record in str(err)


def test_slightly_outside_boxes_are_accepted(tmp_path):
    path = xml(tmp_path, obj(xmin="0", ymin="0", xmax="101", ymax="81"))  # CVAT/labelImg rounding
    assert voc.read(path, ImportOptions()).labels.num_rows == 1


def test_unknown_class_when_classes_are_given(tmp_path):
    path = xml(tmp_path, obj(name="cat") + obj(name="zebra"))
    with pytest.raises(InputError) as info:
        voc.read(path, ImportOptions(extra={"classes": ["cat", "dog"]}))
    assert (info.value.record, info.value.field) == ("object 2", "name")
    assert "zebra" in info.value.reason
    ok = voc.read(path, ImportOptions(extra={"classes": ["cat", "dog", "zebra"]}))
    assert ok.categories.select(["class_name", "ordinal"]).to_pylist()[2] == {
        "class_name": "zebra",
        "ordinal": 2,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("this is not xml", "not well-formed"),
        (
            "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox><xmin>1</xmin>",
            "not well-formed",
        ),
        ("", "not well-formed"),
    ],
    ids=["not-xml", "truncated", "empty"],
)
def test_not_xml_or_truncated(tmp_path, text, reason):
    path = tmp_path / "broken.xml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        voc.read(path, ImportOptions())
    assert info.value.file == str(path) and reason in info.value.reason


def test_other_xml_root_is_refused(tmp_path):
    path = tmp_path / "annotations.xml"
    path.write_text("<annotations><version>1.1</version></annotations>")
    with pytest.raises(InputError, match="not a VOC annotation") as info:
        voc.read(path, ImportOptions())
    assert info.value.field == "annotation"


def test_bad_image_size(tmp_path):
    path = xml(tmp_path, obj(), size="<width>wide</width><height>80</height>")
    with pytest.raises(InputError) as info:
        voc.read(path, ImportOptions())
    assert (info.value.record, info.value.field) == ("annotation", "size/width")


def test_same_image_in_two_files(tmp_path):
    xml(tmp_path, obj(), name="a.xml")
    xml(tmp_path, obj(), name="b.xml")
    with pytest.raises(InputError, match="also annotated by") as info:
        voc.read(tmp_path, ImportOptions())
    assert info.value.field == "filename"


def test_lenient_skips_bad_records_and_keeps_the_rest(tmp_path):
    xml(tmp_path, obj() + obj(xmin="x") + obj(name=None) + obj(xmin="12"), name="a.xml")
    (tmp_path / "b.xml").write_text("<annotation><filename>b.jpg")
    batch = voc.read(tmp_path, ImportOptions(strict=False))
    assert batch.labels.num_rows == 2
    where = sorted((Path(s.file).name, s.record, s.field) for s in batch.skipped)
    assert where == [
        ("a.xml", "object 2", "bndbox/xmin"),
        ("a.xml", "object 3", "name"),
        ("b.xml", "None", None),
    ]


def test_xxe_never_reads_the_local_file(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("HUNTER2-PASSWORD")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        "<annotation><filename>&xxe;</filename>" + obj() + "</annotation>"
    )
    with pytest.raises(InputError) as info:
        voc.read(path, ImportOptions())
    assert "entities" in info.value.reason
    assert "HUNTER2" not in str(info.value)
    lenient = voc.read(path, ImportOptions(strict=False))
    assert lenient.labels.num_rows == 0 and "HUNTER2" not in repr(lenient.skipped)
    assert voc.detect(path) == 0.0


def test_billion_laughs_fails_fast(tmp_path):
    lol = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE annotation [' + "".join(lol) + "]>\n"
        "<annotation><filename>&lol9;</filename></annotation>"
    )
    start = time.monotonic()
    with pytest.raises(InputError, match="entities"):
        voc.read(path, ImportOptions())
    assert voc.detect(path) == 0.0
    assert time.monotonic() - start < 2.0


# --------------------------------------------------------------------------- writing


def _export_input(labels: list[dict], assets: list[dict], categories=None):
    n = len(labels)
    for i, r in enumerate(labels):
        r.setdefault("label_id", f"{i:016x}")
        r.setdefault("revision", 1)
        r.setdefault("op", "create")
        r.setdefault("txn_id", "t0")
        r.setdefault("shape", "box")
        r["attributes"] = json.dumps(r.get("attributes", {}), sort_keys=True, separators=(",", ":"))
        b = r.get("bbox")
        if isinstance(b, list):
            r["bbox"] = dict(zip("xywh", b, strict=True))
    for a in assets:
        a.setdefault("txn_id", "t0")
    cats = [dict(c, txn_id="t0") for c in (categories or [])]
    from lineage.formats.base import ExportInput

    assert n == len(labels)
    return ExportInput(
        labels=pa.Table.from_pylist(labels, schema=schemas.schema("label_events")),
        assets=pa.Table.from_pylist(assets, schema=schemas.schema("assets")),
        categories=pa.Table.from_pylist(cats, schema=schemas.schema("categories")),
        annotators=schemas.empty("annotators"),
        reviews=schemas.empty("reviews"),
        guidelines=schemas.empty("guidelines"),
    )


def test_export_layout_is_what_voc_tools_read(tmp_path):
    data = _export_input(
        [
            {
                "asset_id": "img/a.jpg",
                "class_name": "dog",
                "bbox": [9.0, 19.0, 30.0, 40.0],
                "attributes": {"difficult": True, "pose": "Left", "color": "brown"},
                "annotator_id": "ana",
                "source": "human",
                "guideline_version": "v2",
            }
        ],
        [
            {"asset_id": "img/a.jpg", "width": 100, "height": 80, "split": "train"},
            {"asset_id": "b.jpg", "width": 50, "height": 50, "split": "val"},
        ],
    )
    result = voc.write(data, tmp_path, ExportOptions())
    root = ET.parse(tmp_path / "Annotations" / "img" / "a.xml").getroot()
    assert [c.tag for c in root] == ["folder", "filename", "source", "size", "segmented", "object"]
    o = root.find("object")
    assert [c.tag for c in o] == ["name", "pose", "truncated", "difficult", "bndbox", "attributes"]
    # the devkit's reading (detectron2: xmin - 1, xmax as is) gives back the stored box
    box = [float(o.find(f"bndbox/{t}").text) for t in ("xmin", "ymin", "xmax", "ymax")]
    assert box == [10, 20, 39, 59]
    assert (o.find("difficult").text, o.find("truncated").text) == ("1", "0")
    attrs = {a.find("name").text: a.find("value").text for a in o.iter("attribute")}
    assert attrs == {
        "color": "brown",
        "label_id": "0000000000000000",
        "annotator_id": "ana",
        "source": "human",
        "guideline_version": "v2",
    }
    assert (tmp_path / "Annotations" / "b.xml").exists()  # negatives are kept
    assert (tmp_path / "ImageSets" / "Main" / "train.txt").read_text() == "img/a\n"
    assert (tmp_path / "ImageSets" / "Main" / "trainval.txt").read_text() == "b\nimg/a\n"
    assert result.labels == 1 and tmp_path / "labelmap.txt" in result.files


def test_export_leaves_out_polygons_unless_envelope(tmp_path):
    poly = {
        "asset_id": "a.jpg",
        "class_name": "road",
        "shape": "polygon",
        "bbox": [0.0, 0.0, 10.0, 5.0],
        "polygon": [[0.0, 0.0, 10.0, 0.0, 10.0, 5.0]],
    }
    cls = {"asset_id": "a.jpg", "class_name": "night", "shape": "classification"}
    nameless = {"asset_id": "a.jpg", "class_name": None, "bbox": [1.0, 1.0, 2.0, 2.0]}
    data = _export_input([poly, cls, nameless], [{"asset_id": "a.jpg", "width": 20, "height": 20}])
    result = voc.write(data, tmp_path / "omit", ExportOptions())
    assert result.labels == 0
    assert any("polygon" in n and "left out" in n for n in result.notes)
    assert any("classification" in n for n in result.notes)
    assert any("box without a class" in n for n in result.notes)
    assert ET.parse(tmp_path / "omit" / "Annotations" / "a.xml").getroot().find("object") is None
    env = voc.write(data, tmp_path / "env", ExportOptions(extra={"shapes": "envelope"}))
    assert env.labels == 1
    back = rows(voc.read(tmp_path / "env", ImportOptions()))
    assert back[0]["bbox"] == {"x": 0.0, "y": 0.0, "w": 10.0, "h": 5.0}
    assert back[0]["attributes"]["envelope_of"] == "polygon"


def test_export_refuses_paths_leaving_out(tmp_path):
    data = _export_input(
        [{"asset_id": "../../evil.jpg", "class_name": "x", "bbox": [1.0, 1.0, 2.0, 2.0]}],
        [{"asset_id": "../../evil.jpg"}],
    )
    with pytest.raises(InputError, match="leaves"):
        voc.write(data, tmp_path / "out", ExportOptions())
    assert not (tmp_path / "evil.xml").exists()


def test_export_refuses_two_images_with_one_stem(tmp_path):
    data = _export_input([], [{"asset_id": "a.jpg"}, {"asset_id": "a.png"}])
    with pytest.raises(InputError, match="both be written"):
        voc.write(data, tmp_path, ExportOptions())
    assert not (tmp_path / "Annotations").exists()  # refused before writing anything


def test_export_pseudonymizes_annotators(tmp_path):
    data = _export_input(
        [
            {
                "asset_id": "a.jpg",
                "class_name": "x",
                "bbox": [1.0, 1.0, 2.0, 2.0],
                "annotator_id": "ana@example.org",
            }
        ],
        [{"asset_id": "a.jpg"}],
    )
    voc.write(data, tmp_path, ExportOptions(pseudonymize_key=b"k"))
    text = (tmp_path / "Annotations" / "a.xml").read_text()
    assert "ana@example.org" not in text
    back = voc.read(tmp_path, ImportOptions()).labels.column("annotator_id").to_pylist()
    assert back[0].startswith("anon-") and back[0] != "ana@example.org"


def test_round_trip_keeps_provenance_scores_times_and_rotation(tmp_path):
    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    data = _export_input(
        [
            {
                "asset_id": "a.jpg",
                "class_name": "car",
                "bbox": [10.25, 20.5, 30.125, 40.0],
                "source": "model",
                "annotator_id": "yolo",
                "model_version": "yolo-8.1",
                "score": 0.875,
                "created_at": when,
                "rotation": 15.0,
                "attributes": {"track": 7, "tags": ["a", "b"]},
            }
        ],
        [{"asset_id": "a.jpg", "width": 200, "height": 100, "tags": ["segmented", "verified"]}],
        [{"class_name": "car", "ordinal": 1}],
    )
    voc.write(data, tmp_path, ExportOptions())
    back = voc.read(tmp_path, ImportOptions())
    r = rows(back)[0]
    assert r["bbox"] == {"x": 10.25, "y": 20.5, "w": 30.125, "h": 40.0}
    assert (r["source"], r["model_version"], r["score"], r["created_at"]) == (
        "model",
        "yolo-8.1",
        0.875,
        when,
    )
    assert r["rotation"] == 15.0 and r["label_id"] == "0000000000000000"
    assert r["attributes"] == {
        "difficult": False,
        "truncated": False,
        "track": 7,
        "tags": ["a", "b"],
    }
    assert back.assets.to_pylist()[0]["tags"] == ["segmented", "verified"]
    # ordinals starting at 1 keep their numbers through labelmap.txt's background line
    assert back.categories.select(["class_name", "ordinal"]).to_pylist() == [
        {"class_name": "car", "ordinal": 1}
    ]
    assert back.annotators.select(["annotator_id", "kind"]).to_pylist() == [
        {"annotator_id": "yolo", "kind": "model"}
    ]


def test_devkit_xml_text_round_trips_exactly(tmp_path):
    """Float layout boxes (VOC2012 layout files have e.g. 304.1916) come back as written."""
    path = xml(
        tmp_path / "",
        obj(name="person", xmin="304.1916", ymin="18.2635", xmax="48.0359e1", ymax="80"),
        size="<width>500</width><height>80</height>",
    )
    out = tmp_path / "out"
    voc.write(batch_to_export(voc.read(path, ImportOptions())), out, ExportOptions())
    box = ET.parse(out / "Annotations" / "a.xml").getroot().find("object/bndbox")
    assert [box.find(t).text for t in ("xmin", "ymin", "xmax", "ymax")] == [
        "304.1916",
        "18.2635",
        "480.359",
        "80",
    ]
