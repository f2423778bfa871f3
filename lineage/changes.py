"""The kinds of change a label can have between two revisions: one Enum, used by the
diff SQL, the summary and the CLI, so a kind is never a loose string defined twice.

Which columns each kind covers (``lineage.store.identity.CONTENT`` is the label's
content; every content column belongs to exactly one kind):

* ``added`` / ``removed``: the label is current in only one of the two states.
* ``geometry`` / ``moved``: shape, bbox, rotation, polygon, keypoints or mask differ.
  Exactly one of the two is reported: ``geometry`` (a small adjustment) when the IoU
  of the two geometries is at least the threshold, ``moved`` when it is below. A
  label that changed asset is ``moved`` with IoU 0 (shapes on two images never overlap).
* ``class``: class_name differs.
* ``attributes``: the attributes JSON object differs.
* ``annotator``: annotator_id differs.
* ``source``: where the label came from: source (human / model / assisted),
  model_version, score or external_id differ (e.g. a model label a human corrected).
* ``guideline``: guideline_version differs (the label was redone under another
  guideline version, which audits of superseded guidelines need to see).
* ``review``: the label's review rows differ: new review passes or verdicts.
"""

from __future__ import annotations

from enum import StrEnum


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    GEOMETRY = "geometry"
    MOVED = "moved"
    CLASS = "class"
    ATTRIBUTES = "attributes"
    ANNOTATOR = "annotator"
    SOURCE = "source"
    GUIDELINE = "guideline"
    REVIEW = "review"

    def mirror(self) -> Change:
        """The kind the same change has when the diff runs the other way (B -> A)."""
        return {Change.ADDED: Change.REMOVED, Change.REMOVED: Change.ADDED}.get(self, self)


# Content columns per kind (geometry and moved share theirs; asset_id counts as geometry).
GEOMETRY_COLUMNS = ("shape", "bbox", "rotation", "polygon", "keypoints", "mask_rle")
COLUMNS = {
    Change.CLASS: ("class_name",),
    Change.ATTRIBUTES: ("attributes",),
    Change.ANNOTATOR: ("annotator_id",),
    Change.SOURCE: ("source", "model_version", "score", "external_id"),
    Change.GUIDELINE: ("guideline_version",),
}
