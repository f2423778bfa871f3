"""The audit checks: each is one SQL query over the public views that lists every
offending label (or review, guideline, annotator, class), so an auditor can rerun it
with ``lineage query``.

Every check has a ``*_sql(policy)`` function that builds its query (None when the
policy switches it off) and a runner of the same name without ``_sql`` that returns
its :class:`Finding`. The first column of each query names what the finding counts;
``CHECKS`` lists them all in report order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import duckdb

from lineage.audit import health
from lineage.audit.policy import Policy


@dataclass(frozen=True)
class Finding:
    """What one check found: ``count`` rows of ``sql``, the first few ``examples``."""

    check: str
    title: str
    severity: str  # error | warning | info
    subject: str  # label | review | guideline | annotator | class | asset | sample
    count: int
    examples: list[str]
    sql: str
    why: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    id: str
    group: str
    title: str
    severity: str
    subject: str
    key: str  # the column whose values are the examples
    sql: Callable[[Policy], str | None]
    why: str


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def current_guideline_sql(policy: Policy) -> str:
    """The current guideline version: the policy's, or the version released last."""
    if policy.current_guideline:
        return quote(policy.current_guideline)
    return "(SELECT version FROM guidelines ORDER BY released_at DESC, version DESC LIMIT 1)"


def required_passes_sql(policy: Policy, column: str = "l.class_name") -> str:
    """The review passes a label of ``column``'s class needs, as a SQL expression."""
    if not policy.class_passes:
        return str(policy.required_passes)
    whens = " ".join(f"WHEN {quote(c)} THEN {n}" for c, n in sorted(policy.class_passes.items()))
    return f"CASE {column} {whens} ELSE {policy.required_passes} END"


# ---------------------------------------------------------------- traceability


def annotator_untraced_sql(policy: Policy) -> str:
    return """
SELECT l.label_id, l.annotator_id,
       CASE WHEN l.annotator_id IS NULL THEN 'no annotator' ELSE 'annotator not registered' END
           AS reason
FROM labels l
WHERE l.annotator_id IS NULL
   OR l.annotator_id NOT IN (SELECT annotator_id FROM annotators)
ORDER BY l.label_id"""


def source_untraced_sql(policy: Policy) -> str:
    return """
SELECT l.label_id, l.source, l.model_version,
       CASE WHEN l.source IS NULL THEN 'no source' ELSE 'model label without model_version' END
           AS reason
FROM labels l
WHERE l.source IS NULL
   OR (l.source IN ('model', 'assisted') AND l.model_version IS NULL)
ORDER BY l.label_id"""


def guideline_untraced_sql(policy: Policy) -> str:
    return """
SELECT l.label_id, l.guideline_version,
       CASE WHEN l.guideline_version IS NULL THEN 'no guideline version'
            ELSE 'guideline version not recorded' END AS reason
FROM labels l
WHERE l.guideline_version IS NULL
   OR l.guideline_version NOT IN (SELECT version FROM guidelines)
ORDER BY l.label_id"""


def guideline_document_sql(policy: Policy) -> str:
    return """
SELECT g.version, count(*) AS labels
FROM guidelines g JOIN labels l ON l.guideline_version = g.version
WHERE g.doc_sha256 IS NULL
GROUP BY g.version
ORDER BY g.version"""


def review_target_sql(policy: Policy) -> str:
    return """
SELECT r.label_id, r.revision, r.review_id, r.pass, r.reviewer_id,
       CASE WHEN e.label_id IS NULL THEN 'no such label revision'
            ELSE 'review of a delete' END AS reason
FROM reviews r
LEFT JOIN label_events e ON e.label_id = r.label_id AND e.revision = r.revision
WHERE e.label_id IS NULL OR e.op = 'delete'
ORDER BY r.label_id, r.revision, r.pass"""


def reviewer_untraced_sql(policy: Policy) -> str:
    return """
SELECT r.label_id, r.revision, r.pass, r.reviewer_id, r.review_id
FROM reviews r
WHERE r.reviewer_id NOT IN (SELECT annotator_id FROM annotators)
ORDER BY r.label_id, r.revision, r.pass"""


def asset_untraced_sql(policy: Policy) -> str:
    return """
SELECT l.label_id, l.asset_id
FROM labels l
WHERE l.asset_id NOT IN (SELECT asset_id FROM assets)
ORDER BY l.label_id"""


# ---------------------------------------------------------------- review coverage


