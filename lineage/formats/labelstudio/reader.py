"""Read Label Studio's full JSON export: tasks with annotations, predictions and reviews.

Provenance, per annotation (``completions`` in Label Studio 0.x exports):

* ``completed_by`` (a user id, or an object with ``id`` / ``email``) is the annotator,
  mapped through ``options.annotator_map`` (by id, then email); unmapped, the id itself;
* ``created_at`` / ``updated_at``: the later one is the label's time;
* ``lead_time`` and ``ground_truth`` (as ``gold``) go to attributes;
* ``was_cancelled`` (a skipped task) is left out and reported, like ``drafts``;
* ``parent_prediction``, a result set equal to a prediction's, or a region whose
  ``origin`` is ``prediction`` / ``prediction-changed``: source ``assisted`` with the
  prediction's model version;
* ``predictions[]``: source ``model``, the model version as annotator, and the result's
  ``score`` (else the prediction's);
* ``reviews[]`` on an annotation (or task-level entries naming their ``annotation``), as
  Label Studio Enterprise writes them (``accepted``, ``created_by``, ``created_at``,
  ``comment``; ``fixed_annotation_history`` set makes an accept a ``fix``): one review
  row per label of the annotation, numbered in time order as passes.

External ids are the region ids, which Label Studio keeps across exports. They are
scoped where one id would name two labels: ``<id>@model:<version>`` for predictions
(an assisted annotation copies its prediction's ids), ``<id>@annotation:<n>`` when two
annotations of a task share region ids, ``<id>#<choice>`` for each of several choices.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lineage.errors import InputError
from lineage.formats.base import (
    Comparison,
    ImportBatch,
    ImportOptions,
    RecordErrors,
    finite,
    table_from_records,
    union_box,
)
from lineage.formats.labelstudio import assets as ls_assets
from lineage.formats.labelstudio import regions
from lineage.formats.sizes import Sizes, image_size, load_sizes
from lineage.store.content import CONTENT

_HEAD = 1 << 16


def detect(path: Path) -> float:
    """0.9 for a JSON list of tasks with ``data`` and annotations / predictions
    (a folder: its first .json file), else 0."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            return 0.0
        path = files[0]
    if path.suffix.lower() != ".json" or not path.is_file():
        return 0.0
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    except OSError:
        return 0.0
    if not head.startswith(("[", "{")) or '"data"' not in head:
        return 0.0
    if any(k in head for k in ('"annotations"', '"completions"', '"predictions"')):
        return 0.9
    return 0.0


def read(path: Path, options: ImportOptions) -> ImportBatch:
    """Parse one export file (or a folder of them, as Label Studio 0.x wrote one per task)."""
    path = Path(path)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    reader = _Reader(options)
    loaded = [(file, _load(file, reader.errors)) for file in files]
    for _, tasks in loaded:
        reader.learn_sizes(tasks)
    for file, tasks in loaded:
        for index, task in enumerate(tasks):
            reader.task(file, index, task)
    return reader.batch(files)


