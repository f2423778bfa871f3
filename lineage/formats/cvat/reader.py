"""Stream a CVAT for images 1.1 ``annotations.xml`` into incoming label rows.

Parsed with defusedxml's ``iterparse`` and DTDs forbidden (a CVAT export never has
one, so XXE and entity bombs fail at once); each ``<image>`` and ``<track>`` is
cleared once read, so memory stays flat on large task exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from lineage.errors import InputError
from lineage.formats.base import ImportOptions, RecordErrors
from lineage.formats.cvat.meta import Meta, Person, parse_meta
from lineage.formats.cvat.shapes import (
    ANNOTATOR_ATTR,
    GUIDELINE_ATTR,
    LABEL_ATTR,
    SHAPES,
    UNSUPPORTED,
    ShapeError,
    ShapeSkip,
    integer,
    parse_shape,
)

# CVAT's `source` of a shape -> lineage's. "file": CVAT imported it from an annotation
# file and keeps no trace of who or what made it; the assignee who uploaded it answers.
SOURCES = {
    "manual": "human",
    "file": "human",
    "consensus": "human",
    "auto": "model",
    "semi-auto": "assisted",
}


@dataclass
class Image:
    asset_id: str
    frame: int
    task: str | None
    width: int
    height: int


@dataclass
class Parsed:
    """What one XML file holds, before it becomes Arrow tables."""

    path: Path
    meta: Meta = field(default_factory=Meta)
    labels: list[dict] = field(default_factory=list)
    records: list[str] = field(default_factory=list)  # what to call each label in errors
    assets: list[dict] = field(default_factory=list)
    people: dict[str, Person | None] = field(default_factory=dict)  # annotator_id -> user
    keypoint_names: dict[str, list[str]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    from_file: int = 0


class _Reader:
    def __init__(
        self,
        path: Path,
        options: ImportOptions,
        errors: RecordErrors,
        names: set[str],
        subset: str | None,
    ):
        self.path = path
        self.options = options
        self.errors = errors
        self.out = Parsed(path)
        self.images: dict[tuple[str | None, int], Image] = {}
        self.names = names  # asset ids taken, across the files of one import
        self.subset = subset
        self.deferred: list[Element] = []
        self.listed = False  # whether the file lists <image>s (video exports do not)
        self.assignees: dict[tuple[str | None, int], Person | None] = {}  # per frame

    # ---------------------------------------------------------------- provenance

    def _task_key(self, el: Element) -> str | None:
        return el.get("task_id") if self.out.meta.kind == "project" else None

    def _annotator(self, task: str | None, frame: int, exported: str | None) -> str | None:
        """Who made a shape: the assignee of its frame's job, else of the task (the people
        who worked in CVAT), else the annotator a lineage export recorded, else the
        ``--annotator`` option."""
        key = (task, frame)
        if key not in self.assignees:
            meta = self.out.meta
            seg = meta.segment_for(task, frame)
            self.assignees[key] = (seg.assignee if seg else None) or meta.task_assignee.get(task)
        person = self.assignees[key]
        if person is None:
            return exported or self.options.annotator
        amap = self.options.annotator_map
        for handle in (person.username, person.email):
            if handle is not None and handle in amap:
                self.out.people.setdefault(amap[handle], person)
                return amap[handle]
        aid = person.username or person.email
        self.out.people.setdefault(aid, person)  # type: ignore[arg-type]  # checked before use
        return aid

    def _source(self, el: Element) -> tuple[str, str | None]:
        raw = el.get("source")
        if raw is None:
            source = self.options.source or "human"
        elif raw.strip().lower() in SOURCES:
            source = SOURCES[raw.strip().lower()]
            self.out.from_file += raw.strip().lower() == "file"
        else:
            raise ShapeError(f"source={raw!r} is not one of {', '.join(SOURCES)}", "source")
        return source, self.options.model_version if source != "human" else None

    # ---------------------------------------------------------------- rows

    def _row(self, el: Element, image: Image, source_el: Element, external_id: str | None) -> dict:
        row = parse_shape(el, self.out.meta, image.width, image.height)
        names = row.pop("keypoint_names", None)
        if names is not None and row["class_name"] is not None:
            self.out.keypoint_names.setdefault(row["class_name"], names)
        source, model_version = self._source(source_el)
        own_id = row["attributes"].pop(LABEL_ATTR, None)  # written by lineage's export
        if own_id:
            row["label_id"] = str(own_id)
        exported = row["attributes"].pop(ANNOTATOR_ATTR, None)
        guideline = row["attributes"].pop(GUIDELINE_ATTR, None) or None
        row.update(
            asset_id=image.asset_id,
            source=source,
            model_version=model_version,
            annotator_id=self._annotator(image.task, image.frame, exported),
            guideline_version=str(guideline) if guideline else self.options.guideline,
            external_id=external_id,
        )
        return row

    def _image(self, el: Element) -> Image | None:
        self.listed = True
        record = f"image {el.get('name')!r} (id {el.get('id')})"
        try:
            name = el.get("name")
            if not name:
                raise ShapeError("image without a name", "name")
            frame, width, height = (integer(el, k) for k in ("id", "width", "height"))
        except ShapeError as exc:
            self.errors.bad(str(exc), file=self.path, record=record, field=exc.field)
            return None
        task = self._task_key(el)
        subset = el.get("subset") or self.out.meta.task_subset.get(task) or self.subset
        subset = None if subset == "default" else subset
        if (task, frame) in self.images:
            self.errors.bad(
                f"frame {frame} is listed twice", file=self.path, record=record, field="id"
            )
            return None
        asset_id = name
        if asset_id in self.names:
            # Project exports repeat file names across subsets: keep them apart.
            asset_id = f"{subset}/{name}" if subset else name
            if asset_id in self.names:
                self.errors.bad(
                    f"image name {name!r} is listed twice",
                    file=self.path,
                    record=record,
                    field="name",
                )
                return None
            self.out.notes.append(f"image {name!r} of subset {subset!r} imported as {asset_id!r}")
        self.names.add(asset_id)
        image = Image(asset_id, frame, task, width, height)
        self.images[(task, frame)] = image
        self.out.assets.append(
            {"asset_id": asset_id, "width": width, "height": height, "split": subset}
        )
        return image

    def image(self, el: Element) -> None:
        image = self._image(el)
        if image is None:
            return
        for index, child in enumerate(el):
            if child.tag in ("attribute",):
                continue
            record = f"image {image.asset_id!r} (id {image.frame}), shape {index} <{child.tag}>"
            if child.tag in UNSUPPORTED:
                self.errors.skip(
                    f"<{child.tag}> shapes are not supported", file=self.path, record=record
                )
                continue
            if child.tag not in SHAPES:
                continue
            try:
                self._add(self._row(child, image, child, child.get("id")), record)
            except ShapeSkip as exc:
                self.errors.skip(str(exc), file=self.path, record=record)
            except ShapeError as exc:
                self.errors.bad(str(exc), file=self.path, record=record, field=exc.field)

    def _add(self, row: dict, record: str) -> None:
        self.out.labels.append(row)
        self.out.records.append(record)

    def _frame_image(self, task: str | None, frame: int) -> Image | None:
        """The image of a track's frame; video exports list no images, so their frames
        are named as CVAT names them (frame_000042) with the video's size."""
        image = self.images.get((task, frame))
        if image is not None or self.listed or self.out.meta.original_size is None:
            return image
        width, height = self.out.meta.original_size
        name = f"frame_{frame:06d}"
        image = Image(name, frame, task, width, height)
        self.images[(task, frame)] = image
        self.names.add(name)
        self.out.assets.append({"asset_id": name, "width": width, "height": height, "split": None})
        return image

    def _waiting(self, el: Element, task: str | None) -> bool:
        """Whether a track names a frame whose <image> has not been read yet."""
        if not self.listed and self.out.meta.original_size is not None:
            return False  # a video export: frames are made up as they come
        for child in el:
            frame = child.get("frame")
            if child.tag in SHAPES and frame and frame.strip().isdigit():
                if (task, int(frame)) not in self.images:
                    return True
        return False

    def track(self, el: Element, *, final: bool = False) -> bool:
        """Rows of every frame of a track; False when it must wait for later images."""
        tid = el.get("id")
        task = self._task_key(el)
        label = el.get("label")
        if not final and self._waiting(el, task):
            self.deferred.append(el)
            return False
        for index, child in enumerate(el):
            if child.tag == "attribute":
                continue
            record = f"track {tid} shape {index} <{child.tag}>"
            if child.tag in UNSUPPORTED:
                self.errors.skip(
                    f"<{child.tag}> tracks are not supported", file=self.path, record=record
                )
                continue
            if child.tag not in SHAPES:
                continue
            try:
                if tid is None:
                    raise ShapeError("track without an id", "id")
                frame = integer(child, "frame")
                record = f"track {tid} frame {frame} <{child.tag}>"
                if child.get("outside", "0").strip() in ("1", "true"):
                    continue  # the object left the view
                image = self._frame_image(task, frame)
                if image is None:
                    raise ShapeError(f"frame {frame} is not an <image> of the file", "frame")
                if child.get("label") is None and label is not None:
                    child.set("label", label)
                row = self._row(child, image, el, f"track:{tid}:{frame}")
                row["attributes"]["keyframe"] = child.get("keyframe", "1").strip() in ("1", "true")
                if el.get("group_id") is not None and "group_id" not in row["attributes"]:
                    row["attributes"]["group_id"] = integer(el, "group_id")
                row["attributes"]["track_id"] = int(tid) if tid.isdigit() else tid
                self._add(row, record)
            except ShapeSkip as exc:
                self.errors.skip(str(exc), file=self.path, record=record)
            except ShapeError as exc:
                self.errors.bad(str(exc), file=self.path, record=record, field=exc.field)
        return True

    # ---------------------------------------------------------------- stream

    def run(self) -> Parsed:
        stack: list[str] = []
        root: Element | None = None
        try:
            for event, el in iterparse(str(self.path), events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    if root is None:
                        root = el
                        if el.tag != "annotations":
                            raise InputError(
                                f"root element is <{el.tag}>, not <annotations>", file=self.path
                            )
                    stack.append(el.tag)
                    continue
                stack.pop()
                parent = stack[-1] if stack else None
                if parent != "annotations":
                    continue
                if el.tag == "meta":
                    self._meta(el)
                elif el.tag == "image":
                    self.image(el)
                elif el.tag == "track":
                    if not self.track(el):
                        continue  # kept whole until its images are read
                elif el.tag in SHAPES or el.tag in UNSUPPORTED:
                    self.errors.bad(
                        f"<{el.tag}> outside any <image>",
                        file=self.path,
                        record=f"<{el.tag}>",
                        field="image",
                    )
                else:
                    continue
                root.remove(el)  # type: ignore[union-attr]  # free what has been read
        except DefusedXmlException as exc:
            raise InputError(
                f"refused XML with a DTD or entities ({type(exc).__name__})",
                file=self.path,
                hint="CVAT exports have no DTD; this file may be an XXE or entity-expansion attack",
            ) from None
        except ParseError as exc:
            raise InputError(f"not well-formed XML: {exc}", file=self.path) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=self.path) from None
        if root is None:
            raise InputError("empty file", file=self.path)
        deferred, self.deferred = self.deferred, []
        for el in deferred:
            self.track(el, final=True)
        self.out.classes = list(self.out.meta.labels)
        return self.out

    def _meta(self, el: Element) -> None:
        try:
            self.out.meta = parse_meta(el)
        except ValueError as exc:
            raise InputError(
                f"bad <meta>: {exc}", file=self.path, record="meta", field="segments"
            ) from None


def read_xml(
    path: Path,
    options: ImportOptions,
    errors: RecordErrors,
    *,
    names: set[str] | None = None,
    subset: str | None = None,
) -> Parsed:
    """Parse one CVAT XML file; bad shapes go through ``errors``, a bad file raises.
    ``names`` are asset ids already taken by other files of the same import; ``subset``
    is the split of images that name none (Datumaro writes one file per subset)."""
    return _Reader(path, options, errors, set() if names is None else names, subset).run()
