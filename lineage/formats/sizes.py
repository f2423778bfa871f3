"""Image sizes for turning normalised (YOLO) or percent (Label Studio) coordinates into
pixels.

From the image header (Pillow opens lazily, the pixels are never decoded), corrected for EXIF
orientation exactly as Ultralytics' ``exif_size`` does: for JPEGs whose orientation tag (274)
is 6 or 8, width and height swap, because Ultralytics trains on the rotated image and its
labels are relative to that. Or from a sizes file when the images are absent: CSV
``image,width,height`` or JSON ``{"name": [w, h]}`` (``{"width": w, "height": h}`` too).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from lineage.csvcell import restore
from lineage.errors import InputError

_ORIENTATION = 274


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as Ultralytics sees it (``exif_size``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                return _header_size(path)
            except Image.DecompressionBombError:
                # Pillow guards against decoding huge images; only the header is read here
                limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    return _header_size(path)
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read the image size: {exc}", file=path) from exc


def _header_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        w, h = im.size
        if im.format == "JPEG":
            try:
                if im.getexif().get(_ORIENTATION) in (6, 8):
                    w, h = h, w
            except Exception:  # noqa: BLE001 - a broken EXIF block: Ultralytics ignores it too
                pass
        return w, h


def _size(value, *, file: Path, record: str) -> tuple[int, int]:
    if isinstance(value, dict):
        value = [value.get("width"), value.get("height")]
    try:
        w, h = (int(v) for v in value)
        if w <= 0 or h <= 0 or [w, h] != [float(v) for v in value]:
            raise ValueError
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"size {value!r} is not two positive whole numbers", file=file, record=record
        ) from exc
    return w, h


def load_sizes(path: Path) -> dict[str, tuple[int, int]]:
    """The sizes file as {image name: (width, height)}."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the sizes file: {exc}", file=path) from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", file=path) from exc
        if not isinstance(doc, dict):
            raise InputError('expected {"image name": [width, height], ...}', file=path)
        return {str(k): _size(v, file=path, record=str(k)) for k, v in doc.items()}
    rows = list(csv.reader(io.StringIO(text)))
    out = {}
    for i, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        if i == 1 and row[0].strip().lower() in ("image", "file", "file_name", "name", "asset_id"):
            continue  # header
        if len(row) not in (3, 4):
            raise InputError("expected image,width,height[,split]", file=path, record=i)
        out[restore(row[0].strip())] = _size(row[1:3], file=path, record=f"line {i}")
    return out


def load_splits(path: Path) -> dict[str, str | None]:
    """The ``split`` column of a sizes file (lineage's own exports write it, so assets
    with no split come back with none): {image name: split or None}; {} without one."""
    if path.suffix.lower() == ".json":
        return {}
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    if not rows or [c.strip().lower() for c in rows[0]] != ["image", "width", "height", "split"]:
        return {}
    return {restore(r[0].strip()): (r[3].strip() or None) for r in rows[1:] if len(r) == 4}


class Sizes:
    """Looks an image up by its asset id, its file name, or its stem."""

    def __init__(
        self, table: dict[str, tuple[int, int]], splits: dict[str, str | None] | None = None
    ):
        self.table = table
        self.splits = splits or {}
        self.by_name = {Path(k).name: k for k in table}
        self.by_stem: dict = {}
        for k in table:
            self.by_stem.setdefault(Path(k).with_suffix("").as_posix(), k)
            self.by_stem.setdefault(Path(k).stem, k)

    def key(self, asset_id: str) -> str | None:
        """The sizes-file name that matches ``asset_id`` (which may lack an extension)."""
        if asset_id in self.table:
            return asset_id
        if (k := self.by_name.get(Path(asset_id).name)) is not None:
            return k
        return self.by_stem.get(Path(asset_id).with_suffix("").as_posix()) or self.by_stem.get(
            asset_id
        )
