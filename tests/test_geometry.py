"""lineage.geometry against pycocotools (the reference COCO implementation) as oracle."""

from __future__ import annotations

import contextlib
import io
import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lineage import geometry as g
from lineage.errors import GeometryError, InputError
from lineage.formats.base import table_from_records
from lineage.geometry import rle

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
H, W = 40, 50

# COCO instances_val2017, annotation 1768 (image 289343, 427 x 640), verbatim.
COCO_1768 = [[510.66, 423.01, 511.72, 420.03, 510.45, 416.0, 510.34, 413.02, 510.77, 410.26, 510.77, 407.5, 510.34, 405.16, 511.51, 402.83, 511.41, 400.49, 510.24, 398.16, 509.39, 397.31, 504.61, 399.22, 502.17, 399.64, 500.89, 401.66, 500.47, 402.08, 499.09, 401.87, 495.79, 401.98, 490.59, 401.77, 488.79, 401.77, 485.39, 398.58, 483.9, 397.31, 481.56, 396.35, 478.48, 395.93, 476.68, 396.03, 475.4, 396.77, 473.92, 398.79, 473.28, 399.96, 473.49, 401.87, 474.56, 403.47, 473.07, 405.59, 473.39, 407.71, 476.68, 409.41, 479.23, 409.73, 481.56, 410.69, 480.4, 411.85, 481.35, 414.93, 479.86, 418.65, 477.32, 420.03, 476.04, 422.58, 479.02, 422.58, 480.29, 423.01, 483.79, 419.93, 486.66, 416.21, 490.06, 415.57, 492.18, 416.85, 491.65, 420.24, 492.82, 422.9, 493.56, 424.39, 496.43, 424.6, 498.02, 423.01, 498.13, 421.31, 497.07, 420.03, 497.07, 415.15, 496.33, 414.51, 501.1, 411.96, 502.06, 411.32, 503.02, 415.04, 503.33, 418.12, 501.1, 420.24, 498.98, 421.63, 500.47, 424.39, 505.03, 423.32, 506.2, 421.31, 507.69, 419.5, 506.31, 423.32, 510.03, 423.01, 510.45, 423.01]]  # fmt: skip

# --------------------------------------------------------------------------- strategies

coord = st.floats(-10, 60, allow_nan=False, allow_infinity=False)
size = st.one_of(st.just(0.0), st.floats(0, 30, allow_nan=False))
box = st.tuples(coord, coord, size, size)
boxes = st.lists(box, min_size=0, max_size=6)
part = st.lists(st.tuples(coord, coord), min_size=3, max_size=8).map(
    lambda pts: [v for p in pts for v in p]
)
polygon = st.lists(part, min_size=1, max_size=3)


ANY_SIDE = st.integers(0, 24)


@st.composite
def masks(draw, h=ANY_SIDE, w=ANY_SIDE):
    hh, ww = draw(h), draw(w)
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    return (np.random.default_rng(seed).random((hh, ww)) < density).astype(np.uint8)


def ref_poly(parts, h=H, w=W):
    """How pycocotools' COCO.annToRLE turns a polygon annotation into an RLE."""
    return mask_utils.merge(mask_utils.frPyObjects(parts, h, w))


def labels(rows):
    return table_from_records("label_events", [{"asset_id": "img", **r} for r in rows])


def poly_row(parts):
    return {"shape": "polygon", "polygon": parts, "bbox": list(g.polygon_bbox(parts))}


def mask_row(m):
    rle = g.rle_encode(m)
    return {"shape": "mask", "mask_rle": rle, "bbox": list(g.rle_bbox(rle))}


# --------------------------------------------------------------------------- boxes


@FAST
@given(boxes, boxes)
def test_box_iou_equals_pycocotools(a, b):
    a, b = np.array(a).reshape(-1, 4), np.array(b).reshape(-1, 4)
    got = g.box_iou(a, b)
    assert got.shape == (len(a), len(b))
    if len(a) and len(b):
        np.testing.assert_allclose(got, mask_utils.iou(a, b, [0] * len(b)), rtol=0, atol=1e-12)
    assert np.all(np.isfinite(got))
    n = min(len(a), len(b))
    np.testing.assert_allclose(g.box_iou_pairs(a[:n], b[:n]), np.diag(got)[:n], atol=1e-15)


def test_box_iou_degenerate():
    z = np.array([[5.0, 5.0, 0.0, 0.0], [1.0, 1.0, 0.0, 3.0]])
    assert g.box_iou(z, z).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert g.box_iou(np.zeros((0, 4)), z).shape == (0, 2)
    assert g.box_iou_pairs(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 2, 2]])).tolist() == [1 / 7]
    assert g.box_iou(np.array([[0, 0, np.nan, 2]]), np.array([[0, 0, 2, 2]])).tolist() == [[0.0]]


