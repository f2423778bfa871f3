"""Audit samples in the store: draw one over a revision's labels and stage it as its own
transaction (so an auditor can prove which labels were drawn), then record the
inspection outcomes as review passes of kind ``audit`` and decide the lot.

The statistics (plans, draws, bounds) are in :mod:`lineage.audit.acceptance`; this
module ties them to the store.
"""

from __future__ import annotations

import csv
import json
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from lineage.audit import acceptance
from lineage.audit.acceptance import SamplingPlan
from lineage.errors import InputError

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot

STRATA = {"class": "class_name", "annotator": "annotator_id"}
DEFAULT_CONFIDENCE = 0.95
OUTCOMES = {"ok": "accept", "defect": "reject"}
RESULT_COLUMNS = ("label_id", "outcome", "reviewer_id")
RESULT_OPTIONAL = ("reason", "reviewed_at")


@dataclass(frozen=True)
class SampleResult:
    """A drawn sample: its id (the staged transaction's id), plan, and labels in draw
    order (label_id, revision, asset_id, class_name, annotator_id, stratum, draw_order)."""

    sample_id: str
    plan: SamplingPlan
    seed: int
    stratify: str | None
    rev: str | None
    commit: str | None
    labels: pa.Table

    def plan_dict(self) -> dict:
        return plan_record(self.plan, self.seed, self.stratify, self.rev, self.commit)


@dataclass(frozen=True)
class LotDecision:
    """The outcome of inspecting a sample: defects found, accept/reject by Ac/Re, and the
    exact one-sided upper bound on the lot's defect rate."""

    sample_id: str
    txn_id: str
    lot_size: int
    n: int
    defects: int
    ac: int
    re: int
    decision: str
    confidence: float
    defect_rate_upper: float

    def as_dict(self) -> dict:
        return dict(vars(self))


def choose_plan(
    lot_size: int,
    *,
    aql: float | None = None,
    level: str = "II",
    confidence: float | None = None,
    max_defect_rate: float | None = None,
) -> SamplingPlan:
    """ISO 2859-1 normal inspection (``aql``, default 1.0) or, with ``max_defect_rate``,
    the zero-acceptance plan at ``confidence`` (default 0.95). For an ISO plan
    ``confidence`` only sets the level of the defect-rate bound reported later."""
    if max_defect_rate is not None:
        if aql is not None:
            raise InputError(
                "give either an AQL (ISO 2859-1 plan) or a maximum defect rate "
                "(zero-acceptance plan), not both",
                field="aql",
            )
        return acceptance.zero_acceptance_plan(
            lot_size, confidence if confidence is not None else DEFAULT_CONFIDENCE, max_defect_rate
        )
    plan = acceptance.iso2859_plan(lot_size, aql if aql is not None else 1.0, level)
    conf = confidence if confidence is not None else DEFAULT_CONFIDENCE
    return replace(plan, confidence=acceptance._check_probability(conf, "confidence"))


def plan_record(plan: SamplingPlan, seed: int, stratify, rev, commit) -> dict:
    """The plan as stored with every sampled row (the ``plan`` JSON of ``samples``)."""
    return {
        "scheme": plan.scheme,
        "lot_size": plan.lot_size,
        "n": plan.n,
        "ac": plan.ac,
        "re": plan.re,
        "aql": plan.aql,
        "level": plan.level,
        "code_letter": plan.code_letter,
        "confidence": plan.confidence,
        "max_defect_rate": plan.max_defect_rate,
        "seed": seed,
        "stratify": stratify,
        "rev": rev,
        "commit": commit,
        "numpy": np.__version__,  # Generator streams may change between NumPy versions
    }


def plan_from_record(record: dict) -> SamplingPlan:
    return SamplingPlan(
        code_letter=record.get("code_letter"),
        n=int(record["n"]),
        ac=int(record["ac"]),
        re=int(record["re"]),
        aql=record.get("aql"),
        level=record.get("level"),
        lot_size=int(record["lot_size"]),
        scheme=record.get("scheme", "iso2859-1"),
        confidence=record.get("confidence"),
        max_defect_rate=record.get("max_defect_rate"),
    )


