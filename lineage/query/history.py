"""History of one label and blame of one asset, as SQL over the views of a revision.

* ``history``: every revision of a label, oldest first, with the version that recorded
  it (commit short SHA and tags; ``staged`` for work not committed yet), its content,
  the branch it was committed on, the IoU with the previous revision (``lineage.geometry`` rules, through the
  ``lineage_iou`` function; computed only where the geometry changed, 1 where it did
  not, 0 when the label moved to another asset), the attribute keys added / removed /
  changed, and the review passes of that revision nested as a list.
* ``blame``: each current label on an asset with who made its current revision, in
  which version, under which guideline, and its review status (the passes and latest
  verdict of that revision, as ``label_lineage`` counts them), so it agrees with the
  last revision ``history`` shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lineage.errors import InputError
from lineage.query.diff import IOU_FUNCTION, geometry_sql, lit

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot

# The version that recorded each transaction: short SHA (tags); 'staged' when not
# committed yet; the segment id when the commit that added it is not in this history.
VERSIONS_SQL = """
SELECT t.txn_id, v.commit, v.committed_at, t.branch,
       CASE WHEN coalesce(t.segment_id, '') = '' THEN 'staged'
            WHEN v.commit IS NULL THEN t.segment_id
            WHEN len(v.tags) > 0 THEN v.short || ' (' || array_to_string(v.tags, ', ') || ')'
            ELSE v.short END AS version
FROM transactions t
LEFT JOIN version_segments s ON s.segment_id = t.segment_id
LEFT JOIN versions v ON v.commit = s.commit
"""

_HISTORY = """
WITH
ev AS (
    SELECT *,
           lag({geom}) OVER w AS _prev_geom,
           lag(attributes) OVER w AS _prev_attributes,
           lag(asset_id) OVER w AS _prev_asset
    FROM label_events
    WHERE {where}
    WINDOW w AS (PARTITION BY label_id ORDER BY revision)
),
ver AS ({versions}),
rv AS (
    SELECT label_id, revision,
           list(struct_pack(pass, kind, reviewer_id, verdict, reason, reviewed_at,
                            guideline_version, review_id)
                ORDER BY pass, reviewed_at, review_id) AS reviews
    FROM reviews WHERE {where} GROUP BY label_id, revision
),
attrs AS (
    SELECT label_id, revision,
           map_keys(attributes::MAP(VARCHAR, JSON)) AS k1,
           map_keys(_prev_attributes::MAP(VARCHAR, JSON)) AS k0,
           attributes::MAP(VARCHAR, JSON) AS m1,
           _prev_attributes::MAP(VARCHAR, JSON) AS m0
    FROM ev WHERE _prev_attributes IS NOT NULL
),
attr_changes AS (
    SELECT label_id, revision,
           list_sort(list_filter(k1, lambda k: NOT list_contains(k0, k))) AS attributes_added,
           list_sort(list_filter(k0, lambda k: NOT list_contains(k1, k))) AS attributes_removed,
           list_sort(list_filter(k1, lambda k: list_contains(k0, k)
               AND map_extract_value(m1, k) IS DISTINCT FROM map_extract_value(m0, k)))
               AS attributes_changed
    FROM attrs
),
moved AS (
    SELECT e.label_id, e.revision, {iou}(e._prev_geom, {geom_e}, s.height, s.width) AS iou
    FROM ev e LEFT JOIN assets s ON s.asset_id = e.asset_id
    WHERE e._prev_geom IS DISTINCT FROM {geom_e} AND e._prev_geom IS NOT NULL
      AND e._prev_asset = e.asset_id
)
SELECT
    e.label_id, e.revision, ver.version, ver.branch, ver.commit, ver.committed_at,
    e.created_at AS time, e.op, e.asset_id, e.class_name,
    e.shape, e.bbox, e.rotation, e.polygon, e.keypoints, e.mask_rle,
    CASE WHEN e._prev_geom IS NULL THEN NULL
         WHEN e._prev_asset <> e.asset_id THEN 0.0
         ELSE coalesce(m.iou, 1.0) END AS iou,
    e.attributes, a.attributes_added, a.attributes_removed, a.attributes_changed,
    e.annotator_id, e.source, e.model_version, e.score, e.guideline_version,
    e.external_id, e.txn_id,
    coalesce(rv.reviews, []) AS reviews
