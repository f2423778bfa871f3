"""The SQL of a merge: what each branch changed since their common history, the labels
both changed (conflicts), the merged branch's revisions moved above ours, and the
events and review rows that record each resolution.

All of it runs on one connection over the union of both branches' segments, with two
small tables registered by the caller: ``_sides(txn_id, side)`` names each transaction
only one branch holds (``ours`` or ``theirs``; the rest are common history), and, when
resolving, ``_resolutions(label_id, take, revision, resolver)``.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

# Label content compared to tell an identical change on both branches from a conflict.
CONTENT = (
    "op, asset_id, class_name, shape, bbox, rotation, polygon, keypoints, mask_rle, "
    "score, attributes"
)

# Every event with its stored revision, its revision as the branches number it (maps of
# earlier merges applied), and the branch only it is on (NULL: common history).
EVENTS_SQL = """
CREATE TEMP TABLE _ev AS
SELECT e.*, e.revision AS stored_revision,
       coalesce(m.merged_revision, e.revision)::INTEGER AS rev, s.side
FROM label_events_files e
LEFT JOIN revision_map_current m
    ON m.kind = 'event' AND m.label_id = e.label_id AND m.ref = e.txn_id
    AND m.revision = e.revision
LEFT JOIN _sides s ON s.txn_id = e.txn_id
"""

# Labels with events on both branches: the merged branch's revisions move up by
# ``shift`` so they follow ours.
BOTH_SQL = """
CREATE TEMP TABLE _both AS
WITH per_label AS (
    SELECT label_id,
           max(rev) FILTER (WHERE side IS NULL) AS base_revision,
           max(rev) FILTER (WHERE side = 'ours') AS ours_revision,
           max(rev) FILTER (WHERE side = 'theirs') AS theirs_top
    FROM _ev
    WHERE label_id IN (SELECT label_id FROM _ev WHERE side = 'ours')
      AND label_id IN (SELECT label_id FROM _ev WHERE side = 'theirs')
    GROUP BY label_id
),
finals AS (
    SELECT label_id, side, struct_pack({content}) AS content
    FROM _ev WHERE side IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY label_id, side ORDER BY rev DESC) = 1
)
SELECT p.*,
       p.ours_revision - coalesce(p.base_revision, 0) AS shift,
       o.content.op AS ours_op, t.content.op AS theirs_op,
       (o.content.op = 'delete' AND t.content.op = 'delete')
           OR (o.content.op <> 'delete' AND t.content.op <> 'delete'
               AND o.content IS NOT DISTINCT FROM t.content) AS same,
       coalesce(o.content.asset_id, t.content.asset_id) AS asset_id,
       coalesce(o.content.class_name, t.content.class_name) AS class_name
FROM per_label p
JOIN finals o ON o.label_id = p.label_id AND o.side = 'ours'
JOIN finals t ON t.label_id = p.label_id AND t.side = 'theirs'
""".format(content=", ".join(f"{c} := {c}" for c in CONTENT.split(", ")))


def _stored(table: str, kind: str, ref: str) -> str:
    """``table``'s rows with their stored and branch revisions and their branch."""
    return f"""
    SELECT t.*, t.revision AS stored_revision,
           coalesce(m.merged_revision, t.revision)::INTEGER AS rev, s.side
    FROM {table}_files t
    LEFT JOIN revision_map_current m
        ON m.kind = '{kind}' AND m.label_id = t.label_id AND m.ref = t.{ref}
        AND m.revision = t.revision
    LEFT JOIN _sides s ON s.txn_id = t.txn_id
    """


# The merged branch's rows of labels both branches edited, made after the common
# history, at their merged revision.
MAP_SQL = f"""
SELECT 'event' AS kind, e.label_id, e.txn_id AS ref, e.stored_revision AS revision,
       (e.rev + b.shift)::INTEGER AS merged_revision
FROM _ev e JOIN _both b USING (label_id)
WHERE e.side = 'theirs' AND b.shift <> 0
UNION ALL
SELECT 'review', r.label_id, r.review_id, r.stored_revision, (r.rev + b.shift)::INTEGER
FROM ({_stored("reviews", "review", "review_id")}) r JOIN _both b USING (label_id)
WHERE r.side = 'theirs' AND r.rev > coalesce(b.base_revision, 0) AND b.shift <> 0
UNION ALL
SELECT 'sample', p.label_id, p.sample_id, p.stored_revision, (p.rev + b.shift)::INTEGER
FROM ({_stored("samples", "sample", "sample_id")}) p JOIN _both b USING (label_id)
WHERE p.side = 'theirs' AND p.rev > coalesce(b.base_revision, 0) AND b.shift <> 0
ORDER BY 2, 1, 3, 4
"""