def draw_sample(
    snap: Snapshot,
    txn_id: str,
    *,
    aql: float | None = None,
    level: str = "II",
    stratify: str | None = None,
    seed: int | None = None,
    confidence: float | None = None,
    max_defect_rate: float | None = None,
) -> tuple[SampleResult, pa.Table]:
    """Draw a reproducible sample of the current labels of an open revision (the lot):
    the result and the ``samples`` rows to stage as transaction ``txn_id``. The same
    labels, plan and seed give the same sample."""
    if stratify is not None and stratify not in STRATA:
        raise InputError(
            f"cannot stratify by '{stratify}' (use {' or '.join(STRATA)})", field="stratify"
        )
    if seed is None:
        seed = secrets.randbelow(2**32)
    lot = snap.con.sql(
        "SELECT label_id, revision, asset_id, class_name, annotator_id FROM labels "
        "ORDER BY label_id"
    ).to_arrow_table()
    rev_name, commit = snap.rev, snap.commit
    if lot.num_rows == 0:
        raise InputError(f"no labels to sample at revision {rev_name or 'HEAD'}", field="rev")
    plan = choose_plan(
        lot.num_rows,
        aql=aql,
        level=level,
        confidence=confidence,
        max_defect_rate=max_defect_rate,
    )
    strata = None
    if stratify:
        col = lot.column(STRATA[stratify]).to_pylist()
        strata = ["(none)" if v is None else v for v in col]
    drawn = acceptance.draw(lot.column("label_id").to_pylist(), plan.n, seed, strata)
    position = {lid: i for i, lid in enumerate(lot.column("label_id").to_pylist())}
    rows = lot.take(pa.array([position[lid] for lid, _ in drawn], pa.int64()))
    rows = rows.append_column("stratum", pa.array([s for _, s in drawn], pa.string()))
    rows = rows.append_column("draw_order", pa.array(range(1, len(drawn) + 1), pa.int32()))
    record = plan_record(plan, seed, stratify, rev_name, commit)
    stored = pa.table(
        {
            "sample_id": pa.array([txn_id] * rows.num_rows, pa.string()),
            "label_id": rows.column("label_id"),
            "revision": rows.column("revision").cast(pa.int32()),
            "stratum": rows.column("stratum"),
            "draw_order": rows.column("draw_order"),
            "plan": pa.array([json.dumps(record, sort_keys=True)] * rows.num_rows),
            "txn_id": pa.array([txn_id] * rows.num_rows, pa.string()),
        }
    )
    return SampleResult(txn_id, plan, seed, stratify, rev_name, commit, rows), stored


def sample_rows(snap: Snapshot, sample_id: str) -> tuple[dict, pa.Table]:
    """The stored plan and rows (label_id, revision, stratum, draw_order) of a sample in
    an open revision (the work state sees staged samples too)."""
    rows = snap.con.sql(
        "SELECT label_id, revision, stratum, draw_order, plan FROM samples "
        "WHERE sample_id = ? ORDER BY draw_order",
        params=[sample_id],
    ).to_arrow_table()
    if rows.num_rows == 0:
        raise InputError(
            f"no sample '{sample_id}'",
            field="sample_id",
            hint="list them: lineage query 'select distinct sample_id from samples'",
        )
    return json.loads(rows.column("plan")[0].as_py()), rows.drop_columns(["plan"])


