"""Geometry shared by identity matching, diffs, history and agreement: IoU, RLE, OKS.

Which tool for which job, and why:

* **NumPy for boxes.** Box IoU is a few broadcast min/max operations; doing it in
  NumPy over whole (n, m) matrices is as fast as C and gives exactly the numbers
  of pycocotools' ``bbIou`` (same formula, same order of operations; a box with
  w <= 0 or h <= 0 has IoU 0).
* **pycocotools for polygons and masks.** COCO's own evaluation rasterises a
  polygon with ``frPyObjects`` and compares run-length masks with ``iou``; every
  COCO-trained team reads mask IoU through it, so we call the same C code and get
  the same numbers (to the last bit), not an approximation of them. Polygons are
  rasterised at the image size, so region IoU needs it (given, or read from a mask).
* **Shapely only for rotated boxes.** A box with ``rotation`` is compared to another
  box by the exact area of the intersection of the two rotated rectangles
  (vectorised GEOS). Shapely is not used for polygons: its exact polygon IoU would
  disagree with pycocotools' raster IoU that users and the tests compare to.
* **Our own LEB128 codec (NumPy) for COCO's compressed counts.** pycocotools'
  decoder writes past its buffer when the runs do not add up to height x width
  (cocoapi has no check), so every RLE that comes from outside is parsed and
  checked here first, then stored canonically (no empty runs but the first), so
  equal masks have equal strings. Masks are encoded and decoded in NumPy too
  (same strings as pycocotools; its encoder's buffer overflows on runs >= 2**29).

COCO's ``area`` for a polygon annotation is the polygon's (shoelace) area, not a
pixel count: annotation 1768 of instances_val2017 has area 702.1057499999998,
the shoelace area of its polygon, while the rasterised mask has 703 pixels. For
RLE (crowd) annotations COCO's area is the pixel count (integers such as 220834).

Degenerate input never raises and never gives NaN: zero-area boxes, empty or
non-finite polygons and empty tables give IoU 0 (and 0/0 is 0).

Modules by concept: ``boxes``, ``rle`` (the codec), ``polygons``, ``segmentation``
(COCO's forms to RLE), ``keypoints`` (OKS), ``tables`` (IoU between label tables),
``assign``. The names below are the package's API.
"""

from lineage.geometry.assign import assign
from lineage.geometry.boxes import box_iou, box_iou_pairs
from lineage.geometry.keypoints import COCO_SIGMAS, DEFAULT_SIGMA, keypoints_bbox, oks
from lineage.geometry.polygons import polygon_area, polygon_bbox, polygon_to_rle
from lineage.geometry.rle import rle_area, rle_bbox, rle_decode, rle_encode, rle_to_coco
from lineage.geometry.segmentation import rle_from_coco
from lineage.geometry.tables import iou_index_pairs, iou_matrix, iou_pairs

__all__ = [
    "COCO_SIGMAS",
    "DEFAULT_SIGMA",
    "assign",
    "box_iou",
    "box_iou_pairs",
    "iou_index_pairs",
    "iou_matrix",
    "iou_pairs",
    "keypoints_bbox",
    "oks",
    "polygon_area",
    "polygon_bbox",
    "polygon_to_rle",
    "rle_area",
    "rle_bbox",
    "rle_decode",
    "rle_encode",
    "rle_from_coco",
    "rle_to_coco",
]
