"""Synthetic COCO-like datasets and edit histories for the benchmark, in NumPy.

* ``coco_dataset`` writes N labels on M images of 80 classes as one COCO instances
  file (orjson): star-shaped polygons of 4-24 vertices whose envelope is the bbox and
  whose shoelace area is the area, plus a fraction of crowd labels (``iscrowd`` 1) with
  compressed RLE masks from pycocotools, as real COCO files mix them. Class frequencies
  follow a Zipf-like law (COCO's "person" is a quarter of all boxes).
* ``EditHistory`` starts from the live labels of version 1 and makes each further
  version edit a fraction of them (moves, relabels, deletes, additions), written as a
  native Parquet file with label ids (imported with ``--mode patch``), plus a review
  pass over the labels it touched, as a reviews CSV.
* ``second_annotator`` copies the labels of a few images with jitter and a few class
  flips under another annotator, so ``lineage agreement`` has overlap to measure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# COCO's 80 category ids run 1..90 with these gaps.
_COCO_GAPS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
_IMAGE_SIZES = np.array(
    [(640, 480), (480, 640), (640, 427), (427, 640), (640, 360), (500, 375), (375, 500)]
)
# The columns an edit file carries: a label's whole content, so an update changes only
# what the edit means to change.
CONTENT = [
    "label_id",
    "asset_id",
    "class_name",
    "shape",
    "bbox",
    "rotation",
    "polygon",
    "keypoints",
    "mask_rle",
    "score",
    "attributes",
    "annotator_id",
    "source",
    "model_version",
    "guideline_version",
    "external_id",
]
# The SQL that reads a revision's live labels as the history generator's state.
STATE_SQL = (
    "SELECT "
    + ", ".join(
        f"l.{c}" if c != "attributes" else "l.attributes::VARCHAR AS attributes" for c in CONTENT
    )
    + ", a.width AS _w, a.height AS _h FROM labels l JOIN assets a USING (asset_id)"
    + " ORDER BY l.label_id"
)
EDITOR = "annotator-c"
SECOND = "annotator-b"


@dataclass(frozen=True)
class Polygons:
    """Polygons as flat arrays: ``xy`` interleaved x, y; label ``i`` owns
    ``xy[offsets[i]:offsets[i + 1]]``."""

    xy: np.ndarray
    offsets: np.ndarray
    bbox: np.ndarray  # (n, 4) x, y, w, h of the envelope
    area: np.ndarray


def category_ids(classes: int) -> np.ndarray:
    """COCO-style category ids: 1..90 without COCO's gaps, then onwards."""
    ids = [i for i in range(1, 91) if i not in _COCO_GAPS]
    ids += list(range(91, 91 + max(0, classes - len(ids))))
    return np.array(ids[:classes], dtype=np.int64)


def class_names(classes: int) -> list[str]:
    return [f"class{c:03d}" for c in category_ids(classes)]


def class_weights(classes: int) -> np.ndarray:
    """Zipf-like class frequencies (rank^-0.9), normalised."""
    w = 1.0 / np.arange(1, classes + 1) ** 0.9
    return w / w.sum()


def polygons(rng: np.random.Generator, widths: np.ndarray, heights: np.ndarray) -> Polygons:
    """One star-shaped polygon of 4-24 vertices per image size given, inside a random box
    covering 5-50 % of each side; coordinates rounded to 0.01 px as COCO files have them."""
    n = len(widths)
    k = rng.integers(4, 25, n)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(k, out=starts[1:])
    total = int(starts[-1])
    owner = np.repeat(np.arange(n), k)
    bw = widths * rng.uniform(0.05, 0.5, n)
    bh = heights * rng.uniform(0.05, 0.5, n)
    cx = rng.uniform(0, 1, n) * (widths - bw) + bw / 2
    cy = rng.uniform(0, 1, n) * (heights - bh) + bh / 2
    pos = np.arange(total) - starts[owner]
    angle = (pos + rng.uniform(0, 0.8, total)) * (2 * math.pi / k[owner])
    radius = rng.uniform(0.6, 1.0, total)
    x = np.round(cx[owner] + radius * bw[owner] / 2 * np.cos(angle), 2)
    y = np.round(cy[owner] + radius * bh[owner] / 2 * np.sin(angle), 2)
    first = starts[:-1]
    x0, y0 = np.minimum.reduceat(x, first), np.minimum.reduceat(y, first)
    x1, y1 = np.maximum.reduceat(x, first), np.maximum.reduceat(y, first)
    bbox = np.round(np.column_stack([x0, y0, x1 - x0, y1 - y0]), 2)
    nxt = np.arange(1, total + 1)
    nxt[starts[1:] - 1] = first
    area = np.round(np.abs(np.add.reduceat(x * y[nxt] - x[nxt] * y, first)) / 2, 2)
    xy = np.empty(2 * total)
    xy[0::2], xy[1::2] = x, y
    return Polygons(xy, starts * 2, bbox, area)