def _under_reviewed(policy: Policy, edited: bool) -> str:
    return f"""
SELECT l.label_id, l.class_name, l.revision, l.review_passes,
       {required_passes_sql(policy)} AS required_passes
FROM label_lineage l
WHERE l.review_passes < {required_passes_sql(policy)}
  AND {"" if edited else "NOT "}EXISTS (
      SELECT 1 FROM reviews r
      WHERE r.label_id = l.label_id AND r.revision < l.revision AND r.kind = 'review')
ORDER BY l.label_id"""


def coverage_sql(policy: Policy) -> str:
    """Current labels with fewer review passes than the policy asks for their class,
    never reviewed in any revision (those reviewed before an edit: ``edited_after_review``)."""
    return _under_reviewed(policy, edited=False)


def edited_after_review_sql(policy: Policy) -> str:
    """Current labels whose current revision lacks the passes an older revision had."""
    return _under_reviewed(policy, edited=True)


def merge_resolution_sql(policy: Policy) -> str | None:
    """Current labels whose current revision a merge conflict resolution wrote, with no
    review pass of it since the resolution."""
    if not policy.review_after_merge:
        return None
    return """
SELECT l.label_id, l.class_name, l.revision, m.reviewer_id AS resolved_by, m.reason
FROM label_lineage l
JOIN reviews m ON m.label_id = l.label_id AND m.revision = l.revision AND m.kind = 'merge'
WHERE NOT EXISTS (
    SELECT 1 FROM reviews r
    WHERE r.label_id = l.label_id AND r.revision = l.revision AND r.kind = 'review'
      AND r.reviewed_at >= m.reviewed_at)
ORDER BY l.label_id"""


# ---------------------------------------------------------------- separation of duties


def self_review_sql(policy: Policy) -> str | None:
    if not policy.no_self_review:
        return None
    return """
SELECT l.label_id, l.annotator_id, list(r.pass ORDER BY r.pass) AS passes
FROM labels l
JOIN reviews r ON r.label_id = l.label_id AND r.revision = l.revision
WHERE r.reviewer_id = l.annotator_id
GROUP BY l.label_id, l.annotator_id
ORDER BY l.label_id"""


def repeat_reviewer_sql(policy: Policy) -> str | None:
    if not policy.distinct_pass_reviewers:
        return None
    return """
SELECT l.label_id, later.reviewer_id,
       min(earlier.pass) AS earlier_pass, max(later.pass) AS later_pass
FROM labels l
JOIN reviews earlier ON earlier.label_id = l.label_id AND earlier.revision = l.revision
JOIN reviews later ON later.label_id = l.label_id AND later.revision = l.revision
WHERE earlier.kind = 'review' AND later.kind = 'review'
  AND later.reviewer_id = earlier.reviewer_id AND later.pass > earlier.pass
GROUP BY l.label_id, later.reviewer_id
ORDER BY l.label_id"""


# ---------------------------------------------------------------- guidelines


def taxonomy_sql(policy: Policy) -> str:
    return """
SELECT l.label_id, l.class_name, l.guideline_version
FROM labels l
JOIN guidelines g ON g.version = l.guideline_version
WHERE l.class_name IS NULL OR NOT list_contains(g.classes, l.class_name)
ORDER BY l.label_id"""


def superseded_sql(policy: Policy) -> str:
    current = current_guideline_sql(policy)
    return f"""
SELECT l.label_id, l.guideline_version, {current} AS current_guideline
FROM labels l
WHERE l.guideline_version <> {current}
  AND NOT EXISTS (
      SELECT 1 FROM reviews r
      WHERE r.label_id = l.label_id AND r.revision = l.revision
        AND r.guideline_version = {current})
ORDER BY l.label_id"""


# ---------------------------------------------------------------- model labels, rejects


def model_accept_sql(policy: Policy) -> str | None:
    if not policy.model_labels_need_human_accept:
        return None
    return """
SELECT l.label_id, l.annotator_id, l.model_version
FROM label_lineage l
WHERE (l.source = 'model' OR l.annotator_kind = 'model')
  AND NOT EXISTS (
      SELECT 1 FROM reviews r
      LEFT JOIN annotators a ON a.annotator_id = r.reviewer_id
      WHERE r.label_id = l.label_id AND r.revision = l.revision
        AND r.verdict = 'accept' AND coalesce(a.kind, 'human') = 'human')
ORDER BY l.label_id"""