def _load(file: Path, errors: RecordErrors) -> list:
    try:
        with open(file, "rb") as fh:
            data = json.loads(fh.read().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        errors.bad(f"not a JSON file: {exc}", file=file)
        return []
    if isinstance(data, dict) and "data" in data:
        return [data]  # one task per file (Label Studio 0.x completions/)
    if not isinstance(data, list):
        errors.bad("a Label Studio export is a list of tasks", file=file)
        return []
    return data


class _Reader:
    def __init__(self, options: ImportOptions):
        self.options = options
        self.errors = RecordErrors(options.strict)
        self.mode = options.extra.get("asset_id", "basename")
        self.labels: list[dict] = []
        self.reviews: list[dict] = []
        self.assets: dict[str, dict] = {}
        self.people: dict[str, str | None] = {}
        self.models: set[str] = set()
        self.classes: dict[str, None] = {}
        self.notes: list[str] = []
        self.drafts = 0
        self.sizes: dict[str, tuple[int, int]] = {}  # asset id -> (width, height)
        self.sizes_from_file = load_sizes(options.sizes) if options.sizes else {}

    # ------------------------------------------------------------------ image sizes

    def learn_sizes(self, tasks: list) -> None:
        """The size of each image as any result in the file gives it: predictions that
        users upload often lack original_width/height, while the annotations of the same
        image carry them."""
        for task in tasks:
            data = task.get("data") if isinstance(task, dict) else None
            found = ls_assets.image_value(data) if isinstance(data, dict) else None
            if found is None:
                continue
            aid = data.get(ls_assets.ASSET_KEY) or ls_assets.asset_id(found[1], self.mode)  # type: ignore[union-attr]  # checked before use
            for group in ("annotations", "completions", "predictions"):
                for item in _list(task.get(group)):
                    for r in _list(item.get("result") if isinstance(item, dict) else None):
                        size = _given_size(r)
                        if size is not None:
                            self.sizes.setdefault(str(aid), size)

    def size_of(self, asset_id: str) -> tuple[int, int] | None:
        """An image's size from the file, else ``--sizes``, else the image in ``--images``."""
        if asset_id in self.sizes:
            return self.sizes[asset_id]
        if self.sizes_from_file:
            sizes = Sizes(self.sizes_from_file)
            key = sizes.key(asset_id)
            if key is not None:
                return sizes.table[key]
        if self.options.images is not None:
            image = Path(self.options.images) / asset_id
            if image.is_file():
                try:
                    self.sizes[asset_id] = image_size(image)
                    return self.sizes[asset_id]
                except InputError:
                    return None
        return None

    def with_sizes(self, asset_id: str, results: list) -> list:
        """``results`` with original_width/height filled in where a result lacks them."""
        size = None
        out = []
        for r in results:
            if isinstance(r, dict) and r.get("value") is not None and _given_size(r) is None:
                if r.get("original_width") is None and r.get("original_height") is None:
                    size = size or self.size_of(asset_id)
                    if size is not None:
                        r = {**r, "original_width": size[0], "original_height": size[1]}
            out.append(r)
        return out

    # ------------------------------------------------------------------ tasks

    def task(self, file: Path, index: int, task: Any) -> None:
        if not isinstance(task, dict):
            self.errors.bad("a task must be an object", file=file, record=index + 1)
            return
        where = f"task {task.get('id', index + 1)}"
        found = self._asset(file, where, task.get("data"))
        if found is None:
            return
        aid, asset = found
        self.drafts += len(_list(task.get("drafts")))
        predictions = [p for p in _list(task.get("predictions")) if isinstance(p, dict)]
        annotations = task.get("annotations")
        if annotations is None:
            annotations = task.get("completions")
        live = []
        for i, ann in enumerate(_list(annotations)):
            here = f"{where}, annotation {ann.get('id', i + 1) if isinstance(ann, dict) else i + 1}"
            if not isinstance(ann, dict):
                self.errors.bad("an annotation must be an object", file=file, record=here)
            elif ann.get("was_cancelled"):
                self.errors.skip(
                    "cancelled annotation (skipped task) not imported", file=file, record=here
                )
            else:
                live.append((i, ann))
        shared = _shared_region_ids([a for _, a in live])
        ctx = _Task(file, where, aid, asset, predictions, _list(task.get("reviews")))
        for i, pred in enumerate(predictions):
            self.prediction(ctx, i, pred)
        for i, ann in live:
            self.annotation(ctx, i, ann, shared)

    def _asset(self, file: Path, where: str, data: Any) -> tuple[str, dict] | None:
        """(asset id, asset row) of a task's image; None (reported) when it has none or its
        id is taken by another image."""
        found = ls_assets.image_value(data) if isinstance(data, dict) else None
        if found is None:
            self.errors.bad(
                "no image in the task's data", file=file, record=where, field="data.image"
            )
            return None
        aid = ls_assets.asset_id(found[1], self.mode)
        own = data.get(ls_assets.ASSET_KEY)  # lineage's own exports name the asset
        if isinstance(own, str) and own.strip():
            aid = own.strip()
        uri = ls_assets.clean_uri(found[1])
        known = self.assets.get(aid)
        if known is not None and known["uri"] != uri:
            self.errors.bad(
                f"images {known['uri']!r} and {uri!r} both have the id {aid!r}; "
                "import with extra asset_id=path",
                file=file,
                record=where,
                field=f"data.{found[0]}",
            )
            return None
        return aid, self.assets.setdefault(aid, {"asset_id": aid, "uri": uri})

    def _unknown_model(self) -> str:
        return self.options.model_version or "unknown-model"

    def prediction(self, ctx: _Task, index: int, pred: dict) -> None:
        version = str(pred.get("model_version") or self._unknown_model())
        where = f"{ctx.where}, prediction {pred.get('id', index + 1)}"
        base = {
            "annotator_id": version,
            "source": "model",
            "model_version": version,
            "created_at": self._time(pred, ctx, where),
        }
        score = pred.get("score") if finite(pred.get("score")) else None
        for rid, label in self.regions(ctx, where, pred.get("result")):
            label["external_id"] = _external(rid, label, f"model:{version}")
            if label["score"] is None:
                label["score"] = score
            self.add(ctx, {**label, **base})
            self.models.add(version)

    def annotation(self, ctx: _Task, index: int, ann: dict, shared: set[str]) -> None:
        ann_id = ann.get("id", index + 1)
        where = f"{ctx.where}, annotation {ann_id}"
        annotator = (
            self._person(ann.get("completed_by"), ctx, where, "completed_by")
            or self.options.annotator
        )
        parent = _parent_prediction(ann, ctx.predictions, self._unknown_model())
        attrs: dict[str, Any] = {}
        if finite(ann.get("lead_time")):
            attrs["lead_time"] = float(ann["lead_time"])
        if ann.get("ground_truth") is True:
            attrs["gold"] = True
        created = self._time(ann, ctx, where)
        labels = []
        for rid, label in self.regions(ctx, where, ann.get("result")):
            scope = f"annotation:{ann_id}" if rid in shared else None
            label["external_id"] = _external(rid, label, scope)
            label["attributes"].update(attrs)
            from_prediction = label.pop("origin", None) in ("prediction", "prediction-changed")
            model = parent
            if model is None and from_prediction:
                model = ctx.model_of(rid) or self._unknown_model()
            if model is not None:
                label.update(source="assisted", model_version=model)
                label["score"] = label["score"] if label["score"] is not None else ctx.score_of(rid)
            else:
                label.update(source=self.options.source or "human", model_version=None)
                label["score"] = None
            label.update(annotator_id=annotator, created_at=created)
            labels.append(label)
            self.add(ctx, label)
        reviews = [r for r in _list(ann.get("reviews")) if isinstance(r, dict)]
        reviews += [
            r
            for r in ctx.task_reviews
            if isinstance(r, dict) and r.get("annotation") == ann.get("id")
        ]
        self.review(ctx, where, reviews, labels)

    def review(self, ctx: _Task, where: str, reviews: list[dict], labels: list[dict]) -> None:
        reviews = sorted(reviews, key=lambda r: str(r.get("created_at") or ""))
        for n, rev in enumerate(reviews, start=1):
            here = f"{where}, review {rev.get('id', n)}"
            accepted = rev.get("accepted")
            if not isinstance(accepted, bool):
                self.errors.bad(
                    "accepted must be true or false", file=ctx.file, record=here, field="accepted"
                )
                continue
            reviewer = self._person(rev.get("created_by"), ctx, here, "created_by")
            if reviewer is None:
                self.errors.bad(
                    "review has no reviewer", file=ctx.file, record=here, field="created_by"
                )
                continue
            verdict = (
                "reject"
                if not accepted
                else ("fix" if rev.get("fixed_annotation_history") else "accept")
            )
            comment = rev.get("comment")
            if isinstance(comment, dict):
                comment = comment.get("text")
            reviewed_at = self._time(rev, ctx, here)
            for label in labels:
                self.reviews.append(
                    {
                        "pass": n,
                        "kind": "review",
                        "reviewer_id": reviewer,
                        "verdict": verdict,
                        "reason": str(comment) if comment else None,
                        "reviewed_at": reviewed_at,
                        "guideline_version": self.options.guideline,
                        "label_external_id": label["external_id"],
                    }
                )

    # ---------------------------------------------------------------- regions

    def regions(self, ctx: _Task, where: str, results: Any):
        """(region id, label fields) for each region of a result list; bad regions
        go to RecordErrors, regions that are not labels are skipped and reported."""
        if results is None:
            return
        if not isinstance(results, list):
            self.errors.bad("result must be a list", file=ctx.file, record=where, field="result")
            return
        results = self.with_sizes(ctx.asset_id, results)
        groups: dict[str, list[dict]] = defaultdict(list)
        for n, r in enumerate(results):
            if not isinstance(r, dict):
                self.errors.bad(
                    "a result must be an object", file=ctx.file, record=f"{where}, result {n + 1}"
                )
            elif not isinstance(r.get("type"), str):
                self.errors.bad(
                    "a result needs a type",
                    file=ctx.file,
                    record=f"{where}, result {n + 1}",
                    field="type",
                )
            elif r.get("type") == "relation":
                self.errors.skip(
                    "relation not imported", file=ctx.file, record=f"{where}, result {n + 1}"
                )
            else:
                groups[str(r["id"]) if r.get("id") is not None else f"#{n}"].append(r)
        parsed: dict[str, list[dict]] = {}
        for rid, group in groups.items():
            here = f"{where}, region {rid}"
            try:
                labels = regions.parse(group)
            except regions.Unsupported as exc:
                self.errors.skip(str(exc), file=ctx.file, record=here)
                continue
            except regions.RegionError as exc:
                self.errors.bad(str(exc), file=ctx.file, record=here, field=exc.field)
                continue
            origin = next((r.get("origin") for r in group if r.get("origin")), None)
            for label in labels:
                label["origin"] = origin
            parsed[rid] = labels
        for rid, labels in _join_parts(parsed).items():
            for label in labels:
                yield (None if rid.startswith("#") else rid), label

    def add(self, ctx: _Task, label: dict) -> None:
        width, height = label.pop("width", None), label.pop("height", None)
        label.pop("multi", None)
        label.pop("origin", None)
        if width is not None and "width" not in ctx.asset:
            ctx.asset.update(width=width, height=height)
        label["asset_id"] = ctx.asset_id
        label["guideline_version"] = self.options.guideline
        if label.get("annotator_id") is None:
            label["annotator_id"] = self.options.annotator
        if label.get("class_name") is not None:
            self.classes[label["class_name"]] = None
        self.labels.append(label)

    # -------------------------------------------------------------- provenance

    def _person(self, who: Any, ctx: _Task, where: str, field: str) -> str | None:
        """An annotator id for a ``completed_by`` / ``created_by`` value."""
        if who is None or who == {}:
            return None
        if isinstance(who, dict):
            uid, email = who.get("id"), who.get("email")
            names = (who.get("first_name"), who.get("last_name"))
            name = email or " ".join(str(p) for p in names if p) or None
        else:
            uid, email, name = who, None, None
        if isinstance(uid, dict | list) or isinstance(email, dict | list):
            self.errors.bad(
                "a user is an id or an object with id / email",
                file=ctx.file,
                record=where,
                field=field,
            )
            return None
        amap = self.options.annotator_map
        for key in (uid, email):
            if key is not None and str(key) in amap:
                found = amap[str(key)]
                break
        else:
            found = str(uid) if uid is not None else str(email) if email is not None else None  # type: ignore[assignment]  # checked before use
        if found is not None:
            self.people.setdefault(found, str(name) if name is not None else None)
        return found

    def _time(self, obj: dict, ctx: _Task, where: str) -> datetime | None:
        times = []
        for key in ("created_at", "updated_at"):
            raw = obj.get(key)
            if raw in (None, ""):
                continue
            try:
                t = datetime.fromisoformat(str(raw))
            except ValueError:
                self.errors.bad(
                    f"not an ISO 8601 time: {raw!r}", file=ctx.file, record=where, field=key
                )
                continue
            times.append(t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC))
        return max(times) if times else None

    # ------------------------------------------------------------------ batch

    def batch(self, files: list[Path]) -> ImportBatch:
        file = str(files[0]) if files else None
        # a name that only repeats the id is no name (and would overwrite a real one)
        people = [
            {"annotator_id": a, "kind": "human", "name": n if n != a else None}
            for a, n in self.people.items()
        ]
        models = [{"annotator_id": m, "kind": "model", "name": None} for m in sorted(self.models)]
        if self.drafts:
            self.notes.append(f"{self.drafts} draft(s) not imported: drafts are unsubmitted work")
        return ImportBatch(
            labels=table_from_records("label_events", self.labels, file=file),
            # an image reference that is just the asset id says nothing about where it is
            assets=table_from_records(
                "assets",
                [
                    {**a, "uri": None if a["uri"] == a["asset_id"] else a["uri"]}
                    for a in self.assets.values()
                ],
                file=file,
            ),  # fmt: skip
            categories=table_from_records(
                "categories", [{"class_name": c} for c in self.classes], file=file
            ),
            annotators=table_from_records("annotators", people + models, file=file),
            reviews=table_from_records("reviews", self.reviews, file=file),
            source_files=list(files),
            skipped=self.errors.skipped,
            stable_ids=True,
            notes=self.notes,
            comparison=COMPARISON,
        )