# --------------------------------------------------------------------------- RLE


@FAST
@given(masks())
def test_rle_round_trip_and_pycocotools_encoding(m):
    rle = g.rle_encode(m)
    assert (rle["height"], rle["width"]) == m.shape
    assert rle["counts"] == mask_utils.encode(np.asfortranarray(m))["counts"].decode()
    back = g.rle_decode(rle)
    assert back.dtype == np.uint8 and back.shape == m.shape
    assert np.array_equal(back, m)
    assert g.rle_area(rle) == m.sum()
    ys, xs = np.nonzero(m)
    expect = (
        (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        if len(xs)
        else (0, 0, 0, 0)
    )
    assert g.rle_bbox(rle) == tuple(float(v) for v in expect)
    assert g.rle_to_coco(rle) == {"size": list(m.shape), "counts": rle["counts"]}


def test_rle_encode_treats_any_nonzero_as_foreground():
    m = np.array([[0, 255], [7, 0]], dtype=np.uint8)
    assert np.array_equal(g.rle_decode(g.rle_encode(m)), (m > 0).astype(np.uint8))
    assert g.rle_encode(m.astype(bool)) == g.rle_encode(m)
    with pytest.raises(InputError):
        g.rle_encode(np.zeros((2, 2, 3)))


run = st.one_of(st.integers(0, 40), st.integers(0, 2**29 - 1))


@FAST
@given(st.lists(run, min_size=0, max_size=12))
def test_counts_codec_equals_pycocotools(counts):
    # pycocotools' own encoder (frUncompressedRLE -> rleToString) is the oracle. Its
    # buffer holds 6 chars per run, so runs stay below 2**29 (7-char deltas overflow it).
    total = sum(counts)
    ref = mask_utils.frPyObjects({"size": [1, total], "counts": counts}, 1, total)[
        "counts"
    ].decode()
    assert rle._counts_to_string(np.array(counts, dtype=np.int64)) == ref
    assert rle._counts_from_string(ref).tolist() == counts


@FAST
@given(st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=12))
def test_counts_codec_round_trips_full_uint32(counts):
    assert (
        rle._counts_from_string(rle._counts_to_string(np.array(counts, dtype=np.int64))).tolist()
        == counts
    )


@FAST
@given(masks(h=st.integers(1, 12), w=st.integers(1, 12)), st.data())
def test_rle_from_coco_all_three_forms(m, data):
    h, w = m.shape
    canonical = g.rle_encode(m)
    runs = rle._counts_from_string(canonical["counts"]).tolist()
    # uncompressed, as iscrowd=1 annotations store it; with empty runs spliced in
    k = data.draw(st.integers(1, len(runs)))
    padded = runs[:k] + [0, 0] + runs[k:]
    assert g.rle_from_coco({"size": [h, w], "counts": runs}, h, w) == canonical
    assert g.rle_from_coco({"size": [h, w], "counts": padded}, h, w) == canonical
    # compressed, str and bytes
    coco = mask_utils.encode(np.asfortranarray(m))
    assert g.rle_from_coco(coco, h, w) == canonical
    assert g.rle_from_coco({"size": [h, w], "counts": coco["counts"].decode()}, h, w) == canonical
    # non-canonical compressed string: pycocotools' encoding of the padded runs
    loose = mask_utils.frPyObjects({"size": [h, w], "counts": padded}, h, w)
    assert g.rle_from_coco(loose, h, w) == canonical


def test_rle_from_coco_real_crowd_shape_and_polygons():
    # COCO's iscrowd=1 form: size [h, w], counts a list, column-major runs
    seg = {"size": [3, 4], "counts": [1, 2, 3, 1, 5]}
    rle = g.rle_from_coco(seg, 3, 4)
    assert np.array_equal(g.rle_decode(rle), mask_utils.decode(mask_utils.frPyObjects(seg, 3, 4)))
    assert g.rle_area(rle) == 3.0
    # polygon parts
    rle = g.rle_from_coco(COCO_1768, 427, 640)
    assert rle["counts"] == ref_poly(COCO_1768, 427, 640)["counts"].decode()
    assert g.rle_area(rle) == 703.0  # pixels; COCO's 'area' is the polygon's 702.105...
    # a list of RLEs is merged
    a = g.rle_encode(np.eye(3, dtype=np.uint8))
    b = g.rle_encode(np.fliplr(np.eye(3, dtype=np.uint8)))
    merged = g.rle_from_coco([g.rle_to_coco(a), g.rle_to_coco(b)], 3, 3)
    assert g.rle_area(merged) == 5.0
    assert g.rle_to_coco(rle)["size"] == [427, 640]


