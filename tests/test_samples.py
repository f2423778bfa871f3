"""Audit samples in the store: drawn reproducibly, staged as their own transaction, and
their outcomes recorded as review passes of kind audit with a lot decision."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.proportion import proportion_confint

from lineage.audit.checks import CHECKS
from lineage.audit.policy import Policy
from lineage.audit.samples import choose_plan
from lineage.audit.samples import sample_rows as _sample_rows
from lineage.errors import InputError
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl


def sample_rows(repo, sample_id):
    with repo.at() as snap:
        return _sample_rows(snap, sample_id)


CLASSES = ["car"] * 10 + ["person"] * 6 + ["bike"] * 4  # a lot of 20 labels


@pytest.fixture(scope="module")
def lot(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lot")
    make_git(tmp / "repo")
    repo = Repo.init(tmp / "repo")
    repo.add_guideline("v1", classes=["car", "person", "bike"])
    records = [
        {"label_id": f"l{i:02d}", "asset_id": f"img{i % 7}.jpg", "class_name": c,
         "bbox": [i, 0, 10, 10], "annotator_id": "alice" if i % 3 else "bob"}
        for i, c in enumerate(CLASSES)
    ]  # fmt: skip
    repo.import_("native", write_jsonl(tmp / "labels.jsonl", records), guideline="v1")
    return repo, tmp


def _ids(result) -> list[str]:
    return result.labels.column("label_id").to_pylist()


def test_same_seed_same_sample(lot):
    repo, _ = lot
    a = repo.sample(seed=7)
    b = repo.sample(seed=7)
    c = repo.sample(seed=8)
    assert a.sample_id != b.sample_id
    assert _ids(a) == _ids(b) and _ids(a) != _ids(c)
    # ISO 2859-1: a lot of 20 at level II is code letter C; AQL 1.0 points down to E
    assert (a.plan.code_letter, a.plan.n, a.plan.ac, a.plan.re) == ("E", 13, 0, 1)
    assert len(set(_ids(a))) == 13 and set(_ids(a)) <= {f"l{i:02d}" for i in range(20)}


def test_sample_is_stored_as_its_own_transaction(lot):
    repo, _ = lot
    result = repo.sample(seed=11, aql=10)
    plan, rows = sample_rows(repo, result.sample_id)
    assert rows.column("label_id").to_pylist() == _ids(result)
    assert rows.column("draw_order").to_pylist() == list(range(1, 6))
    assert (plan["n"], plan["ac"], plan["re"], plan["seed"]) == (5, 1, 2, 11)
    assert (plan["code_letter"], plan["aql"], plan["lot_size"]) == ("C", 10, 20)
    with repo.at(None) as snap:
        kind, options = snap.con.sql(
            "SELECT kind, options FROM transactions WHERE txn_id = ?", params=[result.sample_id]
        ).fetchall()[0]
    assert kind == "sample" and json.loads(options)["seed"] == 11


def test_zero_acceptance_plan_size(lot):
    repo, _ = lot
    result = repo.sample(seed=1, confidence=0.95, max_defect_rate=0.1)
    # 2 defects in 20; P(no defect in n) = C(18, n) / C(20, n) must be <= 5 %
    n = next(k for k in range(1, 21) if math.comb(18, k) / math.comb(20, k) <= 0.05)
    assert (result.plan.n, result.plan.ac, result.plan.re) == (n, 0, 1) == (16, 0, 1)
    assert result.plan.scheme == "zero-acceptance-hypergeometric"


def test_stratified_sample(lot):
    repo, _ = lot
    result = repo.sample(seed=3, stratify="class")
    rows = result.labels.to_pylist()
    assert all(r["stratum"] == r["class_name"] for r in rows)
    per = {c: sum(r["class_name"] == c for r in rows) for c in ("car", "person", "bike")}
    # 13 * (10, 6, 4) / 20 = 6.5, 3.9, 2.6: floors 6, 3, 2; the two left go to the
    # largest remainders (person .9, bike .6)
    assert per == {"car": 6, "person": 4, "bike": 3}
    again = repo.sample(seed=3, stratify="class")
    assert _ids(again) == _ids(result)


def test_bad_sample_options(lot):
    repo, _ = lot
    with pytest.raises(InputError, match="not both"):
        repo.sample(aql=1.0, max_defect_rate=0.02)
    with pytest.raises(InputError, match="cannot stratify by 'asset'"):
        repo.sample(stratify="asset")
    with pytest.raises(InputError, match="not in the ISO 2859-1 series"):
        repo.sample(aql=3.0)
    with pytest.raises(InputError, match="confidence"):
        choose_plan(20, confidence=1.5)


def _results(path, ids, defects=(), reviewer="qa1"):
    lines = ["label_id,outcome,reviewer_id,reason"]
    lines += [f"{i},{'defect' if i in defects else 'ok'},{reviewer}," for i in ids]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_record_iso_plan_accepts_within_ac(lot):
    repo, tmp = lot
    sample = repo.sample(seed=5, aql=10)  # n=5, Ac=1, Re=2
    ids = _ids(sample)
    out = repo.record_sample(sample.sample_id, _results(tmp / "r1.csv", ids, {ids[0]}))
    assert (out.n, out.defects, out.ac, out.re, out.decision) == (5, 1, 1, 2, "accept")
    expected = proportion_confint(1, 5, alpha=0.10, method="beta")[1]  # one-sided 95 %
    assert out.defect_rate_upper == pytest.approx(expected, rel=1e-9)
    with repo.at(None) as snap:
        rows = snap.con.sql(
            "SELECT label_id, revision, pass, kind, verdict, reviewer_id FROM reviews "
            "WHERE txn_id = ? ORDER BY label_id", params=[out.txn_id]
        ).fetchall()  # fmt: skip
        opts = snap.con.sql(
            "SELECT options FROM transactions WHERE txn_id = ?", params=[out.txn_id]
        ).fetchall()[0][0]
    assert {r[0] for r in rows} == set(ids)
    assert all(r[1] == 1 and r[3] == "audit" and r[5] == "qa1" for r in rows)
    assert {r[0]: r[4] for r in rows}[ids[0]] == "reject"
    assert json.loads(opts) == {"sample_id": sample.sample_id}
    # the defect shows up in the audit as a rejected label still in the dataset
    result = repo.audit(None, policy=Policy(required_passes=0))
    rejected = next(f for f in result.findings if f.check == "review.rejected")
    assert ids[0] in rejected.examples


def test_record_zero_acceptance_rejects_on_one_defect(lot):
    repo, tmp = lot
    sample = repo.sample(seed=9, confidence=0.9, max_defect_rate=0.2)
    ids = _ids(sample)
    out = repo.record_sample(sample.sample_id, _results(tmp / "r2.csv", ids, {ids[-1]}))
    assert (out.defects, out.decision, out.confidence) == (1, "reject", 0.9)
    clean = repo.sample(seed=9, confidence=0.9, max_defect_rate=0.2)
    ok = repo.record_sample(clean.sample_id, _results(tmp / "r3.csv", _ids(clean)))
    assert ok.decision == "accept"
    assert ok.defect_rate_upper == pytest.approx(1 - 0.1 ** (1 / ok.n))  # 0 defects: closed form
    # the second audit of the same revisions is a later pass than the first
    with repo.at(None) as snap:
        passes = dict(
            snap.con.sql(
                "SELECT label_id, list(pass ORDER BY txn_id) FROM reviews "
                "WHERE txn_id IN (?, ?) GROUP BY label_id",
                params=[out.txn_id, ok.txn_id],
            ).fetchall()
        )
    assert set(passes) == set(ids)
    assert all(len(p) == 2 and p[1] == p[0] + 1 for p in passes.values())


def test_record_refuses_bad_results(lot):
    repo, tmp = lot
    sample = repo.sample(seed=21, aql=10)
    ids = _ids(sample)
    other = next(f"l{i:02d}" for i in range(20) if f"l{i:02d}" not in ids)
    bad = _results(tmp / "bad.csv", [*ids[:2], other, *ids[2:]])
    with pytest.raises(InputError) as err:
        repo.record_sample(sample.sample_id, bad)
    assert (err.value.record, err.value.field) == ("line 4", "label_id")
    assert f"label '{other}' is not in the sample" in str(err.value)
    with pytest.raises(InputError, match="already has an outcome on line 2"):
        repo.record_sample(sample.sample_id, _results(tmp / "dup.csv", [ids[0], *ids]))
    with pytest.raises(InputError, match="1 sampled label"):
        repo.record_sample(sample.sample_id, _results(tmp / "short.csv", ids[1:]))
    (tmp / "outcome.csv").write_text(f"label_id,outcome,reviewer_id\n{ids[0]},maybe,qa1\n")
    with pytest.raises(InputError, match="'maybe' is not one of ok, defect") as err:
        repo.record_sample(sample.sample_id, tmp / "outcome.csv")
    assert err.value.field == "outcome"
    (tmp / "cols.csv").write_text("label_id,verdict\n")
    with pytest.raises(InputError, match="missing column"):
        repo.record_sample(sample.sample_id, tmp / "cols.csv")
    with pytest.raises(InputError, match="no sample 'nope'"):
        repo.record_sample("nope", bad)
    with repo.at(None) as snap:  # nothing was staged by the refused files
        recorded = snap.con.sql(
            "SELECT count(*) FROM transactions WHERE json_extract_string(options, '$.sample_id') = ?",
            params=[sample.sample_id],
        ).fetchall()[0][0]
    assert recorded == 0


def test_policy_can_require_an_accepted_sample_of_these_labels(tmp_path):
    """sample.accepted: fails with no sample, with a pending or rejected one, with one
    whose plan is laxer than the policy's, and once a sampled label changed; passes with
    an accepted sample, and the report states the plan, outcome and bound."""
    make_git(tmp_path / "repo")
    repo = Repo.init(tmp_path / "repo")
    repo.add_guideline("v1", classes=["car", "person", "bike"])
    records = [{"label_id": f"l{i:02d}", "asset_id": f"img{i % 7}.jpg", "class_name": c,
                "bbox": [i, 0, 10, 10], "annotator_id": "alice"}
               for i, c in enumerate(CLASSES)]  # fmt: skip
    repo.import_("native", write_jsonl(tmp_path / "labels.jsonl", records), guideline="v1")
    repo.commit("v1", tag="v1")
    only = {c.id: "off" for c in CHECKS if c.id != "sample.accepted"}
    policy = Policy(severity=only, require_sample={"aql": 10.0, "level": "II"})

    def finding():
        result = repo.audit(None, policy=policy)
        return [f.count for f in result.findings if f.check == "sample.accepted"], result

    assert finding()[0] == [1]  # nothing drawn yet
    lax = repo.sample(seed=2, aql=25)  # a laxer plan than the policy's AQL 10
    repo.record_sample(lax.sample_id, _results(tmp_path / "lax.csv", _ids(lax)))
    sample = repo.sample(seed=5, aql=10)  # n=5, Ac=1, Re=2
    assert finding()[0] == [1]  # drawn, not inspected: pending
    ids = _ids(sample)
    repo.record_sample(sample.sample_id, _results(tmp_path / "r.csv", ids, set(ids[:2])))
    counts, result = finding()
    assert counts == [1]  # two defects reach Re: rejected
    rejected = {x["sample_id"]: x for x in result.samples}[sample.sample_id]
    assert (rejected["decision"], rejected["defects"], rejected["inspected"]) == ("reject", 2, 5)
    again = repo.sample(seed=6, aql=10)
    ids = _ids(again)
    repo.record_sample(again.sample_id, _results(tmp_path / "ok.csv", ids, {ids[0]}))
    counts, result = finding()
    assert counts == [] and result.passed
    accepted = {x["sample_id"]: x for x in result.samples}[again.sample_id]
    assert accepted["decision"] == "accept"
    expected = proportion_confint(1, 5, alpha=0.10, method="beta")[1]  # one-sided 95 %
    assert accepted["defect_rate_upper"] == pytest.approx(expected, rel=1e-9)
    from lineage.show.report import render_report

    assert f"{again.sample_id}: ISO 2859-1 level II, AQL 10" in render_report(result, "text")
    repo.commit("samples", tag="v2")  # the sample holds for the committed version too
    assert not [f for f in repo.audit("v2", policy=policy).findings]
    # editing a sampled label: the sample no longer describes these labels
    edit = {**records[int(ids[1][1:])], "bbox": [50, 50, 10, 10]}
    repo.import_("native", write_jsonl(tmp_path / "edit.jsonl", [edit]), mode="patch")
    assert finding()[0] == [1]
