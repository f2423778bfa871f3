"""Read a COCO instances / person-keypoints file (or a results list) into an ImportBatch."""

from __future__ import annotations

import gc
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from lineage.errors import InputError
from lineage.formats.base import (
    Comparison,
    ImportBatch,
    ImportOptions,
    PartsFailed,
    RecordErrors,
)
from lineage.formats.coco import chunks, workers
from lineage.formats.coco.checks import SeenIds, problems
from lineage.formats.coco.collect import Columns, collect, record_name
from lineage.formats.coco.load import (
    Categories,
    Images,
    categories,
    images,
    parse,
    resolve,
    section,
)
from lineage.formats.coco.table import fill_missing_boxes, labels_table


def read(path: Path, options: ImportOptions) -> ImportBatch:
    """Parse ``path`` once, check every record, and return the labels, the images as
    assets and the categories. A results file (a bare list of detections) takes its
    images and categories from ``options.extra["annotations"]``, the ground-truth file."""
    file = resolve(Path(path))
    with no_cyclic_gc():
        return _read(file, options, options.strict)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates millions of containers
    and would trigger it over and over (it doubles the parse time), while nothing
    here creates reference cycles. Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(file: Path, options: ImportOptions, strict: bool) -> ImportBatch:
    if file.stat().st_size >= chunks.MIN_FILE_BYTES:
        try:
            chunked = chunks.Chunked(file, chunks.CHUNK_BYTES)
        except chunks.SplitFailed:
            chunked = None
        if chunked is not None and options.part_rows:
            return _in_parts(file, chunked, options, strict)
        if chunked is not None:
            try:
                return _batch(file, file, chunked.meta, chunked, options, strict)
            except chunks.SplitFailed:
                pass  # a cut fell inside a record: parse the document whole (below)
            finally:
                chunked.close()
    doc = parse(file)
    if isinstance(doc, list):
        meta_file = _ground_truth(file, options)
        meta = parse(meta_file)
        if not isinstance(meta, dict):
            raise InputError("the ground-truth COCO file must be a JSON object", file=meta_file)
        return _batch(file, meta_file, meta, [doc], options, strict)
    if not isinstance(doc, dict):
        raise InputError("a COCO file must be a JSON object or a list of results", file=file)
    anns = section(doc, "annotations", file)
    return _batch(file, file, doc, [anns], options, strict)


def _batch(
    file: Path,
    meta_file: Path,
    meta: dict,
    slices: Iterable[list] | chunks.Chunked,
    options: ImportOptions,
    strict: bool,
) -> ImportBatch:
    """Check and gather images, categories and annotations into an ImportBatch (a large
    file's slices are read in worker processes, see ``workers``)."""
    errors = RecordErrors(strict)
    imgs = images(meta, meta_file, errors)
    cats = categories(meta, meta_file, errors)
    meta.clear()
    if isinstance(slices, chunks.Chunked):
        cols = workers.collect_slices(slices, imgs, cats, file, errors)
    else:
        cols = collect(slices, imgs, cats, file, errors)
    labels, _ = _labels(cols, imgs, cats, file, errors, options)
    return _whole(labels, imgs, cats, [file] if meta_file == file else [file, meta_file],
                  errors, options)  # fmt: skip


def _whole(
    labels: pa.Table,
    imgs: Images,
    cats: Categories,
    files: list[Path],
    errors: RecordErrors,
    options: ImportOptions,
    rest: Generator[ImportBatch, None, None] | None = None,
) -> ImportBatch:
    """The batch of a file: its labels (the first part's, with ``rest``), images as
    assets and categories."""
    return ImportBatch(
        labels=labels,
        assets=imgs.table(options.extra.get("split")),
        categories=cats.table(),
        source_files=files,
        skipped=errors.skipped,
        stable_ids=labels.num_rows > 0 and labels.column("external_id").null_count == 0,
        comparison=COMPARISON,
        rest=rest,
    )


def _labels(
    cols: Columns,
    imgs: Images,
    cats: Categories,
    file: Path,
    errors: RecordErrors,
    options: ImportOptions,
) -> tuple[pa.Table, list]:
    """The checked labels of ``cols``, and the annotation ids of the rows kept."""
    found = fill_missing_boxes(cols)
    for row, problem in problems(cols, imgs, cats).items():
        found.setdefault(row, problem)
    for row in sorted(found):
        field, message = found[row]
        errors.bad(message, file=file, record=cols.record(row), field=field)
    kept = [i for row, i in enumerate(cols.ids) if row not in found] if found else cols.ids
    return labels_table(cols, imgs, cats, options, set(found)), kept


def _in_parts(
    file: Path, chunked: chunks.Chunked, options: ImportOptions, strict: bool
) -> ImportBatch:
    """The images, categories and first part of a large file; ``rest`` reads the other
    parts as they are taken (the file stays open until then)."""
    errors = RecordErrors(strict)
    try:
        imgs = images(chunked.meta, file, errors)
        cats = categories(chunked.meta, file, errors)
    except BaseException:
        chunked.close()
        raise
    chunked.meta.clear()
    parts = _parts(file, chunked, imgs, cats, errors, options)
    return _whole(next(parts).labels, imgs, cats, [file], errors, options, rest=parts)


def _parts(
    file: Path,
    chunked: chunks.Chunked,
    imgs: Images,
    cats: Categories,
    errors: RecordErrors,
    options: ImportOptions,
) -> Generator[ImportBatch, None, None]:
    """Each part's labels, checked as ``_batch`` checks the whole; an annotation id used in
    two parts is found once every part is read (strict: the error; lenient: the file is
    read whole, as a part already taken cannot drop it)."""
    seen = SeenIds()
    try:
        with no_cyclic_gc():
            for cols in workers.column_parts(chunked, imgs, cats, file, errors, options.part_rows):
                labels, kept = _labels(cols, imgs, cats, file, errors, options)
                seen.add(kept)
                yield ImportBatch(labels=labels, skipped=errors.skipped)
            for ann_id in seen.repeated():
                if not errors.strict:
                    raise PartsFailed
                errors.bad(
                    f"annotation id {ann_id} is used twice",
                    file=file,
                    record=record_name(ann_id, 0),
                    field="id",
                )
    except chunks.SplitFailed:
        raise PartsFailed from None
    finally:
        chunked.close()


# area is derived from the geometry (kept as an attribute only as the file gave it);
# iscrowd 0 is the default; annotation ids are renumbered by exports
COMPARISON = Comparison(
    shapes=frozenset({"box", "rotated box", "polygon", "mask", "keypoints"}),
)


def _ground_truth(file: Path, options: ImportOptions) -> Path:
    given = options.extra.get("annotations")
    if not given:
        raise InputError(
            "this is a COCO results file (a list of detections): it needs the ground-truth "
            "file for its images and categories",
            file=file,
            hint="pass the ground truth as the 'annotations' option",
        )
    return resolve(Path(given))