FROM ev e
LEFT JOIN ver ON ver.txn_id = e.txn_id
LEFT JOIN rv ON rv.label_id = e.label_id AND rv.revision = e.revision
LEFT JOIN attr_changes a ON a.label_id = e.label_id AND a.revision = e.revision
LEFT JOIN moved m ON m.label_id = e.label_id AND m.revision = e.revision
ORDER BY e.label_id, e.revision
"""


def history_sql(label_id: str) -> str:
    """One row per revision of ``label_id``, oldest first, reviews nested in ``reviews``."""
    return histories_sql(f"label_id = {lit(label_id)}")


def histories_sql(where: str) -> str:
    """The history of every label that ``where`` (SQL over ``label_id``) selects: one row
    per revision, by label then revision (the review site reads many at once)."""
    return _HISTORY.format(
        geom=geometry_sql("label_events"),
        geom_e=geometry_sql("e"),
        where=where,
        versions=VERSIONS_SQL.strip(),
        iou=IOU_FUNCTION,
    ).strip()


# Columns of the flat form (one row per revision or review), for table and csv output.
_FLAT = """
WITH h AS (
{history}
),
r AS (
    SELECT revision, unnest(reviews) AS rv, generate_subscripts(reviews, 1) AS i FROM h
)
SELECT row_type, revision, version, branch, time, op, class_name, geometry, iou,
       attributes_changed, annotator_id, source, model_version, guideline_version,
       pass, kind, reviewer_id, verdict, reason
FROM (
    SELECT 'revision' AS row_type, revision, 0 AS _i, version, branch, time, op, class_name,
           shape || CASE WHEN bbox IS NULL THEN ''
                         ELSE ' ' || concat_ws(',', round(bbox.x, 2), round(bbox.y, 2),
                                               round(bbox.w, 2), round(bbox.h, 2)) END
               AS geometry,
           round(iou, 4) AS iou,
           nullif(concat_ws(' ',
               CASE WHEN len(attributes_added) > 0
                    THEN '+' || array_to_string(attributes_added, ',+') END,
               CASE WHEN len(attributes_removed) > 0
                    THEN '-' || array_to_string(attributes_removed, ',-') END,
               CASE WHEN len(attributes_changed) > 0
                    THEN '~' || array_to_string(attributes_changed, ',~') END), '')
               AS attributes_changed,
           annotator_id, source, model_version, guideline_version,
           NULL::INTEGER AS pass, NULL::VARCHAR AS kind, NULL::VARCHAR AS reviewer_id,
           NULL::VARCHAR AS verdict, NULL::VARCHAR AS reason
    FROM h
    UNION ALL
    SELECT 'review', revision, i, NULL, NULL, rv.reviewed_at, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, rv.guideline_version,
           rv.pass, rv.kind, rv.reviewer_id, rv.verdict, rv.reason
    FROM r
)
ORDER BY revision, _i
"""


_TABLE = """
WITH f AS (
{flat}
)
SELECT CASE WHEN row_type = 'revision' THEN 'revision' ELSE '  └ review' END AS row_type,
       revision, version, branch, strftime(time, '%Y-%m-%d %H:%M:%S') AS time,
       CASE WHEN row_type = 'revision' THEN op
            ELSE 'pass ' || pass || ' ' || kind || ': ' || verdict END AS op,
       class_name AS class, geometry, iou, attributes_changed AS attributes,
       coalesce(annotator_id, reviewer_id) AS "by",
       concat_ws(' ', source, model_version) AS source,
       guideline_version AS guideline, reason