def rejected_sql(policy: Policy) -> str:
    return """
SELECT l.label_id, l.class_name, l.annotator_id, l.revision
FROM label_lineage l
WHERE l.latest_verdict = 'reject'
ORDER BY l.label_id"""


def not_in_force_sql(policy: Policy) -> str:
    """Labels created before their guideline version was released, or after the next
    version's release (plus the policy's grace days) while still naming the old one."""
    grace = int(policy.guideline_grace_days)
    return f"""
WITH g AS (
    SELECT version, released_at,
           lead(released_at) OVER (ORDER BY released_at, version) AS superseded_at
    FROM guidelines
)
SELECT l.label_id, l.guideline_version, l.created_at, g.released_at, g.superseded_at,
       CASE WHEN l.created_at < g.released_at
            THEN 'created before its guideline version was released'
            ELSE 'created after the next guideline version was released' END AS reason
FROM labels l
JOIN g ON g.version = l.guideline_version
WHERE l.created_at < g.released_at
   OR l.created_at > g.superseded_at + INTERVAL {grace} DAY
ORDER BY l.label_id"""


# ---------------------------------------------------------------- completeness, splits


def unlabelled_sql(policy: Policy) -> str:
    """Registered assets with no current label that are not marked empty."""
    return """
SELECT a.asset_id, a.split
FROM assets a
WHERE NOT coalesce(a.empty, false)
  AND a.asset_id NOT IN (SELECT asset_id FROM labels)
ORDER BY a.asset_id"""


def split_leak_sql(policy: Policy) -> str:
    """Images (by content hash) that are in more than one of the splits that must be
    disjoint."""
    only = ""
    if policy.disjoint_splits:
        only = f"\n  AND split IN ({', '.join(quote(x) for x in policy.disjoint_splits)})"
    return f"""
SELECT string_agg(asset_id, ', ' ORDER BY asset_id) AS assets, sha256,
       list(DISTINCT split ORDER BY split) AS splits
FROM assets
WHERE sha256 IS NOT NULL AND split IS NOT NULL{only}
GROUP BY sha256
HAVING count(DISTINCT split) > 1
ORDER BY assets"""


def sample_outcomes_sql() -> str:
    """Per recorded audit sample: its plan, how many sampled label revisions are still
    current (``applies`` when all are), how many were inspected (an ``audit`` review)
    and found defective, and whether the lot was accepted (all inspected, defects <= Ac)."""
    return """
WITH s AS (SELECT sample_id, label_id, revision, plan::JSON AS plan FROM samples),
audit AS (
    SELECT label_id, revision, arg_max(verdict, pass) AS verdict
    FROM reviews WHERE kind = 'audit' GROUP BY label_id, revision
),
o AS (
    SELECT s.sample_id,
           any_value(s.plan->>'scheme') AS scheme,
           any_value((s.plan->>'aql')::DOUBLE) AS aql,
           any_value(s.plan->>'level') AS level,
           any_value((s.plan->>'max_defect_rate')::DOUBLE) AS max_defect_rate,
           any_value((s.plan->>'confidence')::DOUBLE) AS confidence,
           any_value((s.plan->>'lot_size')::BIGINT) AS lot_size,
           any_value((s.plan->>'ac')::BIGINT) AS ac,
           any_value((s.plan->>'re')::BIGINT) AS re,
           any_value(s.plan->>'rev') AS drawn_at,
           count(*) AS n,
           count(*) FILTER (WHERE l.revision = s.revision) AS unchanged,
           count(a.verdict) AS inspected,
           count(*) FILTER (WHERE a.verdict = 'reject') AS defects
    FROM s
    LEFT JOIN labels l ON l.label_id = s.label_id
    LEFT JOIN audit a ON a.label_id = s.label_id AND a.revision = s.revision
    GROUP BY s.sample_id
)
SELECT *, unchanged = n AS applies, inspected = n AND defects <= ac AS accepted
FROM o
ORDER BY sample_id"""


