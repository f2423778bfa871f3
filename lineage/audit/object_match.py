"""Matching two annotators' objects on an image: detection-style agreement.

Annotator A is the reference, B is judged against it: a matched pair is a true
positive, an object of B left over a false positive, one of A a false negative.

* Matching is class-agnostic and one-to-one: the pairs maximise the total
  similarity (``lineage.geometry.iou_matrix``: box IoU, mask IoU for polygons and
  masks, OKS for keypoints) among pairs scoring at least ``iou_threshold``
  (``lineage.geometry.assign``). A box both drew but named differently is a matched
  pair whose classes disagree: localisation and classification are reported apart.
  Among equally good matchings the one with more class agreement wins.
* Image-level labels (shape ``classification``) are not objects and are left out;
  measure them with the kappa statistics of ``agreement_stats``.
* Empty sides: no object on either side contributes nothing (every count 0, every
  rate nan). One side empty: all of the other side's objects are misses (A) or
  extras (B). Precision is nan when B has no object, recall when A has none (0/0 is
  undefined, not 0); F1 = 2tp / (2tp + fp + fn) is nan only when both are empty.

``match_many`` sums these over many images for one pair of annotators (call it
once per pair). Images whose objects are all plain axis-aligned boxes go through a
vectorised path in batches: the IoU of every within-image pair in one call, the
matching read off directly where no object has two candidates, the Hungarian on
the image's small block where one does. Other images go through ``match_objects``.
The summary adds Cohen's kappa of the class names over all matched pairs.
100,000 images x 10 boxes x 2 annotators (per-image slices of two Arrow tables)
take 2-3.5 s on the shared 2-core build machine (1.5 s when it was quiet), against
about 50-70 s image by image.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lineage import geometry
from lineage.audit.agreement_stats import Agreement, cohen_kappa_result

# Bonus added to same-class candidate pairs so that ties between matchings go to
# class agreement; far below any IoU difference that matters.
_CLASS_TIE_BREAK = 1e-9
_BATCH = 4096  # images per vectorised batch
# what the batch path reads (the box path: shape, bbox, rotation, class_name)
_GEOMETRY_COLUMNS = ("shape", "bbox", "rotation", "polygon", "keypoints", "mask_rle", "class_name")


@dataclass(frozen=True)
class MatchResult:
    """Objects of B matched against the objects of A on one image.

    ``pairs`` holds (row in a, row in b, IoU) sorted by row of a; rows index the
    tables as given.
    """

    pairs: tuple[tuple[int, int, float], ...]
    unmatched_a: tuple[int, ...]
    unmatched_b: tuple[int, ...]
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_iou: float
    class_agreement: float
    class_matches: int  # matched pairs whose class_name is equal (two nulls are equal)


@dataclass(frozen=True)
class MatchSummary:
    """Micro-averaged agreement of one annotator pair over many images.

    ``images`` counts every image seen, ``images_with_objects`` those where either
    side has an object; ``vectorised`` how many went through the box-only batch path.
    ``class_kappa`` is Cohen's kappa of the class names over the matched pairs (no
    class is a category of its own): class agreement corrected for chance.
    """

    images: int
    images_with_objects: int
    n_a: int
    n_b: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    mean_iou: float
    class_agreement: float
    class_matches: int
    class_kappa: Agreement
    vectorised: int


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _rates(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _objects(table: pa.Table) -> np.ndarray:
    """Rows that are objects: everything but image-level classification labels."""
    if "shape" not in table.column_names:
        return np.arange(table.num_rows)
    shape = table.column("shape")
    keep = pc.fill_null(pc.not_equal(shape, "classification"), True)
    return np.flatnonzero(keep.to_numpy(zero_copy_only=False))


def _classes(table: pa.Table) -> np.ndarray:
    if "class_name" not in table.column_names:
        return np.full(table.num_rows, None, dtype=object)
    return table.column("class_name").to_numpy(zero_copy_only=False)


def match_objects(
    a: pa.Table,
    b: pa.Table,
    iou_threshold: float = 0.5,
    height: int | None = None,
    width: int | None = None,
) -> MatchResult:
    """Match B's objects to A's (the reference) on one image; see the module docstring.

    ``a`` and ``b`` are label tables (the ``label_events`` columns) of one image;
    ``height``/``width`` are the image's size, needed to compare polygons as masks
    (without it polygons are compared by their bbox envelopes).
    """
    rows_a, rows_b = _objects(a), _objects(b)
    pairs: list[tuple[int, int, float]] = []
    class_matches = 0
    if len(rows_a) and len(rows_b):
        sub_a, sub_b = a.take(rows_a), b.take(rows_b)
        score = geometry.iou_matrix(sub_a, sub_b, height, width)
        same = _classes(sub_a)[:, None] == _classes(sub_b)[None, :]
        for i, j in _assign(score, same, iou_threshold):
            pairs.append((int(rows_a[i]), int(rows_b[j]), float(score[i, j])))
            class_matches += bool(same[i, j])
    matched_a = {i for i, _, _ in pairs}
    matched_b = {j for _, j, _ in pairs}
    tp = len(pairs)
    fp, fn = len(rows_b) - tp, len(rows_a) - tp
    precision, recall, f1 = _rates(tp, fp, fn)
    return MatchResult(
        pairs=tuple(pairs),
        unmatched_a=tuple(int(i) for i in rows_a if i not in matched_a),
        unmatched_b=tuple(int(j) for j in rows_b if j not in matched_b),
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=f1,
        mean_iou=_ratio(sum(p[2] for p in pairs), tp),
        class_agreement=_ratio(class_matches, tp),
        class_matches=class_matches,
    )


def _assign(score: np.ndarray, same: np.ndarray, iou_threshold: float) -> list[tuple[int, int]]:
    """Optimal one-to-one pairs scoring >= threshold; ties go to same-class pairs."""
    weight = np.where(score >= iou_threshold, score + _CLASS_TIE_BREAK * same, np.nan)
    return geometry.assign(weight, -np.inf)


# --------------------------------------------------------------------------- many images


class _Totals:
    """Running sums over images."""

    def __init__(self) -> None:
        self.images = self.with_objects = self.n_a = self.n_b = 0
        self.tp = self.class_matches = self.vectorised = 0
        self.iou = 0.0
        self.names_a: list[np.ndarray] = []  # class names of matched pairs, batch by batch
        self.names_b: list[np.ndarray] = []

    def add(self, n_a: int, n_b: int, tp: int, iou: float, class_matches: int) -> None:
        self.n_a += n_a
        self.n_b += n_b
        self.tp += tp
        self.iou += iou
        self.class_matches += class_matches

    def add_classes(self, names_a: np.ndarray, names_b: np.ndarray) -> None:
        self.names_a.append(np.asarray(names_a, dtype=object))
        self.names_b.append(np.asarray(names_b, dtype=object))

    def class_kappa(self) -> Agreement:
        names = [*self.names_a, *self.names_b]
        if not names:
            return cohen_kappa_result([], [])
        both = pa.array(np.concatenate(names), type=pa.string())
        codes = pc.fill_null(pc.dictionary_encode(both).indices, -1).to_numpy(zero_copy_only=False)
        return cohen_kappa_result(codes[: self.tp], codes[self.tp :])

    def summary(self) -> MatchSummary:
        fp, fn = self.n_b - self.tp, self.n_a - self.tp
        precision, recall, f1 = _rates(self.tp, fp, fn)
        return MatchSummary(
            images=self.images,
            images_with_objects=self.with_objects,
            n_a=self.n_a,
            n_b=self.n_b,
            tp=self.tp,
            fp=fp,
            fn=fn,
            precision=precision,
            recall=recall,
            f1=f1,
            mean_iou=_ratio(self.iou, self.tp),
            class_agreement=_ratio(self.class_matches, self.tp),
            class_matches=self.class_matches,
            class_kappa=self.class_kappa(),
            vectorised=self.vectorised,
        )


def match_many(
    groups: Iterable[tuple[Hashable, pa.Table, pa.Table]],
    iou_threshold: float = 0.5,
    sizes: Mapping[Hashable, tuple[int, int]] | None = None,
) -> MatchSummary:
    """Sum the matching of two annotators over many images: micro P/R/F1 and mean IoU.

    ``groups`` yields ``(image, table_a, table_b)``, one per image, A being the
    reference; ``sizes`` maps an image to its (height, width) for polygon and mask
    IoU. The result equals summing ``match_objects`` image by image.
    """
    totals = _Totals()
    batch: list[tuple[Hashable, pa.Table, pa.Table]] = []
    for group in groups:
        batch.append(group)
        if len(batch) >= _BATCH:
            _match_batch(batch, iou_threshold, sizes, totals)
            batch = []
    if batch:
        _match_batch(batch, iou_threshold, sizes, totals)
    return totals.summary()


def _match_one(image, a, b, iou_threshold, sizes, totals: _Totals) -> None:
    h, w = sizes.get(image, (None, None)) if sizes is not None else (None, None)
    r = match_objects(a, b, iou_threshold, h, w)
    n_a, n_b = r.tp + r.fn, r.tp + r.fp
    totals.with_objects += bool(n_a or n_b)
    totals.add(n_a, n_b, r.tp, sum(p[2] for p in r.pairs), r.class_matches)
    if r.pairs:
        totals.add_classes(
            _classes(a)[[i for i, _, _ in r.pairs]], _classes(b)[[j for _, j, _ in r.pairs]]
        )


def _match_batch(batch, iou_threshold, sizes, totals: _Totals) -> None:
    totals.images += len(batch)
    try:
        stacked = _stack(batch, sizes)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, KeyError):  # schemas differ
        # a batch whose tables cannot be stacked (or lack a column read) goes one by one
        stacked = None
    fast = np.zeros(len(batch), dtype=bool) if stacked is None else stacked.fast
    if stacked is not None and fast.any():
        _match_stacked(stacked, iou_threshold, totals)
    for idx in np.flatnonzero(~fast):
        image, a, b = batch[idx]
        _match_one(image, a, b, iou_threshold, sizes, totals)


@dataclass
class _Stacked:
    """A batch's objects as two tables (rows grouped by image, in batch order), and what
    the batch path needs of them."""

    a: pa.Table
    b: pa.Table
    na: np.ndarray  # objects per image on each side
    nb: np.ndarray
    plain: np.ndarray  # images whose objects are all plain boxes: box IoU only
    fast: np.ndarray  # images the batch path matches (plain, or any shape at a known size)
    box_a: np.ndarray
    box_b: np.ndarray
    class_a: np.ndarray  # class codes, one dictionary for both sides
    class_b: np.ndarray
    names: np.ndarray  # names by code (``names[-1]`` is None)
    heights: np.ndarray  # image size per image (NaN: unknown)
    widths: np.ndarray


def _stack(batch, sizes) -> _Stacked:
    """The batch's objects stacked, and which images hold plain boxes only.

    An image with other shapes goes through the batch path too when its pairs' IoU is
    what ``iou_matrix`` gives on it: always when its size is known, and when no mask
    lends it one (``iou_matrix`` then reads the size off the masks, pairs do not)."""
    g = len(batch)
    first = batch[0][1]
    columns = [c for c in first.column_names if c in _GEOMETRY_COLUMNS]
    # concatenating is zero-copy; then one contiguous copy of the columns read
    big_a = pa.concat_tables([a for _, a, _ in batch]).select(columns).combine_chunks()
    big_b = pa.concat_tables([b for _, _, b in batch]).select(columns).combine_chunks()
    img_a = np.repeat(np.arange(g), [a.num_rows for _, a, _ in batch])
    img_b = np.repeat(np.arange(g), [b.num_rows for _, _, b in batch])
    # classification rows are not objects: drop them (rows stay grouped by image)
    obj_a, obj_b = _objects(big_a), _objects(big_b)
    if len(obj_a) < big_a.num_rows:
        big_a, img_a = big_a.take(obj_a), img_a[obj_a]
    if len(obj_b) < big_b.num_rows:
        big_b, img_b = big_b.take(obj_b), img_b[obj_b]
    box_a, box_b = _plain_boxes(big_a), _plain_boxes(big_b)
    plain = (np.bincount(img_a[~box_a.ok], minlength=g) == 0) & (
        np.bincount(img_b[~box_b.ok], minlength=g) == 0
    )
    size = [sizes.get(image) if sizes is not None else None for image, _, _ in batch]
    heights = np.array([s[0] if s else np.nan for s in size], dtype=np.float64)
    widths = np.array([s[1] if s else np.nan for s in size], dtype=np.float64)
    masked = np.zeros(g, dtype=bool)
    for big, img in ((big_a, img_a), (big_b, img_b)):
        if "mask_rle" in big.column_names:
            has = big.column("mask_rle").is_valid().to_numpy(zero_copy_only=False)
            masked |= np.bincount(img[has], minlength=g) > 0
    known = (heights > 0) & (widths > 0)  # NaN: not known
    fast = plain | known | ~masked
    na, nb = np.bincount(img_a, minlength=g), np.bincount(img_b, minlength=g)
    classes = _class_codes(big_a.column("class_name"), big_b.column("class_name"))
    return _Stacked(
        big_a, big_b, na, nb, plain, fast, box_a.xywh, box_b.xywh, *classes, heights, widths
    )


def _class_codes(
    a: pa.ChunkedArray, b: pa.ChunkedArray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class names of both sides as ints from one dictionary, and the names by code.

    Null is code -1 (equal to null); ``names[-1]`` is None so that ``names[code]`` works.
    """
    both = pa.chunked_array(a.chunks + b.chunks, type=pa.string()).combine_chunks()
    encoded = pc.dictionary_encode(both)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    names = np.append(encoded.dictionary.to_numpy(zero_copy_only=False), None)  # type: ignore[call-overload]  # numpy/duckdb stubs
    return codes[: len(a)], codes[len(a) :], names


