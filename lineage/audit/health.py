"""Dataset health of one revision: class balance, labels per asset, coverage of
attributes and tags, degenerate geometry, likely duplicates, unlabelled assets.

``stats(repo, rev)`` returns one Arrow table per section (``SECTIONS`` in order). Every
section is one SQL query over the public views, given by ``SECTION_SQL[name]()``, so a
user can rerun it with ``lineage query`` and drill down; ``duplicates_sql()`` and
``degenerate_sql()`` list every offending label (the sections count them).

What counts:

* Labels are the current labels (``labels`` view) of every source, models included.
* Assets are the registered assets plus any asset a label names; an asset without a
  split has split null.
* Attributes count as set when the value is ``true``, ``1`` or ``"true"``/``"yes"``
  (readers store booleans; hand-written JSON may not).
* Geometry checks read ``bbox`` (the envelope every geometric label has):
  ``zero_area`` (w or h <= 0) and ``tiny`` (area below 4 px²) apply to boxes, polygons
  and masks (a polyline or a keypoint set may be thin); ``partly_outside_image`` (an
  edge more than half a pixel beyond the image: coordinate conventions differ by half a
  pixel, not more) and ``fully_outside_image`` (no overlap) need the asset's width and
  height, and labels on assets without them are counted as ``no_image_size``.
* Likely duplicates: two labels on the same asset with the same class and shape whose
  boxes overlap with IoU > 0.95, computed in SQL. Pairs by the same annotator are the
  suspicious ones; pairs by two annotators are expected where several annotators label
  the same images (agreement data), so both counts are given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot

ATTRIBUTES = ("occluded", "truncated", "difficult")
TINY_AREA = 4.0  # px²: below this a box is too small to mean an object
DUPLICATE_IOU = 0.95
OUTSIDE_TOLERANCE = 0.5  # px
EXAMPLES = 5
_REGIONS = "('box', 'polygon', 'mask')"
_TRUE = "lower({v}) IN ('true', '1', 'yes')"

# every asset: registered ones, and those only labels name
_ASSETS = """all_assets AS (
    SELECT asset_id, split, tags, width, height FROM assets
    UNION ALL
    SELECT DISTINCT asset_id, NULL, NULL, NULL, NULL FROM labels
    WHERE asset_id NOT IN (SELECT asset_id FROM assets)
)"""


def _examples(column: str, where: str | None = None) -> str:
    """The first few values of ``column`` (sorted) in a group, as a list."""
    only = f" FILTER (WHERE {where})" if where else ""
    return f"list_slice(list({column} ORDER BY {column}){only}, 1, {EXAMPLES})"


def classes_sql() -> str:
    """Labels and assets per class, and the class's share of all labels."""
    return """
SELECT class_name, count(*) AS labels, count(DISTINCT asset_id) AS assets,
       count(*) / sum(count(*)) OVER () AS share
FROM labels GROUP BY class_name ORDER BY labels DESC, class_name NULLS LAST"""


def splits_sql() -> str:
    """Assets, labelled assets and labels per split."""
    return f"""
WITH {_ASSETS},
per_asset AS (SELECT asset_id, count(*) AS n FROM labels GROUP BY 1)
SELECT a.split, count(*) AS assets, count(p.asset_id) AS labelled_assets,
       coalesce(sum(p.n), 0)::BIGINT AS labels
FROM all_assets a LEFT JOIN per_asset p ON p.asset_id = a.asset_id
GROUP BY a.split ORDER BY a.split NULLS LAST"""


def classes_by_split_sql() -> str:
    """Labels of each class in each split."""
    return """
SELECT l.class_name, a.split, count(*) AS labels
FROM labels l LEFT JOIN assets a ON a.asset_id = l.asset_id
GROUP BY ALL ORDER BY l.class_name NULLS LAST, a.split NULLS LAST"""


def imbalance_sql() -> str:
    """Most and least frequent class and the ratio of their label counts."""
    return """
WITH c AS (SELECT class_name, count(*) AS n FROM labels GROUP BY 1)
SELECT count(*) AS classes,
       arg_max(class_name, struct_pack(n, k := class_name)) AS most_common,
       max(n) AS most_labels,
       arg_min(class_name, struct_pack(n, k := class_name)) AS least_common,
       min(n) AS least_labels,
       max(n) / min(n) AS imbalance_ratio
FROM c HAVING count(*) > 0"""


def labels_per_asset_sql() -> str:
    """Minimum, mean, median and maximum number of labels per asset (unlabelled ones
    count as 0)."""
    return f"""
WITH {_ASSETS},
per_asset AS (
    SELECT a.asset_id, count(l.label_id) AS n
    FROM all_assets a LEFT JOIN labels l ON l.asset_id = a.asset_id GROUP BY 1
)
SELECT count(*) AS assets, min(n) AS min, avg(n) AS mean, median(n) AS median, max(n) AS max
FROM per_asset HAVING count(*) > 0"""