def sample_accepted_sql(policy: Policy) -> str | None:
    """One row when no recorded audit sample of these labels, with a plan at least as
    strict as the policy's, was accepted."""
    need = policy.require_sample
    if not need:
        return None
    strict = []
    if "aql" in need:
        strict.append(f"aql IS NOT NULL AND aql <= {float(need['aql'])!r}")
    if "level" in need:
        strict.append(f"level = {quote(need['level'])}")
    if "max_defect_rate" in need:
        strict.append(
            f"max_defect_rate IS NOT NULL AND max_defect_rate <= {float(need['max_defect_rate'])!r}"
        )
    if "confidence" in need:
        strict.append(f"coalesce(confidence, 0) >= {float(need['confidence'])!r}")
    plan = " AND ".join(f"({c})" for c in strict) or "true"
    return f"""
WITH o AS ({sample_outcomes_sql().strip()})
SELECT 'no accepted audit sample of these labels with the required plan' AS problem,
       (SELECT count(*) FROM o) AS samples_recorded,
       (SELECT count(*) FROM o WHERE applies) AS samples_of_these_labels
WHERE NOT EXISTS (SELECT 1 FROM o WHERE applies AND accepted AND {plan})"""


# ---------------------------------------------------------------- geometry


def _geometry_problems(policy: Policy, problems: tuple[str, ...]) -> str:
    """Labels with one of the stats section's geometry ``problems`` (one SQL for both)."""
    listed = ", ".join(quote(p) for p in problems)
    return f"""
SELECT label_id, asset_id, problem
FROM ({health.degenerate_sql(policy.outside_tolerance_px).strip()})
WHERE problem IN ({listed})
ORDER BY label_id"""


def degenerate_sql(policy: Policy) -> str:
    """Shapes with zero area (a box, polygon or mask with no width or height)."""
    return _geometry_problems(policy, ("zero_area",))


def outside_sql(policy: Policy) -> str:
    """Shapes reaching past their image's edge by more than the policy's tolerance."""
    return _geometry_problems(policy, ("partly_outside_image", "fully_outside_image"))


def duplicate_sql(policy: Policy) -> str:
    """Likely duplicates: the later of two labels of one asset, class and shape whose
    boxes overlap above the policy's IoU."""
    return f"""
SELECT label_b AS label_id, label_a AS duplicate_of, asset_id, class_name, iou
FROM ({health.duplicates_sql(policy.duplicate_iou).strip()})
ORDER BY label_b, label_a"""


# ---------------------------------------------------------------- limits


def rejection_rates_sql() -> str:
    """Per annotator: label revisions they made that had a review pass, and how many of
    those a reviewer rejected (every revision in the history, not only current ones)."""
    return """
WITH reviewed AS (
    SELECT e.annotator_id, e.label_id, e.revision, bool_or(r.verdict = 'reject') AS rejected
    FROM label_events e
    JOIN reviews r ON r.label_id = e.label_id AND r.revision = e.revision AND r.kind = 'review'
    WHERE e.annotator_id IS NOT NULL
    GROUP BY e.annotator_id, e.label_id, e.revision
)
SELECT annotator_id, count(*) AS reviewed, count(*) FILTER (WHERE rejected) AS rejected,
       count(*) FILTER (WHERE rejected) / count(*) AS rejection_rate
FROM reviewed
GROUP BY annotator_id"""


def rejection_rate_sql(policy: Policy) -> str | None:
    if policy.max_rejection_rate is None:
        return None
    return f"""
SELECT * FROM ({rejection_rates_sql().strip()})
WHERE reviewed >= {policy.rejection_rate_min_reviewed}
  AND rejection_rate > {policy.max_rejection_rate!r}
ORDER BY annotator_id"""


def labels_per_class_sql(policy: Policy) -> str | None:
    if policy.min_labels_per_class is None:
        return None
    return f"""
WITH classes AS (
    SELECT unnest(classes) AS class_name FROM guidelines WHERE version = {current_guideline_sql(policy)}
    UNION
    SELECT class_name FROM labels WHERE class_name IS NOT NULL
)
SELECT c.class_name, count(l.label_id) AS labels
FROM classes c LEFT JOIN labels l ON l.class_name = c.class_name
GROUP BY c.class_name
HAVING count(l.label_id) < {policy.min_labels_per_class}
ORDER BY c.class_name"""