def crowd_masks(boxes: np.ndarray, heights: np.ndarray, widths: np.ndarray) -> list[str]:
    """Compressed RLE counts of rectangular masks (integer boxes x, y, w, h), one
    pycocotools call per image size."""
    from pycocotools import mask as mask_utils

    out: list[str] = [""] * len(boxes)
    sizes = np.column_stack([heights, widths])
    for h, w in np.unique(sizes, axis=0):
        rows = np.flatnonzero((sizes[:, 0] == h) & (sizes[:, 1] == w))
        rles = mask_utils.frPyObjects(boxes[rows].astype(np.float64), int(h), int(w))
        for r, rle in zip(rows, rles, strict=True):
            out[r] = rle["counts"].decode("ascii")
    return out


def coco_dataset(
    path: Path,
    labels: int = 1_000_000,
    images: int = 100_000,
    classes: int = 80,
    crowd: float = 0.01,
    seed: int = 0,
) -> dict:
    """Write a COCO instances file; returns what it holds and how long it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(_IMAGE_SIZES), images)
    img_w, img_h = _IMAGE_SIZES[pick, 0], _IMAGE_SIZES[pick, 1]
    image_of = np.sort(rng.integers(0, images, labels))
    cats = category_ids(classes)
    category = cats[rng.choice(classes, labels, p=class_weights(classes))]
    is_crowd = rng.random(labels) < crowd
    w, h = img_w[image_of], img_h[image_of]

    poly_rows = np.flatnonzero(~is_crowd)
    poly = polygons(rng, w[poly_rows].astype(float), h[poly_rows].astype(float))
    crowd_rows = np.flatnonzero(is_crowd)
    cw = np.maximum(1, (w[crowd_rows] * rng.uniform(0.2, 0.6, crowd_rows.size)).astype(int))
    ch = np.maximum(1, (h[crowd_rows] * rng.uniform(0.2, 0.6, crowd_rows.size)).astype(int))
    cx = (rng.uniform(0, 1, crowd_rows.size) * (w[crowd_rows] - cw)).astype(int)
    cy = (rng.uniform(0, 1, crowd_rows.size) * (h[crowd_rows] - ch)).astype(int)
    crowd_box = np.column_stack([cx, cy, cw, ch])
    counts = crowd_masks(crowd_box, h[crowd_rows], w[crowd_rows])

    bbox = np.empty((labels, 4))
    area = np.empty(labels)
    bbox[poly_rows], area[poly_rows] = poly.bbox, poly.area
    bbox[crowd_rows], area[crowd_rows] = crowd_box, (cw * ch).astype(float)
    segmentation: list = [None] * labels
    offs = poly.offsets
    for j, r in enumerate(poly_rows.tolist()):
        segmentation[r] = [poly.xy[offs[j] : offs[j + 1]]]
    for j, r in enumerate(crowd_rows.tolist()):
        segmentation[r] = {"size": [int(h[r]), int(w[r])], "counts": counts[j]}

    ids = range(1, labels + 1)
    annotations = [
        {
            "id": i,
            "image_id": im,
            "category_id": c,
            "segmentation": s,
            "area": a,
            "bbox": b,
            "iscrowd": z,
        }
        for i, im, c, s, a, b, z in zip(
            ids,
            (image_of + 1).tolist(),
            category.tolist(),
            segmentation,
            area.tolist(),
            bbox.tolist(),
            is_crowd.astype(int).tolist(),
            strict=True,
        )
    ]
    doc = {
        "info": {"description": "lineage benchmark: synthetic COCO-like labels", "version": "1"},
        "licenses": [],
        "images": [
            {"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": int(a), "height": int(b)}
            for i, (a, b) in enumerate(zip(img_w.tolist(), img_h.tolist(), strict=True))
        ],
        "annotations": annotations,
        "categories": [
            {"id": int(c), "name": n, "supercategory": "object"}
            for c, n in zip(cats, class_names(classes), strict=True)
        ],
    }
    data = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    Path(path).write_bytes(data)
    return {
        "labels": labels,
        "images": images,
        "classes": classes,
        "crowd_masks": int(crowd_rows.size),
        "polygon_vertices": int(poly.xy.size // 2),
        "file_bytes": len(data),
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- history


def shift_geometry(rows: pa.Table, dx: np.ndarray, dy: np.ndarray) -> pa.Table:
    """Move each row's bbox and polygon by (dx, dy) (rows all have polygons)."""
    b = rows.column("bbox").combine_chunks()
    bbox = pa.StructArray.from_arrays(
        [
            pc.add(b.field("x"), pa.array(dx)),
            pc.add(b.field("y"), pa.array(dy)),
            b.field("w"),
            b.field("h"),
        ],
        names=["x", "y", "w", "h"],
    )
    poly = rows.column("polygon").combine_chunks()
    parts = poly.flatten()
    values = parts.flatten().to_numpy(zero_copy_only=False)
    part_len = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
    label_len = pc.list_value_length(poly).to_numpy(zero_copy_only=False).astype(np.int64)
    owner = np.repeat(np.repeat(np.arange(rows.num_rows), label_len), part_len)
    even = (np.arange(values.size) % 2) == 0  # every part is a flat x, y list
    moved = np.round(values + np.where(even, dx[owner], dy[owner]), 2)
    inner = pa.ListArray.from_arrays(_offsets(part_len), pa.array(moved))
    polygon = pa.ListArray.from_arrays(_offsets(label_len), inner)
    rows = rows.set_column(rows.schema.get_field_index("bbox"), "bbox", bbox)
    return rows.set_column(
        rows.schema.get_field_index("polygon"),
        "polygon",
        polygon.cast(rows.schema.field("polygon").type),
    )