def _match_stacked(st: _Stacked, iou_threshold: float, totals: _Totals) -> None:
    """Match every image of a batch that the batch path takes, at once.

    The IoU of every within-image pair comes from one vectorised call (box IoU for
    plain-box images, ``geometry.iou_index_pairs`` for the others). Where no object
    has two candidate partners (the usual case) the candidates are the optimal
    matching; the other images get the Hungarian on their small block of the same IoUs.
    """
    fast, na, nb = st.fast, st.na, st.nb
    g = len(fast)
    per = np.where(fast, na * nb, 0)  # pairs per image, laid out image by image
    first = np.cumsum(per) - per
    pair_img = np.repeat(np.arange(g), per)
    k = np.arange(len(pair_img)) - first[pair_img]
    ai = (np.cumsum(na) - na)[pair_img] + k // nb[pair_img]
    bi = (np.cumsum(nb) - nb)[pair_img] + k % nb[pair_img]
    iou = np.empty(len(pair_img))
    boxes = st.plain[pair_img]
    iou[boxes] = geometry.box_iou_pairs(st.box_a[ai[boxes]], st.box_b[bi[boxes]])
    if not boxes.all():
        other = ~boxes
        iou[other] = geometry.iou_index_pairs(
            st.a,
            st.b,
            ai[other],
            bi[other],
            st.heights[pair_img[other]],
            st.widths[pair_img[other]],
            groups=pair_img[other],
        )
    class_a, class_b = st.class_a, st.class_b
    cand = np.flatnonzero(iou >= iou_threshold)
    ca, cb, cimg = ai[cand], bi[cand], pair_img[cand]
    twice = (np.bincount(ca, minlength=len(class_a)) > 1)[ca] | (
        np.bincount(cb, minlength=len(class_b)) > 1
    )[cb]
    contested = np.bincount(cimg[twice], minlength=g) > 0
    matched = [cand[~contested[cimg]]]  # indices into the pair arrays
    for img in np.flatnonzero(contested):
        block = np.arange(first[img], first[img] + per[img]).reshape(na[img], nb[img])
        agrees = class_a[ai[block]] == class_b[bi[block]]
        chosen = _assign(iou[block], agrees, iou_threshold)
        matched.append(np.array([block[i, j] for i, j in chosen], dtype=np.int64))
    pairs = np.concatenate(matched)
    ma, mb = class_a[ai[pairs]], class_b[bi[pairs]]
    totals.vectorised += int(fast.sum())
    totals.with_objects += int(np.count_nonzero(fast & ((na > 0) | (nb > 0))))
    totals.add(
        int(na[fast].sum()),
        int(nb[fast].sum()),
        len(pairs),
        float(iou[pairs].sum()),
        int(np.count_nonzero(ma == mb)),
    )
    totals.add_classes(st.names[ma], st.names[mb])


@dataclass(frozen=True)
class _Boxes:
    xywh: np.ndarray  # (n, 4)
    ok: np.ndarray  # row is a plain axis-aligned box with a finite bbox


def _plain_boxes(table: pa.Table) -> _Boxes:
    """Rows whose similarity is plain box IoU: shape box, finite bbox, no rotation."""
    n = table.num_rows
    shape = table.column("shape")
    ok = pc.fill_null(pc.equal(shape, "box"), False).to_numpy(zero_copy_only=False)
    col = table.column("bbox")
    valid = ~col.is_null().to_numpy(zero_copy_only=False)
    xywh = np.empty((n, 4))
    for i, f in enumerate("xywh"):
        xywh[:, i] = pc.struct_field(col, f).to_numpy(zero_copy_only=False)
    ok = ok & valid & np.all(np.isfinite(xywh), axis=1)
    if "rotation" in table.column_names:
        rot = table.column("rotation").to_numpy(zero_copy_only=False).astype(np.float64)
        with np.errstate(invalid="ignore"):
            ok &= ~(np.isfinite(rot) & (rot % 360 != 0))  # geometry's test for a rotated box
    return _Boxes(np.where(ok[:, None], xywh, 0.0), ok)