CHECKS: tuple[Check, ...] = (
    Check("trace.annotator", "traceability", "Label without a registered annotator", "error",
          "label", "label_id", annotator_untraced_sql,
          "Who made a label must be known: annotator_id present and registered "
          "(lineage annotator add)."),
    Check("trace.source", "traceability", "Label without a known source", "error",
          "label", "label_id", source_untraced_sql,
          "A label must say whether a human or a model made it, and which model version."),
    Check("trace.guideline", "traceability", "Label without a recorded guideline version",
          "error", "label", "label_id", guideline_untraced_sql,
          "A label must name the guideline version it was made under, recorded in the store."),
    Check("trace.guideline_document", "traceability",
          "Guideline version recorded without its document hash", "error", "guideline",
          "version", guideline_document_sql,
          "The guideline document's SHA-256 proves which instructions annotators had "
          "(lineage guideline add VERSION --doc FILE)."),
    Check("trace.review_target", "traceability", "Review of a label revision that does not exist",
          "error", "review", "label_id", review_target_sql,
          "Every review must refer to an existing revision of a label."),
    Check("trace.reviewer", "traceability", "Review by an unregistered reviewer", "warning",
          "review", "label_id", reviewer_untraced_sql,
          "Reviewers should be registered like annotators, so their kind and team are known."),
    Check("trace.asset", "traceability", "Label on an unregistered asset", "warning",
          "label", "label_id", asset_untraced_sql,
          "The label names its image, but no asset row records the image's size, split or "
          "content hash. Formats without image records (native JSONL without asset lines, "
          "YOLO, VOC without sizes) do not register assets, so this is a warning."),
    Check("coverage.passes", "coverage", "Label with fewer review passes than required",
          "error", "label", "label_id", coverage_sql,
          "The policy asks for a number of review passes per class; these labels were never "
          "reviewed that often."),
    Check("coverage.edited_after_review", "coverage", "Label edited after review", "error",
          "label", "label_id", edited_after_review_sql,
          "An older revision was reviewed, but the current one has fewer passes than required."),
    Check("coverage.merge_resolution", "coverage", "Merge conflict resolution not reviewed",
          "error", "label", "label_id", merge_resolution_sql,
          "The policy asks for a review of every label whose current revision a merge "
          "conflict resolution wrote (review_after_merge): someone chose one branch's "
          "label over the other's, and a reviewer must confirm it."),
    Check("duties.self_review", "separation of duties", "Label reviewed by its own annotator",
          "error", "label", "label_id", self_review_sql,
          "A reviewer may not review a label they made."),
    Check("duties.repeat_reviewer", "separation of duties",
          "Later review pass by an earlier pass's reviewer", "error", "label", "label_id",
          repeat_reviewer_sql,
          "Each review pass of a revision must be done by a different reviewer."),
    Check("guideline.taxonomy", "guidelines", "Class not in its guideline's taxonomy", "error",
          "label", "label_id", taxonomy_sql,
          "The class must be one the guideline version the label was made under defines."),
    Check("guideline.superseded", "guidelines",
          "Label under a superseded guideline, not reviewed under the current one", "error",
          "label", "label_id", superseded_sql,
          "Labels made under an older guideline need a review pass that names the current "
          "guideline version."),
    Check("guideline.not_in_force", "guidelines",
          "Label made when its guideline version was not in force", "error", "label",
          "label_id", not_in_force_sql,
          "A label must be made under the guideline version in force when it was created: "
          "not before that version's release, and not after the next version's release "
          "(plus guideline_grace_days). Record past releases with "
          "`lineage guideline add --released-at`."),
    Check("coverage.unlabelled", "completeness", "Asset with no label and not marked empty",
          "warning", "asset", "asset_id", unlabelled_sql,
          "Every image of the release is labelled or explicitly marked empty (a native "
          "`record: asset` line with `empty: true`), so a forgotten image is never mistaken "
          "for one with no object. A warning by default: the other formats cannot mark an "
          "image empty yet."),
    Check("splits.leak", "completeness", "Same image in more than one split", "error",
          "asset", "assets", split_leak_sql,
          "An image (by SHA-256) in two of the splits that must be disjoint leaks test data "
          "into training (policy disjoint_splits; default: all splits)."),
    Check("geometry.degenerate", "geometry", "Shape with zero area", "error", "label",
          "label_id", degenerate_sql,
          "A box, polygon or mask with no width or height marks nothing."),
    Check("geometry.outside", "geometry", "Shape outside its image", "warning", "label",
          "label_id", outside_sql,
          "The shape reaches past its image's edge by more than "
          "geometry.outside_tolerance_px (or lies wholly outside it)."),
    Check("geometry.duplicate", "geometry", "Likely duplicate label", "warning", "label",
          "label_id", duplicate_sql,
          "Two labels of one image, class and shape whose boxes overlap above "
          "geometry.duplicate_iou: usually one object labelled twice."),
    Check("sample.accepted", "audit sample", "No accepted audit sample of these labels",
          "error", "sample", "problem", sample_accepted_sql,
          "The policy's require_sample asks for a statistically sound audit sample of the "
          "release: drawn (lineage sample), inspected (lineage sample record) and accepted, "
          "with every sampled label unchanged since."),
    Check("model.human_accept", "model labels", "Model label without a human accept", "error",
          "label", "label_id", model_accept_sql,
          "The policy demands that a human reviewer accepts each model-made label."),
    Check("review.rejected", "rejected labels", "Rejected label still in the dataset", "error",
          "label", "label_id", rejected_sql,
          "The latest verdict on the current revision is reject and no newer revision fixes it."),
    Check("limits.rejection_rate", "limits", "Annotator above the maximum rejection rate",
          "error", "annotator", "annotator_id", rejection_rate_sql,
          "Share of an annotator's reviewed label revisions that a reviewer rejected."),
    Check("limits.labels_per_class", "limits", "Class with fewer labels than the minimum",
          "error", "class", "class_name", labels_per_class_sql,
          "Too few labels of a class in the current taxonomy make it unusable for training."),
)  # fmt: skip