@pytest.mark.parametrize(
    "seg, why",
    [
        ({"size": [2, 3], "counts": [1, 2]}, "add up to 3"),  # would overflow pycocotools' decoder
        ({"size": [2, 3], "counts": [1, 2, 9]}, "add up to 12"),
        ({"size": [2, 3], "counts": [1, -1, 6]}, "non-negative"),
        ({"size": [2, 3], "counts": [1.5, 4.5]}, "integers"),
        ({"size": [2, 3], "counts": "6\x7f"}, "characters"),
        ({"size": [2, 3], "counts": "6o"}, "middle"),
        ({"size": [3, 2], "counts": [6]}, "differs"),
        ({"size": [2], "counts": [6]}, "size"),
        ({"counts": [6]}, "size"),
        ({"size": [2, 3], "counts": None}, "counts"),
        (42, "int"),
        ([["a", "b", "c", "d", "e", "f"]], "could not convert"),
    ],
)
def test_rle_from_coco_rejects_malformed(seg, why):
    with pytest.raises(InputError) as err:
        g.rle_from_coco(seg, 2, 3)
    assert err.value.field == "segmentation"
    assert why in str(err.value)


def test_rle_from_coco_quirks():
    flat = [0, 0, 10, 0, 10, 10, 0, 10]
    assert g.rle_from_coco(flat, H, W) == g.rle_from_coco([flat], H, W)
    assert g.rle_area(g.rle_from_coco([flat], H, W)) == mask_utils.area(ref_poly([flat]))
    empty = g.rle_from_coco([], H, W)
    assert g.rle_area(empty) == 0.0 and (empty["height"], empty["width"]) == (H, W)
    # an RLE carries its size; a polygon needs the image's
    assert g.rle_from_coco({"size": [2, 3], "counts": "6"}, None, None)["height"] == 2
    with pytest.raises(InputError, match="height and width"):
        g.rle_from_coco([flat], None, None)


def test_rle_decode_refuses_runs_that_overflow():
    with pytest.raises(InputError):
        g.rle_decode({"height": 2, "width": 2, "counts": "9"})


# --------------------------------------------------------------------------- polygons


def test_polygon_area_is_cocos_area():
    # COCO's 'area' for polygons is the shoelace area, not the pixel count (703).
    assert g.polygon_area(COCO_1768) == pytest.approx(702.1057499999998, abs=1e-6)
    assert g.polygon_bbox(COCO_1768) == pytest.approx((473.07, 395.93, 38.65, 28.67), abs=1e-9)
    assert g.polygon_area([[0, 0, 4, 0, 4, 3], [10, 10, 12, 10, 12, 12, 10, 12]]) == 10.0
    assert g.polygon_area([]) == 0.0 and g.polygon_bbox([]) == (0.0, 0.0, 0.0, 0.0)
    assert g.polygon_area([[0, 0, 1, 1], [0, 0, float("nan"), 1, 2, 2]]) == 0.0


@FAST
@given(polygon)
def test_polygon_area_equals_shapely_for_each_ring(parts):
    import shapely

    expect = sum(
        abs(shapely.area(shapely.polygons(np.array(p).reshape(-1, 2))) or 0.0) for p in parts
    )
    shoelace = g.polygon_area(parts)
    # shapely's ring area is the shoelace formula too (GEOS signed area, absolute)
    assert shoelace == pytest.approx(expect, abs=1e-6)


@FAST
@given(polygon)
def test_polygon_to_rle_equals_pycocotools(parts):
    rle = g.polygon_to_rle(parts, H, W)
    ref = ref_poly(parts)
    assert np.array_equal(g.rle_decode(rle), mask_utils.decode(ref))
    assert g.rle_area(rle) == mask_utils.area(ref)


def test_polygon_to_rle_degenerate_and_far():
    empty = g.polygon_to_rle([[1, 1, 5, 5]], H, W)  # a 4-number part would be a box to frPyObjects
    assert g.rle_area(empty) == 0.0 and g.rle_bbox(empty) == (0.0, 0.0, 0.0, 0.0)
    assert g.rle_area(g.polygon_to_rle([], H, W)) == 0.0
    assert g.rle_area(g.polygon_to_rle([[0, 0, 1, 0, float("inf"), 1]], H, W)) == 0.0
    # vertices absurdly far away are clipped first (pycocotools would cast them to C int
    # and allocate per 1/5 px of edge): the same lines cross the image, the same pixels
    for far, near in [
        (
            [[-1e12, -1e12, 10, -1e12, 10, 1e12, -1e12, 1e12]],
            [[-5, -5, 10, -5, 10, H + 5, -5, H + 5]],
        ),
        ([[0, 0, 1e12, 1e12, 0, 1e12]], [[0, 0, 100, 100, 0, 100]]),
    ]:
        got = g.polygon_to_rle(far, H, W)
        assert got["counts"] == ref_poly(near)["counts"].decode()