FROM f
"""


def history_rows_sql(label_id: str, *, compact: bool = False) -> str:
    """The history flattened: a ``revision`` row, then one ``review`` row per review pass
    of that revision (``row_type`` says which). ``compact`` is the table form: reviews
    drawn as a tree, review fields folded into the revision columns."""
    flat = _FLAT.format(history=history_sql(label_id)).strip()
    return _TABLE.format(flat=flat).strip() if compact else flat


def resolve_label(snap: Snapshot, label_id: str | None, external_id: str | None, where: str) -> str:
    """The label id to show: given, or the one label that ever had ``external_id``."""
    if label_id is not None:
        found = snap.run(
            "SELECT count(*) FROM label_events WHERE label_id = $1", [label_id]
        ).fetchall()[0][0]
        if not found:
            raise InputError(
                f"no label '{label_id}' in {where}",
                hint="list the labels of an image with `lineage blame ASSET_ID`, "
                "or look a label up by the id its tool showed with --external-id",
            )
        return label_id
    if external_id is None:
        raise InputError("give a label id or an external id")
    ids = [
        r[0]
        for r in snap.run(
            "SELECT DISTINCT label_id FROM label_events WHERE external_id = $1 ORDER BY 1",
            [external_id],
        ).fetchall()
    ]
    if not ids:
        raise InputError(
            f"no label with external id '{external_id}' in {where}",
            hint="external ids are the ids the source tool gave (COCO annotation id, "
            "Label Studio region id, CVAT shape id)",
        )
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise InputError(
            f"external id '{external_id}' names {len(ids)} labels: {shown}",
            hint="pass one of these label ids instead",
        )
    return ids[0]


def _where(snap) -> str:
    return "the work state" if snap.rev is None else f"revision '{snap.rev}'"


def find_label(snap: Snapshot, label_id: str | None, external_id: str | None = None) -> str:
    """The label ``history`` shows (by id, or by the id its tool gave it) in an open
    revision."""
    return resolve_label(snap, label_id, external_id, _where(snap))


_BLAME = """
WITH ver AS ({versions})
SELECT l.label_id, l.revision, l.op, l.class_name, l.shape, l.bbox,
       l.annotator_id, l.annotator_kind, l.source, l.model_version,
       ver.version, ver.commit, ver.committed_at, l.created_at AS time,
       l.guideline_version, l.review_passes, l.latest_verdict, l.external_id, l.txn_id
FROM label_lineage l
LEFT JOIN ver ON ver.txn_id = l.txn_id
WHERE l.asset_id = {asset}
ORDER BY l.created_at, l.label_id
"""


def blame_sql(asset_id: str) -> str:
    """Each current label on ``asset_id`` with the version, annotator, guideline and
    review status of its current revision."""
    return _BLAME.format(versions=VERSIONS_SQL.strip(), asset=lit(asset_id)).strip()


def blame_table_sql(asset_id: str) -> str:
    """The blame for people: fewer, shorter columns."""
    return f"""WITH b AS (
{blame_sql(asset_id)}
)
SELECT label_id, class_name AS class, shape || CASE WHEN bbox IS NULL THEN '' ELSE ' ' ||
       concat_ws(',', round(bbox.x, 2), round(bbox.y, 2), round(bbox.w, 2), round(bbox.h, 2))
       END AS geometry,
       revision, annotator_id AS annotator, concat_ws(' ', source, model_version) AS source,
       version, guideline_version AS guideline,
       CASE WHEN review_passes = 0 AND latest_verdict IS NULL THEN 'unreviewed'
            ELSE review_passes || ' pass(es), ' || coalesce(latest_verdict, '?') END AS review,
       strftime(time, '%Y-%m-%d %H:%M:%S') AS time
FROM b"""


def check_asset(snap: Snapshot, asset_id: str) -> None:
    """Refuse an asset the open revision has never seen (a typo names no labels)."""
    known = snap.run(
        "SELECT (SELECT count(*) FROM assets WHERE asset_id = $1)"
        " + (SELECT count(*) FROM label_events WHERE asset_id = $1)",
        [asset_id],
    ).fetchall()[0][0]
    if not known:
        raise InputError(
            f"no asset '{asset_id}' in {_where(snap)}",
            hint="asset ids are image file names as the source tool names them; "
            'list them with `lineage query "select asset_id from assets"`',
        )
