"""Write the current state of a revision as an Ultralytics dataset under OUT:

    OUT/data.yaml                 path: '' (= this folder), train/val/test: images/<split>,
                                  names {index: name}, kpt_shape [K, 3] (+ flip_idx, kpt_names)
    OUT/labels/<split>/<stem>.txt one per asset (empty for assets with no labels)

Images are not copied (``extra["images"] = "copy"`` or ``"symlink"`` puts them under
``OUT/images/<split>/``); data.yaml names ``images/<split>`` relative to OUT, where Ultralytics
will look for them and, through ``img2label_paths``, find ``labels/<split>``. An empty
``path`` makes Ultralytics' ``check_det_dataset`` resolve the splits against the YAML's folder.

Coordinates are normalised by the asset's width/height with 6 decimals. Boxes -> detection
lines; polygons -> segmentation lines (parts merged into one outline as Ultralytics'
``merge_multi_segment`` does); masks -> the polygon traced around them; rotated boxes -> their
4 corners (the OBB line layout); keypoints -> pose lines (other shapes in a pose dataset get
their box and unlabelled keypoints). Classification labels, polylines and point sets have no
YOLO form: left out and counted in the notes. ``extra["conf"]`` appends the score
(Ultralytics ``save_conf``).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import yaml

from lineage.errors import InputError
from lineage.formats.base import ExportInput, ExportOptions, ExportResult, safe_join
from lineage.formats.yolo.lines import HIGH, LOW
from lineage.formats.yolo.shapes import mask_polygons, merge_parts

DEFAULT_SPLIT = "train"


@dataclass
class _Tally:
    """What the export changed or left out, turned into notes at the end."""

    left_out: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    unsplit: int = 0

    def notes(self, k: int) -> list[str]:
        out = []
        if self.kinds["box"] and self.kinds["other"] and not k:
            out.append(
                "boxes and polygons in one dataset: Ultralytics trains a mixed dataset on boxes only"
            )
        if self.unsplit:
            out.append(f"{self.unsplit} asset(s) with no split written under '{DEFAULT_SPLIT}'")
        out += [f"{n} {why}" for why, n in sorted(self.changed.items())]
        out += [f"{n} label(s) left out: {why}" for why, n in sorted(self.left_out.items())]
        return out


def write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """Label files and data.yaml under ``out``; notes say what YOLO could not hold."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    tally = _Tally()
    names, index = _class_index(data.categories, data.labels, notes)
    assets = {a["asset_id"]: a for a in data.assets.to_pylist()}
    by_asset: dict[str, list[dict]] = {a: [] for a in assets}
    for lab in data.labels.to_pylist():
        if lab.get("op") != "delete":
            by_asset.setdefault(lab["asset_id"], []).append(lab)
    k = _kpt_count(data.labels)
    files: list[Path] = []
    targets: dict[Path, str] = {}
    splits: set[str] = set()
    written = 0
    for asset_id in sorted(by_asset):
        asset = assets.get(asset_id) or {"asset_id": asset_id}
        split = asset.get("split") or DEFAULT_SPLIT
        tally.unsplit += not asset.get("split")
        splits.add(split)
        target = _label_path(out, split, asset_id, targets)
        rows = _asset_lines(asset, by_asset[asset_id], index, k, options, tally)
        target.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
        files.append(target)
        written += len(rows)
        _place_image(asset, out, split, options)
    files.append(_data_yaml(out, names, splits, k, data.categories, notes))
    files.append(_sizes_file(out, assets))
    notes += tally.notes(k)
    if options.extra.get("conf"):
        notes.append("a confidence column ends every line (prediction files; not for training)")
    if options.extra.get("images") not in ("copy", "symlink"):
        notes.append(
            "images are not copied: data.yaml expects them under images/<split>/ relative to "
            f"{out} (export with images=copy or images=symlink to place them)"
        )
    return ExportResult(files=files, labels=written, notes=notes)


