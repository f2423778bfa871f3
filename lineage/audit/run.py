"""Run every check of the policy over one revision and summarise: the audit result that
reports render and ``lineage audit`` gates on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lineage.audit import checks
from lineage.audit.checks import Finding, weakened
from lineage.audit.policy import Policy
from lineage.version import __version__

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot
    from lineage.versioning.verify import VerifyResult

from lineage.audit import hooks  # noqa: E402

REPORT_VERSION = 1

# A check computed outside the SQL checks (integrity of the stored files, agreement
# between annotators). It gets the open revision, the policy, the number of examples
# and the revision's ``verify`` result (None when not verified), and returns its
# findings (an empty list when it passes), or None when it cannot run here. Fill a
# slot with ``register_hook``.
Hook = Callable[["Snapshot", Policy, int, "VerifyResult | None"], list[Finding] | None]
HOOKS: dict[str, Hook | None] = {"integrity": hooks.integrity, "limits.agreement": hooks.agreement}
_HOOK_INFO = {
    "integrity": ("integrity", "Stored segments match their hashes; versions are append-only",
                  "not part of the audit yet: run lineage verify"),
    "limits.agreement": ("limits", "Inter-annotator agreement below the minimum",
                         "agreement figures are not available yet"),
}  # fmt: skip


def register_hook(name: str, hook: Hook | None) -> None:
    """Plug a check computed in Python (e.g. ``lineage verify``'s integrity part) into
    every audit."""
    if name not in HOOKS:
        raise KeyError(f"no hook slot {name!r}; slots: {', '.join(HOOKS)}")
    HOOKS[name] = hook


@dataclass(frozen=True)
class CheckStatus:
    """One line of the check list: ``pass``, ``fail``, ``off`` (switched off by the
    policy) or ``not_run`` (a hook with nothing plugged in)."""

    id: str
    group: str
    title: str
    severity: str
    status: str
    count: int = 0
    note: str | None = None


@dataclass(frozen=True)
class AuditResult:
    tool_version: str
    rev: str | None
    commit: str | None
    generated_at: datetime
    policy: Policy
    checks: list[CheckStatus]
    findings: list[Finding]
    labels_audited: int
    coverage_by_class: list[dict]
    rejection_by_annotator: list[dict]
    labels_by_guideline: list[dict]
    current_guideline: str | None
    counts: dict[str, int] = field(default_factory=dict)
    # labels per class, split, annotator and source (dimension, key, labels, share): the
    # bias examination stored with each version (report and DVC metrics)
    distributions: list[dict] = field(default_factory=list)
    # recorded audit samples of these labels (every sampled label unchanged): plan,
    # outcome and the Clopper-Pearson upper bound on the defect rate
    samples: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No finding of severity error."""
        return not any(f.severity == "error" and f.count for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def covered(self) -> int:
        return sum(r["covered"] for r in self.coverage_by_class)

    def pseudonymized(self, key: bytes) -> AuditResult:
        """The same result with annotator and reviewer ids replaced by keyed hashes, so
        the report can leave the team (annotator identities are personal data)."""
        from dataclasses import replace

        from lineage.formats.pseudonym import pseudonym

        findings = [
            replace(f, examples=[pseudonym(e, key) for e in f.examples])  # type: ignore[misc]  # checked before use
            if f.subject == "annotator"
            else f
            for f in self.findings
        ]
        rejection = [
            {**r, "annotator_id": pseudonym(r["annotator_id"], key)}
            for r in self.rejection_by_annotator
        ]
        distributions = [
            {**r, "key": pseudonym(r["key"], key)} if r["dimension"] == "annotator" else r
            for r in self.distributions
        ]
        return replace(
            self,
            findings=findings,
            rejection_by_annotator=rejection,
            distributions=distributions,
        )

    def metrics(self) -> dict:
        """Numbers only, for DVC metrics (``dvc metrics show`` / ``diff``)."""
        return {
            "passed": int(self.passed),
            "labels_audited": self.labels_audited,
            "findings": dict(self.counts),
            "review_coverage": self.covered / self.labels_audited if self.labels_audited else 0.0,
            "checks": {c.id: c.count for c in self.checks},
            "distributions": _nested(self.distributions, "labels"),
            "distribution_shares": _nested(self.distributions, "share"),
        }

    def as_dict(self) -> dict:
        """The JSON report, as documented by ``schemas/audit_report.json``."""
        return {
            "report_version": REPORT_VERSION,
            "tool": {"name": "lineage", "version": self.tool_version},
            "rev": self.rev,
            "commit": self.commit,
            "generated_at": self.generated_at.isoformat(),
            "policy": {
                "source": self.policy.source,
                "sha256": self.policy.sha256,
                "settings": self.policy.as_dict(),
                "weakened": weakened(self.policy),
            },
            "summary": {
                "passed": self.passed,
                "labels_audited": self.labels_audited,
                "findings_by_severity": self.counts,
                "current_guideline": self.current_guideline,
                "coverage": {
                    "covered": self.covered,
                    "labels": self.labels_audited,
                    "fraction": self.covered / self.labels_audited if self.labels_audited else None,
                },
            },
            "checks": [vars(c) for c in self.checks],
            "findings": [f.as_dict() for f in self.findings],
            "figures": {
                "coverage_by_class": self.coverage_by_class,
                "rejection_by_annotator": self.rejection_by_annotator,
                "labels_by_guideline": self.labels_by_guideline,
                "distributions": self.distributions,
                "samples": self.samples,
            },
        }


def audit_snapshot(snap: Snapshot, policy: Policy, *, examples: int = 10,
                   verified: VerifyResult | None = None, sql=None) -> AuditResult:  # fmt: skip
    """The audit of an open revision; ``verified``: its ``verify`` result, for the
    integrity check (``Repo.audit`` runs it). ``sql``: where the SQL checks and summaries
    run (anything with DuckDB's ``sql(q).fetchall()``, e.g. Spark); default the
    snapshot's own connection."""
    con = sql if sql is not None else snap.con
    statuses: list[CheckStatus] = []
    findings: list[Finding] = []
    for check in checks.CHECKS:
        found = checks.run_check(con, check.id, policy, examples)
        if found is None:
            statuses.append(CheckStatus(check.id, check.group, check.title,
                                        checks.severity_of(check, policy), "off"))  # fmt: skip
            continue
        statuses.append(CheckStatus(check.id, check.group, check.title, found.severity,
                                    "fail" if found.count else "pass", found.count))  # fmt: skip
        if found.count:
            findings.append(found)
    for name, hook in HOOKS.items():
        group, title, note = _HOOK_INFO[name]
        severity = policy.severity.get(name, "error")
        if (name == "limits.agreement" and policy.min_agreement is None) or severity == "off":
            statuses.append(CheckStatus(name, group, title, severity, "off"))
            continue
        found_list = hook(snap, policy, examples, verified) if hook else None
        if found_list is None:
            statuses.append(CheckStatus(name, group, title, severity, "not_run", note=note))
            continue
        count = sum(f.count for f in found_list)
        statuses.append(CheckStatus(name, group, title, severity,
                                    "fail" if count else "pass", count))  # fmt: skip
        findings.extend(f for f in found_list if f.count)
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    current = con.sql(f"SELECT {checks.current_guideline_sql(policy)}").fetchall()[0][0]
    return AuditResult(
        tool_version=__version__,
        rev=snap.rev,
        commit=snap.commit,
        generated_at=datetime.now(UTC),
        policy=policy,
        checks=statuses,
        findings=findings,
        labels_audited=con.sql("SELECT count(*) FROM labels").fetchall()[0][0],
        coverage_by_class=_rows(con, coverage_by_class_sql(policy)),
        rejection_by_annotator=_rows(con, rejection_by_annotator_sql()),
        labels_by_guideline=_rows(con, labels_by_guideline_sql(policy)),
        current_guideline=current,
        counts=counts,
        distributions=_rows(con, distributions_sql()),
        samples=_samples(con),
    )


def coverage_by_class_sql(policy: Policy) -> str:
    """Per class: current labels, passes required, labels with that many passes."""
    required = checks.required_passes_sql(policy)
    return f"""
SELECT l.class_name, count(*) AS labels, any_value({required}) AS required_passes,
       count(*) FILTER (WHERE l.review_passes >= {required}) AS covered,
       count(*) FILTER (WHERE l.review_passes >= {required}) / count(*) AS coverage
FROM label_lineage l
GROUP BY l.class_name
ORDER BY l.class_name"""


def rejection_by_annotator_sql() -> str:
    return f"SELECT * FROM ({checks.rejection_rates_sql().strip()}) ORDER BY annotator_id"


def labels_by_guideline_sql(policy: Policy) -> str:
    return f"""
SELECT l.guideline_version, count(*) AS labels,
       coalesce(l.guideline_version = {checks.current_guideline_sql(policy)}, false) AS current
FROM labels l
GROUP BY l.guideline_version
ORDER BY l.guideline_version NULLS LAST"""


DIMENSIONS = {
    "class": "l.class_name",
    "split": "a.split",
    "annotator": "l.annotator_id",
    "source": "l.source",
}


def distributions_sql() -> str:
    """Labels per class, split, annotator and source (human / model / assisted), with
    each key's share of the labels: what a reviewer compares across versions for bias.
    One scan: a grouping set per dimension."""
    cols = ",\n       ".join(
        f"coalesce({expr}, '(none)') AS {dim}" for dim, expr in DIMENSIONS.items()
    )
    which = " ".join(f"WHEN {dim} IS NOT NULL THEN '{dim}'" for dim in DIMENSIONS)
    sets = ", ".join(f"({dim})" for dim in DIMENSIONS)
    return f"""
WITH t AS (
SELECT {cols}
FROM labels l LEFT JOIN assets a ON a.asset_id = l.asset_id
),
g AS (
SELECT CASE {which} END AS dimension, coalesce({", ".join(DIMENSIONS)}) AS key,
       count(*) AS labels
FROM t GROUP BY GROUPING SETS ({sets})
)
SELECT dimension, key, labels, labels / sum(labels) OVER (PARTITION BY dimension) AS share
FROM g
ORDER BY dimension, labels DESC, key"""


def _samples(con) -> list[dict]:
    """Recorded samples of these labels, each with its decision and the one-sided
    Clopper-Pearson upper bound on the defect rate (at the plan's confidence, else 95 %)."""
    from lineage.audit.acceptance import clopper_pearson_upper
    from lineage.audit.samples import DEFAULT_CONFIDENCE

    out = []
    for r in _rows(con, checks.sample_outcomes_sql()):
        if not r["applies"]:
            continue
        confidence = r["confidence"] or DEFAULT_CONFIDENCE
        bound = (
            clopper_pearson_upper(r["defects"], r["inspected"], confidence)
            if r["inspected"]
            else None
        )
        decision = "pending" if r["inspected"] < r["n"] else "accept" if r["accepted"] else "reject"
        out.append({**r, "decision": decision, "bound_confidence": confidence,
                    "defect_rate_upper": bound})  # fmt: skip
    return out


def _nested(rows: list[dict], value: str) -> dict[str, dict[str, float]]:
    """{dimension: {key: value}} of distribution rows (DVC metrics read nested numbers)."""
    out: dict[str, dict[str, float]] = {dim: {} for dim in DIMENSIONS}
    for r in rows:
        out[r["dimension"]][str(r["key"])] = r[value]
    return out


def _rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    cols = rel.columns
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
