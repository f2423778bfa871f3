"""Write a Label Studio JSON import file: one task per asset, one annotation per annotator.

Labels made by people (source human / assisted) are grouped by asset and annotator into
``annotations[]``; model labels by asset and model version into ``predictions[]`` (with
``model_version`` and per-result ``score``). Coordinates are percent of the image size,
which the asset row must give (or the mask, for masks). Region ids are the labels'
external ids (the Label Studio id part) or else their label ids, so a round trip through
Label Studio keeps label identity. ``completed_by`` is the annotator id (an int when it is
one, else ``{"email": id}``), ``ground_truth`` comes from ``attributes.gold``.

Lossy, and said so in the result's notes: reviews (the import format has none), the model
version of assisted labels (written as ``origin: prediction-changed``; a reader finds it
again only when the prediction with the same region id is exported too), multi-part
polygons (one region per part), COCO-style keypoints (one keypoint region each) and
attributes Label Studio has no place for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from lineage.errors import InputError
from lineage.formats.base import ExportInput, ExportOptions, ExportResult
from lineage.formats.labelstudio import brush
from lineage.formats.labelstudio.assets import ASSET_KEY
from lineage.formats.labelstudio.regions import label_key, region_part
from lineage.geometry import rle_decode

_KNOWN_ATTRS = {"from_name", "to_name", "ls_types", "gold", "lead_time", "extra_labels"}
_VALUE_KEY = {"textarea": "text"}


def write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """Write ``out`` (a .json file, or a folder that gets ``tasks.json``)."""
    out = Path(out)
    target = out if out.suffix.lower() == ".json" else out / "tasks.json"
    writer = _Writer(data, options)
    tasks = writer.tasks()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tasks-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(tasks, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportResult(files=[target], labels=writer.written, notes=writer.notes())


class _Writer:
    def __init__(self, data: ExportInput, options: ExportOptions):
        self.data = data
        self.key = options.pseudonymize_key
        self.assets = {a["asset_id"]: a for a in data.assets.to_pylist()}
        self.keypoint_names = {
            c["class_name"]: c.get("keypoint_names") for c in data.categories.to_pylist()
        }
        self.written = 0
        self.lossy: dict[str, int] = defaultdict(int)

    def tasks(self) -> list[dict]:
        by_asset: dict[str, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for label in self.data.labels.to_pylist():
            model = label.get("source") == "model"
            who = (
                (label.get("model_version") or label.get("annotator_id"))
                if model
                else label.get("annotator_id")
            )
            by_asset[label["asset_id"]][(model, who or "")].append(label)
        tasks = []
        for n, asset_id in enumerate(sorted(by_asset), start=1):
            image = self._image(asset_id)
            data = {"image": image}
            if image != asset_id:  # a URL: say which asset it is, for the re-import
                data[ASSET_KEY] = asset_id
            task: dict[str, Any] = {"id": n, "data": data}
            annotations: list = []
            predictions: list = []
            for (model, who), labels in sorted(by_asset[asset_id].items()):
                used: set[str] = set()
                results = [r for label in labels for r in self._results(label, used)]
                results = merge_choices(results)
                if model:
                    predictions.append(self._prediction(who, labels, results))
                else:
                    annotations.append(self._annotation(len(annotations) + 1, who, labels, results))
            task["annotations"] = annotations
            task["predictions"] = predictions
            tasks.append(task)
        if self.data.reviews.num_rows:
            self.lossy["review rows (Label Studio imports no reviews)"] += (
                self.data.reviews.num_rows
            )
        return tasks

    def notes(self) -> list[str]:
        return [f"{n} {what} not written" for what, n in sorted(self.lossy.items())]

    # ------------------------------------------------------------ containers

    def _image(self, asset_id: str) -> str:
        uri = (self.assets.get(asset_id) or {}).get("uri")
        if uri and ("://" in uri or uri.startswith("/data/")):
            return uri
        return asset_id

    def _annotation(self, n: int, who: str, labels: list[dict], results: list[dict]) -> dict:
        attrs = [_attributes(label) for label in labels]
        ann: dict[str, Any] = {
            "id": n,
            "result": results,
            "was_cancelled": False,
            "ground_truth": any(a.get("gold") is True for a in attrs),
        }
        if who:
            ann["completed_by"] = self._person(who)
        lead = next((a["lead_time"] for a in attrs if "lead_time" in a), None)
        if lead is not None:
            ann["lead_time"] = lead
        ann.update(_times(labels))
        return ann

    def _prediction(self, version: str, labels: list[dict], results: list[dict]) -> dict:
        scores = [label["score"] for label in labels if label.get("score") is not None]
        pred: dict[str, Any] = {"model_version": version, "result": results}
        if scores:
            pred["score"] = sum(scores) / len(scores)
        pred.update(_times(labels))
        return pred

    def _person(self, who: str) -> Any:
        if self.key is not None:
            who = "anon-" + hmac.new(self.key, who.encode(), hashlib.sha256).hexdigest()[:16]
        return int(who) if who.isdigit() else {"email": who}

    # --------------------------------------------------------------- regions

    def _size(self, label: dict) -> tuple[int, int]:
        asset = self.assets.get(label["asset_id"]) or {}
        if asset.get("width") and asset.get("height"):
            return int(asset["width"]), int(asset["height"])
        if label.get("mask_rle"):
            return int(label["mask_rle"]["width"]), int(label["mask_rle"]["height"])
        raise InputError(
            f"asset {label['asset_id']!r} has no width/height: Label Studio needs them "
            "for percent coordinates",
            record=label.get("label_id"),
            field="assets.width",
        )

    def _results(self, label: dict, used: set[str]) -> list[dict]:
        """The results of one label; ``used`` holds the region ids already taken in its
        annotation (a region id names one region there: a clash falls back to the label id)."""
        shape = label["shape"]
        attrs = _attributes(label)
        # a Label Studio region id (or CVAT track id) names the region again; an id that is
        # a bare number comes from a format that renumbers (COCO): the label id is stabler
        ext = label.get("external_id")
        rid = region_part(ext) if ext and not str(ext).isdigit() else label["label_id"]
        if shape == "classification":
            self.written += 1
            return [self._choice(label, rid, attrs)]
        if rid in used:
            rid = label["label_id"]
        used.add(rid)
        width, height = self._size(label)
        common = {
            "from_name": attrs.get("from_name") or "label",
            "to_name": attrs.get("to_name") or "image",
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
        }
        names = [label["class_name"]] if label.get("class_name") is not None else []
        names += attrs.get("extra_labels") or []
        values = self._values(label, shape, width, height, names)
        out = []
        for k, (kind, value) in enumerate(values):
            region = rid if k == 0 else f"{rid}_{k}"
            result = {"id": region, "type": kind, "value": value, **common}
            if label.get("score") is not None:
                result["score"] = label["score"]
            if label.get("source") == "assisted":
                result["origin"] = "prediction-changed"
                if k == 0 and label.get("model_version"):
                    self.lossy[
                        "assisted labels' model versions (back only with their prediction)"
                    ] += 1
            out.append(result)
            out += self._per_region(region, attrs, common)
        self.written += 1
        return out

    def _values(self, label: dict, shape: str, width: int, height: int, names: list[str]) -> list:
        sx, sy = 100.0 / width, 100.0 / height
        key = label_key(shape if shape != "polyline" else "polygon")
        if shape == "box":
            b = label["bbox"]
            value = {
                "x": b["x"] * sx,
                "y": b["y"] * sy,
                "width": b["w"] * sx,
                "height": b["h"] * sy,
                "rotation": label.get("rotation") or 0.0,
            }
            return [("rectanglelabels", {**value, key: names})]
        if shape in ("polygon", "polyline"):
            parts = label.get("polygon") or []
            if len(parts) > 1:
                self.lossy["extra polygon parts (one region each, new ids)"] += len(parts) - 1
            out = []
            for part in parts:
                points = [[part[i] * sx, part[i + 1] * sy] for i in range(0, len(part) - 1, 2)]
                value = {"points": points, key: names}
                if shape == "polyline":
                    value["closed"] = False
                out.append(("polygonlabels", value))
            return out
        if shape == "points":
            flat = [v for part in label.get("polygon") or [] for v in part]
            return [
                ("keypointlabels", {"x": flat[i] * sx, "y": flat[i + 1] * sy, key: names})
                for i in range(0, len(flat) - 1, 2)
            ]
        if shape == "keypoints":
            # Label Studio has no label that holds a set of named keypoints
            self.lossy["keypoint sets (Label Studio has no keypoint-set label)"] += 1
            return []
        if shape == "mask":
            rle = label["mask_rle"]
            if (int(rle["width"]), int(rle["height"])) != (width, height):
                raise InputError(
                    f"mask of {rle['width']}x{rle['height']} on an image of {width}x{height}",
                    record=label.get("label_id"),
                    field="mask_rle",
                )
            value = {"format": "rle", "rle": brush.from_mask(rle_decode(rle))}
            return [("brushlabels", {**value, "brushlabels": names})]
        raise InputError(
            f"cannot write shape {shape!r}", record=label.get("label_id"), field="shape"
        )

    def _choice(self, label: dict, rid: str, attrs: dict) -> dict:
        result = {
            "id": rid,
            "type": "choices",
            "from_name": attrs.get("from_name") or "choice",
            "to_name": attrs.get("to_name") or "image",
            "value": {"choices": [label["class_name"]]},
        }
        if label.get("score") is not None:
            result["score"] = label["score"]
        return result

    def _per_region(self, rid: str, attrs: dict, common: dict) -> list[dict]:
        out = []
        for name, kind in (attrs.get("ls_types") or {}).items():
            if name in attrs:
                value = {_VALUE_KEY.get(kind, kind): attrs[name]}
                out.append({**common, "id": rid, "type": kind, "from_name": name, "value": value})
        dropped = set(attrs) - _KNOWN_ATTRS - set(attrs.get("ls_types") or {})
        if dropped:
            self.lossy["label attributes with no Label Studio field"] += len(dropped)
        return out


def merge_choices(results: list[dict]) -> list[dict]:
    """One ``choices`` result per tag and annotation, as Label Studio writes them (each
    image-level tag answers once, with all its choices)."""
    out: list[dict] = []
    index: dict[tuple, dict] = {}
    for r in results:
        if r["type"] != "choices":
            out.append(r)
            continue
        key = (r["from_name"], r["to_name"])
        if key in index:
            index[key]["value"]["choices"] += r["value"]["choices"]
        else:
            index[key] = r
            out.append(r)
    return out


def _attributes(label: dict) -> dict:
    raw = label.get("attributes")
    if not raw:
        return {}
    try:
        attrs = json.loads(raw)
    except ValueError:
        return {}
    return attrs if isinstance(attrs, dict) else {}


def _times(labels: list[dict]) -> dict:
    times = [label["created_at"] for label in labels if label.get("created_at") is not None]
    if not times:
        return {}
    return {
        "created_at": min(times).isoformat().replace("+00:00", "Z"),
        "updated_at": max(times).isoformat().replace("+00:00", "Z"),
    }
