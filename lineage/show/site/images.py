"""The image under an asset's labels: found on disk, checked, copied into the site.

An asset's ``uri`` comes from the store, which a cloned repository fills: it is
untrusted. An image is only looked for under the folders the user allows (``--images
DIR``, else the repository's work tree), after symlinks, and only a file that starts
like a PNG, JPEG, GIF, WebP or BMP is copied (its extension follows its content, not
its name). A URL (``http://``, ``s3://``, ...) is never fetched: the page then draws
over a neutral canvas of the image's size.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from lineage.store.files import within

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
)


def image_kind(path: Path) -> str | None:
    """The extension matching the file's first bytes, or None if it is no image we show."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _MAGIC if head.startswith(magic)), None)


def _relative(value: str) -> PurePosixPath | None:
    """A uri or asset id as a relative path, or None for a URL."""
    if "://" in value or value.startswith("file:"):
        return None
    return PurePosixPath(value.replace("\\", "/"))


def find_image(asset_id: str, uri: str | None, roots: list[Path]) -> tuple[Path, str] | None:
    """The image file of an asset (and its extension), looked for as its uri and as its
    asset id under each root, and by the uri's file name; None if not found."""
    names: list[PurePosixPath] = []
    for value in (uri, asset_id):
        rel = _relative(value) if value else None
        if rel is not None:
            names += [rel, PurePosixPath(rel.name)]
    for root in roots:
        for name in names:
            path = root / name if not name.is_absolute() else Path(name)
            if path.is_file() and within(path, root):
                kind = image_kind(path)
                if kind:
                    return path, kind
    return None


def copy_image(src: Path, dest: Path) -> None:
    """Hard-link the image into the site when the file system allows, else copy it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src.resolve(), dest)
    except OSError:
        shutil.copyfile(src, dest)