# --------------------------------------------------------------------------- iou_matrix / iou_pairs


@FAST
@given(st.lists(polygon, max_size=4), st.lists(polygon, max_size=4))
def test_polygon_iou_equals_pycocotools(pa_, pb):
    got = g.iou_matrix(labels([poly_row(p) for p in pa_]), labels([poly_row(p) for p in pb]), H, W)
    assert got.shape == (len(pa_), len(pb))
    if pa_ and pb:
        ref = mask_utils.iou([ref_poly(p) for p in pa_], [ref_poly(p) for p in pb], [0] * len(pb))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)


# shifts that put two copies of a polygon just apart, touching, or overlapping: the
# region pre-filter (extents more than a few pixels apart: IoU 0) must agree exactly
near = st.floats(-40, 40, allow_nan=False).map(lambda d: round(d * 4) / 4)


@FAST
@given(st.lists(st.tuples(polygon, near, near), min_size=1, max_size=8))
def test_polygon_iou_pairs_equal_pycocotools_near_and_apart(cases):
    pa_ = [p for p, _, _ in cases]
    pb = [
        [[v + (dx if i % 2 == 0 else dy) for i, v in enumerate(part)] for part in p]
        for p, dx, dy in cases
    ]
    # the file's bbox is a stale one: the pre-filter must use the points, not the bbox
    rows_b = [{**poly_row(p), "bbox": [0.0, 0.0, 1.0, 1.0]} for p in pb]
    got = g.iou_pairs(
        labels([poly_row(p) for p in pa_]),
        labels(rows_b),
        np.full(len(pa_), H),
        np.full(len(pa_), W),
    )
    ref = [
        float(mask_utils.iou([ref_poly(a)], [ref_poly(b)], [0])[0][0])
        for a, b in zip(pa_, pb, strict=True)
    ]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_region_pre_filter_is_exact_at_the_edge():
    # b is a shifted right (or down) so that its points start 2 px before to 4 px after
    # a's last point: rasterised pixels may still touch there, and the IoU must be
    # pycocotools' own, to the bit
    rng = np.random.default_rng(7)
    pa_, pb = [], []
    for _ in range(40):
        pts = rng.uniform(5, 25, (int(rng.integers(3, 9)), 2))
        for gap in np.arange(-2, 4.01, 0.25):
            axis = int(rng.integers(0, 2))
            shift = pts[:, axis].max() - pts[:, axis].min() + gap
            moved = pts.copy()
            moved[:, axis] += shift
            pa_.append([pts.ravel().tolist()])
            pb.append([moved.ravel().tolist()])
    n = len(pa_)
    got = g.iou_pairs(
        labels([poly_row(p) for p in pa_]),
        labels([poly_row(p) for p in pb]),
        np.full(n, 60),
        np.full(n, 70),
    )
    ref = [
        float(mask_utils.iou([ref_poly(a, 60, 70)], [ref_poly(b, 60, 70)], [0])[0][0])
        for a, b in zip(pa_, pb, strict=True)
    ]
    assert sum(r > 0 for r in ref) > 10  # the cases reach into the rasteriser's slack
    np.testing.assert_array_equal(got, ref)


def test_iou_index_pairs_equal_the_matrix_entries():
    rng = np.random.default_rng(3)
    pa_ = [[list(rng.uniform(0, 45, 10))] for _ in range(7)]
    pb = [[list(rng.uniform(0, 45, 8)), list(rng.uniform(0, 45, 6))] for _ in range(5)]
    a, b = labels([poly_row(p) for p in pa_]), labels([poly_row(p) for p in pb])
    matrix = g.iou_matrix(a, b, H, W)
    ia, ib = np.nonzero(np.ones_like(matrix, dtype=bool))
    got = g.iou_index_pairs(a, b, ia, ib, np.full(ia.size, H), np.full(ia.size, W))
    np.testing.assert_array_equal(got, matrix[ia, ib])
    # compared group by group (one pycocotools call per group): the same numbers
    for groups in (ia % 3, np.zeros(ia.size, dtype=np.int64), np.arange(ia.size)):
        grouped = g.iou_index_pairs(
            a, b, ia, ib, np.full(ia.size, H), np.full(ia.size, W), groups=groups
        )
        np.testing.assert_array_equal(grouped, matrix[ia, ib])
    with pytest.raises(GeometryError, match="as many rows"):
        g.iou_index_pairs(a, b, ia, ib[:-1])