def _offsets(lengths: np.ndarray) -> pa.Array:
    out = np.zeros(lengths.size + 1, dtype=np.int32)
    np.cumsum(lengths, out=out[1:])
    return pa.array(out)


def new_label_ids(rng: np.random.Generator, n: int, prefix: str = "b") -> list[str]:
    """Fresh label ids (16 hex digits; ``prefix`` keeps them apart from the store's)."""
    raw = rng.integers(0, 2**60, n, dtype=np.int64)
    return [f"{prefix}{v:015x}" for v in raw.tolist()]


def new_labels(
    rng: np.random.Generator, template: pa.Table, classes: list[str], annotator: str
) -> pa.Table:
    """New polygon labels, one on the asset of each template row (random class)."""
    n = template.num_rows
    w = template.column("_w").to_numpy().astype(float)
    h = template.column("_h").to_numpy().astype(float)
    poly = polygons(rng, w, h)
    inner_off = pa.array(poly.offsets.astype(np.int32))
    polygon = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32)),
        pa.ListArray.from_arrays(inner_off, pa.array(poly.xy)),
    )
    bbox = pa.StructArray.from_arrays(
        [pa.array(poly.bbox[:, i]) for i in range(4)], names=["x", "y", "w", "h"]
    )
    attrs = [orjson.dumps({"area": a, "iscrowd": 0}).decode() for a in poly.area.tolist()]
    names = np.array(classes, dtype=object)[rng.integers(0, len(classes), n)]
    cols = {
        "label_id": pa.array(new_label_ids(rng, n)),
        "asset_id": template.column("asset_id"),
        "class_name": pa.array(names.tolist(), pa.string()),
        "shape": pa.array(["polygon"] * n),
        "bbox": bbox,
        "polygon": polygon,
        "attributes": pa.array(attrs, pa.string()),
        "annotator_id": pa.array([annotator] * n),
        "source": pa.array(["human"] * n),
        "guideline_version": template.column("guideline_version"),
        "_w": template.column("_w"),
        "_h": template.column("_h"),
    }
    return _conform(cols, template.schema, n)


