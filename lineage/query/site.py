"""The review site's reads, as SQL over an open revision or pair (``lineage.show.site``
renders them).

A diff site reads, from the pair A -> B:

* the changes it shows (the diff, narrowed to some kinds) into ``_site_changes``;
* the assets they touch (the label's asset before and after: a label moved to another
  image shows on both) with size and uri, into ``_site_assets``;
* every label current on those assets at A and at B, changed or not (the page draws
  them all), with the kinds of its change (NULL: unchanged);
* the history of each of those labels (``lineage.query.history``), and the keypoint
  skeletons of their classes.

One-revision pages (``show asset``, ``show label``, the audit's examples) read the same
labels and histories from a single revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from lineage.query.diff import lit
from lineage.query.history import histories_sql

if TYPE_CHECKING:
    from lineage.query.snapshot import Pair, Snapshot

# What a page draws of a label.
LABEL_COLUMNS = (
    "label_id, revision, asset_id, class_name, shape, bbox, rotation, polygon, keypoints, "
    "mask_rle, score, annotator_id, source, guideline_version"
)


def select_changes(pair: Pair, diff_query: str, kinds: Sequence[str] = ()) -> None:
    """Store the changes (only those with one of ``kinds``, when given) and the assets
    they touch, for the reads below."""
    where = f"WHERE list_has_any(kinds, [{', '.join(lit(k) for k in kinds)}])" if kinds else ""
    pair.con.execute(
        f"CREATE OR REPLACE TEMP TABLE _site_changes AS SELECT * FROM ({diff_query}) {where}"
    )
    pair.con.execute("""
        CREATE OR REPLACE TEMP TABLE _site_assets AS
        WITH ids AS (
            SELECT before.asset_id AS asset_id FROM _site_changes WHERE before IS NOT NULL
            UNION
            SELECT after.asset_id FROM _site_changes WHERE after IS NOT NULL
        )
        SELECT ids.asset_id,
               coalesce(b.width, a.width) AS width,
               coalesce(b.height, a.height) AS height,
               coalesce(b.uri, a.uri) AS uri
        FROM ids
        LEFT JOIN b.assets b ON b.asset_id = ids.asset_id
        LEFT JOIN a.assets a ON a.asset_id = ids.asset_id
    """)


CHANGES_SQL = "SELECT * FROM _site_changes ORDER BY asset_id, label_id"

ASSETS_SQL = "SELECT asset_id, width, height, uri FROM _site_assets ORDER BY asset_id"

# Every label current on a shown asset at A and at B, with its change kinds (NULL:
# unchanged between A and B), by asset then label.
PAIR_LABELS_SQL = f"""
WITH drawn AS (
    SELECT 'a' AS side, {LABEL_COLUMNS} FROM a.labels
    WHERE asset_id IN (SELECT asset_id FROM _site_assets)
    UNION ALL
    SELECT 'b' AS side, {LABEL_COLUMNS} FROM b.labels
    WHERE asset_id IN (SELECT asset_id FROM _site_assets)
)
SELECT d.*, c.kinds, c.iou
FROM drawn d LEFT JOIN _site_changes c ON c.label_id = d.label_id
ORDER BY d.asset_id, d.label_id, d.side
"""


def labels_sql(asset_ids: Sequence[str]) -> str:
    """The current labels of some assets in one revision (``side`` = 'b': drawn solid)."""
    return (
        f"SELECT 'b' AS side, {LABEL_COLUMNS}, NULL::VARCHAR[] AS kinds, NULL::DOUBLE AS iou "
        f"FROM labels WHERE asset_id IN ({_list(asset_ids)}) ORDER BY asset_id, label_id"
    )


def assets_sql(asset_ids: Sequence[str]) -> str:
    """Size and uri of some assets in one revision (an asset with labels but no asset row
    still gets a page: its size comes from the labels' extent)."""
    return f"""
WITH ids AS (SELECT unnest([{_list(asset_ids)}]) AS asset_id)
SELECT ids.asset_id, s.width, s.height, s.uri
FROM ids LEFT JOIN assets s ON s.asset_id = ids.asset_id
ORDER BY ids.asset_id"""


def label_revisions_sql(label_ids: Sequence[str]) -> str:
    """Every revision of some labels, to draw them all on each label's page (``side``
    'a' for the earlier ones, 'b' for the last), tombstones left out; by label, then
    revision (a label's page is on the asset of its last row)."""
    return f"""
SELECT CASE WHEN revision = max(revision) OVER (PARTITION BY label_id) THEN 'b' ELSE 'a' END
           AS side,
       {LABEL_COLUMNS}, NULL::VARCHAR[] AS kinds, NULL::DOUBLE AS iou
FROM label_events WHERE label_id IN ({_list(label_ids)}) AND op <> 'delete'
ORDER BY label_id, revision"""


# What the history panel shows of each revision (geometry beyond the box is drawn, not
# listed), as one JSON array per label, oldest revision first: DuckDB writes the JSON,
# so tens of thousands of histories never pass through Python objects.
HISTORY_FIELDS = (
    "revision", "version", "branch", "time", "op", "asset_id", "class_name", "shape", "bbox", "iou",
    "attributes", "attributes_added", "attributes_removed", "attributes_changed",
    "annotator_id", "source", "model_version", "score", "guideline_version", "reviews",
)  # fmt: skip

_HISTORY_JSON = """
WITH h AS (
{history}
)
SELECT label_id,
       '[' || string_agg(to_json(struct_pack({fields}))::VARCHAR, ',' ORDER BY revision) || ']'
           AS revisions
FROM h GROUP BY label_id
"""


def histories(snap: Snapshot, label_ids: Sequence[str] | None = None) -> pa.Table:
    """The histories of the labels drawn (``label_ids``; None: those of ``_site_drawn``,
    a temp table the caller filled): ``label_id``, ``revisions`` (JSON text)."""
    where = (
        "label_id IN (SELECT label_id FROM _site_drawn)"
        if label_ids is None
        else f"label_id IN ({_list(label_ids)})"
    )
    sql = _HISTORY_JSON.format(history=histories_sql(where), fields=", ".join(HISTORY_FIELDS))
    return snap.arrow(sql)


def pair_histories(pair: Pair, drawn: pa.Table) -> pa.Table:
    """Histories of the drawn labels as B records them, and from A for labels B's history
    lacks (when B does not descend from A)."""
    con = pair.con
    con.register("_site_drawn_arrow", drawn.select(["label_id"]))
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _site_drawn AS SELECT DISTINCT label_id "
            "FROM _site_drawn_arrow"
        )
    finally:
        con.unregister("_site_drawn_arrow")
    in_b = histories(pair)
    con.execute(
        "DELETE FROM _site_drawn WHERE label_id IN (SELECT DISTINCT label_id FROM b.label_events)"
    )
    if not con.sql("SELECT count(*) FROM _site_drawn").fetchall()[0][0]:
        return in_b
    con.execute("SET search_path = 'a,main'")
    try:
        in_a = histories(pair)
    finally:
        con.execute("SET search_path = 'b,main'")
    return pa.concat_tables([in_b, in_a])


SKELETONS_SQL = "SELECT class_name, skeleton FROM categories WHERE len(skeleton) > 0"


def _list(values: Sequence[str]) -> str:
    return ", ".join(lit(v) for v in values) or "NULL"