def test_polygon_column_reads_null_rows_and_slices():
    # a null row whose offsets still span values (Arrow allows it), and a slice of it
    from lineage.geometry.polygons import PolygonColumn

    inner = pa.array(
        [[0, 0, 10, 0, 10, 10], [1, 1, 2, 2, 3, 1], [5, 5, 6, 5, 6, 6]], pa.list_(pa.float64())
    )
    outer = pa.ListArray.from_arrays(
        pa.array([0, 1, 2, 3], pa.int32()), inner, mask=pa.array([False, True, False])
    )
    col = PolygonColumn(outer, 3)
    assert col.has_region.tolist() == [True, False, True]
    assert col.extent.tolist() == [[0, 0, 10, 10], [0, 0, 0, 0], [5, 5, 1, 1]]
    part = PolygonColumn(outer.slice(1), 2)
    assert part.has_region.tolist() == [False, True]
    assert part.extent.tolist() == [[0, 0, 0, 0], [5, 5, 1, 1]]
    want = [mask_utils.decode(ref_poly([[5, 5, 6, 5, 6, 6]])).tolist()]
    assert [mask_utils.decode(r).tolist() for r in part.rles(np.array([1]), H, W)] == want


coordinate = st.one_of(
    st.floats(-50, 700, allow_nan=False), st.just(float("nan")), st.just(float("inf"))
)
polygon_rows = st.lists(
    st.none() | st.lists(st.lists(coordinate, max_size=9), max_size=3), min_size=1, max_size=6
)
# every part of whole points: PolygonColumn's fast path (values are x, y pairs throughout)
even_polygon_rows = st.lists(
    st.none()
    | st.lists(
        st.lists(st.tuples(coordinate, coordinate), max_size=5).map(
            lambda pts: [v for p in pts for v in p]
        ),
        max_size=3,
    ),
    min_size=1,
    max_size=6,
)