# Revisions of the common history both branches reviewed since, with different latest
# verdicts. Run on the connection whose maps include this merge's.
REVIEW_CONFLICTS_SQL = """
WITH base AS (
    SELECT label_id, max(revision) AS base_revision
    FROM label_events_raw
    WHERE txn_id NOT IN (SELECT txn_id FROM _sides)
    GROUP BY label_id
),
latest AS (
    SELECT r.label_id, r.revision, s.side,
           arg_max(r.verdict, struct_pack(p := r.pass, t := r.reviewed_at, i := r.review_id))
               AS verdict
    FROM reviews_raw r
    JOIN _sides s ON s.txn_id = r.txn_id
    JOIN base b ON b.label_id = r.label_id AND r.revision <= b.base_revision
    GROUP BY ALL
)
SELECT o.label_id, o.revision, o.verdict AS ours_verdict, t.verdict AS theirs_verdict
FROM latest o JOIN latest t
    ON t.label_id = o.label_id AND t.revision = o.revision AND t.side = 'theirs'
WHERE o.side = 'ours' AND o.verdict <> t.verdict
"""

# One row per conflicted label, in merged revision numbers. Run after the map is applied
# (``_both`` still holds the numbers before it; theirs moved up by ``shift``).
CONFLICTS_SQL = f"""
WITH edits AS (
    SELECT * FROM _both WHERE NOT same
),
reviewed AS (
    SELECT label_id,
           list(revision ORDER BY revision) AS reviewed_revisions,
           list(ours_verdict ORDER BY revision) AS ours_verdicts,
           list(theirs_verdict ORDER BY revision) AS theirs_verdicts
    FROM ({REVIEW_CONFLICTS_SQL}) GROUP BY label_id
),
current AS (  -- the common history's (the union's labels view may hold a label twice)
    SELECT label_id, asset_id, class_name FROM _ev WHERE side IS NULL
    QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY rev DESC) = 1
)
SELECT
    coalesce(e.label_id, r.label_id) AS label_id,
    coalesce(e.asset_id, c.asset_id) AS asset_id,
    coalesce(e.class_name, c.class_name) AS class_name,
    CASE WHEN e.label_id IS NULL THEN 'reviewed differently'
         WHEN e.ours_op = 'delete' THEN 'deleted vs edited'
         WHEN e.theirs_op = 'delete' THEN 'edited vs deleted'
         ELSE 'both edited' END AS conflict,
    e.base_revision,
    e.ours_revision,
    (e.theirs_top + e.shift)::INTEGER AS theirs_revision,
    concat_ws(', ',
        CASE WHEN e.ours_op = 'delete' THEN 'deleted' WHEN e.label_id IS NOT NULL THEN 'edited' END,
        CASE WHEN r.label_id IS NOT NULL THEN 'reviewed ' || array_to_string(r.ours_verdicts, '/') END
    ) AS ours_change,
    concat_ws(', ',
        CASE WHEN e.theirs_op = 'delete' THEN 'deleted' WHEN e.label_id IS NOT NULL THEN 'edited' END,
        CASE WHEN r.label_id IS NOT NULL THEN 'reviewed ' || array_to_string(r.theirs_verdicts, '/') END
    ) AS theirs_change,
    coalesce(r.reviewed_revisions, []) AS reviewed_revisions
FROM edits e
FULL OUTER JOIN reviewed r ON r.label_id = e.label_id
LEFT JOIN current c ON c.label_id = coalesce(e.label_id, r.label_id)
ORDER BY label_id
"""

