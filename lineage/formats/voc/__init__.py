"""Pascal VOC XML: one ``<annotation>`` per image, axis-aligned boxes per ``<object>``.

Reads a dataset root (``Annotations/``, ``ImageSets/Main/<split>.txt``, ``JPEGImages/``,
``labelmap.txt``), a folder of XML files (labelImg) or a single file; writes a dataset
root. Decisions, in short (details in the modules):

* coordinates: the devkit's 1-based inclusive pixel indices by default
  (``x = xmin - 1``, ``w = xmax - xmin + 1``); ``extra={"voc_coords": "continuous"}``
  reads and writes them as CVAT/Datumaro do (``coords``);
* ``difficult``/``truncated`` (always, default false), ``occluded``, ``pose``,
  ``actions``, ``point`` and CVAT/Datumaro ``<attributes>`` become label attributes;
* ``<part>`` boxes (person layout: head, hand, foot) become box labels of their own,
  linked to their person by ``group_id`` and marked ``voc_part``: they are drawn,
  reviewed and moved like any box, so IoU matching and diffs must see them;
* ``<owner>`` is the image's Flickr owner in VOC, not the annotator: used as annotator
  only with ``extra={"owner_is_annotator": True}``;
* no stable ids: re-imports are matched by IoU.

The XML is parsed with defusedxml: entity declarations (billion laughs, XXE) are refused.
"""

from __future__ import annotations

from .detect import detect
from .reader import read
from .writer import write

__all__ = ["detect", "read", "write"]