def labels_per_asset_histogram_sql() -> str:
    """Assets per number of labels, in buckets 0, 1, 2, 3-4, 5-8, 9-16, ..."""
    return f"""
WITH {_ASSETS},
per_asset AS (
    SELECT a.asset_id, count(l.label_id) AS n
    FROM all_assets a LEFT JOIN labels l ON l.asset_id = a.asset_id GROUP BY 1
),
b AS (
    SELECT CASE WHEN n = 0 THEN 0 ELSE ceil(log2(n))::INTEGER + 1 END AS bucket FROM per_asset
),
h AS (
    SELECT bucket, CASE WHEN bucket < 2 THEN bucket ELSE (1 << (bucket - 2)) + 1 END AS low,
           CASE WHEN bucket < 2 THEN bucket ELSE 1 << (bucket - 1) END AS high,
           count(*) AS assets
    FROM b GROUP BY 1
)
SELECT CASE WHEN low = high THEN low::VARCHAR ELSE low || '-' || high END AS bucket,
       low::BIGINT AS low, high::BIGINT AS high, assets
FROM h ORDER BY bucket"""


def coverage_sql(attributes: tuple[str, ...] = ATTRIBUTES) -> str:
    """Per attribute: labels that carry it and labels where it is set; per asset tag:
    assets that have it. ``share`` is of all labels (attributes) or all assets (tags)."""
    parts = []
    for name in attributes:
        path = "'$." + name.replace("'", "''").replace('"', "") + "'"
        value = f"(attributes->>{path})"
        parts.append(
            f"""SELECT 'attribute' AS kind, '{name.replace("'", "''")}' AS name,
       count(*) FILTER (WHERE (attributes->{path}) IS NOT NULL) AS annotated,
       count(*) FILTER (WHERE {_TRUE.format(v=value)}) AS count,
       count(*) FILTER (WHERE {_TRUE.format(v=value)}) / nullif(count(*), 0) AS share
FROM labels"""
        )
    tags = """SELECT 'tag' AS kind, tag AS name, count(*) AS annotated, count(*) AS count,
       count(*) / (SELECT nullif(count(*), 0) FROM all_assets) AS share
FROM (SELECT unnest(tags) AS tag FROM all_assets) GROUP BY tag"""
    return (
        f"WITH {_ASSETS}\nSELECT * FROM (\n"
        + "\nUNION ALL\n".join([*parts, tags])
        + "\n) ORDER BY kind, name"
    )


def degenerate_sql(tolerance: float = OUTSIDE_TOLERANCE) -> str:
    """Every label with degenerate geometry, with the problem (one row per problem);
    ``tolerance``: pixels a shape may reach past its image's edge."""
    t = float(tolerance)
    return f"""
WITH g AS (
    SELECT l.label_id, l.asset_id, l.shape, l.bbox.x AS x, l.bbox.y AS y, l.bbox.w AS w,
           l.bbox.h AS h, a.width AS width, a.height AS height
    FROM labels l LEFT JOIN assets a ON a.asset_id = l.asset_id
    WHERE l.shape <> 'classification' AND l.bbox IS NOT NULL
),
problems AS (
    SELECT label_id, asset_id, [
        CASE WHEN shape IN {_REGIONS} AND (w <= 0 OR h <= 0) THEN 'zero_area' END,
        CASE WHEN shape IN {_REGIONS} AND w > 0 AND h > 0 AND w * h < {TINY_AREA}
             THEN 'tiny' END,
        CASE WHEN NOT (width > 0 AND height > 0) OR width IS NULL OR height IS NULL
             THEN 'no_image_size'
             WHEN x >= width OR y >= height OR x + w <= 0 OR y + h <= 0
             THEN 'fully_outside_image'
             WHEN x < -{t} OR y < -{t} OR x + w > width + {t} OR y + h > height + {t}
             THEN 'partly_outside_image' END
    ] AS found
    FROM g
)
SELECT problem, label_id, asset_id
FROM (SELECT label_id, asset_id, unnest(found) AS problem FROM problems)
WHERE problem IS NOT NULL
ORDER BY problem, label_id"""


DEGENERATE_PROBLEMS = (
    "zero_area",
    "tiny",
    "partly_outside_image",
    "fully_outside_image",
    "no_image_size",
)