def _conform(cols: dict, schema: pa.Schema, n: int) -> pa.Table:
    """A table of ``schema`` from ``cols`` (missing columns null)."""
    arrays = []
    for f in schema:
        col = cols.get(f.name)
        if col is None:
            arrays.append(pa.nulls(n, f.type))
        else:
            if isinstance(col, pa.ChunkedArray):
                col = col.combine_chunks()
            arrays.append(col.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def second_annotator(
    state: pa.Table, fraction: float, rng: np.random.Generator, classes: list[str]
) -> pa.Table:
    """Another annotator's labels for ``fraction`` of the images: each polygon label of
    the first annotator copied, shifted by up to 3 px, 5 % of classes changed, 5 % of
    objects missed. Native rows with fresh label ids (so ``--match ids`` adds them)."""
    poly = state.filter(pc.equal(state.column("shape"), "polygon"))
    assets = np.unique(poly.column("asset_id").to_numpy(zero_copy_only=False))
    chosen = rng.choice(assets, max(1, int(len(assets) * fraction)), replace=False)
    rows = poly.filter(pc.is_in(poly.column("asset_id"), pa.array(chosen)))
    rows = rows.filter(pa.array(rng.random(rows.num_rows) >= 0.05))
    n = rows.num_rows
    rows = shift_geometry(rows, rng.uniform(-3, 3, n), rng.uniform(-3, 3, n))
    flip = rng.random(n) < 0.05
    names = np.array(rows.column("class_name").to_pylist(), dtype=object)
    names[flip] = np.array(classes, dtype=object)[rng.integers(0, len(classes), int(flip.sum()))]
    rows = _set(rows, "class_name", pa.array(names.tolist(), pa.string()))
    rows = _set(rows, "label_id", pa.array(new_label_ids(rng, n, prefix="d")))
    rows = _set(rows, "annotator_id", pa.array([SECOND] * n))
    return _set(rows, "external_id", pa.nulls(n, pa.string()))


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, name, values.cast(table.schema.field(name).type))


def write_edits(table: pa.Table, path: Path) -> Path:
    """An edit file: the native Parquet columns (the ``_w``/``_h`` helpers dropped)."""
    pq.write_table(table.drop_columns([c for c in ("_w", "_h") if c in table.column_names]), path)
    return path


def write_reviews(
    label_ids: pa.Array | pa.ChunkedArray,
    path: Path,
    rng: np.random.Generator,
    *,
    pass_: int = 1,
    reviewer: str = "reviewer-1",
) -> Path:
    """A reviews CSV: one pass over ``label_ids``, 95 % accept, 3 % reject, 2 % fix."""
    n = len(label_ids)
    verdict = np.array(["accept", "reject", "fix"], dtype=object)[
        rng.choice(3, n, p=[0.95, 0.03, 0.02])
    ]
    table = pa.table(
        {
            "label_id": label_ids,
            "pass": pa.array(np.full(n, pass_, dtype=np.int32)),
            "reviewer_id": pa.array([reviewer] * n),
            "verdict": pa.array(verdict.tolist(), pa.string()),
        }
    )
    pacsv.write_csv(table, path)
    return path


@dataclass
class Version:
    """What one history step wrote and did."""

    edits: Path
    reviews: Path
    counts: dict[str, int] = field(default_factory=dict)