def _reference_extent(parts, least: int) -> list[float]:
    """xywh of the points of the parts with at least ``least`` values that make points
    and no non-finite coordinate, one row at a time (the rule PolygonColumn vectorises)."""
    xy = [g.polygons._part_xy(p) for p in parts or []]
    pts = [a for a in xy if a is not None and a.size >= max(least, 1)]
    if not pts:
        return [0.0, 0.0, 0.0, 0.0]
    both = np.concatenate(pts)
    lo, hi = both.min(axis=0), both.max(axis=0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


@FAST
@given(polygon_rows | even_polygon_rows, st.integers(0, 3))
def test_polygon_column_envelopes_and_extents_are_those_of_each_row(rows, start):
    from lineage.geometry.polygons import PolygonColumn

    column = pa.array(rows, pa.list_(pa.list_(pa.float64()))).slice(min(start, len(rows) - 1))
    rows = column.to_pylist()
    col = PolygonColumn(column, len(rows))
    assert col.envelope.tolist() == [list(g.polygon_bbox(r)) for r in rows]
    assert col.extent.tolist() == [_reference_extent(r, 6) for r in rows]


def test_unusable_parts_and_far_points_rasterise_as_before():
    # odd trailing values, NaN parts, two-point parts and a part far outside the image,
    # mixed in one batch, give the masks of the one-polygon-at-a-time rasteriser
    from lineage.geometry.polygons import _polygon_coco_rle

    polys = [
        [[1, 1, 30, 2, 15, 25, 99]],  # odd length: the trailing value is ignored
        [[1, 1, float("nan"), 2, 15, 25], [5, 5, 20, 5, 20, 20]],  # a NaN part drops out
        [[1, 1, 2, 2], [3, 3, 30, 3, 30, 30]],  # a two-point part covers nothing
        [[0, 0, 1e9, 0, 1e9, 1e9, 0, 1e9]],  # reaches far out: clipped first
        [[-5, -5, 60, -5, 60, 50]],  # beyond the image, not far
        [[2, 2, 9, 2, 9, 9], [20, 20, 30, 20, 30, 30]],  # two parts, merged
    ]
    table = labels([{"shape": "polygon", "polygon": p} for p in polys])
    rows = np.arange(len(polys))
    got = g.iou_index_pairs(
        table, table, rows, rows, np.full(len(polys), H), np.full(len(polys), W)
    )
    ref = [_polygon_coco_rle(p, H, W) for p in polys]
    want = [float(mask_utils.iou([r], [r], [0])[0][0]) for r in ref]
    np.testing.assert_array_equal(got, want)
    from lineage.geometry.polygons import PolygonColumn

    drawn = PolygonColumn(table.column("polygon"), len(polys)).rles(rows, H, W)
    assert [mask_utils.decode(d).tolist() for d in drawn] == [
        mask_utils.decode(r).tolist() for r in ref
    ]


@FAST
@given(
    st.lists(masks(h=st.just(12), w=st.just(9)), min_size=1, max_size=4),
    st.lists(masks(h=st.just(12), w=st.just(9)), min_size=1, max_size=4),
)
def test_mask_iou_equals_pycocotools(ma, mb):
    # no image size given: the masks carry it
    got = g.iou_matrix(labels([mask_row(m) for m in ma]), labels([mask_row(m) for m in mb]))
    enc = lambda ms: [mask_utils.encode(np.asfortranarray(m)) for m in ms]  # noqa: E731
    np.testing.assert_allclose(
        got, mask_utils.iou(enc(ma), enc(mb), [0] * len(mb)), rtol=0, atol=1e-6
    )
    assert np.all(np.isfinite(got))


@FAST
@given(polygon, masks(h=st.just(H), w=st.just(W)))
def test_polygon_vs_mask_and_pairs(parts, m):
    a = labels([poly_row(parts), mask_row(m)])
    b = labels([mask_row(m), poly_row(parts)])
    ref = mask_utils.iou([ref_poly(parts)], [mask_utils.encode(np.asfortranarray(m))], [0])[0, 0]
    got = g.iou_matrix(a, b)
    assert got[0, 0] == pytest.approx(ref, abs=1e-6) and got[1, 1] == pytest.approx(ref, abs=1e-6)
    pairs = g.iou_pairs(a, b, np.array([H, H]), np.array([W, W]))
    np.testing.assert_allclose(pairs, np.diag(got), atol=1e-12)


def test_region_iou_needs_the_image_size():
    sq = [[0, 0, 10, 0, 10, 10, 0, 10]]
    tri = [[0, 0, 10, 0, 0, 10]]
    a, b = labels([poly_row(sq)]), labels([poly_row(tri)])
    with_size = g.iou_matrix(a, b, H, W)[0, 0]
    assert with_size == pytest.approx(
        mask_utils.iou([ref_poly(sq)], [ref_poly(tri)], [0])[0, 0], abs=1e-12
    )
    # unknown size: IoU of the envelopes, which are equal
    assert g.iou_matrix(a, b)[0, 0] == 1.0
    assert g.iou_pairs(a, b)[0] == 1.0
    assert g.iou_pairs(a, b, np.array([H]), np.array([W]))[0] == pytest.approx(with_size, abs=1e-12)


def test_shape_rules():
    kp_a = [10, 10, 2, 20, 20, 2, 0, 0, 0]
    kp_b = [11, 10, 2, 20, 22, 1, 5, 5, 2]
    a = labels(
        [
            {"shape": "classification", "class_name": "day"},
            {"shape": "box", "bbox": [0, 0, 10, 10]},
            {"shape": "keypoints", "keypoints": kp_a, "bbox": [8, 8, 14, 14]},
            {"shape": "polyline", "polygon": [[0, 0, 10, 10]], "bbox": [0, 0, 10, 10]},
        ]
    )
    b = labels(
        [
            {"shape": "classification", "class_name": "night"},
            {"shape": "box", "bbox": [5, 0, 10, 10]},
            {"shape": "keypoints", "keypoints": kp_b},
        ]
    )
    got = g.iou_matrix(a, b, H, W)
    assert got[0].tolist() == [1.0, 0.0, 0.0]
    assert got[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert got[1, 1] == pytest.approx(50 / 150)
    assert got[2, 2] == pytest.approx(g.oks(np.array(kp_a), np.array(kp_b), area=14 * 14))
    assert 0 < got[2, 2] < 1
    assert got[3, 1] == pytest.approx(50 / 150)  # a polyline is compared by its envelope
    np.testing.assert_allclose(g.iou_pairs(a[:3], b), np.diag(got), atol=1e-12)
    assert g.iou_matrix(a[:0], b).shape == (0, 3)
    assert g.iou_pairs(a[:0], b[:0]).shape == (0,)
    assert g.assign(g.iou_matrix(a[:0], b), 0.5) == []


def test_degenerate_labels_give_zero_not_nan():
    rows = [
        {"shape": "box", "bbox": [3, 3, 0, 0]},
        {"shape": "polygon", "polygon": [[1, 1, 2, 2]], "bbox": [1, 1, 1, 1]},
        {"shape": "polygon", "polygon": [[]]},
        {"shape": "mask", "mask_rle": g.rle_encode(np.zeros((H, W), np.uint8))},
        {"shape": "keypoints", "keypoints": [0, 0, 0, 0, 0, 0]},
        {"shape": "box"},
    ]
    t = labels(rows)
    got = g.iou_matrix(t, t, H, W)
    assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
    assert got[0, 0] == 0.0 and got[3, 3] == 0.0
    assert np.all(np.isfinite(g.iou_pairs(t, t)))


def test_masks_of_different_sizes_and_tables_without_shape():
    m1, m2 = np.ones((10, 10), np.uint8), np.ones((10, 12), np.uint8)
    got = g.iou_matrix(labels([mask_row(m1)]), labels([mask_row(m2)]))
    assert got[0, 0] == pytest.approx(100 / 120)  # sizes disagree: envelope IoU, no error
    t = pa.table({"bbox": pa.array([{"x": 0.0, "y": 0.0, "w": 2.0, "h": 2.0}, None])})
    assert g.iou_matrix(t, t).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    # polygons vs a mask with no size given: rasterised at the mask's size
    sq = [[0, 0, 10, 0, 10, 10, 0, 10]]
    m = np.zeros((H, W), np.uint8)
    m[:5, :] = 1
    ref = mask_utils.iou([ref_poly(sq)], [mask_utils.encode(np.asfortranarray(m))], [0])[0, 0]
    assert g.iou_matrix(labels([poly_row(sq)]), labels([mask_row(m)]))[0, 0] == pytest.approx(ref)
    assert g.iou_pairs(labels([poly_row(sq)]), labels([mask_row(m)]))[0] == pytest.approx(ref)


def test_rotated_boxes():
    # 4 x 2 box rotated 90 degrees clockwise about its top-left covers x 8..10, y 10..14
    a = labels([{"shape": "box", "bbox": [10, 10, 4, 2], "rotation": 90.0}])
    b = labels([{"shape": "box", "bbox": [8, 10, 2, 4]}, {"shape": "box", "bbox": [8, 10, 2, 2]}])
    got = g.iou_matrix(a, b)
    assert got[0, 0] == pytest.approx(1.0) and got[0, 1] == pytest.approx(0.5)
    # a 2 x 2 square rotated 45 degrees about (0, 0) against itself unrotated: they share
    # the part of the triangle (0,0), (r2,r2), (0,2 r2) below y = 2, of area 4 r2 - 4
    a45 = labels([{"shape": "box", "bbox": [0, 0, 2, 2], "rotation": 45.0}])
    inter = 4 * np.sqrt(2) - 4
    got = g.iou_pairs(a45, labels([{"shape": "box", "bbox": [0, 0, 2, 2]}]))[0]
    assert got == pytest.approx(inter / (8 - inter), abs=1e-9)
    # against anything but a box, a rotated box counts by its rotated envelope
    pts = labels([{"shape": "polyline", "polygon": [[-np.sqrt(2), 0, np.sqrt(2), 2 * np.sqrt(2)]]}])
    assert g.iou_matrix(a45, pts)[0, 0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- keypoints


def test_keypoints_bbox():
    assert g.keypoints_bbox([1, 2, 2, 5, 9, 1, 100, 100, 0]) == (1.0, 2.0, 4.0, 7.0)
    assert g.keypoints_bbox([1, 2, 0]) is None
    assert g.keypoints_bbox([]) is None


def _coco_eval_oks(gt_kps, gt_area, gt_bbox, dt_kps):
    """The OKS pycocotools' COCOeval computes for one ground truth and one detection."""
    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1, "height": 100, "width": 100}],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": gt_kps, "area": gt_area,
             "bbox": gt_bbox, "iscrowd": 0, "num_keypoints": int(np.sum(np.array(gt_kps[2::3]) > 0))}
        ],
    }  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([{"image_id": 1, "category_id": 1, "keypoints": dt_kps, "score": 1.0}])
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.imgIds = [1]
        ev.evaluate()
    return float(ev.ious[(1, 1)][0, 0])