def _sizes_file(out: Path, assets: dict[str, dict]) -> Path:
    """``image_sizes.csv``: the export re-imports without its images (see reader)."""
    import csv

    from lineage.csvcell import neutralise

    path = out / "image_sizes.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "width", "height", "split"])
        for asset_id in sorted(assets):
            a = assets[asset_id]
            if a.get("width") and a.get("height"):
                split = a.get("split") or ""
                writer.writerow([neutralise(asset_id), a["width"], a["height"], neutralise(split)])
    return path


def _label_path(out: Path, split: str, asset_id: str, targets: dict[Path, str]) -> Path:
    """``OUT/labels/<split>/<stem>.txt``, kept inside that folder whatever the asset id says."""
    stem = PurePosixPath(asset_id.replace("\\", "/")).with_suffix("").as_posix()
    stem = stem.removeprefix(f"{split}/")  # ids imported with split_prefix
    target = safe_join(safe_join(out, f"labels/{split}"), f"{stem}.txt")
    if target in targets:
        raise InputError(
            f"assets '{targets[target]}' and '{asset_id}' would share the label file {target}",
            field="asset_id",
            hint="YOLO names label files by image stem: rename one of the images",
        )
    targets[target] = asset_id
    return target


def _asset_lines(
    asset: dict, labels: list[dict], index: dict, k: int, options: ExportOptions, tally: _Tally
) -> list[str]:
    w, h = asset.get("width"), asset.get("height")
    if labels and not (w and h):
        tally.left_out["on assets with no width/height"] += len(labels)
        return []
    rows = []
    for lab in labels:
        if lab["class_name"] not in index:
            tally.left_out["labels with no class"] += 1
            continue
        line = _line(lab, index[lab["class_name"]], w, h, k, tally.left_out, tally.changed)  # type: ignore[arg-type]  # checked before use
        if line is None:
            continue
        tally.kinds["box" if k == 0 and line.count(" ") == 4 else "other"] += 1
        if options.extra.get("conf"):  # save_conf: the score last (1.0 where there is none)
            line += f" {lab['score'] if lab.get('score') is not None else 1.0:.6f}"
        rows.append(line)
    return rows


def _class_index(categories: pa.Table, labels: pa.Table, notes: list[str]):
    """{index: name} and {name: index}. The categories' ordinals are kept when they are exactly
    0..n-1 (Ultralytics' ``check_class_names`` refuses any other numbering); else classes are
    renumbered in ordinal order."""
    cats = sorted(
        categories.select(["class_name", "ordinal"]).to_pylist(),
        key=lambda c: (
            c["ordinal"] is None,
            c["ordinal"] if c["ordinal"] is not None else 0,
            c["class_name"],
        ),
    )
    order = [c["class_name"] for c in cats]
    used = {n for n in labels.column("class_name").to_pylist() if n is not None}
    order += sorted(used - set(order))
    ordinals = [c["ordinal"] for c in cats]
    if ordinals == list(range(len(order))):
        names = {c["ordinal"]: c["class_name"] for c in cats}
    else:
        names = dict(enumerate(order))
        if cats:
            notes.append(
                "class ordinals are not 0..n-1: classes renumbered (see names in data.yaml)"
            )
    return names, {n: i for i, n in names.items()}


def _kpt_count(labels: pa.Table) -> int:
    """K of ``kpt_shape``: the most common keypoint count (0 when no keypoint labels)."""
    counts = Counter(
        len(k) // 3
        for k, s in zip(
            labels.column("keypoints").to_pylist(), labels.column("shape").to_pylist(), strict=True
        )
        if s == "keypoints" and k
    )
    return counts.most_common(1)[0][0] if counts else 0


def _fmt(values) -> str:
    return " ".join(f"{v:.6f}" for v in values)


CLIPPED = "labels clipped to the image (Ultralytics rejects coordinates outside [-0.01, 1.01])"


def _box(bbox: dict, w: float, h: float, changed: Counter) -> list[float]:
    """Normalised cx, cy, w, h of a pixel box; clipped to the image when a value is beyond
    what Ultralytics' ``verify_image_label`` accepts (values within its 1% slack are kept)."""
    x0, y0, bw, bh = bbox["x"] / w, bbox["y"] / h, bbox["w"] / w, bbox["h"] / h
    values = [x0 + bw / 2, y0 + bh / 2, bw, bh]
    if all(LOW <= v <= HIGH for v in values):
        return values
    changed[CLIPPED] += 1
    x0, x1 = np.clip([x0, x0 + bw], 0.0, 1.0)
    y0, y1 = np.clip([y0, y0 + bh], 0.0, 1.0)
    return [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]


