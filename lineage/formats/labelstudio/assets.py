"""Which image a Label Studio task is about: the task's data value -> an asset id.

Label Studio names images by URL, in several dialects:

* uploads: ``/data/upload/<project>/<8 hex>-name.jpg`` (the hex prefix is added on upload);
* local storage: ``/data/local-files/?d=<path under LOCAL_FILES_DOCUMENT_ROOT>``;
* cloud storage and the web: ``s3://bucket/key``, ``gs://…``, ``azure-blob://…``, ``https://…``;
* a bare relative path, as users write in their own task files.

The asset id is the file name (``mode="basename"``, the default): it is what COCO, YOLO
and VOC exports of the same images call them, so labels of one image from several tools
land on one asset. ``mode="path"`` keeps the path instead (the ``d=`` path, the bucket key,
the URL path), for datasets whose file names repeat across folders. A bare relative path is
already an id and is kept as is in both modes, so lineage's own exports read back
unchanged. The value is kept as the asset's ``uri``, less any URL query (see ``clean_uri``).
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

# The task data key lineage's exports add when the image URL does not say the asset id
ASSET_KEY = "lineage_asset_id"
_UPLOAD = re.compile(r"^/data/upload/[^/]+/(?:[0-9a-f]{8}-)?(?P<name>.+)$")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".avif", ".heic")
_IMAGE_KEYS = ("image", "img", "image_url", "url", "ocr")


def image_value(data: dict) -> tuple[str, str] | None:
    """(key, value) of the image in a task's ``data``: ``image`` first, else the first string
    that looks like an image (by extension or a Label Studio storage prefix)."""
    for key in _IMAGE_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return key, value
    for key, value in data.items():
        if isinstance(value, str) and _looks_like_image(value):
            return key, value
    return None


def clean_uri(value: str) -> str:
    """The URI to keep: a URL without its query and fragment (pre-signed cloud URLs carry
    expiring credentials there, which must not land in the store); Label Studio's own
    ``/data/local-files/?d=`` keeps its query, which is the path."""
    parts = urlsplit(value.strip())
    if parts.scheme and parts.netloc:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return value.strip()


def _looks_like_image(value: str) -> bool:
    path = urlsplit(value).path.lower()
    return path.endswith(_IMAGE_EXT) or value.startswith(("/data/upload/", "/data/local-files/"))


def asset_id(value: str, mode: str = "basename") -> str:
    """The asset id of an image URL or path (see the module docstring)."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.path.startswith("/data/local-files") and parts.query:
        d = parse_qs(parts.query).get("d")
        path = d[0] if d else parts.path
    elif parts.scheme or parts.netloc:
        path = unquote(parts.path)
    elif value.startswith("/data/upload/"):
        m = _UPLOAD.match(unquote(parts.path))
        path = m["name"] if m else unquote(parts.path)
        return posixpath.basename(path) if mode == "basename" else path
    elif value.startswith("/"):
        path = unquote(parts.path)
    else:
        return unquote(parts.path).replace("\\", "/")  # a relative path: already an id
    path = path.replace("\\", "/").lstrip("/")
    if mode == "basename":
        return posixpath.basename(path) or path
    return path
