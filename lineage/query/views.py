"""The public views: their SQL is the contract users query against.

``{table}_raw`` holds every row of a table's segments (schema-conformed); the public
views derive the current state from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lineage.store.checkpoint import Pieces

# Latest row per key wins for the slowly changing tables: a later transaction's row
# supersedes an earlier one (txn ids sort by time).
LATEST = """
SELECT * EXCLUDE (_rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY txn_id DESC) AS _rn
    FROM {view}_raw
) WHERE _rn = 1
"""

# A merge moves the merged branch's revisions of a label both branches edited above
# ours (``revision_map``); readers see each row at its newest mapped revision. The key
# of a mapped row: (kind, label_id, the row's ref column, its stored revision).
RENUMBERED = {
    "label_events": ("event", "txn_id"),
    "reviews": ("review", "review_id"),
    "samples": ("sample", "sample_id"),
}

MAP_CURRENT = """
SELECT * FROM revision_map_raw
QUALIFY row_number() OVER (PARTITION BY kind, label_id, ref, revision ORDER BY txn_id DESC) = 1
"""


def renumbered(table: str, source: str | None = None) -> str:
    """``table``'s rows (read from ``source``, default ``{table}_files``) at their
    merged revisions."""
    kind, ref = RENUMBERED[table]
    return f"""
SELECT t.* REPLACE (coalesce(m.merged_revision, t.revision)::INTEGER AS revision)
FROM {source or table + "_files"} t
LEFT JOIN revision_map_current m
    ON m.kind = '{kind}' AND m.label_id = t.label_id AND m.ref = t.{ref}
    AND m.revision = t.revision
"""


VIEWS = {
    "label_events": """
SELECT * REPLACE (attributes::JSON AS attributes) FROM label_events_raw
""",
    "reviews": "SELECT * FROM reviews_raw",
    "transactions": "SELECT * FROM transactions_raw",
    "samples": "SELECT * FROM samples_raw",
    "guidelines": LATEST.format(view="guidelines", key="version"),
    "annotators": LATEST.format(view="annotators", key="annotator_id"),
    "assets": LATEST.format(view="assets", key="asset_id"),
    "categories": LATEST.format(view="categories", key="class_name"),
    # Each current label with who made it, under which guideline, and its review passes
    # of its *current* revision (a label edited after review shows no passes).
    "label_lineage": """
WITH passes AS (
    SELECT
        label_id,
        revision,
        count(DISTINCT pass) FILTER (WHERE kind = 'review') AS review_passes,
        arg_max(verdict, struct_pack(p := pass, t := reviewed_at, r := review_id)) AS latest_verdict,
        list(struct_pack(pass, kind, reviewer_id, verdict, reason, reviewed_at, guideline_version)
             ORDER BY pass, reviewed_at) AS review_list
    FROM reviews
    GROUP BY label_id, revision
)
SELECT
    l.*,
    a.kind AS annotator_kind,
    a.team AS annotator_team,
    g.released_at AS guideline_released_at,
    g.doc_sha256 AS guideline_doc_sha256,
    coalesce(p.review_passes, 0) AS review_passes,
    p.latest_verdict,
    coalesce(p.review_list, []) AS review_list
FROM labels l
LEFT JOIN annotators a ON a.annotator_id = l.annotator_id
LEFT JOIN guidelines g ON g.version = l.guideline_version
LEFT JOIN passes p ON p.label_id = l.label_id AND p.revision = l.revision
""",
}

# Current state: the latest revision of each label, unless that revision deletes it.
# Most labels have one revision, so only labels with later revisions are looked up
# (a small hash join) instead of ranking every event (a sort of the whole log).
LABELS = """
WITH newer AS (
    SELECT label_id, max(revision) AS latest
    FROM label_events_raw
    WHERE revision > 1
    GROUP BY label_id
)
SELECT e.*{cast_e}
FROM label_events_raw e
LEFT JOIN newer n ON n.label_id = e.label_id
WHERE e.revision = coalesce(n.latest, 1) AND e.op <> 'delete'
"""

# With checkpoints: their rows, unless a later event touched the label, plus the latest
# of those later events (the tail; a label's first revision there needs no lookup, and
# cannot supersede a checkpointed row: the first import's file is skipped by its
# revision statistics when parts not yet checkpointed read it).
# Reads then cost the live data plus the tail, not the whole log. (No CTE for the tail:
# DuckDB materialises a CTE read twice with every column, and the checkpoint's columns
# are then read whole too: count(*) at 1 M labels took 1.0 s, not 0.09 s.)
LABELS_FROM_CHECKPOINT = """
SELECT c.*{cast_c}
FROM label_state_raw c ANTI JOIN (
    SELECT label_id FROM label_events_tail_raw WHERE revision > 1
) t ON t.label_id = c.label_id
UNION ALL BY NAME
SELECT e.*{cast_e}
FROM label_events_tail_raw e
LEFT JOIN (
    SELECT label_id, max(revision) AS latest
    FROM label_events_tail_raw
    WHERE revision > 1
    GROUP BY label_id
) n ON n.label_id = e.label_id
WHERE e.revision = coalesce(n.latest, e.revision) AND e.op <> 'delete'
"""

# Right after a checkpoint of every part nothing follows it: the view is the checkpoint
# itself (a join with an empty tail still costs a full read of every column in DuckDB).
LABELS_AT_CHECKPOINT = """
SELECT *{cast} FROM label_state_raw
"""


def labels_sql(checkpoint: Pieces | None, *, as_json: bool = True) -> str:
    """The current labels of a revision read from ``checkpoint`` (None: from the
    events); ``as_json``: ``attributes`` typed JSON (the view), else as stored."""

    def cast(alias: str) -> str:
        return f" REPLACE ({alias}attributes::JSON AS attributes)" if as_json else ""

    casts = {"cast": cast(""), "cast_c": cast("c."), "cast_e": cast("e.")}
    if checkpoint is None:
        return LABELS.format(**casts)
    if checkpoint.tail:
        return LABELS_FROM_CHECKPOINT.format(**casts)
    return LABELS_AT_CHECKPOINT.format(**casts)


def derived(*, renumber: bool, checkpoint: Pieces | None) -> list[tuple[str, str]]:
    """The views every engine builds over its sources, in creation order, as
    ``(name, SELECT)`` in DuckDB's dialect (the one definition; Spark gets them
    transpiled). The sources an engine provides: ``{table}_files`` for the tables in
    ``RENUMBERED``, ``{table}_raw`` for the others, and with a ``checkpoint``
    ``label_state_raw`` and ``label_events_tail_files`` (the events newer than it).
    ``renumber``: the revision has a ``revision_map``."""
    out = [("revision_map_current", MAP_CURRENT)]
    for table in RENUMBERED:
        sql = renumbered(table) if renumber else f"SELECT * FROM {table}_files"
        out.append((f"{table}_raw", sql))
    if checkpoint is not None:
        tail_sql = (
            renumbered("label_events", "label_events_tail_files")
            if renumber
            else "SELECT * FROM label_events_tail_files"
        )
        out.append(("label_events_tail_raw", tail_sql))
    for name, sql in VIEWS.items():
        out.append((name, sql))
        if name == "label_events":
            out.append(("labels", labels_sql(checkpoint)))
    return out


PUBLIC_VIEWS = (
    "labels",
    "label_events",
    "reviews",
    "guidelines",
    "annotators",
    "assets",
    "categories",
    "transactions",
    "samples",
    "label_lineage",
    "versions",
    "version_segments",
)