def test_oks_hand_checked_and_cocoeval():
    gt = [0.0] * 51
    dt = [0.0] * 51
    gt[0:3] = [10, 10, 2]  # nose, sigma .026
    gt[15:18] = [20, 20, 1]  # left shoulder, sigma .079
    dt[0:3] = [12, 10, 2]  # 2 px off
    dt[15:18] = [20, 23, 2]  # 3 px off
    dt[30:33] = [50, 50, 2]  # not labelled in the reference: ignored
    # by hand, COCOeval's formula: e = d^2 / (2 sigma)^2 / (area + eps) / 2, mean of exp(-e)
    e_nose = 4 / (2 * 0.026) ** 2 / (100 + np.spacing(1)) / 2  # 7.39645...
    e_shoulder = 9 / (2 * 0.079) ** 2 / (100 + np.spacing(1)) / 2  # 1.80260...
    hand = (np.exp(-e_nose) + np.exp(-e_shoulder)) / 2
    assert hand == pytest.approx(0.08274, abs=1e-5)
    got = g.oks(np.array(gt), np.array(dt), area=100.0)
    assert got == pytest.approx(hand, abs=1e-12)
    assert got == pytest.approx(_coco_eval_oks(gt, 100.0, [5, 5, 20, 20], dt), abs=1e-12)
    assert g.oks(np.array(gt), np.array(gt), area=100.0) == 1.0