def read_results(path: Path, sampled: set[str]) -> list[dict]:
    """Outcomes per sampled label from a CSV (label_id,outcome,reviewer_id[,reason,
    reviewed_at]); every sampled label exactly once, nothing else."""
    from lineage.formats.reviews_csv import review_record

    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", file=path) from exc
    out: list[dict] = []
    seen: dict[str, str] = {}
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in RESULT_COLUMNS if c not in header]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", file=path,
                             record="header", hint="columns: " + ",".join(
                                 RESULT_COLUMNS + RESULT_OPTIONAL))  # fmt: skip
        unknown = [c for c in header if c not in RESULT_COLUMNS + RESULT_OPTIONAL]
        if unknown:
            raise InputError(
                f"unknown column '{unknown[0]}'", file=path, record="header", field=unknown[0]
            )
        try:
            for lineno, raw in enumerate(reader, start=2):
                raw = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
                if not any(raw.values()):
                    continue
                where = f"line {lineno}"
                lid, outcome = raw.get("label_id", ""), raw.get("outcome", "").lower()
                if lid not in sampled:
                    raise InputError(f"label '{lid}' is not in the sample", file=path,
                                     record=where, field="label_id")  # fmt: skip
                if lid in seen:
                    raise InputError(f"label '{lid}' already has an outcome on {seen[lid]}",
                                     file=path, record=where, field="label_id")  # fmt: skip
                if outcome not in OUTCOMES:
                    raise InputError(
                        f"outcome '{raw.get('outcome', '')}' is not one of ok, defect",
                        file=path, record=where, field="outcome",
                    )  # fmt: skip
                seen[lid] = where
                rec = review_record(
                    {**raw, "pass": "1", "verdict": OUTCOMES[outcome], "kind": "audit"},
                    file=path,
                    record=where,
                )
                out.append(rec)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"not a readable CSV file: {exc}", file=path) from exc
    absent = sorted(sampled - seen.keys())
    if absent:
        raise InputError(
            f"{len(absent)} sampled label(s) have no outcome, e.g. '{absent[0]}'",
            file=path,
            hint="the lot decision needs the outcome of every sampled label",
        )
    return out


def record_results(
    snap: Snapshot,
    sample_id: str,
    path: str | Path,
    txn_id: str,
    *,
    confidence: float | None = None,
) -> tuple[LotDecision, pa.Table]:
    """Each sampled label's outcome as a review pass of kind ``audit`` (ok -> accept,
    defect -> reject) of the revision that was drawn, to stage as ``txn_id`` (the
    ``reviews`` rows), and the lot decision. ``snap`` is the work state."""
    from lineage.store import ids, ingest
    from lineage.store.incoming import incoming_schema

    path = Path(path)
    record, rows = sample_rows(snap, sample_id)
    plan = plan_from_record(record)
    revision = dict(zip(rows.column("label_id").to_pylist(),
                        rows.column("revision").to_pylist(), strict=True))  # fmt: skip
    outcomes = read_results(path, set(revision))
    confidence = acceptance._check_probability(
        confidence or plan.confidence or DEFAULT_CONFIDENCE, "confidence"
    )
    con = snap.con
    con.register("_sampled", rows.select(["label_id", "revision"]))
    last = dict(
        con.sql(
            "SELECT s.label_id, coalesce(max(r.pass), 0) FROM _sampled s "
            "LEFT JOIN reviews r ON r.label_id = s.label_id AND r.revision = s.revision "
            "GROUP BY s.label_id"
        ).fetchall()
    )
    con.unregister("_sampled")
    now = ids.now()
    for rec in outcomes:  # an audit pass comes after every pass already recorded
        rec["revision"] = revision[rec["label_id"]]
        rec["pass"] = last[rec["label_id"]] + 1
        rec["reviewed_at"] = rec["reviewed_at"] or now
    table = pa.Table.from_pylist(outcomes, schema=incoming_schema("reviews"))
    table = ingest.resolve_reviews(
        con, table, None, txn_id=txn_id, file=str(path),
        records=[f"label {r['label_id']}" for r in outcomes],
    )  # fmt: skip
    defects = sum(1 for r in outcomes if r["verdict"] == "reject")
    decision = LotDecision(
        sample_id=sample_id,
        txn_id=txn_id,
        lot_size=plan.lot_size,
        n=len(outcomes),
        defects=defects,
        ac=plan.ac,
        re=plan.re,
        decision=acceptance.lot_decision(plan, defects),
        confidence=confidence,
        defect_rate_upper=acceptance.clopper_pearson_upper(defects, len(outcomes), confidence),
    )
    return decision, table