class EditHistory:
    """The label state across versions: each ``step`` edits ``fraction`` of the live
    labels (40 % moves, 25 % relabels, 15 % deletes, 20 % additions) and reviews the
    labels it moved, relabelled or added."""

    MIX = {"moved": 0.40, "relabelled": 0.25, "deleted": 0.15, "added": 0.20}

    def __init__(self, state: pa.Table, classes: list[str], fraction: float = 0.01, seed: int = 1):
        self.state = state.combine_chunks()
        self.classes = classes
        self.fraction = fraction
        self.rng = np.random.default_rng(seed)
        self.touched: dict[str, int] = {}  # label id -> edits so far

    def step(self, version: int, folder: Path) -> Version:
        rng, state = self.rng, self.state
        n = state.num_rows
        k = max(4, round(self.fraction * n))
        n_move, n_relabel, n_delete = (
            round(k * self.MIX[m]) for m in ("moved", "relabelled", "deleted")
        )
        n_add = k - n_move - n_relabel - n_delete
        is_poly = pc.equal(state.column("shape"), "polygon").to_numpy(zero_copy_only=False)
        polys = np.flatnonzero(is_poly)
        move = rng.choice(polys, min(n_move, polys.size), replace=False)
        free = np.ones(n, dtype=bool)
        free[move] = False
        others = rng.choice(np.flatnonzero(free), n_relabel + n_delete, replace=False)
        relabel, delete = others[:n_relabel], others[n_relabel:]

        moved = state.take(pa.array(move))
        big = rng.random(move.size) < 0.5  # half small adjustments, half real moves
        step = np.where(big, rng.uniform(15, 60, move.size), rng.uniform(1, 4, move.size))
        sign = np.where(rng.random((2, move.size)) < 0.5, -1.0, 1.0)
        bx = moved.column("bbox").combine_chunks()
        x, y, w, h = (bx.field(f).to_numpy(zero_copy_only=False) for f in "xywh")
        img_w = moved.column("_w").to_numpy(zero_copy_only=False).astype(np.float64)
        img_h = moved.column("_h").to_numpy(zero_copy_only=False).astype(np.float64)
        # moves stay inside the image, as an annotation tool keeps them (import refuses
        # boxes far outside their image)
        dx = np.maximum(np.minimum(sign[0] * step, img_w - (x + w)), -x)
        dy = np.maximum(np.minimum(sign[1] * step, img_h - (y + h)), -y)
        moved = _set(shift_geometry(moved, dx, dy), "annotator_id", pa.array([EDITOR] * move.size))

        relabelled = state.take(pa.array(relabel))
        old = np.array(relabelled.column("class_name").to_pylist(), dtype=object)
        new = np.array(self.classes, dtype=object)[rng.integers(0, len(self.classes), relabel.size)]
        same = new == old
        new[same] = np.array(self.classes, dtype=object)[
            (np.searchsorted(self.classes, old[same].astype(str)) + 1) % len(self.classes)
        ]
        relabelled = _set(relabelled, "class_name", pa.array(new.tolist(), pa.string()))
        relabelled = _set(relabelled, "annotator_id", pa.array([EDITOR] * relabel.size))

        added = new_labels(
            rng, state.take(pa.array(rng.integers(0, n, n_add))), self.classes, EDITOR
        )

        gone = state.take(pa.array(delete))
        deletes = _conform(
            {"label_id": gone.column("label_id"), "asset_id": gone.column("asset_id")},
            state.schema,
            delete.size,
        )
        edits = pa.concat_tables([moved, relabelled, added])
        ops = pa.array([None] * edits.num_rows + ["delete"] * delete.size, pa.string())
        edit_file = pa.concat_tables([edits, deletes]).append_column("op", ops)

        keep = np.ones(n, dtype=bool)
        keep[np.concatenate([move, relabel, delete])] = False
        self.state = pa.concat_tables([state.filter(pa.array(keep)), edits]).combine_chunks()
        for lid in pa.concat_arrays(
            [
                moved.column("label_id").combine_chunks(),
                relabelled.column("label_id").combine_chunks(),
            ]
        ).to_pylist():
            self.touched[lid] = self.touched.get(lid, 0) + 1

        edits_path = write_edits(edit_file, Path(folder) / f"edits-v{version}.parquet")
        reviews_path = write_reviews(
            edits.column("label_id"), Path(folder) / f"reviews-v{version}.csv", rng
        )
        counts = {
            "moved": int(move.size),
            "relabelled": int(relabel.size),
            "deleted": int(delete.size),
            "added": int(n_add),
            "reviewed": edits.num_rows,
            "live": self.state.num_rows,
        }
        return Version(edits_path, reviews_path, counts)

    def most_edited(self) -> str | None:
        """The live label edited most often (the one the history benchmark asks about)."""
        live = set(self.state.column("label_id").to_pylist())
        ranked = sorted(((c, lid) for lid, c in self.touched.items() if lid in live), reverse=True)
        return ranked[0][1] if ranked else None