def _xy(points: np.ndarray, scale: np.ndarray, changed: Counter) -> np.ndarray:
    """Normalised (N, 2) points; clipped to the image when one is beyond Ultralytics' slack."""
    norm = points / scale
    if ((norm < LOW) | (norm > HIGH)).any():
        changed[CLIPPED] += 1
        return np.clip(norm, 0.0, 1.0)
    return norm


def _line(
    lab: dict, cls: int, w: float, h: float, k: int, left_out: Counter, changed: Counter
) -> str | None:
    """One label line, or None (counted in ``left_out``) when YOLO cannot hold the label."""
    shape = lab["shape"]
    scale = np.array([w, h], dtype=np.float64)
    if shape == "keypoints":
        kp = lab.get("keypoints") or []
        if len(kp) // 3 != k:
            left_out[f"keypoint labels with {len(kp) // 3} points (kpt_shape has {k})"] += 1
            return None
        pts = np.asarray(kp, dtype=np.float64).reshape(-1, 3)
        bbox = lab.get("bbox") or _envelope(pts)
        pts[:, :2] = _xy(pts[:, :2], scale, changed)
        return f"{cls} {_fmt(_box(bbox, w, h, changed))} {_fmt_kpts(pts)}"
    if shape == "box" and not lab.get("rotation"):
        line = f"{cls} {_fmt(_box(lab['bbox'], w, h, changed))}"
        return line + (" " + _fmt_kpts(np.zeros((k, 3)))) if k else line
    if k:  # a pose dataset: every line needs keypoints, so other shapes become boxes
        if lab.get("bbox") is None:
            left_out[f"{shape} labels (no geometry)"] += 1
            return None
        changed[f"{shape} labels written as their box (a pose dataset holds no {shape}s)"] += 1
        bbox = lab["bbox"]
        if shape == "box" and lab.get("rotation"):  # the box around it, not its unrotated box
            corners = _corners(bbox, lab["rotation"])
            bbox = _envelope(np.column_stack([corners, np.full(4, 2.0)]))
        return f"{cls} {_fmt(_box(bbox, w, h, changed))} {_fmt_kpts(np.zeros((k, 3)))}"
    if shape == "box":  # rotated: its four corners, as an Ultralytics OBB-style polygon
        changed["rotated boxes written as their 4 corners (the Ultralytics OBB line layout)"] += 1
        return f"{cls} {_fmt(_xy(_corners(lab['bbox'], lab['rotation']), scale, changed).ravel())}"
    if shape == "polygon":
        parts = [
            np.asarray(p, dtype=np.float64).reshape(-1, 2)
            for p in lab["polygon"] or []
            if len(p) >= 6
        ]
    elif shape == "mask" and lab.get("mask_rle"):
        parts = mask_polygons(lab["mask_rle"])
    else:
        left_out[f"{shape} labels (YOLO has no such shape)"] += 1
        return None
    if not parts:
        left_out[f"{shape} labels with no polygon of 3+ points"] += 1
        return None
    if len(parts) > 1:
        changed[
            "multi-part polygons merged into one outline (Ultralytics merge_multi_segment)"
        ] += 1
    if shape == "mask":
        changed["masks written as polygons traced from the mask (holes dropped)"] += 1
    pts = _xy(merge_parts(parts), scale, changed)
    return f"{cls} {_fmt(pts.ravel())}"


def _fmt_kpts(pts: np.ndarray) -> str:
    """x y v triples: coordinates with 6 decimals, visibility as written (0, 1, 2)."""
    return " ".join(f"{x:.6f} {y:.6f} {v:g}" for x, y, v in pts)


def _envelope(pts: np.ndarray) -> dict:
    labelled = pts[pts[:, 2] > 0] if (pts[:, 2] > 0).any() else pts
    lo, hi = labelled[:, :2].min(axis=0), labelled[:, :2].max(axis=0)
    return {"x": lo[0], "y": lo[1], "w": hi[0] - lo[0], "h": hi[1] - lo[1]}