# from_name / to_name name the project's labelling config, not the label; a prediction's
# model_version is also the only name of its model (our exports write the annotator id
# there when no version is known), so it is no evidence of a changed version
COMPARISON = Comparison(
    columns=frozenset(CONTENT) - {"model_version"},
    shapes=frozenset({"box", "rotated box", "polygon", "polyline", "points", "mask",
                      "classification"}),
)  # fmt: skip


_PART = re.compile(r"^(?P<first>.+)_(?P<k>[1-9][0-9]*)$")


def _join_parts(parsed: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Regions ``X_1``, ``X_2``, ... that our writer split from the label of region ``X``
    (the extra parts of a polygon, the other points of a points label) are that label
    again, as one label."""
    out = dict(parsed)
    for rid, labels in parsed.items():
        m = _PART.match(rid)
        first = out.get(m["first"]) if m else None
        if not first or len(first) != 1 or len(labels) != 1:
            continue
        base, part = first[0], labels[0]
        if (base["shape"], base["class_name"]) != (part["shape"], part["class_name"]):
            continue
        if base["shape"] not in ("polygon", "polyline", "points"):
            continue
        base["polygon"] = list(base["polygon"]) + list(part["polygon"])
        if base["shape"] == "points":  # one point list
            base["polygon"] = [[v for p in base["polygon"] for v in p]]
        base["bbox"] = union_box(base["bbox"], part["bbox"])
        del out[rid]
    return out


def _given_size(result: Any) -> tuple[int, int] | None:
    if not isinstance(result, dict):
        return None
    w, h = result.get("original_width"), result.get("original_height")
    if finite(w) and finite(h) and w > 0 and h > 0 and w == int(w) and h == int(h):
        return int(w), int(h)
    return None


class _Task:
    """What the regions of one task need to know about it."""

    def __init__(
        self,
        file: Path,
        where: str,
        asset_id: str,
        asset: dict,
        predictions: list,
        task_reviews: list,
    ):
        self.file, self.where, self.asset_id, self.asset = file, where, asset_id, asset
        self.predictions = predictions
        self.task_reviews = task_reviews
        self._regions: dict[str, tuple[str | None, float | None]] = {}
        for pred in predictions:
            for r in _list(pred.get("result")):
                if isinstance(r, dict) and r.get("id") is not None:
                    score = r.get("score") if finite(r.get("score")) else pred.get("score")
                    version = pred.get("model_version")
                    self._regions.setdefault(
                        str(r["id"]),
                        (str(version) if version else None, score if finite(score) else None),
                    )

    def model_of(self, rid: str | None) -> str | None:
        return self._regions.get(rid, (None, None))[0]  # type: ignore[arg-type]  # checked before use

    def score_of(self, rid: str | None) -> float | None:
        return self._regions.get(rid, (None, None))[1]  # type: ignore[arg-type]  # checked before use


def _external(rid: str | None, label: dict, scope: str | None) -> str | None:
    if rid is None:
        return None
    if label.get("multi"):
        rid = f"{rid}#{label['class_name']}"
    return f"{rid}@{scope}" if scope else rid


def _shared_region_ids(annotations: list[dict]) -> set[str]:
    """Region ids that appear in more than one annotation of a task."""
    seen: Counter = Counter()
    for ann in annotations:
        ids = {
            str(r["id"])
            for r in _list(ann.get("result"))
            if isinstance(r, dict) and r.get("id") is not None
        }
        seen.update(ids)
    return {rid for rid, n in seen.items() if n > 1}


def _parent_prediction(ann: dict, predictions: list[dict], unknown: str) -> str | None:
    """The model version an annotation started from, if it started from a prediction."""
    parent = ann.get("parent_prediction")
    if isinstance(parent, dict):
        parent = parent.get("id")
    if parent is not None:
        for pred in predictions:
            if pred.get("id") == parent:
                return str(pred.get("model_version") or unknown)
        return unknown
    ids = {str(r.get("id")) for r in _list(ann.get("result")) if isinstance(r, dict)}
    for pred in predictions:
        pids = {str(r.get("id")) for r in _list(pred.get("result")) if isinstance(r, dict)}
        if ids and ids == pids:
            return str(pred.get("model_version") or unknown)
    return None


def _list(value: Any) -> list:
    """``value`` when it is a list, else empty (exports leave optional lists out or null)."""
    return value if isinstance(value, list) else []
