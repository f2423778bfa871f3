"""Object matching between two annotators: hand-computed cases, and match_many = sum of match_objects."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from lineage import geometry
from lineage.audit import object_match
from lineage.audit.object_match import match_many, match_objects
from lineage.formats.base import table_from_records


def labels(*rows: dict) -> pa.Table:
    return table_from_records("label_events", [{"asset_id": "img", **r} for r in rows])


def box(x, y, w=10, h=10, cls="car", **extra) -> dict:
    return {"shape": "box", "bbox": [x, y, w, h], "class_name": cls, **extra}


def nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


# --------------------------------------------------------------------------- one image


def test_identical_sets():
    a = labels(box(0, 0), box(20, 0, cls="dog"), box(40, 40, 5, 8, cls="person"))
    r = match_objects(a, a)
    assert r.pairs == ((0, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0))
    assert (r.tp, r.fp, r.fn) == (3, 0, 0)
    assert (r.precision, r.recall, r.f1, r.mean_iou, r.class_agreement) == (1, 1, 1, 1, 1)
    assert r.unmatched_a == r.unmatched_b == ()


def test_missed_object():
    a = labels(box(0, 0), box(50, 50))
    b = labels(box(0, 0))
    r = match_objects(a, b)
    assert (r.tp, r.fp, r.fn) == (1, 0, 1)
    assert r.unmatched_a == (1,) and r.unmatched_b == ()
    assert (r.precision, r.recall) == (1.0, 0.5)
    assert r.f1 == pytest.approx(2 / 3, abs=1e-15)


def test_extra_object():
    a = labels(box(0, 0))
    b = labels(box(70, 5), box(0, 0))
    r = match_objects(a, b)
    assert r.pairs == ((0, 1, 1.0),)
    assert (r.tp, r.fp, r.fn) == (1, 1, 0)
    assert r.unmatched_b == (0,)
    assert (r.precision, r.recall) == (0.5, 1.0)
    assert r.f1 == pytest.approx(2 / 3, abs=1e-15)


def test_shifted_box_below_threshold_is_a_miss_and_an_extra():
    # 10x10 boxes 5 px apart: intersection 5 x 10 = 50, union 100 + 100 - 50 = 150
    a, b = labels(box(0, 0)), labels(box(5, 0))
    assert geometry.box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10]])[0, 0] == pytest.approx(1 / 3)
    r = match_objects(a, b)
    assert r.pairs == () and r.unmatched_a == (0,) and r.unmatched_b == (0,)
    assert (r.tp, r.fp, r.fn) == (0, 1, 1)
    assert (r.precision, r.recall, r.f1) == (0.0, 0.0, 0.0)
    assert nan(r.mean_iou) and nan(r.class_agreement)
    lenient = match_objects(a, b, iou_threshold=0.3)
    assert lenient.tp == 1 and lenient.mean_iou == pytest.approx(50 / 150, abs=1e-15)


def test_class_swap_is_a_matched_pair_that_disagrees():
    r = match_objects(labels(box(0, 0, cls="car")), labels(box(0, 0, cls="truck")))
    assert (r.tp, r.fp, r.fn) == (1, 0, 0)
    assert r.class_agreement == 0.0 and r.class_matches == 0
    # matching follows the geometry, not the names: two boxes whose classes were swapped
    a = labels(box(0, 0, cls="car"), box(30, 0, cls="dog"))
    b = labels(box(30, 0, cls="car"), box(0, 0, cls="dog"))
    r = match_objects(a, b)
    assert [(i, j) for i, j, _ in r.pairs] == [(0, 1), (1, 0)]
    assert r.class_agreement == 0.0 and r.f1 == 1.0


def test_assignment_is_optimal_not_greedy():
    # 10x10 boxes shifted by d px along x have IoU (10 - d) / (10 + d):
    # a0-b0 d=1 0.818, a1-b0 d=2 0.667, a0-b1 d=2 0.667, a1-b1 d=5 0.333 (< 0.5).
    # Greedy takes a0-b0 and leaves a1 unmatched; the optimum pairs a0-b1 and a1-b0.
    a = labels(box(0, 0), box(3, 0))
    b = labels(box(1, 0), box(-2, 0))
    r = match_objects(a, b)
    assert [(i, j) for i, j, _ in r.pairs] == [(0, 1), (1, 0)]
    assert r.tp == 2 and r.mean_iou == pytest.approx(8 / 12, abs=1e-15)


def test_ties_go_to_class_agreement():
    a = labels(box(0, 0, cls="car"), box(0, 0, cls="dog"))
    b = labels(box(0, 0, cls="dog"), box(0, 0, cls="car"))
    r = match_objects(a, b)
    assert [(i, j) for i, j, _ in r.pairs] == [(0, 1), (1, 0)]
    assert r.class_agreement == 1.0


def test_empty_sides():
    empty = labels()
    none = match_objects(empty, empty)
    assert (none.tp, none.fp, none.fn) == (0, 0, 0)
    assert all(nan(v) for v in (none.precision, none.recall, none.f1, none.mean_iou))
    only_b = match_objects(empty, labels(box(0, 0), box(20, 20)))
    assert (only_b.tp, only_b.fp, only_b.fn) == (0, 2, 0)
    assert only_b.precision == 0.0 and nan(only_b.recall) and only_b.f1 == 0.0
    assert only_b.unmatched_b == (0, 1)
    only_a = match_objects(labels(box(0, 0), box(20, 20)), empty)
    assert (only_a.tp, only_a.fp, only_a.fn) == (0, 0, 2)
    assert nan(only_a.precision) and only_a.recall == 0.0 and only_a.f1 == 0.0


def test_classification_labels_are_not_objects():
    tag = {"shape": "classification", "class_name": "night"}
    a = labels(tag, box(0, 0))
    b = labels(box(0, 0), tag)
    r = match_objects(a, b)
    assert r.pairs == ((1, 0, 1.0),)  # rows of the tables as given
    assert (r.tp, r.fp, r.fn) == (1, 0, 0)
    assert match_objects(labels(tag), labels(tag)).tp == 0


def test_polygons_compared_as_masks_at_image_size():
    tri = [[0.0, 0.0, 20.0, 0.0, 0.0, 20.0]]
    square = [[0.0, 0.0, 20.0, 0.0, 20.0, 20.0, 0.0, 20.0]]
    poly = lambda parts, cls: {  # noqa: E731
        "shape": "polygon",
        "polygon": parts,
        "bbox": list(geometry.polygon_bbox(parts)),
        "class_name": cls,
    }
    a, b = labels(poly(tri, "car")), labels(poly(square, "car"))
    # same envelope, so a bbox comparison would say 1; as masks the triangle is about half
    expected = geometry.iou_matrix(a, b, 40, 40)[0, 0]
    assert 0.4 < expected < 0.6
    r = match_objects(a, b, iou_threshold=0.3, height=40, width=40)
    assert r.tp == 1 and r.mean_iou == expected
    assert match_objects(a, b, iou_threshold=0.7, height=40, width=40).tp == 0


# --------------------------------------------------------------------------- many images


def test_match_many_sums_by_hand():
    groups = [
        ("same", labels(box(0, 0), box(20, 0)), labels(box(0, 0), box(20, 0))),
        ("miss", labels(box(0, 0), box(50, 50)), labels(box(0, 0, cls="dog"))),
        ("shift", labels(box(0, 0)), labels(box(5, 0))),
        ("nothing", labels(), labels()),
        ("extra", labels(), labels(box(1, 1))),
    ]
    s = match_many(iter(groups))
    assert (s.images, s.images_with_objects) == (5, 4)
    # A: 2 + 2 + 1 objects; B: 2 + 1 + 1 + 1; matched: 2 (same) + 1 (miss)
    assert (s.n_a, s.n_b, s.tp, s.fp, s.fn) == (5, 5, 3, 2, 2)
    assert (s.precision, s.recall) == (3 / 5, 3 / 5)
    assert s.f1 == pytest.approx(6 / 10, abs=1e-15)
    assert s.mean_iou == 1.0 and s.class_agreement == pytest.approx(2 / 3)
    assert s.vectorised == 5
    # matched classes: car/car twice, car/dog once; A always says car: kappa 0
    assert s.class_kappa.value == 0.0 and s.class_kappa.n_items == 3
    assert cohen_kappa_score(["car"] * 3, ["car", "car", "dog"]) == 0.0


def test_match_many_nothing():
    s = match_many([])
    assert (s.images, s.tp, s.fp, s.fn) == (0, 0, 0, 0)
    assert nan(s.precision) and nan(s.recall) and nan(s.f1) and nan(s.mean_iou)
    assert nan(s.class_kappa.value) and s.class_kappa.n_items == 0


def test_match_many_tables_without_batch_columns_fall_back():
    # tables lacking rotation/class_name cannot be batched: matched one by one, same sums
    bare = pa.table(
        {
            "shape": ["box", "box"],
            "bbox": [{"x": 0.0, "y": 0.0, "w": 10.0, "h": 10.0}] * 2,
        }
    )
    s = match_many([("x", bare, bare.slice(0, 1))])
    assert (s.tp, s.fp, s.fn, s.vectorised) == (1, 0, 1, 0)
    assert s.class_agreement == 1.0  # no class on either side counts as the same


# geometry drawn on a coarse grid so that duplicates, ties and contested images happen
grid = st.integers(0, 6).map(lambda v: 4.0 * v)
side = st.sampled_from([0.0, 6.0, 8.0, 10.0, 12.0])
classes = st.sampled_from(["car", "dog", None])


@st.composite
def label_row(draw, plain_only: bool):
    kinds = ["box"] * 6 + ["rot", "poly", "poly2", "mask", "kp", "tag"]
    kind = "box" if plain_only else draw(st.sampled_from(kinds))
    cls = draw(classes)
    if kind == "tag":
        return {"shape": "classification", "class_name": cls or "night"}
    x, y, w, h = draw(grid), draw(grid), draw(side), draw(side)
    if kind == "poly":
        parts = [[x, y, x + w, y, x, y + h]]
        return {"shape": "polygon", "polygon": parts, "bbox": [x, y, w, h], "class_name": cls}
    if kind == "poly2":  # two parts; the file's bbox covers only the first
        parts = [[x, y, x + w, y, x + w, y + h], [x + 2, y + 8, x + 9, y + 8, x + 2, y + 15]]
        return {"shape": "polygon", "polygon": parts, "bbox": [x, y, w, h], "class_name": cls}
    if kind == "mask":
        m = np.zeros((40, 40), dtype=np.uint8)
        m[int(y) : int(y + h), int(x) : int(x + w)] = 1
        rle = geometry.rle_encode(m)
        return {"shape": "mask", "mask_rle": rle, "bbox": [x, y, w, h], "class_name": cls}
    if kind == "kp":
        kps = [x, y, 2, x + w, y + h, 2, x + 1, y + 2, draw(st.sampled_from([0, 1, 2]))]
        return {"shape": "keypoints", "keypoints": kps, "bbox": [x, y, w, h], "class_name": cls}
    row = {"shape": "box", "bbox": [x, y, w, h], "class_name": cls}
    if kind == "rot":
        row["rotation"] = draw(st.sampled_from([30.0, 360.0]))
    return row


@st.composite
def images(draw):
    plain_only = draw(st.booleans())
    rows = st.lists(label_row(plain_only), max_size=5)
    n = draw(st.integers(0, 9))
    return [(f"img{i}", labels(*draw(rows)), labels(*draw(rows))) for i in range(n)]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(images(), st.sampled_from([0.3, 0.5, 0.75]), st.booleans())
def test_match_many_equals_summing_match_objects(monkeypatch_batch, groups, threshold, sized):
    # with sizes, every image takes the batch path; without, images with masks take
    # match_objects (the size then comes from the masks)
    sizes = {image: (40, 40) for i, (image, _, _) in enumerate(groups) if sized or i % 2}
    s = match_many(iter(groups), iou_threshold=threshold, sizes=sizes)
    per = [
        match_objects(a, b, threshold, *sizes.get(image, (None, None))) for image, a, b in groups
    ]
    assert s.images == len(groups)
    assert s.tp == sum(r.tp for r in per)
    assert s.fp == sum(r.fp for r in per)
    assert s.fn == sum(r.fn for r in per)
    assert s.class_matches == sum(r.class_matches for r in per)
    assert s.images_with_objects == sum(r.tp + r.fp + r.fn > 0 for r in per)
    iou_sum = sum(p[2] for r in per for p in r.pairs)
    # class kappa over every matched pair, against sklearn (no class spelled "-")
    names_a, names_b = [], []
    for (_, a, b), r in zip(groups, per, strict=True):
        ca, cb = a.column("class_name").to_pylist(), b.column("class_name").to_pylist()
        names_a += [ca[i] or "-" for i, _, _ in r.pairs]
        names_b += [cb[j] or "-" for _, j, _ in r.pairs]
    assert s.class_kappa.n_items == s.tp
    if s.tp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns where kappa is undefined
            expected = cohen_kappa_score(names_a, names_b)
        assert s.class_kappa.value == pytest.approx(expected, abs=1e-9, nan_ok=True)
    assert s.mean_iou == pytest.approx(iou_sum / s.tp, abs=1e-12) if s.tp else nan(s.mean_iou)
    all_plain = all(
        set(t.column("shape").to_pylist()) <= {"box"}
        and not any(t.column("rotation").drop_null().to_pylist())
        for _, a, b in groups
        for t in (a, b)
    )
    if all_plain or sized:
        assert s.vectorised == len(groups)


@pytest.fixture
def monkeypatch_batch(monkeypatch):
    """Small batches, so that a handful of images spans several of them."""
    monkeypatch.setattr(object_match, "_BATCH", 3)


def test_contested_plain_image_takes_the_hungarian(monkeypatch_batch):
    # the optimal-not-greedy image, inside a batch: vectorised, and still optimal
    a = labels(box(0, 0), box(3, 0))
    b = labels(box(1, 0), box(-2, 0))
    s = match_many([("i", a, b), ("j", a, a)])
    assert s.vectorised == 2
    assert (s.tp, s.fp, s.fn) == (4, 0, 0)
    assert s.mean_iou == pytest.approx((8 / 12 * 2 + 2) / 4, abs=1e-15)


def test_vectorised_path_agrees_on_random_boxes():
    rng = np.random.default_rng(7)
    groups = []
    for i in range(300):
        n = int(rng.integers(0, 8))
        xy = rng.uniform(0, 100, (n, 2))
        wh = rng.uniform(5, 30, (n, 2))
        a_boxes = np.hstack([xy, wh])
        b_boxes = a_boxes + rng.normal(0, 3, a_boxes.shape)
        keep = rng.random(n) < 0.85
        cls = rng.choice(["car", "dog"], n)
        a = labels(*[box(*map(float, r), cls=c) for r, c in zip(a_boxes, cls, strict=True)])
        b = labels(
            *[box(*map(float, r), cls=c) for r, c in zip(b_boxes[keep], cls[keep], strict=True)]
        )
        groups.append((i, a, b))
    s = match_many(groups)
    per = [match_objects(a, b) for _, a, b in groups]
    assert s.vectorised == 300
    assert (s.tp, s.fp, s.fn) == (
        sum(r.tp for r in per),
        sum(r.fp for r in per),
        sum(r.fn for r in per),
    )
    assert s.tp > 100 and s.fp + s.fn > 0