# The newest merged revision of each resolved label: its resolution goes on top.
TOPS_SQL = """
CREATE TEMP TABLE _tops AS
SELECT label_id, max(revision) AS top
FROM label_events_raw
WHERE label_id IN (SELECT label_id FROM _resolutions)
GROUP BY label_id
"""

# The label event each edit conflict's resolution writes: a copy of the chosen revision
# on top of the merged history, made by the merge transaction.
RESOLUTION_EVENTS_SQL = """
SELECT e.* REPLACE ((t.top + 1)::INTEGER AS revision, $txn_id AS txn_id,
                    $now::TIMESTAMPTZ AS created_at)
FROM label_events_raw e
JOIN _resolutions r ON r.label_id = e.label_id AND r.revision = e.revision
JOIN _tops t ON t.label_id = e.label_id
ORDER BY e.label_id
"""

# The review rows that record who resolved each conflict and how: on the new revision
# of an edit conflict (verdict accept: the resolver chose that content), and on each
# revision reviewed differently (the chosen side's verdict).
RESOLUTION_REVIEWS_SQL = """
WITH edit AS (
    SELECT r.label_id, t.top + 1 AS revision, 'accept' AS verdict, r.resolver, r.reason
    FROM _resolutions r JOIN _tops t USING (label_id)
    WHERE r.revision IS NOT NULL
),
review AS (
    SELECT r.label_id, c.revision,
           CASE WHEN r.take = 'theirs' THEN c.theirs_verdict ELSE c.ours_verdict END AS verdict,
           r.resolver, r.reason
    FROM _resolutions r
    JOIN _review_conflicts c ON c.label_id = r.label_id
),
rows AS (SELECT * FROM edit UNION ALL SELECT * FROM review)
SELECT
    $txn_id || '-' || row_number() OVER (ORDER BY w.label_id, w.revision) AS review_id,
    w.label_id,
    w.revision::INTEGER AS revision,
    (coalesce((SELECT max(pass) FROM reviews_raw x
               WHERE x.label_id = w.label_id AND x.revision = w.revision), 0) + 1)::INTEGER
        AS pass,
    'merge' AS kind,
    w.resolver AS reviewer_id,
    w.verdict,
    w.reason,
    $now::TIMESTAMPTZ AS reviewed_at,
    NULL::VARCHAR AS guideline_version,
    $txn_id AS txn_id
FROM rows w
ORDER BY w.label_id, w.revision
"""


def plan(con: duckdb.DuckDBPyConnection, sides: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(the revision map rows, the conflicts) of merging the branches ``sides`` names,
    on a connection over the union of both branches' segments (before this merge's map).
    """
    con.register("_sides", sides)
    con.execute(EVENTS_SQL)
    con.execute(BOTH_SQL)
    mapping = con.sql(MAP_SQL).to_arrow_table()
    conflicts = con.sql(CONFLICTS_SQL).to_arrow_table()
    con.execute("DROP TABLE _ev")
    con.execute("DROP TABLE _both")
    con.unregister("_sides")
    return mapping, conflicts


def resolution_rows(
    con: duckdb.DuckDBPyConnection,
    sides: pa.Table,
    resolutions: pa.Table,
    txn_id: str,
    now: datetime,
) -> tuple[pa.Table, pa.Table]:
    """(label events, review rows) recording each resolution, on a connection over the
    merged union with this merge's map applied. ``resolutions``: label_id, take (ours,
    theirs or revision), revision (the chosen one, merged numbers; null when only
    reviews conflict), resolver, reason."""
    con.register("_sides", sides)
    con.register("_resolutions", resolutions)
    con.execute(f"CREATE TEMP TABLE _review_conflicts AS {REVIEW_CONFLICTS_SQL}")
    con.execute(TOPS_SQL)
    params = {"txn_id": txn_id, "now": now}
    events = con.sql(RESOLUTION_EVENTS_SQL, params=params).to_arrow_table()
    reviews = con.sql(RESOLUTION_REVIEWS_SQL, params=params).to_arrow_table()
    con.execute("DROP TABLE _review_conflicts")
    con.execute("DROP TABLE _tops")
    con.unregister("_resolutions")
    con.unregister("_sides")
    return events, reviews