def _corners(bbox: dict, rotation: float) -> np.ndarray:
    """Corners of a box rotated clockwise by ``rotation`` degrees about its top-left corner."""
    x, y, w, h = bbox["x"], bbox["y"], bbox["w"], bbox["h"]
    t = np.deg2rad(rotation)
    c, s = np.cos(t), np.sin(t)
    local = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + [x, y]


def _place_image(asset: dict, out: Path, split: str, options: ExportOptions) -> None:
    """Copy or link the image to ``OUT/images/<split>/`` when asked and when it is on disk."""
    how = options.extra.get("images")
    uri = asset.get("uri")
    if how not in ("copy", "symlink") or not uri or not Path(uri).is_file():
        return
    target = safe_join(safe_join(out, f"images/{split}"), asset["asset_id"])
    if target.exists() or target.is_symlink():
        target.unlink()
    if how == "copy":
        shutil.copy2(uri, target)
    else:
        os.symlink(Path(uri).resolve(), target)


def _flip_idx(names: list[str] | None) -> list[int] | None:
    """Ultralytics' ``flip_idx`` from keypoint names: left_x <-> right_x (None if unsure)."""
    if not names:
        return None
    pos = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        for a, b in (("left", "right"), ("right", "left"), ("l_", "r_"), ("r_", "l_")):
            if n.lower().startswith(a) and (m := b + n[len(a) :]) in pos:
                out.append(pos[m])
                break
        else:
            if any(n.lower().startswith(p) for p in ("left", "right")):
                return None
            out.append(pos[n])
    return out


def _split_key(split: str) -> str:
    name = split.lower()
    if name in ("val", "valid", "validation"):
        return "val"
    return name if name in ("train", "test") else "train"


def _data_yaml(
    out: Path,
    names: dict[int, str],
    splits: set[str],
    k: int,
    categories: pa.Table,
    notes: list[str],
) -> Path:
    doc: dict = {"path": ""}
    # Ultralytics reads only train/val/test: every split's folder is listed under the
    # key its name means (others under train); image_sizes.csv keeps each image's split
    by_key: dict[str, list[str]] = {}
    for s in sorted(splits) or [DEFAULT_SPLIT]:
        by_key.setdefault(_split_key(s), []).append(f"images/{s}")
    for key in ("train", "val", "test"):
        if key in by_key:
            doc[key] = by_key[key][0] if len(by_key[key]) == 1 else by_key[key]
    others = sorted(s for s in splits if _split_key(s) == "train" and s.lower() != "train")
    if others:
        notes.append(
            f"splits {', '.join(others)} listed under train in data.yaml (Ultralytics reads "
            "only train/val/test); image_sizes.csv keeps their names"
        )
    if "train" in by_key and "val" not in by_key:
        notes.append("no val split: Ultralytics needs both train and val in data.yaml")
    if k:
        doc["kpt_shape"] = [k, 3]
        by_class = {
            c["class_name"]: c["keypoint_names"]
            for c in categories.select(["class_name", "keypoint_names"]).to_pylist()
            if c["keypoint_names"] and len(c["keypoint_names"]) == k
        }
        kpt_names = {i: list(by_class[n]) for i, n in names.items() if n in by_class}
        flips = {tuple(f) if f else None for f in map(_flip_idx, kpt_names.values())}
        if len(flips) == 1 and (flip := flips.pop()) is not None:
            doc["flip_idx"] = list(flip)
        else:
            notes.append(
                "no flip_idx (keypoint names without a left/right pairing): Ultralytics "
                "then trains without horizontal flips"
            )
        if kpt_names:
            doc["kpt_names"] = kpt_names
    doc["names"] = dict(sorted(names.items()))
    # lists inline (kpt_shape: [17, 3]), names one per line: as Ultralytics' own YAMLs
    text = "".join(
        yaml.safe_dump(
            {key: value},
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=None if key in ("kpt_shape", "flip_idx", "kpt_names") else False,
            width=100,
        )
        for key, value in doc.items()
    )
    target = out / "data.yaml"
    target.write_text(text, encoding="utf-8")
    return target