def test_oks_reference_without_labelled_points_uses_its_box():
    gt = [0.0] * 51
    dt = [0.0] * 51
    dt[0:3] = [70, 40, 2]  # 10 px right of the doubled box x0-w .. x0+2w = 10..60
    dt[3:6] = [30, 30, 2]  # inside
    box = [30, 20, 10, 10]
    got = g.oks(np.array(gt), np.array(dt), area=100.0, bbox=box)
    assert got == pytest.approx(_coco_eval_oks(gt, 100.0, box, dt), abs=1e-12)
    assert 0 < got < 1
    assert g.oks(np.array(gt), np.array(dt), area=100.0) == 0.0
    assert g.oks(np.array([1, 2, 2]), np.array(dt), area=10.0) == 0.0  # different skeletons


# --------------------------------------------------------------------------- assign


def brute_force(score, threshold):
    n, m = score.shape
    best = 0.0
    for perm in itertools.permutations(range(m), min(n, m)) if n <= m else []:
        best = max(best, sum(score[i, j] for i, j in enumerate(perm) if score[i, j] >= threshold))
    for perm in itertools.permutations(range(n), m) if n > m else []:
        best = max(best, sum(score[i, j] for j, i in enumerate(perm) if score[i, j] >= threshold))
    return best


@FAST
@given(
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.3, 0.5, 0.9]),
)
def test_assign_is_optimal(n, m, seed, threshold):
    rng = np.random.default_rng(seed)
    score = np.round(rng.random((n, m)), 2) * (rng.random((n, m)) < 0.7)
    pairs = g.assign(score, threshold)
    rows, cols = [p[0] for p in pairs], [p[1] for p in pairs]
    assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
    assert all(score[i, j] >= threshold for i, j in pairs)
    assert sum(score[i, j] for i, j in pairs) == pytest.approx(
        brute_force(score, threshold), abs=1e-9
    )


def test_assign_threshold_does_not_cost_a_strong_pair():
    # maximising the raw total picks (0,0)+(1,1) = 1.0, then dropping 0.1 keeps 0.9;
    # the best set of pairs at or above 0.5 is the single 0.95
    score = np.array([[0.9, 0.95], [0.0, 0.1]])
    assert g.assign(score, 0.5) == [(0, 1)]
    assert g.assign(np.array([[np.nan, 0.6]]), 0.5) == [(0, 1)]
    assert g.assign(np.zeros((0, 3)), 0.5) == []


def test_bad_geometry_is_a_lineage_error_and_a_value_error():
    """API callers catch LineageError (the one error boundary); older ones ValueError."""
    from lineage.errors import GeometryError, LineageError

    with pytest.raises(GeometryError) as err:
        rle._counts_from_string("~~~")
    assert isinstance(err.value, LineageError) and isinstance(err.value, ValueError)
    with pytest.raises(InputError, match="bad mask RLE"):  # the public API names the field
        g.rle_decode({"height": 2, "width": 2, "counts": "~~~"})


# ----------------------------------------------------------------- Arrow -> NumPy


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=False, width=64)), max_size=40),
    st.integers(0, 5),
    st.sampled_from(["double", "float", "int64", "int32"]),
)
def test_columns_read_from_buffers_agree_with_pyarrows_to_numpy(values, cut, kind):
    """geometry.columns reads Arrow buffers itself (pyarrow's to_numpy imports pandas):
    it must give what to_numpy gives, for slices, chunks and nulls."""
    from lineage.geometry import columns

    if kind.startswith("int"):
        values = [None if v is None else int(max(-1e9, min(1e9, v))) for v in values]
    arr = pa.array(values, type=pa.type_for_alias(kind))
    sliced = arr.slice(min(cut, len(arr)))
    chunked = pa.chunked_array([sliced, arr], type=arr.type)
    for col in (arr, sliced, chunked):
        expected = np.array(
            [np.nan if v is None else float(v) for v in col.to_pylist()], dtype=np.float64
        )
        got = columns.numbers(col)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(columns.valid(col), ~np.isnan(expected))
        if kind.startswith("int"):
            assert columns.numbers(col, 0, np.int64).tolist() == [
                0 if v is None else v for v in col.to_pylist()
            ]
    out = columns.to_arrow(np.array([1.5, -2.0]))
    assert out.type == pa.float64() and out.to_pylist() == [1.5, -2.0]


def test_history_and_diff_do_not_import_pandas(tmp_path):
    """pandas costs ~300 ms a start; the IoU of a history or diff must not pull it in."""
    import subprocess
    import sys

    from lineage.demo import build_demo

    build_demo(tmp_path / "demo")
    code = (
        "import sys\n"
        "from lineage.repo import Repo\n"
        f"r = Repo.open({str(tmp_path / 'demo')!r})\n"
        "with r.diff('v1', 'v2') as d: assert d.rows().arrow().num_rows\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