def degenerate_counts_sql() -> str:
    """Labels per geometry problem, with a few example label ids (every problem listed)."""
    problems = ", ".join(f"('{p}', {i})" for i, p in enumerate(DEGENERATE_PROBLEMS))
    return f"""
WITH d AS ({degenerate_sql().strip()}),
p(problem, k) AS (VALUES {problems})
SELECT p.problem, count(d.label_id) AS labels,
       count(d.label_id) / (SELECT nullif(count(*), 0) FROM labels) AS share,
       coalesce({_examples("d.label_id", "d.label_id IS NOT NULL")}, []) AS examples
FROM p LEFT JOIN d ON d.problem = p.problem
GROUP BY p.problem, p.k ORDER BY p.k"""


def duplicates_sql(iou: float = DUPLICATE_IOU) -> str:
    """Every pair of likely duplicate labels: same asset, class and shape, box IoU > ``iou``."""
    return f"""
WITH g AS (
    SELECT label_id, asset_id, class_name, shape, annotator_id,
           bbox.x AS x1, bbox.y AS y1, bbox.x + bbox.w AS x2, bbox.y + bbox.h AS y2,
           bbox.w * bbox.h AS area
    FROM labels
    WHERE shape <> 'classification' AND bbox.w > 0 AND bbox.h > 0
),
pairs AS (
    SELECT a.asset_id, a.class_name, a.shape, a.label_id AS label_a, b.label_id AS label_b,
           a.annotator_id AS annotator_a, b.annotator_id AS annotator_b,
           (least(a.x2, b.x2) - greatest(a.x1, b.x1))
             * (least(a.y2, b.y2) - greatest(a.y1, b.y1)) AS inter,
           a.area + b.area AS areas
    FROM g a JOIN g b
      ON b.asset_id = a.asset_id AND b.class_name IS NOT DISTINCT FROM a.class_name
     AND b.shape = a.shape AND a.label_id < b.label_id
     AND a.x1 < b.x2 AND b.x1 < a.x2 AND a.y1 < b.y2 AND b.y1 < a.y2
)
SELECT asset_id, class_name, shape, label_a, label_b, annotator_a, annotator_b,
       annotator_a IS NOT DISTINCT FROM annotator_b AS same_annotator,
       inter / (areas - inter) AS iou
FROM pairs WHERE inter / (areas - inter) > {float(iou)!r}
ORDER BY asset_id, label_a, label_b"""


def duplicate_counts_sql(iou: float = DUPLICATE_IOU) -> str:
    """Likely duplicate pairs per class: all, by the same annotator, by two annotators."""
    return f"""
WITH d AS ({duplicates_sql(iou).strip()})
SELECT class_name, count(*) AS pairs,
       count(*) FILTER (WHERE same_annotator) AS same_annotator_pairs,
       count(*) FILTER (WHERE NOT same_annotator) AS cross_annotator_pairs,
       {_examples("label_a || '~' || label_b")} AS examples
FROM d GROUP BY class_name ORDER BY pairs DESC, class_name NULLS LAST"""


def unlabelled_assets_sql() -> str:
    """Registered assets with no current label, per split: those marked empty (looked
    at, nothing to label) apart from the rest (the audit's coverage.unlabelled)."""
    return f"""
WITH {_ASSETS},
a AS (
    SELECT a.asset_id, a.split, l.asset_id IS NULL AS bare,
           coalesce(e.empty, false) AS marked_empty
    FROM all_assets a
    LEFT JOIN (SELECT DISTINCT asset_id FROM labels) l ON l.asset_id = a.asset_id
    LEFT JOIN assets e ON e.asset_id = a.asset_id
)
SELECT split, count(*) AS assets,
       count(*) FILTER (WHERE bare AND NOT marked_empty) AS unlabelled,
       count(*) FILTER (WHERE bare AND NOT marked_empty) / count(*) AS share,
       count(*) FILTER (WHERE bare AND marked_empty) AS marked_empty,
       coalesce({_examples("asset_id", "bare AND NOT marked_empty")}, []) AS examples
FROM a
GROUP BY split ORDER BY split NULLS LAST"""


SECTION_SQL: dict[str, Callable[[], str]] = {
    "classes": classes_sql,
    "splits": splits_sql,
    "classes_by_split": classes_by_split_sql,
    "imbalance": imbalance_sql,
    "labels_per_asset": labels_per_asset_sql,
    "labels_per_asset_histogram": labels_per_asset_histogram_sql,
    "coverage": coverage_sql,
    "degenerate": degenerate_counts_sql,
    "duplicates": duplicate_counts_sql,
    "unlabelled_assets": unlabelled_assets_sql,
}
SECTIONS = tuple(SECTION_SQL)


def stats(snap: Snapshot) -> dict[str, pa.Table]:
    """Every health section of an open revision, in order."""
    return {name: snap.con.sql(sql()).to_arrow_table() for name, sql in SECTION_SQL.items()}