# Checks computed outside SQL, filled in by other modules (see run.HOOKS).
HOOK_IDS = ("limits.agreement", "integrity")
_RANK = {"off": 0, "info": 1, "warning": 2, "error": 3}


def weakened(policy: Policy) -> list[str]:
    """The policy's settings that check less than the defaults do: every report names
    them in its header, so a policy that switches a check off is never silent."""
    defaults = {c.id: c.severity for c in CHECKS} | dict.fromkeys(HOOK_IDS, "error")
    out = [
        f"severity.{check} = {sev} (default {defaults.get(check, 'error')})"
        for check, sev in sorted(policy.severity.items())
        if _RANK[sev] < _RANK[defaults.get(check, "error")]
    ]
    if policy.required_passes < 1:
        out.append(f"required_passes = {policy.required_passes} (default 1)")
    out += [
        f"class_passes.{name} = {n} (default {policy.required_passes})"
        for name, n in sorted(policy.class_passes.items())
        if n < policy.required_passes
    ]
    for flag in ("model_labels_need_human_accept", "no_self_review", "distinct_pass_reviewers"):
        if not getattr(policy, flag):
            out.append(f"{flag} = false (default true)")
    return out


CHECK_IDS = tuple(c.id for c in CHECKS) + HOOK_IDS
BY_ID = {c.id: c for c in CHECKS}


def severity_of(check: Check, policy: Policy) -> str:
    return policy.severity.get(check.id, check.severity)


_TRAILING_ORDER = re.compile(r"\s+ORDER\s+BY\s+[^()]*$", re.IGNORECASE)


def unordered(sql: str) -> str:
    """``sql`` without its outermost trailing ORDER BY (one in a subquery, or followed by
    a LIMIT or OFFSET that the order decides, stays)."""
    found = _TRAILING_ORDER.search(sql)
    if found is None or re.search(r"\b(LIMIT|OFFSET)\b", found.group(), re.IGNORECASE):
        return sql
    return sql[: found.start()]


def run_check(
    con: duckdb.DuckDBPyConnection, check_id: str, policy: Policy, examples: int = 10
) -> Finding | None:
    """Run one check; None when the policy switches it off. ``count`` is 0 when it passes."""
    check = BY_ID[check_id]
    severity = severity_of(check, policy)
    sql = check.sql(policy)
    if sql is None or severity == "off":
        return None
    sql = sql.strip()
    # one statement: DuckDB computes a CTE read twice once (the count and the examples
    # used to be two queries, each running the check); unordered, as the count needs no
    # order and the examples take their own (sorting millions of findings inside the CTE
    # ran out of a 2 GB budget at 10 M labels)
    [(count, found)] = con.sql(
        f"""WITH found AS ({unordered(sql)})
SELECT (SELECT count(*) FROM found) AS n,
       (SELECT list(k ORDER BY k) FROM (
            SELECT DISTINCT {check.key}::VARCHAR AS k FROM found ORDER BY 1 LIMIT {int(examples)}
       )) AS examples"""
    ).fetchall()
    return Finding(
        check=check.id,
        title=check.title,
        severity=severity,
        subject=check.subject,
        count=int(count),
        examples=list(found or []),
        sql=sql,
        why=check.why,
    )
