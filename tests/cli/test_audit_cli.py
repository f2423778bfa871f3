"""`lineage audit` and `lineage sample` through the CLI: exit codes, messages, files."""

from __future__ import annotations

import json

import pytest

from lineage.audit.samples import sample_rows
from tests.test_audit import EXPECTED, build


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_cli")
    return build(tmp, violations=True), tmp


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean_cli")
    return build(tmp, violations=False), tmp


def test_audit_fails_with_exit_code_1(bad, cli):
    repo, tmp = bad
    res = cli(repo.root, "audit", "--policy", str(tmp / "policy.toml"), "--format", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert {f["check"]: f["examples"] for f in doc["findings"]} == {
        k: [v] for k, v in EXPECTED.items()
    }
    assert res.stderr.strip().endswith(
        "Audit failed: 18 error, 5 warning, 0 info finding(s) over 24 label(s)"
    )


def test_audit_passes_with_exit_code_0(clean, cli):
    repo, tmp = clean
    res = cli(repo.root, "audit", "--policy", str(tmp / "policy.toml"), "--format", "text")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("lineage audit: PASSED")


def test_audit_writes_reports_to_a_file(bad, cli):
    repo, tmp = bad
    out = tmp / "audit.html"
    res = cli(repo.root, "audit", "--policy", str(tmp / "policy.toml"), "--format", "html",
              "--output", str(out), "--examples", "1")  # fmt: skip
    assert res.exit_code == 1 and res.stdout == ""
    assert f"Wrote the html report to {out}" in res.stderr
    html = out.read_text()
    assert (
        html.startswith("<!DOCTYPE html>")
        and html.count("<svg") == 7
        and "Labels per split" in html
    )
    md = tmp / "audit.md"
    assert cli(repo.root, "audit", "--policy", str(tmp / "policy.toml"), "--format", "markdown",
               "-o", str(md)).exit_code == 1  # fmt: skip
    assert md.read_text().startswith("# Label audit: FAILED")


def test_bad_policy_is_exit_code_2_naming_file_and_key(clean, cli):
    repo, tmp = clean
    path = tmp / "typo.toml"
    path.write_text("[policy.limits]\nmax_rate = 0.1\n")
    res = cli(repo.root, "audit", "--policy", str(path))
    assert res.exit_code == 2
    assert res.stderr.startswith(
        f"Error: {path}, field 'policy.limits.max_rate': unknown key (expected one of "
    )
    assert "Hint: see schemas/policy.json" in res.stderr


def test_policy_from_lineage_toml_and_rev(clean, cli):
    repo, tmp = clean
    config = repo.root / "lineage.toml"
    original = config.read_text()
    config.write_text(original + "\n" + (tmp / "policy.toml").read_text())
    repo.commit("clean data", tag="v1")
    try:
        res = cli(repo.root, "audit", "--rev", "v1", "--format", "json")
    finally:
        config.write_text(original)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rev"] == "v1" and doc["commit"] == repo.git.tags["v1"].commit.hexsha
    assert doc["policy"]["source"] == "lineage.toml"  # relative: no machine path in reports
    assert str(repo.root) not in res.stdout
    assert doc["policy"]["settings"]["class_passes"] == {"person": 2}


def test_sample_and_record(bad, cli):
    repo, tmp = bad
    res = cli(repo.root, "sample", "--seed", "4", "--aql", "10", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    plan = doc["plan"]
    assert (plan["n"], plan["ac"], plan["re"], plan["seed"]) == (5, 1, 2, 4)
    assert "n=5 of 24 labels, Ac=1, Re=2" in res.stderr
    ids = [r["label_id"] for r in doc["labels"]]
    again = json.loads(cli(repo.root, "sample", "--seed", "4", "--aql", "10", "--format",
                           "json").stdout)  # fmt: skip
    assert [r["label_id"] for r in again["labels"]] == ids
    with repo.at() as snap:
        _, rows = sample_rows(snap, doc["sample_id"])
    assert rows.column("label_id").to_pylist() == ids

    results = tmp / "results.csv"
    lines = [f"{i},{'defect' if k < 2 else 'ok'},dave,{'loose box' if k < 2 else ''}"
             for k, i in enumerate(ids)]  # fmt: skip
    results.write_text("label_id,outcome,reviewer_id,reason\n" + "\n".join(lines) + "\n")
    res = cli(repo.root, "sample", "record", doc["sample_id"], str(results), "--format", "json")
    assert res.exit_code == 1  # 2 defects reach Re = 2: the lot is rejected
    out = json.loads(res.stdout)
    assert (out["defects"], out["decision"], out["n"]) == (2, "reject", 5)
    assert "Lot REJECTED: 2 defect(s) in 5 (Ac=1, Re=2)" in res.stderr


def test_sample_record_names_the_bad_line(bad, cli):
    repo, tmp = bad
    doc = json.loads(cli(repo.root, "sample", "--seed", "2", "--format", "json").stdout)
    drawn = {r["label_id"] for r in doc["labels"]}
    outsider = next(i for i in EXPECTED.values() if i.startswith("v_") and i not in drawn)
    path = tmp / "outsider.csv"
    path.write_text(f"label_id,outcome,reviewer_id\n{outsider},ok,dave\n")
    res = cli(repo.root, "sample", "record", doc["sample_id"], str(path))
    assert res.exit_code == 2
    assert res.stderr == (
        f"Error: {path}, line 2, field 'label_id': label '{outsider}' is not in the sample\n"
    )


def test_sample_table_and_csv(bad, cli):
    repo, _ = bad
    res = cli(repo.root, "sample", "--seed", "1", "--max-defect-rate", "0.2", "--format", "csv")
    assert res.exit_code == 0
    header, *rows = res.stdout.splitlines()
    assert header == "label_id,revision,asset_id,class_name,annotator_id,stratum,draw_order"
    assert "zero acceptance at 0.95 confidence" in res.stderr and len(rows) > 0
    bad_opts = cli(repo.root, "sample", "--aql", "1.0", "--max-defect-rate", "0.2")
    assert bad_opts.exit_code == 2 and "not both" in bad_opts.stderr


@pytest.mark.parametrize("args", [["audit"], ["sample"], ["sample", "record"]])
def test_help(cli, tmp_path, args):
    res = cli(tmp_path, *args, "--help")
    assert res.exit_code == 0 and "Example:" in res.stdout


def test_audit_report_pseudonymizes_annotators(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lineage.cli import main
    from lineage.demo import build_demo

    demo = build_demo(tmp_path / "demo")
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "k1")
    runner = CliRunner()
    plain = runner.invoke(main, ["-C", str(demo.root), "audit", "--rev", "v2", "--format", "json"])
    anon = runner.invoke(
        main, ["-C", str(demo.root), "audit", "--rev", "v2", "--format", "json", "--pseudonymize"]
    )
    assert plain.exit_code == anon.exit_code == 1
    assert '"alice"' in plain.stdout
    assert "alice" not in anon.stdout and "anon-" in anon.stdout
